package kubectl

import (
	"fmt"
	"strings"
	"testing"
)

// kinds has one minimal valid object of every resource the apiserver serves, with the
// columns `kubectl get` shows for it on Kubernetes v1.37 (pkg/printers/internalversion;
// kinds without a printer get the default NAME, CREATED AT).
var kinds = []struct {
	resource string // as given to kubectl get
	name     string // NAME is the object's name with the namespace appended if clusterScoped
	cluster  bool
	manifest string
	header   []string
	// printed is kubectl's "<kind>.<group>/<name>" prefix in apply and delete output.
	printed string
}{
	{"pods", "p", false, `apiVersion: v1
kind: Pod
metadata: {name: NAME}
spec:
  containers: [{name: c, image: busybox}]`, []string{"NAME", "READY", "STATUS", "RESTARTS", "AGE"}, "pod"},
	{"services", "svc", false, `apiVersion: v1
kind: Service
metadata: {name: NAME}
spec:
  ports: [{port: 80}]`, []string{"NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"}, "service"},
	{"endpoints", "ep", false, `apiVersion: v1
kind: Endpoints
metadata: {name: NAME}
subsets:
- addresses: [{ip: 10.244.0.5}]
  ports: [{port: 80}]`, []string{"NAME", "ENDPOINTS", "AGE"}, "endpoints"},
	{"nodes", "node", true, `apiVersion: v1
kind: Node
metadata: {name: NAME}`, []string{"NAME", "STATUS", "ROLES", "AGE", "VERSION"}, "node"},
	{"secrets", "sec", false, `apiVersion: v1
kind: Secret
metadata: {name: NAME}
stringData: {a: b}`, []string{"NAME", "TYPE", "DATA", "AGE"}, "secret"},
	{"configmaps", "cm", false, `apiVersion: v1
kind: ConfigMap
metadata: {name: NAME}
data: {a: b}`, []string{"NAME", "DATA", "AGE"}, "configmap"},
	{"serviceaccounts", "sa", false, `apiVersion: v1
kind: ServiceAccount
metadata: {name: NAME}`, []string{"NAME", "AGE"}, "serviceaccount"},
	{"events", "ev", false, `apiVersion: v1
kind: Event
metadata: {name: NAME}
involvedObject: {kind: Pod, name: p, namespace: NS}
reason: Testing
message: e2e
type: Normal`, []string{"LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"}, "event"},
	{"persistentvolumes", "pv", true, `apiVersion: v1
kind: PersistentVolume
metadata: {name: NAME}
spec:
  capacity: {storage: 1Gi}
  accessModes: [ReadWriteOnce]
  hostPath: {path: /tmp/pv}`, []string{"NAME", "CAPACITY", "ACCESS MODES", "RECLAIM POLICY", "STATUS", "CLAIM", "STORAGECLASS", "VOLUMEATTRIBUTESCLASS", "REASON", "AGE"}, "persistentvolume"},
	{"persistentvolumeclaims", "pvc", false, `apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: NAME}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}`, []string{"NAME", "STATUS", "VOLUME", "CAPACITY", "ACCESS MODES", "STORAGECLASS", "VOLUMEATTRIBUTESCLASS", "AGE"}, "persistentvolumeclaim"},
	{"replicationcontrollers", "rc", false, `apiVersion: v1
kind: ReplicationController
metadata: {name: NAME}
spec:
  replicas: 1
  selector: {app: rc}
  template:
    metadata: {labels: {app: rc}}
    spec:
      containers: [{name: c, image: busybox}]`, []string{"NAME", "DESIRED", "CURRENT", "READY", "AGE"}, "replicationcontroller"},
	{"resourcequotas", "quota", false, `apiVersion: v1
kind: ResourceQuota
metadata: {name: NAME}
spec:
  hard: {pods: "10"}`, []string{"NAME", "REQUEST", "LIMIT", "AGE"}, "resourcequota"},
	{"limitranges", "limits", false, `apiVersion: v1
kind: LimitRange
metadata: {name: NAME}
spec:
  limits: [{type: Container, default: {cpu: 100m}}]`, []string{"NAME", "CREATED AT"}, "limitrange"},
	{"deployments", "deploy", false, `apiVersion: apps/v1
kind: Deployment
metadata: {name: NAME}
spec:
  selector: {matchLabels: {app: d}}
  template:
    metadata: {labels: {app: d}}
    spec:
      containers: [{name: c, image: busybox}]`, []string{"NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"}, "deployment.apps"},
	{"replicasets", "rs", false, `apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: NAME}
spec:
  selector: {matchLabels: {app: rs}}
  template:
    metadata: {labels: {app: rs}}
    spec:
      containers: [{name: c, image: busybox}]`, []string{"NAME", "DESIRED", "CURRENT", "READY", "AGE"}, "replicaset.apps"},
	{"statefulsets", "sts", false, `apiVersion: apps/v1
kind: StatefulSet
metadata: {name: NAME}
spec:
  serviceName: sts
  selector: {matchLabels: {app: sts}}
  template:
    metadata: {labels: {app: sts}}
    spec:
      containers: [{name: c, image: busybox}]`, []string{"NAME", "READY", "AGE"}, "statefulset.apps"},
	{"daemonsets", "ds", false, `apiVersion: apps/v1
kind: DaemonSet
metadata: {name: NAME}
spec:
  selector: {matchLabels: {app: ds}}
  template:
    metadata: {labels: {app: ds}}
    spec:
      containers: [{name: c, image: busybox}]`, []string{"NAME", "DESIRED", "CURRENT", "READY", "UP-TO-DATE", "AVAILABLE", "NODE SELECTOR", "AGE"}, "daemonset.apps"},
	{"controllerrevisions", "rev", false, `apiVersion: apps/v1
kind: ControllerRevision
metadata: {name: NAME}
revision: 1
data: {spec: {}}`, []string{"NAME", "CONTROLLER", "REVISION", "AGE"}, "controllerrevision.apps"},
	{"jobs", "job", false, `apiVersion: batch/v1
kind: Job
metadata: {name: NAME}
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{name: c, image: busybox}]`, []string{"NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"}, "job.batch"},
	{"cronjobs", "cj", false, `apiVersion: batch/v1
kind: CronJob
metadata: {name: NAME}
spec:
  schedule: "*/5 * * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers: [{name: c, image: busybox}]`, []string{"NAME", "SCHEDULE", "TIMEZONE", "SUSPEND", "ACTIVE", "LAST SCHEDULE", "AGE"}, "cronjob.batch"},
	{"horizontalpodautoscalers", "hpa", false, `apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: NAME}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: deploy}
  minReplicas: 1
  maxReplicas: 3`, []string{"NAME", "REFERENCE", "TARGETS", "MINPODS", "MAXPODS", "REPLICAS", "AGE"}, "horizontalpodautoscaler.autoscaling"},
	{"poddisruptionbudgets", "pdb", false, `apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: NAME}
spec:
  minAvailable: 1
  selector: {matchLabels: {app: d}}`, []string{"NAME", "MIN AVAILABLE", "MAX UNAVAILABLE", "ALLOWED DISRUPTIONS", "AGE"}, "poddisruptionbudget.policy"},
	{"endpointslices", "slice", false, `apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: NAME}
addressType: IPv4
endpoints: [{addresses: [10.244.0.5]}]
ports: [{port: 80}]`, []string{"NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"}, "endpointslice.discovery.k8s.io"},
	{"ingresses", "ing", false, `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: NAME}
spec:
  defaultBackend: {service: {name: svc, port: {number: 80}}}`, []string{"NAME", "CLASS", "HOSTS", "ADDRESS", "PORTS", "AGE"}, "ingress.networking.k8s.io"},
	{"ingressclasses", "ingclass", true, `apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: NAME}
spec: {controller: example.com/ingress}`, []string{"NAME", "CONTROLLER", "PARAMETERS", "AGE"}, "ingressclass.networking.k8s.io"},
	{"networkpolicies", "netpol", false, `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: NAME}
spec:
  podSelector: {}`, []string{"NAME", "POD-SELECTOR", "AGE"}, "networkpolicy.networking.k8s.io"},
	{"leases", "lease", false, `apiVersion: coordination.k8s.io/v1
kind: Lease
metadata: {name: NAME}
spec: {holderIdentity: me}`, []string{"NAME", "HOLDER", "AGE"}, "lease.coordination.k8s.io"},
	{"storageclasses", "sc", true, `apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: NAME}
provisioner: example.com/none`, []string{"NAME", "PROVISIONER", "RECLAIMPOLICY", "VOLUMEBINDINGMODE", "ALLOWVOLUMEEXPANSION", "AGE"}, "storageclass.storage.k8s.io"},
	{"priorityclasses", "pc", true, `apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: {name: NAME}
value: 1000`, []string{"NAME", "VALUE", "GLOBAL-DEFAULT", "AGE", "PREEMPTIONPOLICY"}, "priorityclass.scheduling.k8s.io"},
	{"roles", "role", false, `apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: NAME}
rules: [{apiGroups: [""], resources: [pods], verbs: [get]}]`, []string{"NAME", "CREATED AT"}, "role.rbac.authorization.k8s.io"},
	{"rolebindings", "rb", false, `apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: NAME}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: role}
subjects: [{kind: ServiceAccount, name: sa}]`, []string{"NAME", "ROLE", "AGE"}, "rolebinding.rbac.authorization.k8s.io"},
	{"clusterroles", "crole", true, `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: NAME}
rules: [{apiGroups: [""], resources: [pods], verbs: [get]}]`, []string{"NAME", "CREATED AT"}, "clusterrole.rbac.authorization.k8s.io"},
	{"clusterrolebindings", "crb", true, `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: NAME}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: crole}
subjects: [{kind: ServiceAccount, name: sa, namespace: default}]`, []string{"NAME", "ROLE", "AGE"}, "clusterrolebinding.rbac.authorization.k8s.io"},
}

