package watcher

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// BenchmarkZoneMemory loads what test/bench loads (10,000 Services, a
// tenth headless with a 5-endpoint slice, 50,000 running pods) through the
// stores as a reflector's first list would, and reports the heap the zone
// keeps afterwards: drover-dns' live state, without the apiserver.
//
//	go test -run '^$' -bench ZoneMemory -benchtime 1x ./internal/watcher/
//
// DROVER_DNS_ZONE_HEAP_PROFILE names a file for a heap profile taken
// while the zone is loaded (run with -memprofilerate 1 for every object).
func BenchmarkZoneMemory(b *testing.B) {
	const nSvc, nPods, namespaces = 10000, 50000, 20
	ns := func(i int) string { return fmt.Sprintf("bench-%d", i%namespaces) }
	ip := func(i int) string { return fmt.Sprintf("10.%d.%d.%d", 64+i/65536, i/256%256, i%256) }
	for range b.N {
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		var svcs, slices, pods []any
		for i := range nSvc {
			s := &corev1.Service{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns(i), Name: fmt.Sprintf("svc-%d", i), ResourceVersion: fmt.Sprint(1000 + i),
					Labels: map[string]string{"app": fmt.Sprintf("app-%d", i)}},
				Spec: corev1.ServiceSpec{ClusterIP: fmt.Sprintf("10.96.%d.%d", i/256, i%256),
					Ports: []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP}, {Name: "metrics", Port: 9090, Protocol: corev1.ProtocolTCP}}},
			}
			if i%10 == 0 {
				s.Spec.ClusterIP = corev1.ClusterIPNone
				sl := &discoveryv1.EndpointSlice{
					ObjectMeta: metav1.ObjectMeta{Namespace: ns(i), Name: fmt.Sprintf("svc-%d-abcde", i), ResourceVersion: fmt.Sprint(90000 + i),
						Labels: map[string]string{discoveryv1.LabelServiceName: s.Name}},
					AddressType: discoveryv1.AddressTypeIPv4,
					Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To[int32](8080), Protocol: ptr.To(corev1.ProtocolTCP)}},
				}
				for k := range 5 {
					p := (i + k*nSvc) % nPods
					sl.Endpoints = append(sl.Endpoints, discoveryv1.Endpoint{Addresses: []string{ip(p)}, Hostname: ptr.To(fmt.Sprintf("pod-%d", p)),
						Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}})
				}
				slices = append(slices, sl)
			}
			svcs = append(svcs, s)
		}
		for i := range nPods {
			pods = append(pods, &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns(i), Name: fmt.Sprintf("pod-%d", i), ResourceVersion: fmt.Sprint(20000 + i)},
				Status:     corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip(i), PodIPs: []corev1.PodIP{{IP: ip(i)}}},
			})
		}
		z, ss := newStores(b)
		for _, l := range []struct {
			s    *store
			objs []any
		}{{ss["services"], svcs}, {ss["slices"], slices}, {ss["pods"], pods}} {
			if err := l.s.Replace(l.objs, "1"); err != nil {
				b.Fatal(err)
			}
		}
		svcs, slices, pods = nil, nil, nil
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		if st := z.Stats(); st.Services != nSvc || st.PodIPs != nPods {
			b.Fatalf("zone holds %+v", st)
		}
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "zone-MiB")
		b.ReportMetric(float64(after.HeapObjects-before.HeapObjects), "zone-objects")
		if path := os.Getenv("DROVER_DNS_ZONE_HEAP_PROFILE"); path != "" {
			writeHeapProfile(b, path)
		}
		runtime.KeepAlive(z)
		runtime.KeepAlive(ss)
	}
}

func writeHeapProfile(b *testing.B, path string) {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		b.Fatal(err)
	}
}
