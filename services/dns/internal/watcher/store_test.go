package watcher

import (
	"errors"
	"testing"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	"drover.dev/dns/internal/object"
	"drover.dev/dns/internal/zone"
)

func newStores(t testing.TB) (*zone.Zone, map[string]*store) {
	t.Helper()
	z, err := zone.New("cluster.local", 5, zone.PodsVerified)
	if err != nil {
		t.Fatal(err)
	}
	tr := object.NewTransformer()
	ss := map[string]*store{"services": services(z), "slices": endpointSlices(z), "pods": pods(z)}
	for _, s := range ss {
		s.transform = tr.Transform
	}
	return z, ss
}

func svc(name, ip string) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name}, Spec: corev1.ServiceSpec{ClusterIP: ip}}
}

func slice(name, service, ip string) *discoveryv1.EndpointSlice {
	return &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: "ns", Name: name, Labels: map[string]string{discoveryv1.LabelServiceName: service}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{ip}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
	}
}

func pod(name, ip string, phase corev1.PodPhase) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name}, Status: corev1.PodStatus{Phase: phase, PodIP: ip}}
}

func answer(z *zone.Zone, name string) (int, int) {
	m := new(dns.Msg)
	z.Lookup(name, dns.TypeA, m)
	return m.Rcode, len(m.Answer)
}

// TestStores drives the reflector stores as a reflector would (adds,
// updates, deletes, tombstones, relists) and checks the zone's answers.
func TestStores(t *testing.T) {
	z, ss := newStores(t)
	const (
		web  = "web.ns.svc.cluster.local."
		hl   = "hl.ns.svc.cluster.local."
		hl2  = "hl2.ns.svc.cluster.local."
		podA = "10-1-0-1.ns.pod.cluster.local."
		podB = "10-1-0-2.ns.pod.cluster.local."
	)
	type want struct {
		rcode, answers int
	}
	steps := []struct {
		name string
		do   func() error
		want map[string]want
	}{
		{"first lists", func() error {
			if err := ss["services"].Replace([]any{svc("web", "10.96.0.1"), svc("hl", "None"), svc("hl2", "None")}, "1"); err != nil {
				return err
			}
			if err := ss["slices"].Replace([]any{slice("hl-a", "hl", "10.1.1.1")}, "1"); err != nil {
				return err
			}
			return ss["pods"].Replace([]any{pod("a", "10.1.0.1", corev1.PodRunning), pod("b", "10.1.0.2", corev1.PodSucceeded)}, "1")
		}, map[string]want{web: {0, 1}, hl: {0, 1}, hl2: {0, 0}, podA: {0, 1}, podB: {3, 0}}},
		{"slice moves to another service", func() error { return ss["slices"].Update(slice("hl-a", "hl2", "10.1.1.1")) },
			map[string]want{hl: {0, 0}, hl2: {0, 1}}},
		{"slice deleted through a tombstone with a stale label", func() error {
			return ss["slices"].Delete(cache.DeletedFinalStateUnknown{Key: "ns/hl-a", Obj: slice("hl-a", "hl", "10.1.1.1")})
		}, map[string]want{hl2: {0, 0}}},
		{"pod finishes", func() error { return ss["pods"].Update(pod("a", "10.1.0.1", corev1.PodSucceeded)) },
			map[string]want{podA: {3, 0}}},
		{"pod added then deleted", func() error {
			if err := ss["pods"].Add(pod("c", "10.1.0.2", corev1.PodRunning)); err != nil {
				return err
			}
			return ss["pods"].Delete(pod("c", "10.1.0.2", corev1.PodRunning))
		}, map[string]want{podB: {3, 0}}},
		{"relist drops what is gone", func() error {
			if err := ss["slices"].Add(slice("hl-b", "hl", "10.1.1.2")); err != nil {
				return err
			}
			if err := ss["slices"].Replace(nil, "2"); err != nil {
				return err
			}
			return ss["services"].Replace([]any{svc("hl", "None")}, "2")
		}, map[string]want{web: {3, 0}, hl: {0, 0}, hl2: {3, 0}}},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		for name, w := range st.want {
			if rc, n := answer(z, name); rc != w.rcode || n != w.answers {
				t.Errorf("%s: %s rcode %d with %d answers, want %d with %d", st.name, name, rc, n, w.rcode, w.answers)
			}
		}
	}
	for name, s := range ss {
		if !s.HasSynced() {
			t.Errorf("%s store not synced after Replace", name)
		}
	}
}

func TestStoreRejectsOtherTypes(t *testing.T) {
	_, ss := newStores(t)
	for name, s := range ss {
		if err := s.Add(&corev1.Node{}); !errors.Is(err, ErrUnexpected) {
			t.Errorf("%s store: Add(Node) = %v, want ErrUnexpected", name, err)
		}
		if err := s.Replace([]any{&corev1.Node{}}, "1"); !errors.Is(err, ErrUnexpected) {
			t.Errorf("%s store: Replace([Node]) = %v, want ErrUnexpected", name, err)
		}
	}
}