// TestEveryResourceKind applies one object of every served resource, reads each back in
// kubectl's table form, and deletes them all with the same manifest.
func TestEveryResourceKind(t *testing.T) {
	e := setup(t)
	objName := func(i int) string {
		if kinds[i].cluster {
			return kinds[i].name + "-" + e.ns // cluster-scoped: unique across tests
		}
		return kinds[i].name
	}
	var manifest strings.Builder
	for i, k := range kinds {
		m := strings.Replace(k.manifest, "NAME", objName(i), 1)
		fmt.Fprintf(&manifest, "---\n%s\n", strings.ReplaceAll(m, "namespace: NS", "namespace: "+e.ns))
	}
	path := e.k.Dir() + "/all.yaml"
	if err := writeFile(path, manifest.String()); err != nil {
		t.Fatal(err)
	}
	r := e.k.Run("apply", "-n", e.ns, "-f", path)
	if r.ExitCode != 0 {
		t.Errorf("apply of every kind:\n%s", r)
	}
	// Whatever did not apply cleanly is deleted at the end either way.
	t.Cleanup(func() { e.k.Run("delete", "-n", e.ns, "-f", path, "--ignore-not-found", "--wait=false") })
	for i, k := range kinds {
		want := fmt.Sprintf("%s/%s created", k.printed, objName(i))
		if !strings.Contains(r.Stdout, want+"\n") {
			t.Errorf("apply output lacks %q", want)
		}
	}
	for i, k := range kinds {
		t.Run(k.resource, func(t *testing.T) {
			kc := e.k.For(t)
			r := kc.Run("get", k.resource, objName(i), "-n", e.ns)
			if r.ExitCode != 0 {
				t.Fatalf("get:\n%s", r)
			}
			tb := parseTable(t, r.Stdout)
			wantHeader(t, tb, k.header...)
			nameCol := "NAME"
			if k.resource == "events" {
				// Events print the involved object, not their own name.
				nameCol = "OBJECT"
			}
			if len(tb.rows) != 1 || (nameCol == "NAME" && tb.rows[0]["NAME"] != objName(i)) {
				t.Errorf("rows %v, want one row for %s", tb.rows, objName(i))
			}
		})
	}
	out := e.k.MustRun("delete", "-n", e.ns, "-f", path, "--wait=false")
	for i, k := range kinds {
		want := fmt.Sprintf("%s %q deleted", k.printed, objName(i))
		if !strings.Contains(out, want) {
			t.Errorf("delete output lacks %q:\n%s", want, out)
		}
	}
}
