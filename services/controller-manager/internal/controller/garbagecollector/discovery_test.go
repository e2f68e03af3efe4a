package garbagecollector

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	fakediscovery "k8s.io/client-go/discovery/fake"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	metadatafake "k8s.io/client-go/metadata/fake"
	clienttesting "k8s.io/client-go/testing"
)

// discovery serves a resource list the test changes.
type changingDiscovery struct {
	*fakediscovery.FakeDiscovery
	mu sync.Mutex
}

func (d *changingDiscovery) set(lists ...*metav1.APIResourceList) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.Resources = lists
}

func (d *changingDiscovery) ServerPreferredResources() ([]*metav1.APIResourceList, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.Resources, nil
}

func (d *changingDiscovery) ServerGroupsAndResources() ([]*metav1.APIGroup, []*metav1.APIResourceList, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.FakeDiscovery.ServerGroupsAndResources()
}

var (
	gadgets = schema.GroupVersionResource{Group: "example.com", Version: "v1", Resource: "gadgets"}
	widgets = schema.GroupVersionResource{Group: "example.com", Version: "v1", Resource: "widgets"}
	verbs   = metav1.Verbs{"get", "list", "watch", "delete", "patch"}
)

func resources(kinds ...string) *metav1.APIResourceList {
	l := &metav1.APIResourceList{GroupVersion: "example.com/v1"}
	for _, k := range kinds {
		l.APIResources = append(l.APIResources, metav1.APIResource{Name: map[string]string{"Gadget": "gadgets", "Widget": "widgets"}[k],
			Kind: k, Namespaced: true, Verbs: verbs})
	}
	return l
}

func (c *Controller) monitored(gvr schema.GroupVersionResource) bool {
	c.monitorsMu.Lock()
	defer c.monitorsMu.Unlock()
	_, ok := c.monitors[gvr]
	return ok
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// A resource that appears after start gets a monitor on the next
// discovery, and its dangling dependents are collected; one that vanishes
// loses its monitor.
func TestRediscoveryMonitorsNewResources(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	scheme := metadatafake.NewTestScheme()
	if err := metav1.AddMetaToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	md := metadatafake.NewSimpleMetadataClient(scheme)
	disc := &changingDiscovery{FakeDiscovery: &fakediscovery.FakeDiscovery{Fake: &clienttesting.Fake{}}}
	disc.set(resources("Gadget"))
	typed := informers.NewSharedInformerFactory(fake.NewClientset(), 0)
	c, err := New(md, disc, typed, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.period = 50 * time.Millisecond
	if !c.monitored(gadgets) || c.monitored(widgets) {
		t.Fatal("initial monitors must cover exactly the discovered resources")
	}
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, 2) }()

	disc.set(resources("Gadget", "Widget"))
	waitFor(t, "a widgets monitor", func() bool { return c.monitored(widgets) })

	w := &metav1.PartialObjectMetadata{
		TypeMeta: metav1.TypeMeta{APIVersion: "example.com/v1", Kind: "Widget"},
		ObjectMeta: metav1.ObjectMeta{Name: "w1", Namespace: "ns", UID: "w1-uid", OwnerReferences: []metav1.OwnerReference{{
			APIVersion: "example.com/v1", Kind: "Gadget", Name: "gone", UID: "gone-uid"}}},
	}
	if _, err := md.Resource(widgets).Namespace("ns").(metadatafake.MetadataClient).CreateFake(w, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the dangling widget to be collected", func() bool {
		_, err := md.Resource(widgets).Namespace("ns").Get(ctx, "w1", metav1.GetOptions{})
		return err != nil
	})

	disc.set(resources("Gadget"))
	waitFor(t, "the widgets monitor to go", func() bool { return !c.monitored(widgets) })
	if !c.monitored(gadgets) {
		t.Fatal("gadgets monitor dropped")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(fmt.Errorf("run: %w", err))
	}
}
