package fieldmanager

import (
	"encoding/json"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"drover.dev/apiserver/internal/defaults"
	"drover.dev/apiserver/internal/openapi"
	"drover.dev/apiserver/internal/registry"
)

// BenchmarkUpdatePod measures Update on Kubernetes' benchmark pod
// (testdata/pod.yaml). Update modifies the object it is given, so every
// iteration copies it; "deepcopy" is that copy alone.
func BenchmarkUpdatePod(b *testing.B) {
	m := newManager(b)
	pod := testPod(b)
	created, err := m.Update(podGVK, "", nil, pod.DeepCopy(), "kube-controller-manager")
	if err != nil {
		b.Fatal(err)
	}
	live := stored(created.(*corev1.Pod))
	relabeled := live.DeepCopy()
	relabeled.Labels["plugin5"] = "some-value"
	restatused := live.DeepCopy()
	restatused.Status.Conditions[1].Status = corev1.ConditionFalse

	tests := []struct {
		name        string
		subresource string
		live        *corev1.Pod
		obj         *corev1.Pod
		manager     string
	}{
		{name: "create", obj: pod},
		{name: "unchanged", live: live, obj: live, manager: "kube-controller-manager"},
		{name: "label by another manager", live: live, obj: relabeled, manager: "labeler"},
		{name: "status", subresource: "status", live: live, obj: restatused, manager: "kubelet"},
	}
	b.Run("deepcopy", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = pod.DeepCopy()
		}
	})
	for _, tt := range tests {
		b.Run(tt.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var l *corev1.Pod
				if tt.live != nil {
					l = tt.live
				}
				var err error
				if l == nil {
					_, err = m.Update(podGVK, tt.subresource, nil, tt.obj.DeepCopy(), "kube-controller-manager")
				} else {
					_, err = m.Update(podGVK, tt.subresource, l, tt.obj.DeepCopy(), tt.manager)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkApplyPod measures a server-side apply of the benchmark pod's
// spec to the stored pod by its applier, sent as JSON (client-go, kubectl)
// and as YAML.
func BenchmarkApplyPod(b *testing.B) {
	m := newManager(b)
	pod := testPod(b)
	pod.Status = corev1.PodStatus{}
	asJSON, err := json.Marshal(pod)
	if err != nil {
		b.Fatal(err)
	}
	asYAML, err := yaml.JSONToYAML(asJSON)
	if err != nil {
		b.Fatal(err)
	}
	first, err := m.Apply(podGVK, "", nil, asJSON, "kubectl", false)
	if err != nil {
		b.Fatal(err)
	}
	live := stored(first.(*corev1.Pod))
	for _, tt := range []struct {
		name  string
		patch []byte
	}{{"json", asJSON}, {"yaml", asYAML}} {
		b.Run(tt.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := m.Apply(podGVK, "", live, tt.patch, "kubectl", false); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkNew measures the startup cost: building the schemas and the
// type converter and checking every served kind.
func BenchmarkNew(b *testing.B) {
	reg := registry.Builtin()
	b.ReportAllocs()
	for b.Loop() {
		schemas, err := openapi.Schemas(reg)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := New(reg, schemas, defaults.Default); err != nil {
			b.Fatal(err)
		}
	}
}
