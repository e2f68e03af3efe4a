package fieldmanager

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/kube-openapi/pkg/validation/spec"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
	"sigs.k8s.io/yaml"

	"drover.dev/apiserver/internal/defaults"
	"drover.dev/apiserver/internal/openapi"
	"drover.dev/apiserver/internal/registry"
)

var (
	podGVK        = corev1.SchemeGroupVersion.WithKind("Pod")
	configMapGVK  = corev1.SchemeGroupVersion.WithKind("ConfigMap")
	serviceGVK    = corev1.SchemeGroupVersion.WithKind("Service")
	deploymentGVK = appsv1.SchemeGroupVersion.WithKind("Deployment")
	hpaV1GVK      = autoscalingv1.SchemeGroupVersion.WithKind("HorizontalPodAutoscaler")
	hpaV2GVK      = autoscalingv2.SchemeGroupVersion.WithKind("HorizontalPodAutoscaler")
)

var testSchemas = sync.OnceValues(func() (map[string]*spec.Schema, error) {
	return openapi.Schemas(registry.Builtin())
})

// newManager returns a Manager over the built-in registry; the schemas are
// built once per test binary.
func newManager(t testing.TB, opts ...Option) *Manager {
	t.Helper()
	schemas, err := testSchemas()
	if err != nil {
		t.Fatal(err)
	}
	m, err := New(registry.Builtin(), schemas, defaults.Default, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// entry returns the managedFields entry of manager (and subresource), failing if there is none.
func entry(t *testing.T, obj runtime.Object, manager, subresource string) metav1.ManagedFieldsEntry {
	t.Helper()
	for _, e := range managedFields(t, obj) {
		if e.Manager == manager && e.Subresource == subresource {
			return e
		}
	}
	t.Fatalf("no managedFields entry for %q (subresource %q) in %s", manager, subresource, dumpManaged(t, obj))
	return metav1.ManagedFieldsEntry{}
}

func managedFields(t *testing.T, obj runtime.Object) []metav1.ManagedFieldsEntry {
	t.Helper()
	acc, err := accessor(obj)
	if err != nil {
		t.Fatal(err)
	}
	return acc.GetManagedFields()
}

func dumpManaged(t *testing.T, obj runtime.Object) string {
	t.Helper()
	b, _ := json.MarshalIndent(managedFields(t, obj), "", "  ")
	return string(b)
}

// fields decodes an entry's FieldsV1.
func fields(t *testing.T, e metav1.ManagedFieldsEntry) *fieldpath.Set {
	t.Helper()
	s := &fieldpath.Set{}
	if e.FieldsV1 == nil {
		return s
	}
	if err := s.FromJSON(bytes.NewReader(e.FieldsV1.Raw)); err != nil {
		t.Fatal(err)
	}
	return s
}

func path(parts ...any) fieldpath.Path { return fieldpath.MakePathOrDie(parts...) }

// keyed is the path element of the associative list item whose key has value.
func keyed(key string, value any) any { return fieldpath.KeyByFields(key, value) }

func owns(t *testing.T, e metav1.ManagedFieldsEntry, p fieldpath.Path) bool {
	t.Helper()
	return fields(t, e).Has(p)
}

func update(t *testing.T, m *Manager, gvk schema.GroupVersionKind, subresource string, live, obj runtime.Object, manager string) runtime.Object {
	t.Helper()
	out, err := m.Update(gvk, subresource, live, obj, manager)
	if err != nil {
		t.Fatalf("Update by %s: %v", manager, err)
	}
	return out
}

func apply(t *testing.T, m *Manager, gvk schema.GroupVersionKind, subresource string, live runtime.Object, patch, manager string, force bool) runtime.Object {
	t.Helper()
	out, err := m.Apply(gvk, subresource, live, []byte(patch), manager, force)
	if err != nil {
		t.Fatalf("Apply by %s: %v", manager, err)
	}
	return out
}

func newConfigMap(data map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Name: "cm", Namespace: "default"},
		Data:       data,
	}
}

func newDeployment(replicas int32) *appsv1.Deployment {
	d := &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", Labels: map[string]string{"app": "web"}},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx:1.27"}}},
			},
		},
	}
	defaults.Default(d)
	return d
}

func newService() *corev1.Service {
	svc := &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "web"},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}},
		},
	}
	defaults.Default(svc)
	return svc
}

// stored mimics what the apiserver does to an object it writes: it gets a uid.
func stored[T runtime.Object](obj T) T {
	acc, _ := accessor(obj)
	if acc.GetUID() == "" {
		acc.SetUID("6d9f4a51-2b1c-4f0e-9c57-0b1c2a3d4e5f")
	}
	acc.SetResourceVersion("7")
	return obj
}

