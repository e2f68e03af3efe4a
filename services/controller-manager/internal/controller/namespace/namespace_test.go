package namespace

import (
	"context"
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	fakediscovery "k8s.io/client-go/discovery/fake"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	metadatafake "k8s.io/client-go/metadata/fake"
)

func TestSyncDeletesContentThenFinalizes(t *testing.T) {
	now := metav1.Now()
	ns := &v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "doomed", DeletionTimestamp: &now},
		Spec: v1.NamespaceSpec{Finalizers: []v1.FinalizerName{v1.FinalizerKubernetes}}, Status: v1.NamespaceStatus{Phase: v1.NamespaceTerminating}}
	client := fake.NewClientset(ns)
	disc := client.Discovery().(*fakediscovery.FakeDiscovery)
	disc.Resources = []*metav1.APIResourceList{{GroupVersion: "v1", APIResources: []metav1.APIResource{
		{Name: "configmaps", Namespaced: true, Kind: "ConfigMap", Verbs: metav1.Verbs{"list", "delete", "deletecollection"}},
		{Name: "pods/status", Namespaced: true, Kind: "Pod", Verbs: metav1.Verbs{"get", "update"}},
		{Name: "nodes", Namespaced: false, Kind: "Node", Verbs: metav1.Verbs{"list", "delete"}},
	}}}
	scheme := runtime.NewScheme()
	_ = metav1.AddMetaToScheme(scheme)
	cm := &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Name: "cfg", Namespace: "doomed"}}
	md := metadatafake.NewSimpleMetadataClient(scheme, cm)
	f := informers.NewSharedInformerFactory(client, 0)
	c := New(client, md, disc, f.Core().V1().Namespaces(), nil)
	_ = f.Core().V1().Namespaces().Informer().GetIndexer().Add(ns)

	remaining, err := c.deleteContent(context.Background(), "doomed")
	if err != nil {
		t.Fatal(err)
	}
	if len(remaining) != 0 {
		t.Fatalf("remaining %v", remaining)
	}
	if err := c.sync(context.Background(), "doomed"); err != nil {
		t.Fatal(err)
	}
	finalized := false
	for _, a := range client.Actions() {
		if a.GetSubresource() == "finalize" { // the fake records it as a create
			finalized = true
		}
	}
	if !finalized {
		t.Fatalf("namespace not finalized: %v", client.Actions())
	}
}
