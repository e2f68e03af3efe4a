package imagelocality

import (
	"testing"

	v1 "k8s.io/api/core/v1"

	"drover.dev/scheduler/internal/framework"
	pt "drover.dev/scheduler/internal/framework/plugins/plugintest"
)

func images(imgs ...v1.ContainerImage) func(*v1.Node) {
	return func(n *v1.Node) { n.Status.Images = imgs }
}

func TestNormalizedImageName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"nginx", "nginx:latest"},
		{"nginx:1.25", "nginx:1.25"},
		{"registry:5000/app", "registry:5000/app:latest"},
		{"registry:5000/app:v1", "registry:5000/app:v1"},
		{"app@sha256:abc", "app@sha256:abc"},
	}
	for _, tt := range tests {
		if got := normalizedImageName(tt.in); got != tt.want {
			t.Errorf("%s: got %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestScorePrefersNodesWithTheImage(t *testing.T) {
	big := v1.ContainerImage{Names: []string{"app:1"}, SizeBytes: 500 * mb}
	nodes := []*v1.Node{
		pt.Node("has", "1", "", nil, images(big)),
		pt.Node("none", "1", "", nil),
	}
	// The image-summary counts come from the cache; NewSnapshot has none,
	// so set them as the cache would (1 of 2 nodes has it).
	env := pt.New(t, []pt.Plugin{{Name: Name, Factory: New, Weight: 1}}, nil, nodes)
	ni, _ := env.Snapshot.Get("has")
	ni.ImageStates = map[string]*framework.ImageStateSummary{"app:1": {Size: big.SizeBytes, NumNodes: 1}}
	pod := pt.Pod("p", "", "", "", func(p *v1.Pod) { p.Spec.Containers[0].Image = "app:1" })
	got := env.Score(t, pod)
	// sum = 500MB * 1/2 = 250MB; score = 100 * (250-23)/(1000-23) = 23.
	if got["has"] != 23 || got["none"] != 0 {
		t.Fatalf("scores %v", got)
	}
}
