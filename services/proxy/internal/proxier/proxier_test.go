package proxier

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"

	"drover.dev/proxy/internal/metrics"
	"drover.dev/proxy/internal/netnstest"
	"drover.dev/proxy/internal/nft"
)

func eventually(t *testing.T, what string, fn func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !fn() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (p *Proxier) pending() (map[string]bool, map[string]time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	d, tr := map[string]bool{}, map[string]time.Time{}
	for k := range p.dirty {
		d[k] = true
	}
	for k, v := range p.triggers {
		tr[k] = v
	}
	return d, tr
}

// TestChangeTracking follows informer events to dirty Services, one sync
// of only those, and the models kept per family (kernel in a throw-away
// namespace).
func TestChangeTracking(t *testing.T) {
	ns := netnstest.New(t)
	t.Cleanup(func() { _ = nft.Cleanup(corev1.IPv4Protocol, ns.Fd()) })
	cs := fake.NewClientset()
	factory := informers.NewSharedInformerFactory(cs, 0)
	p, err := New(Options{
		Informers: factory, NodeName: "node", ClusterCIDRs: []netip.Prefix{netip.MustParsePrefix("10.244.0.0/16")},
		SyncPeriod: time.Hour, NetNSFd: ns.Fd(), Metrics: metrics.New(prometheus.NewRegistry()),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	ctx, cancel := context.WithCancel(context.Background())
	factory.Start(ctx.Done())
	defer func() { cancel(); factory.Shutdown() }()
	factory.WaitForCacheSync(ctx.Done())

	// The first sync is full even with nothing dirty.
	p.SyncOnce()
	if p.LastSuccess().IsZero() {
		t.Fatal("first sync did not succeed")
	}
	if err := p.Healthy(time.Now()); err != nil {
		t.Fatal(err)
	}

	svc := func(name, ip string) *corev1.Service {
		return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
			Spec: corev1.ServiceSpec{ClusterIP: ip, ClusterIPs: []string{ip},
				Ports: []corev1.ServicePort{{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80}}}}
	}
	trigger := time.Now().Add(-time.Minute).UTC().Truncate(time.Second)
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web-1",
			Labels:      map[string]string{discoveryv1.LabelServiceName: "web"},
			Annotations: map[string]string{corev1.EndpointsLastChangeTriggerTime: trigger.Format(time.RFC3339Nano)}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Protocol: ptr.To(corev1.ProtocolTCP), Port: ptr.To[int32](8080)}},
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"10.244.1.5"}}},
	}
	for _, s := range []*corev1.Service{svc("web", "10.96.0.10"), svc("other", "10.96.0.11")} {
		if _, err := cs.CoreV1().Services("default").Create(ctx, s, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cs.DiscoveryV1().EndpointSlices("default").Create(ctx, slice, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "both services dirty", func() bool {
		d, tr := p.pending()
		return d["default/web"] && d["default/other"] && tr["default/web"].Equal(trigger)
	})
	p.SyncOnce()
	if d, _ := p.pending(); len(d) != 0 {
		t.Fatalf("still dirty after sync: %v", d)
	}
	fam := p.families[0]
	if fam.models["default/web"] == nil || fam.models["default/web"].Endpoints != 1 || fam.models["default/other"] == nil {
		t.Fatalf("models %v", fam.models)
	}
	if st := p.Stats()[corev1.IPv4Protocol]; st.Services != 2 {
		t.Fatalf("stats %+v", st)
	}

	// A slice without the service label is not ours; a labelled one marks only its Service.
	stray := slice.DeepCopy()
	stray.Name, stray.Labels = "stray", nil
	if _, err := cs.DiscoveryV1().EndpointSlices("default").Create(ctx, stray, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	slice.Endpoints = append(slice.Endpoints, discoveryv1.Endpoint{Addresses: []string{"10.244.1.6"}})
	if _, err := cs.DiscoveryV1().EndpointSlices("default").Update(ctx, slice, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "web dirty", func() bool { d, _ := p.pending(); return d["default/web"] })
	if d, _ := p.pending(); len(d) != 1 {
		t.Fatalf("dirty %v, want only default/web", d)
	}
	p.SyncOnce()
	if n := fam.models["default/web"].Endpoints; n != 2 {
		t.Fatalf("web has %d endpoints after the update, want 2", n)
	}

	// Deleting a Service drops its model and its table entries.
	if err := cs.CoreV1().Services("default").Delete(ctx, "other", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "other dirty", func() bool { d, _ := p.pending(); return d["default/other"] })
	p.SyncOnce()
	if _, ok := fam.models["default/other"]; ok {
		t.Fatal("model of a deleted service kept")
	}
	if st := p.Stats()[corev1.IPv4Protocol]; st.Services != 1 {
		t.Fatalf("stats after delete %+v", st)
	}
}
