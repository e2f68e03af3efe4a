package clientgo

import (
	"net/http"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"drover.dev/e2e/framework"
)

func TestDryRun(t *testing.T) {
	c := framework.SharedCluster(t)
	cs := c.Clientset(t)
	ctx := ctxFor(t)
	ns := framework.TestNamespace(t, cs)
	cms := cs.CoreV1().ConfigMaps(ns)
	dry := []string{metav1.DryRunAll}

	got, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "dry"}, Data: map[string]string{"a": "1"}}, metav1.CreateOptions{DryRun: dry})
	if err != nil {
		t.Fatalf("dry-run create: %v", err)
	}
	if got.Name != "dry" || got.Data["a"] != "1" {
		t.Errorf("dry-run create returned %+v", got)
	}
	_, err = cms.Get(ctx, "dry", metav1.GetOptions{})
	wantStatus(t, err, http.StatusNotFound, metav1.StatusReasonNotFound)
	// Dry runs validate.
	_, err = cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "Bad_Name"}}, metav1.CreateOptions{DryRun: dry})
	wantStatus(t, err, http.StatusUnprocessableEntity, metav1.StatusReasonInvalid)

	real, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "real"}, Data: map[string]string{"a": "1"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	real.Data["a"] = "2"
	if _, err := cms.Update(ctx, real, metav1.UpdateOptions{DryRun: dry}); err != nil {
		t.Fatalf("dry-run update: %v", err)
	}
	if _, err := cms.Patch(ctx, "real", types.MergePatchType, []byte(`{"data":{"b":"3"}}`), metav1.PatchOptions{DryRun: dry}); err != nil {
		t.Fatalf("dry-run patch: %v", err)
	}
	if err := cms.Delete(ctx, "real", metav1.DeleteOptions{DryRun: dry}); err != nil {
		t.Fatalf("dry-run delete: %v", err)
	}
	after, err := cms.Get(ctx, "real", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("after dry-run delete: %v", err)
	}
	if after.ResourceVersion != real.ResourceVersion || after.Data["a"] != "1" || after.Data["b"] != "" {
		t.Errorf("dry runs changed the object: rv %s→%s data %v", real.ResourceVersion, after.ResourceVersion, after.Data)
	}
}

func TestDeletePropagationPolicy(t *testing.T) {
	c := framework.SharedCluster(t)
	cs := c.Clientset(t)
	ctx := ctxFor(t)
	ns := framework.TestNamespace(t, cs)
	deps := cs.AppsV1().Deployments(ns)

	tests := []struct {
		policy        metav1.DeletionPropagation
		wantFinalizer string // "" when the object is removed at once
	}{
		{metav1.DeletePropagationBackground, ""},
		{metav1.DeletePropagationForeground, metav1.FinalizerDeleteDependents},
		{metav1.DeletePropagationOrphan, metav1.FinalizerOrphanDependents},
	}
	for _, tt := range tests {
		t.Run(string(tt.policy), func(t *testing.T) {
			name := "prop-" + map[metav1.DeletionPropagation]string{
				metav1.DeletePropagationBackground: "bg", metav1.DeletePropagationForeground: "fg", metav1.DeletePropagationOrphan: "orphan",
			}[tt.policy]
			if _, err := deps.Create(ctx, deployment(name, 1), metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			policy := tt.policy
			if err := deps.Delete(ctx, name, metav1.DeleteOptions{PropagationPolicy: &policy}); err != nil {
				t.Fatal(err)
			}
			got, err := deps.Get(ctx, name, metav1.GetOptions{})
			if tt.wantFinalizer == "" {
				wantStatus(t, err, http.StatusNotFound, metav1.StatusReasonNotFound)
				return
			}
			// The garbage collector finishes these deletions; until it does, the object is
			// marked and carries the policy's finalizer.
			if err != nil {
				t.Fatalf("after %s delete: %v, want the object marked with finalizer %s", tt.policy, err, tt.wantFinalizer)
			}
			if got.DeletionTimestamp == nil || !slices.Contains(got.Finalizers, tt.wantFinalizer) {
				t.Errorf("after %s delete: deletionTimestamp %v finalizers %v, want %s", tt.policy, got.DeletionTimestamp, got.Finalizers, tt.wantFinalizer)
			}
			// Let it go, as the garbage collector would.
			if _, err := deps.Patch(ctx, name, types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{}); err != nil {
				t.Fatal(err)
			}
			_, err = deps.Get(ctx, name, metav1.GetOptions{})
			wantStatus(t, err, http.StatusNotFound, metav1.StatusReasonNotFound)
		})
	}
}

func TestManagedFields(t *testing.T) {
	c := framework.SharedCluster(t)
	cs := c.Clientset(t)
	ctx := ctxFor(t)
	ns := framework.TestNamespace(t, cs)
	cm, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "managed"}, Data: map[string]string{"a": "1"}},
		metav1.CreateOptions{FieldManager: "e2e-tester"})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, mf := range cm.ManagedFields {
		if mf.Manager == "e2e-tester" && mf.Operation == metav1.ManagedFieldsOperationUpdate && mf.FieldsV1 != nil {
			found = true
		}
	}
	if !found {
		t.Errorf("managedFields %+v, want an Update entry of manager e2e-tester", cm.ManagedFields)
	}
	// An invalid field manager name is refused.
	_, err = cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "bad-manager"}},
		metav1.CreateOptions{FieldManager: string(make([]byte, 200))})
	if err == nil {
		t.Error("a fieldManager of 200 NUL bytes was accepted")
	}
}

