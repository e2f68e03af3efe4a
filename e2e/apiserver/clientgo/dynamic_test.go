package clientgo

import (
	"net/http"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"drover.dev/e2e/framework"
)

var deploymentsGVR = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}

func TestDynamicClientDeployments(t *testing.T) {
	c := framework.SharedCluster(t)
	ctx := ctxFor(t)
	ns := framework.TestNamespace(t, c.Clientset(t))
	deps := c.Dynamic(t).Resource(deploymentsGVR).Namespace(ns)

	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apps/v1",
		"kind":       "Deployment",
		"metadata":   map[string]any{"name": "dyn", "labels": map[string]any{"via": "dynamic"}},
		"spec": map[string]any{
			"replicas": int64(2),
			"selector": map[string]any{"matchLabels": map[string]any{"app": "dyn"}},
			"template": map[string]any{
				"metadata": map[string]any{"labels": map[string]any{"app": "dyn"}},
				"spec": map[string]any{"containers": []any{
					map[string]any{"name": "web", "image": "nginx:1.27"},
				}},
			},
		},
	}}
	created, err := deps.Create(ctx, obj, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if created.GetUID() == "" || created.GetGeneration() != 1 {
		t.Errorf("created: uid %q generation %d", created.GetUID(), created.GetGeneration())
	}
	if created.GetAPIVersion() != "apps/v1" || created.GetKind() != "Deployment" {
		t.Errorf("created apiVersion/kind %s/%s", created.GetAPIVersion(), created.GetKind())
	}
	if rhl, _, _ := unstructured.NestedInt64(created.Object, "spec", "revisionHistoryLimit"); rhl != 10 {
		t.Errorf("defaulted spec.revisionHistoryLimit %d, want 10", rhl)
	}

	got, err := deps.Get(ctx, "dyn", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := unstructured.SetNestedField(got.Object, int64(3), "spec", "replicas"); err != nil {
		t.Fatal(err)
	}
	updated, err := deps.Update(ctx, got, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if r, _, _ := unstructured.NestedInt64(updated.Object, "spec", "replicas"); r != 3 || updated.GetGeneration() != 2 {
		t.Errorf("after update: replicas %d generation %d, want 3 and 2", r, updated.GetGeneration())
	}

	patched, err := deps.Patch(ctx, "dyn", types.MergePatchType, []byte(`{"metadata":{"labels":{"patched":"true"}},"spec":{"replicas":5}}`), metav1.PatchOptions{})
	if err != nil {
		t.Fatalf("merge patch: %v", err)
	}
	if r, _, _ := unstructured.NestedInt64(patched.Object, "spec", "replicas"); r != 5 || patched.GetLabels()["patched"] != "true" || patched.GetLabels()["via"] != "dynamic" {
		t.Errorf("after merge patch: replicas %d labels %v", r, patched.GetLabels())
	}
	// The status subresource through the dynamic client.
	if err := unstructured.SetNestedField(patched.Object, int64(5), "status", "replicas"); err != nil {
		t.Fatal(err)
	}
	st, err := deps.UpdateStatus(ctx, patched, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("update status: %v", err)
	}
	if r, _, _ := unstructured.NestedInt64(st.Object, "status", "replicas"); r != 5 {
		t.Errorf("status.replicas %d after status update, want 5", r)
	}

	list, err := deps.List(ctx, metav1.ListOptions{LabelSelector: "via=dynamic"})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 1 || list.Items[0].GetName() != "dyn" {
		t.Errorf("list: %d items", len(list.Items))
	}
	if list.GetKind() != "DeploymentList" || list.GetResourceVersion() == "" {
		t.Errorf("list kind %q resourceVersion %q", list.GetKind(), list.GetResourceVersion())
	}

	if err := deps.Delete(ctx, "dyn", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err = deps.Get(ctx, "dyn", metav1.GetOptions{})
	wantStatus(t, err, http.StatusNotFound, metav1.StatusReasonNotFound)
}