func TestUpdateOnCreate(t *testing.T) {
	m := newManager(t)
	out := update(t, m, configMapGVK, "", nil, newConfigMap(map[string]string{"key": "a"}), "kubectl-create")
	mf := managedFields(t, out)
	if len(mf) != 1 {
		t.Fatalf("managedFields = %s, want one entry", dumpManaged(t, out))
	}
	e := mf[0]
	if e.Manager != "kubectl-create" || e.Operation != metav1.ManagedFieldsOperationUpdate || e.APIVersion != "v1" ||
		e.FieldsType != "FieldsV1" || e.Time == nil || e.Subresource != "" {
		t.Errorf("entry = %+v", e)
	}
	if !owns(t, e, path("data", "key")) {
		t.Errorf("kubectl-create does not own data.key: %s", e.FieldsV1.Raw)
	}
	if owns(t, e, path("metadata", "name")) {
		t.Errorf("identity fields are owned: %s", e.FieldsV1.Raw)
	}
}

func TestUpdateSecondManagerTakesField(t *testing.T) {
	m := newManager(t)
	created := stored(update(t, m, deploymentGVK, "", nil, newDeployment(1), "alice").(*appsv1.Deployment))

	next := created.DeepCopy()
	next.Spec.Replicas = ptr.To[int32](3)
	out := update(t, m, deploymentGVK, "", created, next, "bob")

	if n := len(managedFields(t, out)); n != 2 {
		t.Fatalf("managedFields = %s, want two entries", dumpManaged(t, out))
	}
	alice, bob := entry(t, out, "alice", ""), entry(t, out, "bob", "")
	if owns(t, alice, path("spec", "replicas")) {
		t.Error("alice still owns spec.replicas")
	}
	if !owns(t, alice, path("spec", "template", "spec", "containers", keyed("name", "web"), "image")) {
		t.Error("alice lost the container image she set")
	}
	if !fields(t, bob).Equals(fieldpath.NewSet(path("spec", "replicas"))) {
		t.Errorf("bob owns %s, want spec.replicas alone", fields(t, bob))
	}
	if bob.Operation != metav1.ManagedFieldsOperationUpdate || bob.APIVersion != "apps/v1" {
		t.Errorf("bob = %+v", bob)
	}
}

// TestNoOpWritesKeepManagedFields: a write that changes nothing leaves
// managedFields as they were, times included, so the apiserver can still
// recognise it as a no-op and skip the etcd write.
func TestNoOpWritesKeepManagedFields(t *testing.T) {
	m := newManager(t)
	created := stored(update(t, m, configMapGVK, "", nil, newConfigMap(map[string]string{"key": "a"}), "alice").(*corev1.ConfigMap))
	created.ManagedFields[0].Time = &metav1.Time{Time: created.ManagedFields[0].Time.Add(-time.Hour)}
	const patch = `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cm"},"data":{"applied":"x"}}`
	applied := stored(apply(t, m, configMapGVK, "", created, patch, "kubectl", false).(*corev1.ConfigMap))
	applied.ManagedFields[1].Time = &metav1.Time{Time: applied.ManagedFields[1].Time.Add(-time.Hour)}

	tests := []struct {
		name  string
		write func() runtime.Object
	}{
		{"update by the owner", func() runtime.Object {
			return update(t, m, configMapGVK, "", applied, applied.DeepCopy(), "alice")
		}},
		{"update by another manager", func() runtime.Object {
			return update(t, m, configMapGVK, "", applied, applied.DeepCopy(), "bob")
		}},
		{"repeated apply", func() runtime.Object {
			return apply(t, m, configMapGVK, "", applied, patch, "kubectl", false)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := managedFields(t, tt.write())
			if !apiequality.Semantic.DeepEqual(got, applied.ManagedFields) {
				t.Errorf("managedFields = %s, want them unchanged", dumpManaged(t, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{ManagedFields: got}}))
			}
		})
	}
}

