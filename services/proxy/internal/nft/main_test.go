package nft

import (
	"os"
	"runtime/debug"
	"testing"
)

// TestMain runs the tests and benchmarks with the GC goal the daemon runs
// with (component.Main sets 50%), so that benchmarks pay its GC cost.
func TestMain(m *testing.M) {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(50)
	}
	os.Exit(m.Run())
}
