package runc

import "runtime/debug"

// libcontainerVersion is the runc module version linked in.
func libcontainerVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, m := range bi.Deps {
			if m.Path == "github.com/opencontainers/runc" {
				return "libcontainer " + m.Version
			}
		}
	}
	return "libcontainer"
}