func TestUpdateKeepsOrResetsRequestManagedFields(t *testing.T) {
	m := newManager(t)
	created := stored(update(t, m, configMapGVK, "", nil, newConfigMap(map[string]string{"key": "a"}), "alice"))

	t.Run("empty keeps live", func(t *testing.T) {
		next := created.DeepCopyObject().(*corev1.ConfigMap)
		next.ManagedFields = nil
		next.Data["other"] = "b"
		out := update(t, m, configMapGVK, "", created, next, "bob")
		entry(t, out, "alice", "")
		entry(t, out, "bob", "")
	})
	t.Run("single empty entry resets", func(t *testing.T) {
		next := created.DeepCopyObject().(*corev1.ConfigMap)
		next.ManagedFields = []metav1.ManagedFieldsEntry{{}}
		next.Data["other"] = "b"
		out := update(t, m, configMapGVK, "", created, next, "bob")
		if mf := managedFields(t, out); len(mf) != 0 {
			t.Errorf("managedFields = %s, want none after a reset", dumpManaged(t, out))
		}
	})
}

func TestMainResourceDoesNotOwnStatus(t *testing.T) {
	m := newManager(t)
	d := newDeployment(1)
	d.Status.Replicas = 4
	out := update(t, m, deploymentGVK, "", nil, d, "alice")
	if owns(t, entry(t, out, "alice", ""), path("status", "replicas")) {
		t.Error("an update of the main resource owns status")
	}
	applied := apply(t, m, deploymentGVK, "", nil, `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","labels":{"a":"b"}},"status":{"replicas":2}}`, "kubectl", false)
	if owns(t, entry(t, applied, "kubectl", ""), path("status", "replicas")) {
		t.Error("an apply to the main resource owns status")
	}
}

func TestStatusUpdateOwnsOnlyStatus(t *testing.T) {
	m := newManager(t)
	created := stored(update(t, m, deploymentGVK, "", nil, newDeployment(1), "alice").(*appsv1.Deployment))

	next := created.DeepCopy()
	next.Status.Replicas = 1
	next.Status.Conditions = []appsv1.DeploymentCondition{{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue}}
	// A status write that also sends other changes does not own them.
	next.Spec.Replicas = ptr.To[int32](9)
	next.Labels["tier"] = "frontend"
	out := update(t, m, deploymentGVK, "status", created, next, "deployment-controller")

	ctrl := entry(t, out, "deployment-controller", "status")
	if ctrl.Operation != metav1.ManagedFieldsOperationUpdate || ctrl.APIVersion != "apps/v1" {
		t.Errorf("entry = %+v", ctrl)
	}
	fields(t, ctrl).Iterate(func(p fieldpath.Path) {
		if len(p) == 0 || p[0].FieldName == nil || *p[0].FieldName != "status" {
			t.Errorf("status writer owns %s", p)
		}
	})
	if !owns(t, ctrl, path("status", "replicas")) || !owns(t, ctrl, path("status", "conditions", keyed("type", "Available"), "status")) {
		t.Errorf("status writer owns %s", fields(t, ctrl))
	}
	if !owns(t, entry(t, out, "alice", ""), path("spec", "replicas")) {
		t.Error("a status write took spec.replicas from alice")
	}

	// The status manager's fields survive the next main-resource update.
	out = stored(out.(*appsv1.Deployment))
	again := out.(*appsv1.Deployment).DeepCopy()
	again.Spec.Template.Spec.Containers[0].Image = "nginx:1.28"
	out2 := update(t, m, deploymentGVK, "", out, again, "alice")
	entry(t, out2, "deployment-controller", "status")
}

func TestFinalizeOwnsFinalizersNotStatus(t *testing.T) {
	m := newManager(t)
	nsGVK := corev1.SchemeGroupVersion.WithKind("Namespace")
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team"}, Spec: corev1.NamespaceSpec{Finalizers: []corev1.FinalizerName{"kubernetes"}}}
	created := stored(update(t, m, nsGVK, "", nil, ns, "alice").(*corev1.Namespace))
	next := created.DeepCopy()
	next.Spec.Finalizers = append(next.Spec.Finalizers, "example.com/cleanup")
	next.Status.Phase = corev1.NamespaceTerminating
	out := update(t, m, nsGVK, "finalize", created, next, "cleaner")
	e := entry(t, out, "cleaner", "finalize")
	if !owns(t, e, path("spec", "finalizers")) || owns(t, e, path("status", "phase")) {
		t.Errorf("cleaner owns %s, want spec.finalizers and no status", fields(t, e))
	}
}

func TestStatusUpdateIgnoresRequestManagedFields(t *testing.T) {
	m := newManager(t)
	created := stored(update(t, m, deploymentGVK, "", nil, newDeployment(1), "alice").(*appsv1.Deployment))
	next := created.DeepCopy()
	next.ManagedFields = []metav1.ManagedFieldsEntry{{}}
	next.Status.Replicas = 1
	out := update(t, m, deploymentGVK, "status", created, next, "ctrl")
	entry(t, out, "alice", "")
	entry(t, out, "ctrl", "status")
}

