package runc

import (
	"runtime/debug"
	"strings"
)

// libcontainerVersion is the runc module version without its "v" ("1.5.2"),
// so that nodeInfo reads "runc://1.5.2" like "containerd://1.7.0".
func libcontainerVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, m := range bi.Deps {
			if m.Path == "github.com/opencontainers/runc" {
				return strings.TrimPrefix(m.Version, "v")
			}
		}
	}
	return "unknown"
}
