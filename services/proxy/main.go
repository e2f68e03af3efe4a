// Command drover-proxy forwards Services in the node's kernel with nftables
// (over netlink) and routes pod CIDRs between nodes (host-gw).
package main

import (
	"drover.dev/libs/component"
	"drover.dev/proxy/app"
)

func main() {
	component.Main(app.NewCommand())
}
