// Package daemons bundles five daemons into the drover binary, as busybox
// bundles its tools: started through a link named drover-apiserver (or with
// that name as argv[0]) the drover binary is the apiserver. Processes of one
// binary share its code pages, so a local cluster's daemons together need
// about 100 MB less memory than six separate binaries would. The kubelet
// stays its own binary: it links libcontainer's cgo and libseccomp, which
// the other daemons should not carry.
package daemons

import (
	"slices"
	"strings"

	"github.com/spf13/cobra"

	apiserver "drover.dev/apiserver/app"
	controllermanager "drover.dev/controller-manager/app"
	dns "drover.dev/dns/app"
	proxy "drover.dev/proxy/app"
	scheduler "drover.dev/scheduler/app"
)

var commands = map[string]func() *cobra.Command{
	"drover-apiserver":          apiserver.NewCommand,
	"drover-controller-manager": controllermanager.NewCommand,
	"drover-scheduler":          scheduler.NewCommand,
	"drover-dns":                dns.NewCommand,
	"drover-proxy":              proxy.NewCommand,
}

// Command returns the daemon a program named name (argv[0]'s base) is.
func Command(name string) (*cobra.Command, bool) {
	newCommand, ok := commands[strings.TrimSuffix(name, ".exe")]
	if !ok {
		return nil, false
	}
	return newCommand(), true
}

// Names lists the bundled daemons' program names.
func Names() []string {
	names := make([]string, 0, len(commands))
	for name := range commands {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}
