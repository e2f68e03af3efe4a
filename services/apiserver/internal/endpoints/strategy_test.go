package endpoints

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"drover.dev/apiserver/internal/registry"
)

// res builds a resource list from name/quantity pairs.
func res(kv ...string) corev1.ResourceList {
	out := corev1.ResourceList{}
	for i := 0; i+1 < len(kv); i += 2 {
		out[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
	}
	return out
}

func container(requests, limits corev1.ResourceList) corev1.Container {
	return corev1.Container{Name: "c", Image: "i", Resources: corev1.ResourceRequirements{Requests: requests, Limits: limits}}
}

func TestQOSClass(t *testing.T) {
	guaranteed := container(res("cpu", "500m", "memory", "1Gi"), res("cpu", "500m", "memory", "1Gi"))
	tests := []struct {
		name string
		init []corev1.Container
		main []corev1.Container
		want corev1.PodQOSClass
	}{
		{"no resources", nil, []corev1.Container{container(nil, nil)}, corev1.PodQOSBestEffort},
		{"no containers", nil, nil, corev1.PodQOSBestEffort},
		{"requests equal limits", nil, []corev1.Container{guaranteed}, corev1.PodQOSGuaranteed},
		{"limits only (requests default to them)", nil, []corev1.Container{container(nil, res("cpu", "1", "memory", "1Gi"))}, corev1.PodQOSGuaranteed},
		{"equal in different units", nil, []corev1.Container{container(res("cpu", "1", "memory", "1024Mi"), res("cpu", "1000m", "memory", "1Gi"))}, corev1.PodQOSGuaranteed},
		{"every container guaranteed", nil, []corev1.Container{guaranteed, guaranteed}, corev1.PodQOSGuaranteed},
		{"guaranteed init and main", []corev1.Container{guaranteed}, []corev1.Container{guaranteed}, corev1.PodQOSGuaranteed},
		{"requests only", nil, []corev1.Container{container(res("cpu", "100m"), nil)}, corev1.PodQOSBurstable},
		{"requests below limits", nil, []corev1.Container{container(res("cpu", "100m", "memory", "1Gi"), res("cpu", "500m", "memory", "1Gi"))}, corev1.PodQOSBurstable},
		{"cpu limit only", nil, []corev1.Container{container(nil, res("cpu", "1"))}, corev1.PodQOSBurstable},
		{"memory limit only", nil, []corev1.Container{container(nil, res("memory", "1Gi"))}, corev1.PodQOSBurstable},
		{"one container without resources", nil, []corev1.Container{guaranteed, container(nil, nil)}, corev1.PodQOSBurstable},
		{"init container without limits", []corev1.Container{container(res("cpu", "100m"), nil)}, []corev1.Container{guaranteed}, corev1.PodQOSBurstable},
		{"only an init container has requests", []corev1.Container{container(res("memory", "64Mi"), nil)}, []corev1.Container{container(nil, nil)}, corev1.PodQOSBurstable},
		{"zero requests", nil, []corev1.Container{container(res("cpu", "0", "memory", "0"), nil)}, corev1.PodQOSBestEffort},
		{"zero limits", nil, []corev1.Container{container(nil, res("cpu", "0", "memory", "0"))}, corev1.PodQOSBestEffort},
		{"other resources do not count", nil, []corev1.Container{container(res("ephemeral-storage", "1Gi", "hugepages-2Mi", "2Mi"), res("ephemeral-storage", "1Gi", "hugepages-2Mi", "2Mi"))}, corev1.PodQOSBestEffort},
		{"guaranteed plus other resources", nil, []corev1.Container{container(res("cpu", "1", "memory", "1Gi", "ephemeral-storage", "1Gi"), res("cpu", "1", "memory", "1Gi"))}, corev1.PodQOSGuaranteed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := &corev1.PodSpec{InitContainers: tt.init, Containers: tt.main}
			if got := qosClass(spec); got != tt.want {
				t.Errorf("qosClass = %s, want %s", got, tt.want)
			}
		})
	}
}

// EndpointSlices have no spec, yet Kubernetes counts changes of their
// endpoints, ports, address type and labels in metadata.generation
// (controllers tell a stale cache from their own writes by it).
func TestEndpointSliceGeneration(t *testing.T) {
	res, ok := registry.Builtin().Lookup(discoveryv1.SchemeGroupVersion.WithResource("endpointslices"))
	if !ok {
		t.Fatal("no endpointslices resource")
	}
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "s", Labels: map[string]string{"a": "1"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"10.0.0.1"}}},
	}
	prepareForCreate(res, slice, "default")
	if slice.Generation != 1 {
		t.Fatalf("generation %d after create, want 1", slice.Generation)
	}
	for _, tc := range []struct {
		name   string
		change func(s *discoveryv1.EndpointSlice)
		bump   bool
	}{
		{"annotation only", func(s *discoveryv1.EndpointSlice) { s.Annotations = map[string]string{"x": "y"} }, false},
		{"endpoint added", func(s *discoveryv1.EndpointSlice) {
			s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{Addresses: []string{"10.0.0.2"}})
		}, true},
		{"port added", func(s *discoveryv1.EndpointSlice) { s.Ports = []discoveryv1.EndpointPort{{Port: ptr[int32](80)}} }, true},
		{"label changed", func(s *discoveryv1.EndpointSlice) { s.Labels = map[string]string{"a": "2"} }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			updated := slice.DeepCopy()
			tc.change(updated)
			prepareForUpdate(res, updated, slice)
			want := slice.Generation
			if tc.bump {
				want++
			}
			if updated.Generation != want {
				t.Fatalf("generation %d, want %d", updated.Generation, want)
			}
		})
	}
}
