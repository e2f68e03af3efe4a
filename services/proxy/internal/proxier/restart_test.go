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
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"

	"drover.dev/proxy/internal/metrics"
	"drover.dev/proxy/internal/netnstest"
	"drover.dev/proxy/internal/nft"
)

// startProxier starts a proxier on cs for the namespace fd and runs its
// first (full) sync; stop ends it as a stopping proxy does, leaving the
// table in place.
func startProxier(t *testing.T, cs kubernetes.Interface, fd int) (p *Proxier, stop func()) {
	t.Helper()
	factory := informers.NewSharedInformerFactory(cs, 0)
	p, err := New(Options{
		Informers: factory, NodeName: "node", ClusterCIDRs: []netip.Prefix{netip.MustParsePrefix("10.244.0.0/16")},
		SyncPeriod: time.Hour, NetNSFd: fd, Metrics: metrics.New(prometheus.NewRegistry()),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	factory.Start(ctx.Done())
	factory.WaitForCacheSync(ctx.Done())
	p.SyncOnce()
	if p.LastSuccess().IsZero() {
		t.Fatal("first sync did not succeed")
	}
	return p, func() { cancel(); factory.Shutdown(); p.close() }
}

// TestAffinityAcrossRestart: a client pinned to a backend by ClientIP
// affinity still reaches that backend after the proxy stops (without
// --cleanup) and a new proxier starts on the same node.
func TestAffinityAcrossRestart(t *testing.T) {
	const port = 8080
	c := netnstest.NewCluster(t, 4, port)
	t.Cleanup(func() { _ = nft.Cleanup(corev1.IPv4Protocol, c.Node.Fd()) })
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "sticky"},
		Spec: corev1.ServiceSpec{ClusterIP: "10.96.0.40", ClusterIPs: []string{"10.96.0.40"},
			SessionAffinity:       corev1.ServiceAffinityClientIP,
			SessionAffinityConfig: &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptr.To[int32](600)}},
			Ports:                 []corev1.ServicePort{{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80}}}}
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: "default", Name: "sticky-1", Labels: map[string]string{discoveryv1.LabelServiceName: "sticky"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Protocol: ptr.To(corev1.ProtocolTCP), Port: ptr.To[int32](port)}},
	}
	for _, ip := range c.BackendIPs {
		slice.Endpoints = append(slice.Endpoints, discoveryv1.Endpoint{Addresses: []string{ip}})
	}
	cs := fake.NewClientset(svc, slice)

	pin := func(src string) string {
		t.Helper()
		got := map[string]int{}
		for i := 0; i < 8; i++ {
			name, _, err := c.Client.AskFrom("tcp", src, "10.96.0.40:80", 2*time.Second)
			if err != nil {
				t.Fatalf("from %s: %v", src, err)
			}
			got[name]++
		}
		if len(got) != 1 {
			t.Fatalf("from %s: answers from %v, want one backend", src, got)
		}
		for name := range got {
			return name
		}
		return ""
	}
	sources := []string{c.ClientIP, "192.0.2.2"}
	_, stop := startProxier(t, cs, c.Node.Fd())
	pinned := map[string]string{}
	for _, src := range sources {
		pinned[src] = pin(src)
	}
	stop()

	p, stop := startProxier(t, cs, c.Node.Fd())
	defer stop()
	if got := p.families[0].syncer.LastReplace(); got != nft.ReplaceInPlace {
		t.Fatalf("restarted proxier wrote the table as %q, want %q", got, nft.ReplaceInPlace)
	}
	for _, src := range sources {
		if got := pin(src); got != pinned[src] {
			t.Fatalf("from %s: %s after restart, was pinned to %s", src, got, pinned[src])
		}
	}
}
