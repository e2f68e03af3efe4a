// Command drover-dns serves the cluster DNS zone and forwards other names.
package main

import (
	"drover.dev/dns/app"
	"drover.dev/libs/component"
)

func main() {
	component.Main(app.NewCommand())
}
