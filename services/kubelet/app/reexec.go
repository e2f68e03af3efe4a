package app

import "drover.dev/kubelet/internal/runtime/runc"

// HandleReexec runs the container shim or `runc init` when this process is
// one (the kubelet's binary re-executes itself as both) and never returns
// then; otherwise it returns at once. Call it first thing in main.
func HandleReexec() { runc.HandleReexec() }
