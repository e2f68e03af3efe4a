//go:build cgo

package runc

// cgoEnabled: libcontainer's nsenter (a cgo constructor) is linked in.
const cgoEnabled = true
