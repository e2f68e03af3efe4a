package object

import (
	"fmt"
	"net/netip"
	"reflect"
	"testing"
	"unsafe"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
)

var om = metav1.ObjectMeta{Name: "web", Namespace: "default", ResourceVersion: "7",
	ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}, Annotations: map[string]string{"big": "x"}}

func TestService(t *testing.T) {
	tests := []struct {
		name string
		spec corev1.ServiceSpec
		want Service
	}{
		{"clusterIP", corev1.ServiceSpec{ClusterIP: "10.96.0.1", ClusterIPs: []string{"10.96.0.1", "fd00::1"},
			Ports: []corev1.ServicePort{{Name: "HTTP", Port: 80}, {Port: 81}, {Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP}}},
			Service{ClusterIPs: []netip.Addr{netip.MustParseAddr("10.96.0.1"), netip.MustParseAddr("fd00::1")},
				Ports: []Port{{"http", "tcp", 80}, {"dns", "udp", 53}}}},
		{"clusterIP without clusterIPs", corev1.ServiceSpec{ClusterIP: "10.96.0.2"},
			Service{ClusterIPs: []netip.Addr{netip.MustParseAddr("10.96.0.2")}}},
		{"garbage clusterIP dropped", corev1.ServiceSpec{ClusterIP: "nope"}, Service{}},
		{"headless", corev1.ServiceSpec{ClusterIP: "None", PublishNotReadyAddresses: true}, Service{Headless: true, PublishNotReadyAddresses: true}},
		{"external name", corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "DB.Example.com"}, Service{ExternalName: "db.example.com."}},
	}
	tr := NewTransformer()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tr.Service(&corev1.Service{ObjectMeta: om, Spec: tt.spec})
			tt.want.Meta = Meta{Name: "web", Namespace: "default"}
			if !reflect.DeepEqual(*got, tt.want) {
				t.Errorf("got %+v, want %+v", *got, tt.want)
			}
		})
	}
}

func TestEndpointSlice(t *testing.T) {
	in := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "db-x", Namespace: "default", Labels: map[string]string{discoveryv1.LabelServiceName: "db"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("pg"), Port: ptr.To[int32](5432)}, {Port: ptr.To[int32](1)}, {Name: ptr.To("noport")}},
		Endpoints: []discoveryv1.Endpoint{
			{Addresses: []string{"10.0.0.1"}, Hostname: ptr.To("DB-0")},
			{Addresses: []string{"10.0.0.2"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(false)}},
			{Addresses: []string{"bogus"}},
		},
	}
	got := NewTransformer().EndpointSlice(in)
	want := &EndpointSlice{Meta: Meta{Name: "db-x", Namespace: "default"}, Service: "db",
		Ports: []Port{{"pg", "tcp", 5432}},
		Endpoints: []Endpoint{
			{Addrs: []netip.Addr{netip.MustParseAddr("10.0.0.1")}, Hostname: "db-0", Ready: true},
			{Addrs: []netip.Addr{netip.MustParseAddr("10.0.0.2")}},
		}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	in.AddressType = discoveryv1.AddressTypeFQDN
	if got := NewTransformer().EndpointSlice(in); len(got.Endpoints) != 0 {
		t.Errorf("FQDN slice kept endpoints %+v", got.Endpoints)
	}
}

func TestPod(t *testing.T) {
	tests := []struct {
		name     string
		status   corev1.PodStatus
		want     []string
		finished bool
	}{
		{"running dual stack", corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.1.0.5", PodIPs: []corev1.PodIP{{IP: "10.1.0.5"}, {IP: "fd00::5"}}}, []string{"10.1.0.5", "fd00::5"}, false},
		{"podIP only", corev1.PodStatus{Phase: corev1.PodPending, PodIP: "10.1.0.6"}, []string{"10.1.0.6"}, false},
		{"no IP yet", corev1.PodStatus{Phase: corev1.PodPending}, nil, false},
		{"succeeded pod", corev1.PodStatus{Phase: corev1.PodSucceeded, PodIP: "10.1.0.7"}, []string{"10.1.0.7"}, true},
		{"failed pod", corev1.PodStatus{Phase: corev1.PodFailed, PodIP: "10.1.0.8"}, []string{"10.1.0.8"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := NewTransformer().Pod(&corev1.Pod{ObjectMeta: om, Status: tt.status})
			if fmt.Sprint(got.IPs) != fmt.Sprint(addrsOf(tt.want)) || got.Finished != tt.finished {
				t.Errorf("IPs %v finished %v, want %v %v", got.IPs, got.Finished, tt.want, tt.finished)
			}
		})
	}
}

func addrsOf(ss []string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ss {
		out = append(out, netip.MustParseAddr(s))
	}
	return out
}

// The informer store keys compact objects like full ones, and Transform is
// idempotent, as client-go requires.
func TestTransformForInformers(t *testing.T) {
	tr := NewTransformer()
	full := &corev1.Pod{ObjectMeta: om, Status: corev1.PodStatus{PodIP: "10.1.0.5"}}
	once, err := tr.Transform(full)
	if err != nil {
		t.Fatal(err)
	}
	twice, _ := tr.Transform(once)
	if once != twice {
		t.Error("Transform of a compact object changed it")
	}
	k1, _ := cache.MetaNamespaceKeyFunc(full)
	k2, err := cache.MetaNamespaceKeyFunc(once)
	if err != nil || k1 != k2 {
		t.Errorf("key %q (%v), want %q", k2, err, k1)
	}
	acc, err := meta.Accessor(once)
	if err != nil || acc.GetName() != full.GetName() || acc.GetNamespace() != full.GetNamespace() {
		t.Errorf("accessor: %v %v", acc, err)
	}
	if other, _ := tr.Transform(&corev1.Node{}); !reflect.DeepEqual(other, &corev1.Node{}) {
		t.Error("Transform changed an unrelated object")
	}
	a := tr.Service(&corev1.Service{ObjectMeta: om})
	b := tr.Pod(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "x", Namespace: string([]byte("default"))}})
	if unsafe.StringData(a.Namespace) != unsafe.StringData(b.Namespace) {
		t.Error("namespace names are not interned")
	}
}
