package app

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	"drover.dev/kubelet/app/config"
	"drover.dev/kubelet/app/options"
	"drover.dev/kubelet/internal/node"
	"drover.dev/kubelet/internal/pods"
	"drover.dev/kubelet/internal/runtime"
	"drover.dev/kubelet/internal/runtime/hollow"
)

// nodeRuntime is the runtime the kubelet was started with, plus what the
// rest of the kubelet needs from it.
type nodeRuntime struct {
	runtime.Runtime
	images  runtime.ImageService
	machine *node.Machine
	// setPodCIDR hands the node's pod range to the pod network.
	setPodCIDR func(cidr string) error
	// background runs housekeeping (image import and GC) until ctx ends.
	background func(ctx context.Context, m *pods.Manager)
	// removeNodeState removes what the runtime keeps for the node outside
	// its pods (the node's cgroups), after a clean-up removed every pod.
	removeNodeState func() error
	close           func()
}

// Hollow nodes report a fixed, roomy machine so that the scheduler spreads
// pods over them as over real ones.
var (
	hollowCPU     = resource.MustParse("8")
	hollowMemory  = resource.MustParse("32Gi")
	hollowStorage = resource.MustParse("100Gi")
)

func newRuntime(_ context.Context, cc config.CompletedConfig) (*nodeRuntime, error) {
	o := cc.Options
	switch o.Runtime {
	case options.RuntimeHollow:
		h := hollow.New()
		return &nodeRuntime{
			Runtime: h, images: h,
			machine:         &node.Machine{CPU: &hollowCPU, Memory: &hollowMemory, Storage: &hollowStorage},
			setPodCIDR:      h.SetPodCIDR,
			background:      func(context.Context, *pods.Manager) {},
			removeNodeState: func() error { return nil },
			close:           func() {},
		}, nil
	case options.RuntimeRunc:
		return newRuncRuntime(cc)
	}
	return nil, fmt.Errorf("app: unknown runtime %q", o.Runtime)
}

// every runs fn every period until ctx ends.
func every(ctx context.Context, period time.Duration, fn func()) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn()
		}
	}
}