func TestApply(t *testing.T) {
	m := newManager(t)
	created := stored(update(t, m, configMapGVK, "", nil, newConfigMap(map[string]string{"key": "a"}), "alice").(*corev1.ConfigMap))

	out := apply(t, m, configMapGVK, "", created, `
apiVersion: v1
kind: ConfigMap
metadata:
  name: cm
  namespace: default
data:
  applied: "yes"
`, "kubectl", false)
	cm := out.(*corev1.ConfigMap)
	if cm.Data["applied"] != "yes" || cm.Data["key"] != "a" {
		t.Errorf("data = %v, want the applied key merged into the live ones", cm.Data)
	}
	e := entry(t, out, "kubectl", "")
	if e.Operation != metav1.ManagedFieldsOperationApply || e.APIVersion != "v1" || e.FieldsType != "FieldsV1" || e.Time == nil {
		t.Errorf("entry = %+v", e)
	}
	if !owns(t, e, path("data", "applied")) || owns(t, e, path("data", "key")) {
		t.Errorf("kubectl owns %s", fields(t, e))
	}
	if !owns(t, entry(t, out, "alice", ""), path("data", "key")) {
		t.Error("alice lost data.key")
	}
	if cm.UID != created.UID || cm.ResourceVersion != created.ResourceVersion {
		t.Errorf("identity changed: uid %q rv %q", cm.UID, cm.ResourceVersion)
	}

	// Applying again without a field removes it: the applier owned it alone.
	out = stored(out.(*corev1.ConfigMap))
	out = apply(t, m, configMapGVK, "", out, `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cm"},"data":{"other":"z"}}`, "kubectl", false)
	if data := out.(*corev1.ConfigMap).Data; data["applied"] != "" || data["other"] != "z" || data["key"] != "a" {
		t.Errorf("data = %v, want applied removed, other added, key kept", data)
	}
}

func TestApplyConflicts(t *testing.T) {
	m := newManager(t)
	created := stored(update(t, m, configMapGVK, "", nil, newConfigMap(map[string]string{"key": "a"}), "alice"))

	const patch = `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cm"},"data":{"key":"b"}}`
	_, err := m.Apply(configMapGVK, "", created, []byte(patch), "bob", false)
	if !apierrors.IsConflict(err) {
		t.Fatalf("err = %v, want a conflict", err)
	}
	status := err.(apierrors.APIStatus).Status()
	if status.Code != http.StatusConflict || status.Details == nil || len(status.Details.Causes) != 1 {
		t.Fatalf("status = %+v", status)
	}
	cause := status.Details.Causes[0]
	if cause.Type != metav1.CauseTypeFieldManagerConflict || cause.Field != ".data.key" || !strings.Contains(cause.Message, `"alice"`) {
		t.Errorf("cause = %+v", cause)
	}
	if !strings.Contains(status.Message, "Apply failed with 1 conflict") {
		t.Errorf("message = %q", status.Message)
	}

	t.Run("same value is shared, not a conflict", func(t *testing.T) {
		out := apply(t, m, configMapGVK, "", created, `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cm"},"data":{"key":"a"}}`, "bob", false)
		if !owns(t, entry(t, out, "alice", ""), path("data", "key")) || !owns(t, entry(t, out, "bob", ""), path("data", "key")) {
			t.Errorf("managedFields = %s, want data.key owned by both", dumpManaged(t, out))
		}
	})
	t.Run("force takes the field", func(t *testing.T) {
		out := apply(t, m, configMapGVK, "", created, patch, "bob", true)
		if got := out.(*corev1.ConfigMap).Data["key"]; got != "b" {
			t.Errorf("data.key = %q", got)
		}
		if !owns(t, entry(t, out, "bob", ""), path("data", "key")) {
			t.Error("bob does not own data.key")
		}
		for _, e := range managedFields(t, out) {
			if e.Manager == "alice" && owns(t, e, path("data", "key")) {
				t.Error("alice still owns data.key")
			}
		}
	})
}

