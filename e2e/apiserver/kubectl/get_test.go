package kubectl

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// workload is a deployment, its service and a pod, applied from stdin.
const workload = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.27
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
  - port: 80
    targetPort: 8080
---
apiVersion: v1
kind: Pod
metadata:
  name: solo
  labels: {app: solo}
spec:
  containers:
  - name: app
    image: busybox:1.36
    command: ["sleep", "3600"]
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  a: "1"
  b: "2"
`

func TestGetOutputForms(t *testing.T) {
	e := setup(t)
	e.k.MustRunWithInput(workload, "apply", "-n", e.ns, "-f", "-")
	svc, err := e.cs.CoreV1().Services(e.ns).Get(ctxFor(t), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("pods table", func(t *testing.T) {
		k := e.k.For(t)
		tb := parseTable(t, k.MustRun("get", "pods", "-n", e.ns))
		wantHeader(t, tb, "NAME", "READY", "STATUS", "RESTARTS", "AGE")
		r := tb.row(t, "NAME", "solo")
		if r["READY"] != "0/1" || r["STATUS"] != "Pending" || r["RESTARTS"] != "0" {
			t.Errorf("pod row %v, want READY 0/1 STATUS Pending RESTARTS 0", r)
		}
		if !regexp.MustCompile(`^\d+s$|^\d+m`).MatchString(r["AGE"]) {
			t.Errorf("AGE %q is not an age", r["AGE"])
		}
	})
	t.Run("pods wide", func(t *testing.T) {
		k := e.k.For(t)
		tb := parseTable(t, k.MustRun("get", "pods", "-n", e.ns, "-o", "wide"))
		wantHeader(t, tb, "NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE", "NOMINATED NODE", "READINESS GATES")
		r := tb.row(t, "NAME", "solo")
		if r["IP"] != "<none>" || r["NODE"] != "<none>" {
			t.Errorf("unscheduled pod row %v, want IP and NODE <none>", r)
		}
	})
	t.Run("deployments table", func(t *testing.T) {
		k := e.k.For(t)
		tb := parseTable(t, k.MustRun("get", "deployments", "-n", e.ns))
		wantHeader(t, tb, "NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE")
		r := tb.row(t, "NAME", "web")
		if r["READY"] != "0/2" || r["UP-TO-DATE"] != "0" || r["AVAILABLE"] != "0" {
			t.Errorf("deployment row %v, want READY 0/2 UP-TO-DATE 0 AVAILABLE 0", r)
		}
	})
	t.Run("deployments wide", func(t *testing.T) {
		k := e.k.For(t)
		tb := parseTable(t, k.MustRun("get", "deploy", "-n", e.ns, "-o", "wide"))
		wantHeader(t, tb, "NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "CONTAINERS", "IMAGES", "SELECTOR")
		r := tb.row(t, "NAME", "web")
		if r["CONTAINERS"] != "web" || r["IMAGES"] != "nginx:1.27" || r["SELECTOR"] != "app=web" {
			t.Errorf("wide deployment row %v", r)
		}
	})
	t.Run("services table", func(t *testing.T) {
		k := e.k.For(t)
		tb := parseTable(t, k.MustRun("get", "svc", "-n", e.ns))
		wantHeader(t, tb, "NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE")
		r := tb.row(t, "NAME", "web")
		if r["TYPE"] != "ClusterIP" || r["CLUSTER-IP"] != svc.Spec.ClusterIP || r["EXTERNAL-IP"] != "<none>" || r["PORT(S)"] != "80/TCP" {
			t.Errorf("service row %v, want ClusterIP %s <none> 80/TCP", r, svc.Spec.ClusterIP)
		}
		if _, err := netip.ParseAddr(r["CLUSTER-IP"]); err != nil {
			t.Errorf("CLUSTER-IP %q: %v", r["CLUSTER-IP"], err)
		}
	})
	t.Run("services wide", func(t *testing.T) {
		k := e.k.For(t)
		tb := parseTable(t, k.MustRun("get", "services", "-n", e.ns, "-o", "wide"))
		wantHeader(t, tb, "NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE", "SELECTOR")
		if r := tb.row(t, "NAME", "web"); r["SELECTOR"] != "app=web" {
			t.Errorf("wide service row %v", r)
		}
	})
	t.Run("configmaps table", func(t *testing.T) {
		k := e.k.For(t)
		tb := parseTable(t, k.MustRun("get", "cm", "settings", "-n", e.ns))
		wantHeader(t, tb, "NAME", "DATA", "AGE")
		if r := tb.row(t, "NAME", "settings"); r["DATA"] != "2" {
			t.Errorf("configmap row %v, want DATA 2", r)
		}
	})
	t.Run("namespaces table", func(t *testing.T) {
		k := e.k.For(t)
		tb := parseTable(t, k.MustRun("get", "ns", e.ns))
		wantHeader(t, tb, "NAME", "STATUS", "AGE")
		if r := tb.row(t, "NAME", e.ns); r["STATUS"] != "Active" {
			t.Errorf("namespace row %v", r)
		}
	})
	t.Run("show labels", func(t *testing.T) {
		k := e.k.For(t)
		tb := parseTable(t, k.MustRun("get", "pods", "-n", e.ns, "--show-labels"))
		if r := tb.row(t, "NAME", "solo"); r["LABELS"] != "app=solo" {
			t.Errorf("--show-labels row %v", r)
		}
	})
	t.Run("yaml", func(t *testing.T) {
		k := e.k.For(t)
		var obj map[string]any
		if err := yaml.Unmarshal([]byte(k.MustRun("get", "deployment", "web", "-n", e.ns, "-o", "yaml")), &obj); err != nil {
			t.Fatal(err)
		}
		meta, _ := obj["metadata"].(map[string]any)
		if obj["apiVersion"] != "apps/v1" || obj["kind"] != "Deployment" || meta["name"] != "web" || meta["namespace"] != e.ns {
			t.Errorf("-o yaml: apiVersion %v kind %v metadata %v", obj["apiVersion"], obj["kind"], meta)
		}
		if meta["uid"] == nil || meta["resourceVersion"] == nil || meta["creationTimestamp"] == nil {
			t.Errorf("-o yaml lacks uid/resourceVersion/creationTimestamp: %v", meta)
		}
	})
	t.Run("json list", func(t *testing.T) {
		k := e.k.For(t)
		var list struct {
			Kind  string
			Items []corev1.Pod
		}
		if err := json.Unmarshal([]byte(k.MustRun("get", "pods", "-n", e.ns, "-o", "json")), &list); err != nil {
			t.Fatal(err)
		}
		if list.Kind != "List" || len(list.Items) != 1 || list.Items[0].Name != "solo" {
			t.Errorf("-o json: kind %q with %d items", list.Kind, len(list.Items))
		}
		if list.Items[0].Kind != "Pod" || list.Items[0].APIVersion != "v1" {
			t.Errorf("-o json items carry apiVersion/kind %q/%q, want v1/Pod", list.Items[0].APIVersion, list.Items[0].Kind)
		}
	})
	t.Run("jsonpath", func(t *testing.T) {
		k := e.k.For(t)
		if out := k.MustRun("get", "deployment", "web", "-n", e.ns, "-o", "jsonpath={.spec.replicas}"); out != "2" {
			t.Errorf("jsonpath replicas: %q, want 2", out)
		}
		out := k.MustRun("get", "deploy,svc", "-n", e.ns, "-o", `jsonpath={range .items[*]}{.kind}/{.metadata.name}{"\n"}{end}`)
		wantLines(t, out, "Deployment/web", "Service/web")
		if out := k.MustRun("get", "svc", "web", "-n", e.ns, "-o", "jsonpath={.spec.clusterIP}"); out != svc.Spec.ClusterIP {
			t.Errorf("jsonpath clusterIP %q, want %q", out, svc.Spec.ClusterIP)
		}
	})
	t.Run("name", func(t *testing.T) {
		k := e.k.For(t)
		out := k.MustRun("get", "deploy,svc,po", "-n", e.ns, "-o", "name")
		wantLines(t, out, "deployment.apps/web", "service/web", "pod/solo")
	})
	t.Run("custom columns", func(t *testing.T) {
		k := e.k.For(t)
		tb := parseTable(t, k.MustRun("get", "pods", "-n", e.ns, "-o", "custom-columns=NAME:.metadata.name,IMAGE:.spec.containers[0].image"))
		if r := tb.row(t, "NAME", "solo"); r["IMAGE"] != "busybox:1.36" {
			t.Errorf("custom columns row %v", r)
		}
	})
	t.Run("label selector", func(t *testing.T) {
		k := e.k.For(t)
		out := k.MustRun("get", "pods", "-n", e.ns, "-l", "app=solo", "-o", "name")
		if strings.TrimSpace(out) != "pod/solo" {
			t.Errorf("get -l app=solo: %q", out)
		}
		r := k.Run("get", "pods", "-n", e.ns, "-l", "app=none")
		if r.ExitCode != 0 || !strings.Contains(r.Stderr, "No resources found in "+e.ns+" namespace.") {
			t.Errorf("get with no match: want exit 0 and \"No resources found\"\n%s", r)
		}
	})
	t.Run("all namespaces", func(t *testing.T) {
		k := e.k.For(t)
		tb := parseTable(t, k.MustRun("get", "pods", "-A", "--field-selector", "metadata.namespace="+e.ns))
		wantHeader(t, tb, "NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE")
		if r := tb.row(t, "NAME", "solo"); r["NAMESPACE"] != e.ns {
			t.Errorf("-A row %v", r)
		}
	})
}

func TestGetAll(t *testing.T) {
	e := setup(t)
	e.k.MustRunWithInput(workload, "apply", "-n", e.ns, "-f", "-")
	r := e.k.Run("get", "all", "-n", e.ns)
	if r.ExitCode != 0 {
		t.Fatalf("get all:\n%s", r)
	}
	for _, want := range []string{"pod/solo", "service/web", "deployment.apps/web"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("get all lacks %s:\n%s", want, r.Stdout)
		}
	}
	if strings.Contains(r.Stdout, "configmap/settings") {
		t.Errorf("get all shows configmaps, which are not in the category all:\n%s", r.Stdout)
	}
	if r.Stderr != "" {
		t.Errorf("get all wrote to stderr: %s", r.Stderr)
	}
}

func TestGetRawWithSelectorAndPretty(t *testing.T) {
	e := setup(t)
	e.k.MustRunWithInput(workload, "apply", "-n", e.ns, "-f", "-")
	out := e.k.MustRun("get", "--raw", "/api/v1/pods?labelSelector=app%3Dsolo&pretty=true")
	if !strings.Contains(out, "\n  \"kind\": \"PodList\",\n") {
		t.Errorf("pretty=true output is not indented JSON:\n%.500s", out)
	}
	var list corev1.PodList
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, p := range list.Items {
		if p.Labels["app"] != "solo" {
			t.Errorf("labelSelector app=solo returned %s/%s with labels %v", p.Namespace, p.Name, p.Labels)
		}
		if p.Namespace == e.ns && p.Name == "solo" {
			found = true
		}
	}
	if !found {
		t.Errorf("pod %s/solo missing from %d items", e.ns, len(list.Items))
	}
	// Without pretty: compact.
	out = e.k.MustRun("get", "--raw", "/api/v1/namespaces/"+e.ns+"/pods/solo")
	if strings.Count(strings.TrimSpace(out), "\n") != 0 {
		t.Errorf("without pretty the JSON should be one line:\n%.300s", out)
	}
	// Discovery and health through --raw.
	for _, path := range []string{"/readyz", "/livez", "/healthz"} {
		if out := e.k.MustRun("get", "--raw", path); out != "ok" {
			t.Errorf("%s: %q, want ok", path, out)
		}
	}
}

func TestVersion(t *testing.T) {
	e := setup(t)
	var v struct {
		ClientVersion struct{ GitVersion string }
		ServerVersion *struct {
			Major, Minor, GitVersion string
		}
	}
	if err := json.Unmarshal([]byte(e.k.MustRun("version", "-o", "json")), &v); err != nil {
		t.Fatal(err)
	}
	if v.ClientVersion.GitVersion != "v1.37.2" {
		t.Errorf("client version %q: the kubectl under test is not built as v1.37.2", v.ClientVersion.GitVersion)
	}
	if v.ServerVersion == nil || v.ServerVersion.Major != "1" || !strings.HasPrefix(v.ServerVersion.GitVersion, "v1.") {
		t.Errorf("server version %+v, want major 1 and gitVersion v1.*", v.ServerVersion)
	}
}

// TestGetChunked lists in pages, as kubectl does by default (--chunk-size=500): the
// server's Table responses must carry the continue token.
func TestGetChunked(t *testing.T) {
	e := setup(t)
	var manifest strings.Builder
	for i := range 10 {
		fmt.Fprintf(&manifest, "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: chunk-%02d\n", i)
	}
	e.k.MustRunWithInput(manifest.String(), "apply", "-n", e.ns, "-f", "-")
	for _, output := range []string{"table", "name"} {
		t.Run(output, func(t *testing.T) {
			args := []string{"get", "configmaps", "-n", e.ns, "--chunk-size=3"}
			if output == "name" {
				args = append(args, "-o", "name")
			}
			out := e.k.For(t).MustRun(args...)
			seen := map[string]int{}
			for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
				f := strings.Fields(line)
				if len(f) == 0 || f[0] == "NAME" {
					continue
				}
				seen[strings.TrimPrefix(f[0], "configmap/")]++
			}
			for i := range 10 {
				if name := fmt.Sprintf("chunk-%02d", i); seen[name] != 1 {
					t.Errorf("%s listed %d times in pages of 3:\n%s", name, seen[name], out)
				}
			}
			if output == "table" && strings.Count(out, "NAME") != 1 {
				t.Errorf("paged table output should have one header:\n%s", out)
			}
		})
	}
}
