package kubectl

import (
	"regexp"
	"strings"
	"testing"

	"drover.dev/e2e/framework"
)

func TestExplain(t *testing.T) {
	c := framework.SharedCluster(t)
	k := c.Kubectl(t)
	out := k.MustRun("explain", "deployment.spec.template")
	for _, re := range []string{
		`(?m)^GROUP:\s+apps$`,
		`(?m)^KIND:\s+Deployment$`,
		`(?m)^VERSION:\s+v1$`,
		`(?m)^FIELD:\s+template\s+<PodTemplateSpec>$`,
		`(?m)^DESCRIPTION:$`,
		`(?m)^FIELDS:$`,
		`(?m)^\s+metadata\s+<ObjectMeta>$`,
		`(?m)^\s+spec\s+<PodSpec>$`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("explain deployment.spec.template lacks %s:\n%s", re, out)
		}
	}
	// Deeper, with required markers, and a core type.
	out = k.MustRun("explain", "pod.spec.containers")
	if !regexp.MustCompile(`(?m)^\s+name\s+<string> -required-$`).MatchString(out) {
		t.Errorf("explain pod.spec.containers lacks `name <string> -required-`:\n%s", out)
	}
	// A field that does not exist.
	r := k.Run("explain", "deployment.spec.nosuchfield")
	if r.ExitCode != 1 || !strings.Contains(r.Stderr, `field "nosuchfield" does not exist`) {
		t.Errorf("explain of a missing field:\n%s", r)
	}
}

func TestAPIResources(t *testing.T) {
	c := framework.SharedCluster(t)
	k := c.Kubectl(t)
	tb := parseTable(t, k.MustRun("api-resources"))
	wantHeader(t, tb, "NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND")
	tests := []struct{ name, short, apiVersion, namespaced, kind string }{
		{"pods", "po", "v1", "true", "Pod"},
		{"services", "svc", "v1", "true", "Service"},
		{"namespaces", "ns", "v1", "false", "Namespace"},
		{"nodes", "no", "v1", "false", "Node"},
		{"configmaps", "cm", "v1", "true", "ConfigMap"},
		{"secrets", "", "v1", "true", "Secret"},
		{"serviceaccounts", "sa", "v1", "true", "ServiceAccount"},
		{"endpoints", "ep", "v1", "true", "Endpoints"},
		{"events", "ev", "v1", "true", "Event"},
		{"persistentvolumes", "pv", "v1", "false", "PersistentVolume"},
		{"persistentvolumeclaims", "pvc", "v1", "true", "PersistentVolumeClaim"},
		{"replicationcontrollers", "rc", "v1", "true", "ReplicationController"},
		{"resourcequotas", "quota", "v1", "true", "ResourceQuota"},
		{"limitranges", "limits", "v1", "true", "LimitRange"},
		{"deployments", "deploy", "apps/v1", "true", "Deployment"},
		{"replicasets", "rs", "apps/v1", "true", "ReplicaSet"},
		{"statefulsets", "sts", "apps/v1", "true", "StatefulSet"},
		{"daemonsets", "ds", "apps/v1", "true", "DaemonSet"},
		{"controllerrevisions", "", "apps/v1", "true", "ControllerRevision"},
		{"jobs", "", "batch/v1", "true", "Job"},
		{"cronjobs", "cj", "batch/v1", "true", "CronJob"},
		{"horizontalpodautoscalers", "hpa", "autoscaling/v2", "true", "HorizontalPodAutoscaler"},
		{"poddisruptionbudgets", "pdb", "policy/v1", "true", "PodDisruptionBudget"},
		{"endpointslices", "", "discovery.k8s.io/v1", "true", "EndpointSlice"},
		{"ingresses", "ing", "networking.k8s.io/v1", "true", "Ingress"},
		{"ingressclasses", "", "networking.k8s.io/v1", "false", "IngressClass"},
		{"networkpolicies", "netpol", "networking.k8s.io/v1", "true", "NetworkPolicy"},
		{"leases", "", "coordination.k8s.io/v1", "true", "Lease"},
		{"storageclasses", "sc", "storage.k8s.io/v1", "false", "StorageClass"},
		{"priorityclasses", "pc", "scheduling.k8s.io/v1", "false", "PriorityClass"},
		{"roles", "", "rbac.authorization.k8s.io/v1", "true", "Role"},
		{"rolebindings", "", "rbac.authorization.k8s.io/v1", "true", "RoleBinding"},
		{"clusterroles", "", "rbac.authorization.k8s.io/v1", "false", "ClusterRole"},
		{"clusterrolebindings", "", "rbac.authorization.k8s.io/v1", "false", "ClusterRoleBinding"},
	}
	for _, tt := range tests {
		var row map[string]string
		for _, r := range tb.rows {
			if r["NAME"] == tt.name && r["APIVERSION"] == tt.apiVersion {
				row = r
			}
		}
		if row == nil {
			t.Errorf("api-resources lacks %s (%s)", tt.name, tt.apiVersion)
			continue
		}
		if row["SHORTNAMES"] != tt.short || row["NAMESPACED"] != tt.namespaced || row["KIND"] != tt.kind {
			t.Errorf("api-resources %s: shortnames %q namespaced %s kind %s, want %q %s %s",
				tt.name, row["SHORTNAMES"], row["NAMESPACED"], row["KIND"], tt.short, tt.namespaced, tt.kind)
		}
	}
	// Subresources are not resources of their own.
	for _, r := range tb.rows {
		if strings.Contains(r["NAME"], "/") {
			t.Errorf("api-resources lists subresource %s", r["NAME"])
		}
	}
	// Filters: cluster-scoped only, and by API group.
	out := k.MustRun("api-resources", "--namespaced=false", "-o", "name")
	if !strings.Contains(out, "namespaces\n") || strings.Contains(out, "\npods\n") {
		t.Errorf("api-resources --namespaced=false:\n%s", out)
	}
	out = k.MustRun("api-resources", "--api-group=apps", "-o", "name")
	wantLines(t, out, "deployments.apps", "replicasets.apps", "statefulsets.apps", "daemonsets.apps", "controllerrevisions.apps")
	// Short names and categories resolve.
	for _, short := range []string{"po", "svc", "deploy", "rs", "ns", "cm", "sa", "ep", "pv", "pvc", "hpa", "ds", "sts", "cj"} {
		if r := k.Run("get", short, "-A", "-o", "name"); r.ExitCode != 0 {
			t.Errorf("get %s (short name):\n%s", short, r)
		}
	}
	// api-versions lists the groups' versions.
	wantLines(t, k.MustRun("api-versions"), "v1", "apps/v1", "batch/v1", "autoscaling/v1", "autoscaling/v2", "policy/v1",
		"networking.k8s.io/v1", "rbac.authorization.k8s.io/v1", "coordination.k8s.io/v1", "discovery.k8s.io/v1",
		"storage.k8s.io/v1", "scheduling.k8s.io/v1", "events.k8s.io/v1")
}

