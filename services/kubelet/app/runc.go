package app

import (
	"fmt"

	"drover.dev/kubelet/app/config"
)

// newRuncRuntime builds the runc runtime with the image store and the pod network.
func newRuncRuntime(config.CompletedConfig) (*nodeRuntime, error) {
	return nil, fmt.Errorf("app: the runc runtime is not wired yet")
}
