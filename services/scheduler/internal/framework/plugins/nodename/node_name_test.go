package nodename

import (
	"testing"

	v1 "k8s.io/api/core/v1"

	"drover.dev/scheduler/internal/framework"
	pt "drover.dev/scheduler/internal/framework/plugins/plugintest"
)

func TestFilter(t *testing.T) {
	tests := []struct {
		name     string
		nodeName string
		want     map[string]framework.Code
	}{
		{"no node name", "", map[string]framework.Code{"a": framework.Success, "b": framework.Success}},
		{"names b", "b", map[string]framework.Code{"a": framework.UnschedulableAndUnresolvable, "b": framework.Success}},
		{"names a missing node", "zzz", map[string]framework.Code{"a": framework.UnschedulableAndUnresolvable, "b": framework.UnschedulableAndUnresolvable}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := pt.New(t, []pt.Plugin{{Name: Name, Factory: New}}, nil, []*v1.Node{pt.Node("a", "1", "", nil), pt.Node("b", "1", "", nil)})
			got := env.Filter(t, pt.Pod("p", tt.nodeName, "", ""))
			for n, want := range tt.want {
				if got[n].Code() != want {
					t.Errorf("node %s: got %v, want %v", n, got[n], want)
				}
			}
		})
	}
}
