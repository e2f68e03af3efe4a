package nft

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"
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

func benchSyncer(b testing.TB) (*netnstest.NS, *Syncer, model.Config) {
	ns := netnstest.New(b)
	s, err := New(Options{Family: corev1.IPv4Protocol, NetNSFd: ns.Fd(), ClusterCIDRs: []netip.Prefix{clusterCIDR}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close(); _ = Cleanup(corev1.IPv4Protocol, ns.Fd()) })
	return ns, s, model.Config{Family: corev1.IPv4Protocol, NodeName: "node", ClusterCIDRs: []netip.Prefix{clusterCIDR}}
}

// BenchmarkFullSync times a full sync of N Services × 10 endpoints into a
// table that already holds them (the periodic resync, with its drift
// check; the first one is reported as first-sync-ms).
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
			u0, s0 := cpuTimes(b)
			for i := 0; i < b.N; i++ {
				if err := s.Sync(svcs, true); err != nil {
					b.Fatal(err)
				}
			}
			u1, s1 := cpuTimes(b)
			b.ReportMetric(float64((u1-u0).Microseconds())/1000/float64(b.N), "user-ms/op")
			b.ReportMetric(float64((s1-s0).Microseconds())/1000/float64(b.N), "sys-ms/op")
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

// BenchmarkFirstSync times the first full sync of a new Syncer: the table
// written whole, as on proxy start. Each round starts from an empty
// namespace (fresh) or from the table a previous proxy left (restart).
// user-ms and sys-ms split the process's CPU time per sync between Go
// (with its GC) and the kernel (which applies the batch inside sendmsg).
func BenchmarkFirstSync(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		for _, restart := range []bool{false, true} {
			b.Run(fmt.Sprintf("services=%d/restart=%v", n, restart), func(b *testing.B) {
				ns, _, mc := benchSyncer(b)
				svcs := services(mc, n, 10, 0)
				var user, sys time.Duration
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					b.StopTimer()
					if !restart {
						if err := Cleanup(corev1.IPv4Protocol, ns.Fd()); err != nil {
							b.Fatal(err)
						}
					}
					s, err := New(Options{Family: corev1.IPv4Protocol, NetNSFd: ns.Fd(), ClusterCIDRs: []netip.Prefix{clusterCIDR}})
					if err != nil {
						b.Fatal(err)
					}
					u0, s0 := cpuTimes(b)
					b.StartTimer()
					if err := s.Sync(svcs, true); err != nil {
						b.Fatal(err)
					}
					b.StopTimer()
					u1, s1 := cpuTimes(b)
					user, sys = user+u1-u0, sys+s1-s0
					_ = s.Close()
					b.StartTimer()
				}
				b.ReportMetric(float64(user.Microseconds())/1000/float64(b.N), "user-ms/op")
				b.ReportMetric(float64(sys.Microseconds())/1000/float64(b.N), "sys-ms/op")
			})
		}
	}
}

// cpuTimes is the process's user and system CPU time so far.
func cpuTimes(b *testing.B) (user, sys time.Duration) {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
}
