// Package imagelocality prefers nodes that already have the pod's images,
// weighted by image size and how widely the image is spread, as in
// Kubernetes.
package imagelocality

import (
	"context"
	"encoding/json"
	"strings"

	v1 "k8s.io/api/core/v1"

	"drover.dev/scheduler/internal/framework"
)

// Name is the plugin's name in configuration.
const Name = "ImageLocality"

const (
	mb                    int64 = 1024 * 1024
	minThreshold                = 23 * mb
	maxContainerThreshold       = 1000 * mb
)

// ImageLocality is the plugin.
type ImageLocality struct{ h framework.Handle }

var _ framework.ScorePlugin = &ImageLocality{}

// New builds the plugin.
func New(_ json.RawMessage, h framework.Handle) (framework.Plugin, error) {
	return &ImageLocality{h: h}, nil
}

// Name implements framework.Plugin.
func (pl *ImageLocality) Name() string { return Name }

// Score implements framework.ScorePlugin.
func (pl *ImageLocality) Score(_ context.Context, _ *framework.CycleState, pod *v1.Pod, ni *framework.NodeInfo) (int64, *framework.Status) {
	if len(ni.ImageStates) == 0 {
		return 0, nil
	}
	total := len(pl.h.SnapshotSharedLister().List())
	var sum int64
	n := 0
	add := func(cs []v1.Container) {
		for _, c := range cs {
			n++
			if st, ok := ni.ImageStates[normalizedImageName(c.Image)]; ok && total > 0 {
				sum += int64(float64(st.Size) * float64(st.NumNodes) / float64(total))
			}
		}
	}
	add(pod.Spec.InitContainers)
	add(pod.Spec.Containers)
	maxThreshold := maxContainerThreshold * int64(n)
	if sum < minThreshold {
		sum = minThreshold
	} else if sum > maxThreshold {
		sum = maxThreshold
	}
	if maxThreshold == minThreshold {
		return 0, nil
	}
	return framework.MaxNodeScore * (sum - minThreshold) / (maxThreshold - minThreshold), nil
}

// ScoreExtensions implements framework.ScorePlugin.
func (pl *ImageLocality) ScoreExtensions() framework.ScoreExtensions { return nil }

// normalizedImageName adds ":latest" to an untagged, undigested name, as
// kubelets report images.
func normalizedImageName(name string) string {
	if strings.LastIndex(name, ":") <= strings.LastIndex(name, "/") && !strings.Contains(name, "@") {
		name += ":latest"
	}
	return name
}
