// Command drover-scheduler assigns pending pods to nodes.
package main

import (
	"drover.dev/libs/component"
	"drover.dev/scheduler/app"
)

func main() {
	component.Main(app.NewCommand())
}