func TestApplyOnCreate(t *testing.T) {
	tests := []struct {
		name  string
		gvk   schema.GroupVersionKind
		patch string
		check func(t *testing.T, obj runtime.Object, e metav1.ManagedFieldsEntry)
	}{
		{
			name: "deployment",
			gvk:  deploymentGVK,
			patch: `
apiVersion: apps/v1
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
        ports:
        - containerPort: 80
`,
			check: func(t *testing.T, obj runtime.Object, e metav1.ManagedFieldsEntry) {
				d := obj.(*appsv1.Deployment)
				if *d.Spec.Replicas != 2 || d.Spec.Template.Spec.Containers[0].Image != "nginx:1.27" {
					t.Errorf("spec = %+v", d.Spec)
				}
				// Defaulted like a decoded request.
				if d.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType || d.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyAlways {
					t.Errorf("not defaulted: strategy %q restartPolicy %q", d.Spec.Strategy.Type, d.Spec.Template.Spec.RestartPolicy)
				}
				if !owns(t, e, path("spec", "template", "spec", "containers", keyed("name", "web"), "ports", fieldpath.KeyByFields("containerPort", 80, "protocol", "TCP"), "containerPort")) {
					t.Errorf("owns %s", fields(t, e))
				}
				if owns(t, e, path("spec", "strategy")) {
					t.Error("the applier owns a defaulted field it did not send")
				}
			},
		},
		{
			name:  "configmap",
			gvk:   configMapGVK,
			patch: `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cm","namespace":"default","labels":{"a":"b"}},"data":{"k":"v"}}`,
			check: func(t *testing.T, obj runtime.Object, e metav1.ManagedFieldsEntry) {
				cm := obj.(*corev1.ConfigMap)
				if cm.Data["k"] != "v" || cm.Labels["a"] != "b" || cm.Namespace != "default" {
					t.Errorf("configmap = %+v", cm)
				}
				if !owns(t, e, path("metadata", "labels", "a")) || !owns(t, e, path("data", "k")) {
					t.Errorf("owns %s", fields(t, e))
				}
			},
		},
		{
			name: "service",
			gvk:  serviceGVK,
			patch: `
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
  - name: http
    port: 80
    targetPort: 8080
  - name: dns
    port: 53
    protocol: UDP
`,
			check: func(t *testing.T, obj runtime.Object, e metav1.ManagedFieldsEntry) {
				svc := obj.(*corev1.Service)
				if len(svc.Spec.Ports) != 2 || svc.Spec.Ports[0].Protocol != corev1.ProtocolTCP || svc.Spec.Type != corev1.ServiceTypeClusterIP {
					t.Errorf("spec = %+v", svc.Spec)
				}
				// Ports are a map keyed by port and protocol, the protocol defaulting to TCP.
				if !owns(t, e, path("spec", "ports", fieldpath.KeyByFields("port", 80, "protocol", "TCP"), "targetPort")) ||
					!owns(t, e, path("spec", "ports", fieldpath.KeyByFields("port", 53, "protocol", "UDP"), "name")) {
					t.Errorf("owns %s", fields(t, e))
				}
			},
		},
	}
	m := newManager(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := apply(t, m, tt.gvk, "", nil, tt.patch, "kubectl", false)
			if got := out.GetObjectKind().GroupVersionKind(); got != tt.gvk {
				t.Errorf("kind = %v", got)
			}
			mf := managedFields(t, out)
			if len(mf) != 1 {
				t.Fatalf("managedFields = %s, want one entry", dumpManaged(t, out))
			}
			if e := mf[0]; e.Manager != "kubectl" || e.Operation != metav1.ManagedFieldsOperationApply || e.APIVersion != tt.gvk.GroupVersion().String() {
				t.Errorf("entry = %+v", e)
			}
			tt.check(t, out, mf[0])
		})
	}
}