func TestInvalidObjectErrors(t *testing.T) {
	e := setup(t)
	tests := []struct {
		name     string
		args     []string
		stdin    string
		wantErrs []string
	}{
		{
			name: "deployment selector does not match labels",
			args: []string{"apply", "-f", "-"},
			stdin: `apiVersion: apps/v1
kind: Deployment
metadata:
  name: bad
spec:
  selector:
    matchLabels: {app: bad}
  template:
    metadata:
      labels: {app: other}
    spec:
      containers:
      - name: web
        image: nginx
`,
			wantErrs: []string{`The Deployment "bad" is invalid: `, "spec.template.metadata.labels: Invalid value: ", "`selector` does not match template `labels`"},
		},
		{
			name: "configmap name",
			args: []string{"create", "-f", "-"},
			stdin: `apiVersion: v1
kind: ConfigMap
metadata:
  name: Bad_Name
`,
			wantErrs: []string{`The ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain must consist of`},
		},
		{
			// kubectl create <kind> wraps the server's message in its own words.
			name:     "configmap name via create configmap",
			args:     []string{"create", "configmap", "Bad_Name"},
			wantErrs: []string{`error: failed to create configmap: ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name"`},
		},
		{
			name: "unknown field with strict validation",
			args: []string{"apply", "-f", "-"},
			stdin: `apiVersion: v1
kind: ConfigMap
metadata:
  name: strict
datta:
  a: b
`,
			wantErrs: []string{`unknown field "datta"`},
		},
		{
			name:     "missing object",
			args:     []string{"get", "deployment", "nope"},
			wantErrs: []string{`Error from server (NotFound): deployments.apps "nope" not found`},
		},
		{
			name:     "unknown resource type",
			args:     []string{"get", "nosuchkinds"},
			wantErrs: []string{`error: the server doesn't have a resource type "nosuchkinds"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.k.RunWithInput(tt.stdin, append(tt.args, "-n", e.ns)...)
			if r.ExitCode != 1 {
				t.Errorf("exit code %d, want 1\n%s", r.ExitCode, r)
			}
			for _, want := range tt.wantErrs {
				if !strings.Contains(r.Stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, r.Stderr)
				}
			}
		})
	}
}
