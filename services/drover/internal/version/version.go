// Package version says which drover this is.
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Version is set at build time with
// -ldflags "-X drover.dev/drover/internal/version.Version=v0.1.0".
var Version = ""

// Get returns the version: the one set at build time, else the module
// version `go install` recorded, else "dev".
func Get() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// String describes this build on one line.
func String() string {
	return fmt.Sprintf("drover %s (%s %s/%s)", Get(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
