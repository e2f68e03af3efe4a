package framework_test

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"drover.dev/scheduler/internal/apis/config"
	"drover.dev/scheduler/internal/framework"
	"drover.dev/scheduler/internal/framework/plugins"
)

func newFramework(t *testing.T, profile *config.Profile) *framework.Framework {
	t.Helper()
	fw, err := framework.New(plugins.NewRegistry(), plugins.DefaultPlugins(), profile, framework.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return fw
}

func TestDefaultProfile(t *testing.T) {
	got := newFramework(t, &config.Profile{SchedulerName: "default-scheduler"}).ListPlugins()
	want := map[string][]string{
		"PreFilter":  {"NodeAffinity", "NodePorts", "NodeResourcesFit", "VolumeBinding", "PodTopologySpread", "InterPodAffinity"},
		"Filter":     {"NodeUnschedulable", "NodeName", "TaintToleration", "NodeAffinity", "NodePorts", "NodeResourcesFit", "VolumeBinding", "PodTopologySpread", "InterPodAffinity"},
		"PostFilter": {"DefaultPreemption"},
		"PreScore":   {"TaintToleration", "NodeAffinity", "PodTopologySpread", "InterPodAffinity"},
		"Score":      {"TaintToleration:3", "NodeAffinity:2", "NodeResourcesFit:1", "PodTopologySpread:2", "InterPodAffinity:2", "NodeResourcesBalancedAllocation:1", "ImageLocality:1"},
		"Reserve":    {"VolumeBinding"},
		"PreBind":    {"VolumeBinding"},
		"Bind":       {"DefaultBinder"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("plugins\n got %v\nwant %v", got, want)
	}
}

func TestProfileChanges(t *testing.T) {
	tests := []struct {
		name    string
		plugins config.Plugins
		point   string
		want    []string
		wantErr bool
	}{
		{name: "disable one score plugin", plugins: config.Plugins{Score: config.PluginSet{Disabled: []config.Plugin{{Name: "ImageLocality"}}}},
			point: "Score", want: []string{"TaintToleration:3", "NodeAffinity:2", "NodeResourcesFit:1", "PodTopologySpread:2", "InterPodAffinity:2", "NodeResourcesBalancedAllocation:1"}},
		{name: "reweight", plugins: config.Plugins{Score: config.PluginSet{Disabled: []config.Plugin{{Name: "*"}}, Enabled: []config.Plugin{{Name: "NodeResourcesFit", Weight: 7}}}},
			point: "Score", want: []string{"NodeResourcesFit:7"}},
		{name: "multiPoint disable removes everywhere", plugins: config.Plugins{MultiPoint: config.PluginSet{Disabled: []config.Plugin{{Name: "PodTopologySpread"}}}},
			point: "PreScore", want: []string{"TaintToleration", "NodeAffinity", "InterPodAffinity"}},
		{name: "no postfilter", plugins: config.Plugins{PostFilter: config.PluginSet{Disabled: []config.Plugin{{Name: "*"}}}}, point: "PostFilter", want: nil},
		{name: "unknown plugin", plugins: config.Plugins{Filter: config.PluginSet{Enabled: []config.Plugin{{Name: "Nope"}}}}, wantErr: true},
		{name: "wrong extension point", plugins: config.Plugins{Bind: config.PluginSet{Enabled: []config.Plugin{{Name: "NodeName"}}}}, wantErr: true},
		{name: "no binder", plugins: config.Plugins{Bind: config.PluginSet{Disabled: []config.Plugin{{Name: "*"}}}}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.plugins
			fw, err := framework.New(plugins.NewRegistry(), plugins.DefaultPlugins(), &config.Profile{SchedulerName: "x", Plugins: &p}, framework.Options{})
			if tt.wantErr {
				if err == nil {
					t.Fatal("no error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := fw.ListPlugins()[tt.point]; !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("%s: got %v, want %v", tt.point, got, tt.want)
			}
		})
	}
}

func TestPluginArgsReachThePlugin(t *testing.T) {
	_, err := framework.New(plugins.NewRegistry(), plugins.DefaultPlugins(), &config.Profile{SchedulerName: "x",
		PluginConfig: []config.PluginConfig{{Name: "NodeResourcesFit", Args: json.RawMessage(`{"scoringStrategy":{"type":"Bogus"}}`)}}}, framework.Options{})
	if err == nil {
		t.Fatal("invalid args accepted")
	}
}

func TestFitErrorMessage(t *testing.T) {
	fe := &framework.FitError{NumAllNodes: 3, Diagnosis: framework.Diagnosis{
		NodeToStatus: framework.NodeToStatusMap{
			"a": framework.NewStatus(framework.Unschedulable, "Insufficient cpu"),
			"b": framework.NewStatus(framework.Unschedulable, "Insufficient cpu", "Insufficient memory"),
			"c": framework.NewStatus(framework.UnschedulableAndUnresolvable, "node(s) had untolerated taint {k: v}"),
		},
		PostFilterMsg: "preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.",
	}}
	want := "0/3 nodes are available: 1 Insufficient memory, 1 node(s) had untolerated taint {k: v}, 2 Insufficient cpu. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
	if got := fe.Error(); got != want {
		t.Fatalf("\n got %s\nwant %s", got, want)
	}
	fe.Diagnosis.PreFilterMsg = "pod has unbound immediate PersistentVolumeClaims"
	fe.Diagnosis.PostFilterMsg = ""
	if got := fe.Error(); got != "0/3 nodes are available: pod has unbound immediate PersistentVolumeClaims." {
		t.Fatal(got)
	}
}

// waiter is a Permit plugin that holds every pod.
type waiter struct{}

func (waiter) Name() string { return "Waiter" }
func (waiter) Permit(context.Context, *framework.CycleState, *v1.Pod, string) (*framework.Status, time.Duration) {
	return framework.NewStatus(framework.Wait), 200 * time.Millisecond
}

func TestPermitWait(t *testing.T) {
	reg := plugins.NewRegistry()
	reg["Waiter"] = func(json.RawMessage, framework.Handle) (framework.Plugin, error) { return waiter{}, nil }
	profile := &config.Profile{SchedulerName: "x", Plugins: &config.Plugins{Permit: config.PluginSet{Enabled: []config.Plugin{{Name: "Waiter"}}}}}
	fw, err := framework.New(reg, plugins.DefaultPlugins(), profile, framework.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	pod := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", UID: "u1"}}
	if st := fw.RunPermitPlugins(ctx, framework.NewCycleState(), pod, "n"); !st.IsWait() {
		t.Fatalf("permit %v", st)
	}
	go fw.GetWaitingPod("u1").Allow("Waiter")
	if st := fw.WaitOnPermit(ctx, pod); !st.IsSuccess() {
		t.Fatalf("allowed pod: %v", st)
	}
	// Without Allow the pod is rejected at the timeout.
	pod2 := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "q", UID: "u2"}}
	fw.RunPermitPlugins(ctx, framework.NewCycleState(), pod2, "n")
	if st := fw.WaitOnPermit(ctx, pod2); st.Code() != framework.Unschedulable {
		t.Fatalf("timed out pod: %v", st)
	}
}
