package nft

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/utils/ptr"

	"drover.dev/proxy/internal/model"
	"drover.dev/proxy/internal/netnstest"
)

// services builds n Services × eps endpoints (addresses need not exist).
func services(mc model.Config, n, eps int, gen int) map[string]*model.Service {
	out := make(map[string]*model.Service, n)
	for i := 0; i < n; i++ {
		ip := fmt.Sprintf("10.%d.%d.%d", 96+i/65536, (i/256)%256, i%256)
		svc := testService(fmt.Sprintf("svc-%d", i), ip, 0, func(s *corev1.Service) { s.Spec.Ports = s.Spec.Ports[:1] })
		sl := &discoveryv1.EndpointSlice{AddressType: discoveryv1.AddressTypeIPv4,
			Ports: []discoveryv1.EndpointPort{{Name: ptr.To("tcp"), Protocol: ptr.To(corev1.ProtocolTCP), Port: ptr.To[int32](int32(8000 + gen))}}}
		for e := 0; e < eps; e++ {
			sl.Endpoints = append(sl.Endpoints, discoveryv1.Endpoint{Addresses: []string{fmt.Sprintf("10.%d.%d.%d", 200+e, (i/256)%256, i%256)}})
		}
		out["default/"+svc.Name] = model.Build(mc, svc, []*discoveryv1.EndpointSlice{sl})
	}
	return out
}

func benchSyncer(b *testing.B) (*netnstest.NS, *Syncer, model.Config) {
	ns := netnstest.New(b)
	s, err := New(Options{Family: corev1.IPv4Protocol, NetNSFd: ns.Fd(), ClusterCIDRs: []netip.Prefix{clusterCIDR}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close(); _ = Cleanup(corev1.IPv4Protocol, ns.Fd()) })
	return ns, s, model.Config{Family: corev1.IPv4Protocol, NodeName: "node", ClusterCIDRs: []netip.Prefix{clusterCIDR}}
}

// BenchmarkFullSync times a full sync of N Services × 10 endpoints into a
// table that already holds them (the periodic resync; the first one is
// reported as first-sync-ms).
func BenchmarkFullSync(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("services=%d", n), func(b *testing.B) {
			_, s, mc := benchSyncer(b)
			svcs := services(mc, n, 10, 0)
			start := time.Now()
			if err := s.Sync(svcs, true); err != nil {
				b.Fatal(err)
			}
			first := time.Since(start)
			st := s.Stats()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := s.Sync(svcs, true); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(first.Milliseconds()), "first-sync-ms")
			b.ReportMetric(float64(st.Chains), "chains")
			b.ReportMetric(float64(st.Rules), "rules")

			b.ReportMetric(float64(st.Elements), "elements")
		})
	}
}

// BenchmarkEndpointChange times the incremental sync of one Service whose
// endpoint port changed, with N Services in the table.
func BenchmarkEndpointChange(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("services=%d", n), func(b *testing.B) {
			_, s, mc := benchSyncer(b)
			if err := s.Sync(services(mc, n, 10, 0), true); err != nil {
				b.Fatal(err)
			}
			alt := [2]map[string]*model.Service{services(mc, 1, 10, 1), services(mc, 1, 10, 0)}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := s.Sync(alt[i%2], false); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkFirstPacket measures TCP connects to a ClusterIP (each a new
// connection, so the first packet walks the nat chains) with 10 and with
// 10,000 Services in the table, in one run, and reports the ratio.
func BenchmarkFirstPacket(b *testing.B) {
	c := netnstest.NewCluster(b, 1, backendPort)
	s, err := New(Options{Family: corev1.IPv4Protocol, NetNSFd: c.Node.Fd(), ClusterCIDRs: []netip.Prefix{clusterCIDR}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close(); _ = Cleanup(corev1.IPv4Protocol, c.Node.Fd()) })
	mc := model.Config{Family: corev1.IPv4Protocol, NodeName: "node", ClusterCIDRs: []netip.Prefix{clusterCIDR}}
	target := testService("target", "10.96.255.254", 0, nil)
	measure := func(n int) time.Duration {
		svcs := services(mc, n, 10, 0)
		svcs["default/target"] = model.Build(mc, target, []*discoveryv1.EndpointSlice{testSlice(c.BackendIPs...)})
		if err := s.Sync(svcs, true); err != nil {
			b.Fatal(err)
		}
		const rounds = 300
		start := time.Now()
		for i := 0; i < rounds; i++ {
			if _, _, err := c.Client.Ask("tcp", "10.96.255.254:80", 2*time.Second); err != nil {
				b.Fatal(err)
			}
		}
		return time.Since(start) / rounds
	}
	for i := 0; i < b.N; i++ {
		measure(10) // warm up
		small := measure(10)
		large := measure(10000)
		b.ReportMetric(float64(small.Microseconds()), "us/conn-10svc")
		b.ReportMetric(float64(large.Microseconds()), "us/conn-10000svc")
		b.ReportMetric(float64(large)/float64(small), "ratio")
	}
}

// BenchmarkEndpointCountChange times the incremental sync of one Service
// that gains or loses an endpoint (10 ↔ 11), with N Services in the table:
// besides map elements, its one pick rule (numgen mod N) is replaced.
func BenchmarkEndpointCountChange(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("services=%d", n), func(b *testing.B) {
			_, s, mc := benchSyncer(b)
			if err := s.Sync(services(mc, n, 10, 0), true); err != nil {
				b.Fatal(err)
			}
			alt := [2]map[string]*model.Service{services(mc, 1, 11, 0), services(mc, 1, 10, 0)}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := s.Sync(alt[i%2], false); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
