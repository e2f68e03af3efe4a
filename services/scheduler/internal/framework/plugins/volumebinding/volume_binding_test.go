package volumebinding

import (
	"context"
	"testing"

	v1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"drover.dev/scheduler/internal/framework"
	pt "drover.dev/scheduler/internal/framework/plugins/plugintest"
)

func pvOn(name, node, class, size string) *v1.PersistentVolume {
	return &v1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v1.PersistentVolumeSpec{
			StorageClassName: class,
			Capacity:         v1.ResourceList{v1.ResourceStorage: resource.MustParse(size)},
			AccessModes:      []v1.PersistentVolumeAccessMode{v1.ReadWriteOnce},
			NodeAffinity: &v1.VolumeNodeAffinity{Required: &v1.NodeSelector{NodeSelectorTerms: []v1.NodeSelectorTerm{{
				MatchExpressions: []v1.NodeSelectorRequirement{{Key: v1.LabelHostname, Operator: v1.NodeSelectorOpIn, Values: []string{node}}},
			}}}},
		},
		Status: v1.PersistentVolumeStatus{Phase: v1.VolumeAvailable},
	}
}

func claim(name, class, volume string) *v1.PersistentVolumeClaim {
	return &v1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: v1.PersistentVolumeClaimSpec{
			StorageClassName: &class, VolumeName: volume,
			AccessModes: []v1.PersistentVolumeAccessMode{v1.ReadWriteOnce},
			Resources:   v1.VolumeResourceRequirements{Requests: v1.ResourceList{v1.ResourceStorage: resource.MustParse("1Gi")}},
		},
	}
}

func class(name, provisioner string, mode storagev1.VolumeBindingMode) *storagev1.StorageClass {
	return &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Provisioner: provisioner, VolumeBindingMode: &mode}
}

func usesClaim(name string) func(*v1.Pod) {
	return func(p *v1.Pod) {
		p.Spec.Volumes = []v1.Volume{{Name: "data", VolumeSource: v1.VolumeSource{PersistentVolumeClaim: &v1.PersistentVolumeClaimVolumeSource{ClaimName: name}}}}
	}
}

func TestFilter(t *testing.T) {
	nodes := []*v1.Node{pt.Node("n1", "1", "", nil), pt.Node("n2", "1", "", nil)}
	local := class("local", "kubernetes.io/no-provisioner", storagev1.VolumeBindingWaitForFirstConsumer)
	dynamic := class("dyn", "csi.example.com", storagev1.VolumeBindingWaitForFirstConsumer)
	immediate := class("imm", "csi.example.com", storagev1.VolumeBindingImmediate)
	tests := []struct {
		name string
		objs []runtime.Object
		pod  *v1.Pod
		want map[string]string // node → reason ("" passes)
	}{
		{"no volumes", nil, pt.Pod("p", "", "", ""), map[string]string{"n1": "", "n2": ""}},
		{
			"bound claim follows the PV's node affinity",
			[]runtime.Object{local, pvOn("pv1", "n2", "local", "5Gi"), claim("c", "local", "pv1")},
			pt.Pod("p", "", "", "", usesClaim("c")),
			map[string]string{"n1": ErrReasonNodeConflict, "n2": ""},
		},
		{
			"WaitForFirstConsumer claim: nodes with a matching free PV",
			[]runtime.Object{local, pvOn("pv1", "n1", "local", "5Gi"), claim("c", "local", "")},
			pt.Pod("p", "", "", "", usesClaim("c")),
			map[string]string{"n1": "", "n2": ErrReasonBindConflict},
		},
		{
			"WaitForFirstConsumer: PV too small",
			[]runtime.Object{local, pvOn("pv1", "n1", "local", "500Mi"), claim("c", "local", "")},
			pt.Pod("p", "", "", "", usesClaim("c")),
			map[string]string{"n1": ErrReasonBindConflict, "n2": ErrReasonBindConflict},
		},
		{
			"WaitForFirstConsumer with a provisioner: any node",
			[]runtime.Object{dynamic, claim("c", "dyn", "")},
			pt.Pod("p", "", "", "", usesClaim("c")),
			map[string]string{"n1": "", "n2": ""},
		},
		{
			"unbound immediate claim",
			[]runtime.Object{immediate, claim("c", "imm", "")},
			pt.Pod("p", "", "", "", usesClaim("c")),
			map[string]string{"n1": ErrReasonUnboundImmediate, "n2": ErrReasonUnboundImmediate},
		},
		{
			"missing claim",
			nil,
			pt.Pod("p", "", "", "", usesClaim("nope")),
			map[string]string{"n1": `persistentvolumeclaim "nope" not found`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := pt.New(t, []pt.Plugin{{Name: Name, Factory: New}}, nil, nodes, tt.objs...)
			got := env.Filter(t, tt.pod)
			for n, want := range tt.want {
				if got[n].Message() != want {
					t.Errorf("node %s: %q, want %q", n, got[n].Message(), want)
				}
			}
		})
	}
}

func TestReserveAndPreBindWriteTheChoice(t *testing.T) {
	nodes := []*v1.Node{pt.Node("n1", "1", "", nil)}
	objs := []runtime.Object{
		class("local", "kubernetes.io/no-provisioner", storagev1.VolumeBindingWaitForFirstConsumer),
		class("dyn", "csi.example.com", storagev1.VolumeBindingWaitForFirstConsumer),
		pvOn("pv1", "n1", "local", "5Gi"), claim("static", "local", ""), claim("dynamic", "dyn", ""),
	}
	env := pt.New(t, []pt.Plugin{{Name: Name, Factory: New}}, nil, nodes, objs...)
	pod := pt.Pod("p", "", "", "", func(p *v1.Pod) {
		p.Spec.Volumes = []v1.Volume{
			{Name: "a", VolumeSource: v1.VolumeSource{PersistentVolumeClaim: &v1.PersistentVolumeClaimVolumeSource{ClaimName: "static"}}},
			{Name: "b", VolumeSource: v1.VolumeSource{PersistentVolumeClaim: &v1.PersistentVolumeClaimVolumeSource{ClaimName: "dynamic"}}},
		}
	})
	ctx := context.Background()
	state := framework.NewCycleState()
	if _, st := env.FW.RunPreFilterPlugins(ctx, state, pod); !st.IsSuccess() {
		t.Fatal(st)
	}
	if st := env.FW.RunReservePluginsReserve(ctx, state, pod, "n1"); !st.IsSuccess() {
		t.Fatal(st)
	}
	if st := env.FW.RunPreBindPlugins(ctx, state, pod, "n1"); !st.IsSuccess() {
		t.Fatal(st)
	}
	pv, _ := env.Client.CoreV1().PersistentVolumes().Get(ctx, "pv1", metav1.GetOptions{})
	if pv.Spec.ClaimRef == nil || pv.Spec.ClaimRef.Name != "static" {
		t.Fatalf("pv claimRef %+v", pv.Spec.ClaimRef)
	}
	pvc, _ := env.Client.CoreV1().PersistentVolumeClaims("default").Get(ctx, "dynamic", metav1.GetOptions{})
	if pvc.Annotations[AnnSelectedNode] != "n1" {
		t.Fatalf("annotations %v", pvc.Annotations)
	}
}
