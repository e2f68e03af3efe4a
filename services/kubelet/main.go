// Command drover-kubelet is the node agent: it registers its Node and runs
// the pods bound to it.
package main

import (
	"drover.dev/kubelet/app"
	"drover.dev/libs/component"
)

func main() {
	// The kubelet binary is also the container shim and `runc init`.
	app.HandleReexec()
	component.Main(app.NewCommand())
}