func TestApplyRejects(t *testing.T) {
	m := newManager(t)
	live := stored(update(t, m, configMapGVK, "", nil, newConfigMap(map[string]string{"key": "a"}), "alice"))
	deployment := stored(update(t, m, deploymentGVK, "", nil, newDeployment(1), "alice"))
	const cm = `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cm"}}`
	tests := []struct {
		name        string
		gvk         schema.GroupVersionKind
		subresource string
		live        runtime.Object
		create      bool // apply with no live object
		patch       string
		manager     string
		code        int32
		contains    string
	}{
		{name: "empty", patch: "", code: 400, contains: "empty"},
		{name: "only comments", patch: "# nothing\n---\n", code: 400, contains: "empty"},
		{name: "not yaml", patch: "{", code: 400, contains: "error decoding patch"},
		{name: "list", patch: `[` + cm + `]`, code: 400, contains: "a list"},
		{name: "scalar", patch: `"cm"`, code: 400, contains: "a string"},
		{name: "two documents", patch: cm + "\n---\n" + cm, code: 400, contains: "single object"},
		{name: "two JSON objects", patch: cm + "\n" + cm, code: 400, contains: "single object"},
		{name: "YAML flow mapping", patch: `{apiVersion: v1, kind: ConfigMap, metadata: {name: cm}, data: {key: [1]}}`, code: 422, contains: "data.key"},
		{name: "no apiVersion", patch: `{"kind":"ConfigMap","metadata":{"name":"cm"}}`, code: 400, contains: "invalid object type"},
		{name: "other version", gvk: deploymentGVK, live: deployment, patch: `{"apiVersion":"apps/v1beta1","kind":"Deployment","metadata":{"name":"web"}}`, code: 400, contains: "apps/v1beta1"},
		{name: "other kind", patch: `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"cm"}}`, code: 400, contains: "Secret"},
		{name: "other name", patch: `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"other"}}`, code: 400, contains: "does not match"},
		{name: "other namespace", patch: `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cm","namespace":"kube-system"}}`, code: 400, contains: "namespace"},
		{name: "no name on create", create: true, patch: `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"labels":{"a":"b"}}}`, code: 422, contains: "metadata.name"},
		{name: "metadata not an object", patch: `{"apiVersion":"v1","kind":"ConfigMap","metadata":"cm"}`, code: 400, contains: "metadata"},
		{name: "name not a string", patch: `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":3}}`, code: 400, contains: "metadata.name"},
		{name: "managed fields", patch: `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cm","managedFields":[]}}`, code: 400, contains: "managedFields"},
		{name: "unknown field", patch: `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cm"},"dta":{"a":"b"}}`, code: 422, contains: "dta"},
		{name: "wrong type", gvk: deploymentGVK, live: deployment, patch: `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"spec":{"replicas":"three"}}`, code: 422, contains: "spec.replicas"},
		{name: "fractional integer", gvk: deploymentGVK, live: deployment, patch: `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"spec":{"replicas":1.5}}`, code: 422},
		{name: "bad time", patch: `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cm","creationTimestamp":"yesterday"}}`, code: 422},
		{name: "bad quantity", gvk: deploymentGVK, live: deployment, patch: `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"spec":{"template":{"spec":{"containers":[{"name":"web","resources":{"limits":{"cpu":"lots"}}}]}}}}`, code: 422},
		{name: "duplicate list keys", gvk: deploymentGVK, live: deployment, patch: `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"spec":{"template":{"spec":{"containers":[{"name":"a"},{"name":"a"}]}}}}`, code: 422, contains: "duplicate"},
		{name: "no manager", patch: cm, manager: "-", code: 422, contains: "fieldManager"},
		{name: "status of a missing object", subresource: "status", gvk: deploymentGVK, create: true, patch: `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"}}`, code: 404},
		{name: "scale with a deployment", subresource: "scale", gvk: deploymentGVK, live: deployment, patch: `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"}}`, code: 400, contains: "Scale"},
		{name: "binding subresource", subresource: "binding", gvk: podGVK, patch: `{"apiVersion":"v1","kind":"Binding","metadata":{"name":"p"}}`, code: 500},
		{name: "unknown kind", gvk: schema.GroupVersionKind{Group: "example.com", Version: "v1", Kind: "Widget"}, patch: cm, code: 500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gvk := tt.gvk
			if gvk.Empty() {
				gvk = configMapGVK
			}
			l := tt.live
			switch {
			case tt.create:
				l = nil
			case l == nil:
				l = live
			}
			manager := "kubectl"
			if tt.manager == "-" {
				manager = ""
			}
			out, err := m.Apply(gvk, tt.subresource, l, []byte(tt.patch), manager, false)
			if err == nil {
				t.Fatalf("applied: %+v", out)
			}
			var status apierrors.APIStatus
			if !errors.As(err, &status) {
				t.Fatalf("err = %v (%T), want an API status", err, err)
			}
			if got := status.Status().Code; got != tt.code {
				t.Errorf("code = %d, want %d: %v", got, tt.code, err)
			}
			if !strings.Contains(err.Error(), tt.contains) {
				t.Errorf("err = %q, want it to mention %q", err, tt.contains)
			}
		})
	}
}