func TestEventFieldSelectors(t *testing.T) {
	c := framework.SharedCluster(t)
	cs := c.Clientset(t)
	ctx := ctxFor(t)
	ns := framework.TestNamespace(t, cs)
	events := cs.CoreV1().Events(ns)
	for _, e := range []struct{ name, kind, obj, reason string }{
		{"ev-pod", "Pod", "web-1", "Scheduled"},
		{"ev-dep", "Deployment", "web", "ScalingReplicaSet"},
		{"ev-pod2", "Pod", "web-2", "Pulled"},
	} {
		_, err := events.Create(ctx, &corev1.Event{
			ObjectMeta:     metav1.ObjectMeta{Name: e.name},
			InvolvedObject: corev1.ObjectReference{Kind: e.kind, Name: e.obj, Namespace: ns},
			Reason:         e.reason,
			Message:        "e2e",
			Type:           corev1.EventTypeNormal,
			Source:         corev1.EventSource{Component: "e2e"},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		selector string
		want     []string
	}{
		{"involvedObject.kind=Pod", sorted("ev-pod", "ev-pod2")},
		{"involvedObject.name=web", sorted("ev-dep")},
		{"involvedObject.kind=Pod,involvedObject.name=web-2", sorted("ev-pod2")},
		{"reason=Scheduled", sorted("ev-pod")},
		{"type=Normal", sorted("ev-dep", "ev-pod", "ev-pod2")},
	}
	for _, tt := range tests {
		list, err := events.List(ctx, metav1.ListOptions{FieldSelector: tt.selector})
		if err != nil {
			t.Errorf("fieldSelector %q: %v", tt.selector, err)
			continue
		}
		if got := names(list.Items, func(e *corev1.Event) string { return e.Name }); !slices.Equal(got, tt.want) {
			t.Errorf("fieldSelector %q: got %v, want %v", tt.selector, got, tt.want)
		}
	}
}

func TestHTTPErrorCodes(t *testing.T) {
	c := framework.SharedCluster(t)
	cs := c.Clientset(t)
	ctx := ctxFor(t)
	ns := framework.TestNamespace(t, cs)
	if _, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "target"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	rc := cs.CoreV1().RESTClient()

	// POST to an object's path: 405.
	err := rc.Post().AbsPath("/api/v1/namespaces", ns, "configmaps", "target").
		SetHeader("Content-Type", "application/json").Body([]byte(`{}`)).Do(ctx).Error()
	wantStatus(t, err, http.StatusMethodNotAllowed, metav1.StatusReasonMethodNotAllowed)
	// PATCH with a content type that is no patch type: 415.
	err = rc.Patch(types.PatchType("text/plain")).AbsPath("/api/v1/namespaces", ns, "configmaps", "target").
		Body([]byte(`{"data":{"a":"b"}}`)).Do(ctx).Error()
	wantStatus(t, err, http.StatusUnsupportedMediaType, metav1.StatusReasonUnsupportedMediaType)
	// A body that is not JSON: 400.
	err = rc.Post().AbsPath("/api/v1/namespaces", ns, "configmaps").
		SetHeader("Content-Type", "application/json").Body([]byte(`{not json`)).Do(ctx).Error()
	wantStatus(t, err, http.StatusBadRequest, metav1.StatusReasonBadRequest)
	// A body whose kind does not fit the path: 400.
	err = rc.Post().AbsPath("/api/v1/namespaces", ns, "configmaps").
		SetHeader("Content-Type", "application/json").Body([]byte(`{"apiVersion":"v1","kind":"Secret","metadata":{"name":"wrong"}}`)).Do(ctx).Error()
	wantStatus(t, err, http.StatusBadRequest, metav1.StatusReasonBadRequest)
	// A namespace in the body that differs from the path's: 400.
	err = rc.Post().AbsPath("/api/v1/namespaces", ns, "configmaps").
		SetHeader("Content-Type", "application/json").Body([]byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x","namespace":"elsewhere"}}`)).Do(ctx).Error()
	wantStatus(t, err, http.StatusBadRequest, metav1.StatusReasonBadRequest)
	// An update whose name differs from the path's: 400.
	err = rc.Put().AbsPath("/api/v1/namespaces", ns, "configmaps", "target").
		SetHeader("Content-Type", "application/json").Body([]byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"other"}}`)).Do(ctx).Error()
	wantStatus(t, err, http.StatusBadRequest, metav1.StatusReasonBadRequest)
	// An unknown resource: 404.
	err = rc.Get().AbsPath("/api/v1/namespaces", ns, "nosuchresources").Do(ctx).Error()
	wantStatus(t, err, http.StatusNotFound, metav1.StatusReasonNotFound)
}
