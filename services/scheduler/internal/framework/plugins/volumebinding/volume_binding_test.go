package volumebinding

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

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

func withPhase(pv *v1.PersistentVolume, phase v1.PersistentVolumePhase) *v1.PersistentVolume {
	pv.Status.Phase = phase
	return pv
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
			"WaitForFirstConsumer: a Pending PV (no PV controller moved it on) is free",
			[]runtime.Object{local, withPhase(pvOn("pv1", "n1", "local", "5Gi"), v1.VolumePending), claim("c", "local", "")},
			pt.Pod("p", "", "", "", usesClaim("c")),
			map[string]string{"n1": "", "n2": ErrReasonBindConflict},
		},
		{
			"WaitForFirstConsumer: a Released PV is not reused",
			[]runtime.Object{local, withPhase(pvOn("pv1", "n1", "local", "5Gi"), v1.VolumeReleased), claim("c", "local", "")},
			pt.Pod("p", "", "", "", usesClaim("c")),
			map[string]string{"n1": ErrReasonBindConflict, "n2": ErrReasonBindConflict},
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

// TestReserveAndPreBindWriteTheChoice: the static claim is bound on both
// sides; PreBind then waits for the dynamic claim until a provisioner
// (played by the test) binds it.
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
	// The provisioner sees the selected node, creates a PV and binds.
	done, pvc := startPreBind(t, env, pod, "n1", "dynamic")
	select {
	case st := <-done:
		t.Fatalf("PreBind returned %v before the claim was provisioned", st)
	default:
	}
	if _, err := env.Client.CoreV1().PersistentVolumes().Create(ctx, pvOn("pvc-dyn", "n1", "dyn", "1Gi"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pvc.Spec.VolumeName = "pvc-dyn"
	metav1.SetMetaDataAnnotation(&pvc.ObjectMeta, AnnBindCompleted, "yes")
	if _, err := env.Client.CoreV1().PersistentVolumeClaims("default").Update(ctx, pvc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case st := <-done:
		if !st.IsSuccess() {
			t.Fatal(st)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("PreBind still waiting after the claim was bound")
	}

	pv, _ := env.Client.CoreV1().PersistentVolumes().Get(ctx, "pv1", metav1.GetOptions{})
	if pv.Spec.ClaimRef == nil || pv.Spec.ClaimRef.Name != "static" || pv.Status.Phase != v1.VolumeBound {
		t.Fatalf("pv claimRef %+v phase %s", pv.Spec.ClaimRef, pv.Status.Phase)
	}
	static, _ := env.Client.CoreV1().PersistentVolumeClaims("default").Get(ctx, "static", metav1.GetOptions{})
	if static.Spec.VolumeName != "pv1" || static.Annotations[AnnBindCompleted] != "yes" || static.Status.Phase != v1.ClaimBound {
		t.Fatalf("static claim volumeName %q annotations %v phase %s", static.Spec.VolumeName, static.Annotations, static.Status.Phase)
	}
}

// TestPreBindFailsWhenProvisioningIsAbandoned: a provisioner that removes
// the selected-node annotation sends the pod back to scheduling.
func TestPreBindFailsWhenProvisioningIsAbandoned(t *testing.T) {
	nodes := []*v1.Node{pt.Node("n1", "1", "", nil)}
	objs := []runtime.Object{class("dyn", "csi.example.com", storagev1.VolumeBindingWaitForFirstConsumer), claim("dynamic", "dyn", "")}
	env := pt.New(t, []pt.Plugin{{Name: Name, Factory: New, Args: `{"bindTimeoutSeconds": 30}`}}, nil, nodes, objs...)
	pod := pt.Pod("p", "", "", "", usesClaim("dynamic"))
	ctx := context.Background()
	done, pvc := startPreBind(t, env, pod, "n1", "dynamic")
	delete(pvc.Annotations, AnnSelectedNode)
	pvc.ResourceVersion = "2" // the fake clientset keeps versions as given; an apiserver bumps them
	if _, err := env.Client.CoreV1().PersistentVolumeClaims("default").Update(ctx, pvc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case st := <-done:
		if st.IsSuccess() || !strings.Contains(st.Message(), "provisioning failed") {
			t.Fatalf("PreBind: %v", st)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("PreBind still waiting after the provisioner gave up")
	}
}

func TestBindTimeoutArgs(t *testing.T) {
	for _, args := range []string{`{"bindTimeoutSeconds": 0}`, `{"bindTimeoutSeconds": -3}`, `{"bindTimeout": 3}`} {
		if _, err := New(json.RawMessage(args), nil); err == nil {
			t.Errorf("args %s accepted", args)
		}
	}
}

// startPreBind runs PreFilter and Reserve for pod on node, starts PreBind
// and returns once PreBind has selected node for the claim named claimName
// (the claim as it is then, and where PreBind's result will come).
func startPreBind(t *testing.T, env *pt.Env, pod *v1.Pod, node, claimName string) (<-chan *framework.Status, *v1.PersistentVolumeClaim) {
	t.Helper()
	ctx := context.Background()
	state := framework.NewCycleState()
	if _, st := env.FW.RunPreFilterPlugins(ctx, state, pod); !st.IsSuccess() {
		t.Fatal(st)
	}
	if st := env.FW.RunReservePluginsReserve(ctx, state, pod, node); !st.IsSuccess() {
		t.Fatal(st)
	}
	done := make(chan *framework.Status, 1)
	go func() { done <- env.FW.RunPreBindPlugins(ctx, state, pod, node) }()
	var pvc *v1.PersistentVolumeClaim
	eventually(t, func() bool {
		pvc, _ = env.Client.CoreV1().PersistentVolumeClaims("default").Get(ctx, claimName, metav1.GetOptions{})
		return pvc.Annotations[AnnSelectedNode] == node
	})
	return done, pvc
}

func eventually(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