func TestScale(t *testing.T) {
	m := newManager(t)
	created := stored(update(t, m, deploymentGVK, "", nil, newDeployment(1), "alice").(*appsv1.Deployment))

	// An update through /scale: the endpoint hands the parent before and after.
	next := created.DeepCopy()
	next.Spec.Replicas = ptr.To[int32](5)
	out := stored(update(t, m, deploymentGVK, "scale", created, next, "hpa").(*appsv1.Deployment))
	hpa := entry(t, out, "hpa", "scale")
	if hpa.APIVersion != "apps/v1" || hpa.Time == nil || !fields(t, hpa).Equals(fieldpath.NewSet(path("spec", "replicas"))) {
		t.Errorf("hpa = %+v owning %s, want spec.replicas of apps/v1", hpa, fields(t, hpa))
	}
	if owns(t, entry(t, out, "alice", ""), path("spec", "replicas")) {
		t.Error("alice still owns spec.replicas")
	}

	// An apply through /scale conflicts with the hpa's replicas.
	const patch = `{"apiVersion":"autoscaling/v1","kind":"Scale","metadata":{"name":"web"},"spec":{"replicas":7}}`
	if _, err := m.Apply(deploymentGVK, "scale", out, []byte(patch), "kubectl", false); !apierrors.IsConflict(err) {
		t.Fatalf("err = %v, want a conflict with the hpa", err)
	}
	applied := apply(t, m, deploymentGVK, "scale", out, patch, "kubectl", true).(*appsv1.Deployment)
	if *applied.Spec.Replicas != 7 || *out.Spec.Replicas != 5 {
		t.Errorf("replicas = %d (live %d), want 7 on a copy", *applied.Spec.Replicas, *out.Spec.Replicas)
	}
	if applied.ResourceVersion != out.ResourceVersion || applied.Spec.Template.Spec.Containers[0].Image != "nginx:1.27" {
		t.Errorf("the rest of the parent changed: %+v", applied)
	}
	kubectl := entry(t, applied, "kubectl", "scale")
	if kubectl.Operation != metav1.ManagedFieldsOperationApply || kubectl.Time == nil || !owns(t, kubectl, path("spec", "replicas")) {
		t.Errorf("kubectl = %+v owning %s", kubectl, fields(t, kubectl))
	}
	for _, e := range managedFields(t, applied) {
		if e.Manager == "hpa" {
			t.Errorf("hpa kept an entry after losing its only field: %+v", e)
		}
	}
	entry(t, applied, "alice", "")
}

func TestOtherVersions(t *testing.T) {
	hpa := &autoscalingv1.HorizontalPodAutoscaler{
		TypeMeta:   metav1.TypeMeta{APIVersion: "autoscaling/v1", Kind: "HorizontalPodAutoscaler"},
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: autoscalingv1.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv1.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"},
			MinReplicas:    ptr.To[int32](1),
			MaxReplicas:    5,
		},
	}
	// The JSON of the fields both versions share.
	convert := func(obj runtime.Object, to schema.GroupVersion) (runtime.Object, error) {
		out, err := scheme.Scheme.New(to.WithKind("HorizontalPodAutoscaler"))
		if err != nil {
			return nil, err
		}
		b, err := json.Marshal(obj)
		if err != nil {
			return nil, err
		}
		return out, json.Unmarshal(b, out)
	}
	tests := []struct {
		name     string
		opts     []Option
		wantKept bool
	}{
		{name: "without conversion the other version's entry is dropped"},
		{name: "with conversion it is kept", opts: []Option{WithConversion(convert)}, wantKept: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newManager(t, tt.opts...)
			createdV1 := stored(update(t, m, hpaV1GVK, "", nil, hpa.DeepCopy(), "v1-client"))
			liveV2, err := convert(createdV1, autoscalingv2.SchemeGroupVersion)
			if err != nil {
				t.Fatal(err)
			}
			next := liveV2.DeepCopyObject().(*autoscalingv2.HorizontalPodAutoscaler)
			next.Spec.MaxReplicas = 10
			out := update(t, m, hpaV2GVK, "", liveV2, next, "v2-client")
			if !owns(t, entry(t, out, "v2-client", ""), path("spec", "maxReplicas")) {
				t.Error("v2-client does not own spec.maxReplicas")
			}
			var kept *metav1.ManagedFieldsEntry
			for _, e := range managedFields(t, out) {
				if e.Manager == "v1-client" {
					kept = &e
				}
			}
			if (kept != nil) != tt.wantKept {
				t.Fatalf("managedFields = %s, want v1-client kept: %v", dumpManaged(t, out), tt.wantKept)
			}
			if kept != nil {
				if kept.APIVersion != "autoscaling/v1" || owns(t, *kept, path("spec", "maxReplicas")) || !owns(t, *kept, path("spec", "minReplicas")) {
					t.Errorf("v1-client = %+v owning %s", kept, fields(t, *kept))
				}
			}
		})
	}
}

