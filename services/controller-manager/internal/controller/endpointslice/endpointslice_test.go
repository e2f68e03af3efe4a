package endpointslice

import (
	"fmt"
	"testing"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

var svc = &v1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "svc"}}

var ports = []discovery.EndpointPort{{Name: ptr("http"), Port: ptr(int32(8080)), Protocol: ptr(v1.ProtocolTCP)}}

func endpoint(i int) discovery.Endpoint {
	return discovery.Endpoint{Addresses: []string{fmt.Sprintf("10.0.0.%d", i)},
		Conditions: discovery.EndpointConditions{Ready: ptr(true), Serving: ptr(true), Terminating: ptr(false)},
		TargetRef:  &v1.ObjectReference{Kind: "Pod", UID: types.UID(fmt.Sprintf("pod-%03d", i))}}
}

func want(n int) map[string]*group {
	g := &group{ports: ports, endpoints: map[string]discovery.Endpoint{}}
	for i := range n {
		g.endpoints[fmt.Sprintf("pod-%03d", i)] = endpoint(i)
	}
	return map[string]*group{portsKey(ports): g}
}

func existing(name string, eps ...int) *discovery.EndpointSlice {
	s := newSlice(svc, ports)
	s.Name = name
	for _, i := range eps {
		s.Endpoints = append(s.Endpoints, endpoint(i))
	}
	return s
}

func TestReconcile(t *testing.T) {
	tests := []struct {
		name                      string
		desired                   map[string]*group
		have                      []*discovery.EndpointSlice
		create, update, remove    int
		createSizes, updatedSizes []int
	}{
		{"new service packs into max-sized slices", want(5), nil, 3, 0, 0, []int{2, 2, 1}, nil},
		{"nothing changes", want(4), []*discovery.EndpointSlice{existing("a", 0, 1), existing("b", 2, 3)}, 0, 0, 0, nil, nil},
		{"new endpoint fills free room first", want(4), []*discovery.EndpointSlice{existing("a", 0, 1), existing("b", 2)}, 0, 1, 0, nil, []int{2}},
		{"gone endpoints leave, empty slices go", want(2), []*discovery.EndpointSlice{existing("a", 0, 1), existing("b", 2, 3)}, 0, 0, 1, nil, nil},
		{"no endpoints keeps one placeholder", map[string]*group{}, nil, 1, 0, 0, []int{0}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := reconcile(svc, tt.desired, tt.have, 2)
			if len(p.create) != tt.create || len(p.update) != tt.update || len(p.remove) != tt.remove {
				t.Fatalf("create %d update %d remove %d", len(p.create), len(p.update), len(p.remove))
			}
			for i, n := range tt.createSizes {
				if len(p.create[i].Endpoints) != n {
					t.Errorf("created slice %d has %d endpoints, want %d", i, len(p.create[i].Endpoints), n)
				}
				if p.create[i].Labels[discovery.LabelManagedBy] != ManagedBy || p.create[i].Labels[discovery.LabelServiceName] != "web" ||
					p.create[i].OwnerReferences[0].UID != "svc" {
					t.Errorf("created slice meta %+v", p.create[i].ObjectMeta)
				}
			}
			for i, n := range tt.updatedSizes {
				if len(p.update[i].Endpoints) != n {
					t.Errorf("updated slice %d has %d endpoints, want %d", i, len(p.update[i].Endpoints), n)
				}
			}
		})
	}
}

func TestTrackerDetectsStaleCache(t *testing.T) {
	tr := newTracker()
	created := existing("a", 0)
	created.UID, created.ResourceVersion = "s1", "10"
	tr.wrote("ns/web", "", created)
	if !tr.stale("ns/web", nil) {
		t.Fatal("a cache without our create must be stale")
	}
	if tr.stale("ns/web", []*discovery.EndpointSlice{created}) || !tr.expected(created) {
		t.Fatal("a cache with our create is fresh")
	}
	// An update leaves generation alone here (as drover's apiserver does
	// for slices); only the resourceVersion tells the versions apart.
	updated := created.DeepCopy()
	updated.ResourceVersion = "12"
	tr.wrote("ns/web", "10", updated)
	if !tr.stale("ns/web", []*discovery.EndpointSlice{created}) || tr.expected(created) {
		t.Fatal("a cache still at the replaced version must be stale, and its events not ours")
	}
	newer := updated.DeepCopy()
	newer.ResourceVersion = "15"
	if tr.stale("ns/web", []*discovery.EndpointSlice{updated}) || tr.stale("ns/web", []*discovery.EndpointSlice{newer}) {
		t.Fatal("a cache at or past our update is fresh")
	}
	if !tr.expected(updated) || tr.expected(newer) {
		t.Fatal("only our own version is expected")
	}
	tr.deleted("ns/web", updated)
	if !tr.stale("ns/web", []*discovery.EndpointSlice{updated}) || tr.stale("ns/web", nil) {
		t.Fatal("deletion tracking")
	}
}
