// Package daemons bundles the six daemons into the drover binary, as
// busybox bundles its tools: started through a link named drover-apiserver
// (or with that name as argv[0]) the drover binary is the apiserver.
// Processes of one binary share its code pages, so a local cluster's
// daemons together need about 150 MB less memory than separate binaries.
// (The kubelet brings libcontainer's cgo code and libseccomp: the drover
// binary is built with cgo and the seccomp tag.)
package daemons

import (
	"slices"
	"strings"

	"github.com/spf13/cobra"

	apiserver "drover.dev/apiserver/app"
	controllermanager "drover.dev/controller-manager/app"
	dns "drover.dev/dns/app"
	kubelet "drover.dev/kubelet/app"
	proxy "drover.dev/proxy/app"
	scheduler "drover.dev/scheduler/app"
)

var commands = map[string]func() *cobra.Command{
	"drover-apiserver":          apiserver.NewCommand,
	"drover-controller-manager": controllermanager.NewCommand,
	"drover-scheduler":          scheduler.NewCommand,
	"drover-dns":                dns.NewCommand,
	"drover-proxy":              proxy.NewCommand,
	"drover-kubelet":            newKubelet,
}

// newKubelet is the kubelet, unless this process is one of its container
// shims or a `runc init`, which it starts through the same link and which
// never return.
func newKubelet() *cobra.Command {
	kubelet.HandleReexec()
	return kubelet.NewCommand()
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