func TestUpdateErrors(t *testing.T) {
	m := newManager(t)
	cm := newConfigMap(nil)
	tests := []struct {
		name        string
		gvk         schema.GroupVersionKind
		subresource string
		live, obj   runtime.Object
		want        error
	}{
		{name: "unknown kind", gvk: schema.GroupVersionKind{Group: "example.com", Version: "v1", Kind: "Widget"}, obj: cm, want: ErrUnknownKind},
		{name: "subresource the kind lacks", gvk: configMapGVK, subresource: "status", obj: cm, want: ErrUnsupportedSubresource},
		{name: "subresource of another kind", gvk: podGVK, subresource: "eviction", obj: &corev1.Pod{}, want: ErrUnsupportedSubresource},
		{name: "status without live", gvk: deploymentGVK, subresource: "status", obj: newDeployment(1), want: ErrNoLiveObject},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := m.Update(tt.gvk, tt.subresource, tt.live, tt.obj, "x"); !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestNew(t *testing.T) {
	schemas, err := testSchemas()
	if err != nil {
		t.Fatal(err)
	}
	without := map[string]*spec.Schema{}
	for name, s := range schemas {
		if name != "io.k8s.api.apps.v1.Deployment" {
			without[name] = s
		}
	}
	if _, err := New(registry.Builtin(), without, nil); err == nil || !strings.Contains(err.Error(), "Deployment") {
		t.Errorf("New without the Deployment schema: err = %v", err)
	}
	if _, err := New(nil, schemas, nil); err == nil {
		t.Error("New without a registry succeeded")
	}
}

// TestConcurrentUse builds the per-kind managers from many goroutines at
// once; run with -race.
func TestConcurrentUse(t *testing.T) {
	m := newManager(t)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			cm := newConfigMap(map[string]string{"i": fmt.Sprint(i)})
			if _, err := m.Update(configMapGVK, "", nil, cm, fmt.Sprintf("m%d", i)); err != nil {
				errs <- err
			}
			d := stored(newDeployment(int32(i)))
			if _, err := m.Update(deploymentGVK, "status", d, d.DeepCopy(), "ctrl"); err != nil {
				errs <- err
			}
			patch := `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"spec":{"replicas":3}}`
			if _, err := m.Apply(deploymentGVK, "", nil, []byte(patch), "kubectl", false); err != nil {
				errs <- err
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestManagerFromUserAgent(t *testing.T) {
	tests := []struct {
		ua, want string
	}{
		{"kubectl-client-side-apply/v1.37.2 (linux/amd64) kubernetes/abcdef", "kubectl-client-side-apply"},
		{"kubectl/v1.37.2 (linux/amd64) kubernetes/abcdef", "kubectl"},
		{"helm/v3.18.0", "helm"},
		{"Go-http-client/1.1", "Go-http-client"},
		{"kube-controller-manager/v1.37.2 (linux/amd64) kubernetes/abcdef/system:serviceaccount:kube-system:deployment-controller", "kube-controller-manager"},
		{"no-slash", "no-slash"},
		{"", ""},
		{"tab\there/1", "tabhere"},
		{strings.Repeat("a", 200) + "/1", strings.Repeat("a", 128)},
		{strings.Repeat("a", 127) + "é/1", strings.Repeat("a", 127)},
	}
	for _, tt := range tests {
		if got := ManagerFromUserAgent(tt.ua); got != tt.want {
			t.Errorf("ManagerFromUserAgent(%q) = %q, want %q", tt.ua, got, tt.want)
		}
	}
}

//go:embed testdata/pod.yaml
var podYAML []byte

func testPod(t testing.TB) *corev1.Pod {
	t.Helper()
	pod := &corev1.Pod{}
	if err := yaml.UnmarshalStrict(podYAML, pod); err != nil {
		t.Fatal(err)
	}
	return pod
}

// TestPodStatusThroughStatus checks a realistic pod: the kubelet's status
// write owns the status alone, and the creator keeps the spec.
func TestPodStatusThroughStatus(t *testing.T) {
	m := newManager(t)
	pod := testPod(t)
	status := pod.Status
	pod.Status = corev1.PodStatus{}
	created := stored(update(t, m, podGVK, "", nil, pod, "kube-controller-manager").(*corev1.Pod))
	next := created.DeepCopy()
	next.Status = status
	out := update(t, m, podGVK, "status", created, next, "kubelet")
	kubelet := entry(t, out, "kubelet", "status")
	if !owns(t, kubelet, path("status", "conditions", keyed("type", "Ready"), "status")) || !owns(t, kubelet, path("status", "podIP")) {
		t.Errorf("kubelet owns %s", fields(t, kubelet))
	}
	if !owns(t, entry(t, out, "kube-controller-manager", ""), path("spec", "containers", keyed("name", "some-name"), "image")) {
		t.Error("the creator does not own the container image")
	}
}
