package defaultbinder_test

import (
	"context"
	"testing"

	v1 "k8s.io/api/core/v1"
	k8stesting "k8s.io/client-go/testing"

	"drover.dev/scheduler/internal/framework"
	pt "drover.dev/scheduler/internal/framework/plugins/plugintest"
)

func TestBindPostsBinding(t *testing.T) {
	pod := pt.Pod("p", "", "", "")
	env := pt.New(t, nil, nil, []*v1.Node{pt.Node("n", "1", "", nil)}, pod)
	if st := env.FW.RunBindPlugins(context.Background(), framework.NewCycleState(), pod, "n"); !st.IsSuccess() {
		t.Fatal(st)
	}
	var got *v1.Binding
	for _, a := range env.Client.Actions() {
		if ca, ok := a.(k8stesting.CreateAction); ok && a.GetSubresource() == "binding" {
			got = ca.GetObject().(*v1.Binding)
		}
	}
	if got == nil || got.Name != "p" || got.Namespace != "default" || got.Target.Kind != "Node" || got.Target.Name != "n" || got.UID != pod.UID {
		t.Fatalf("binding %+v", got)
	}
}
