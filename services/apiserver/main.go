// Command drover-apiserver serves the Kubernetes API from etcd.
package main

import (
	"drover.dev/apiserver/app"
	"drover.dev/libs/component"
)

func main() {
	component.Main(app.NewCommand())
}
