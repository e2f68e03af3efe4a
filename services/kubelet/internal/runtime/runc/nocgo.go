//go:build !cgo

package runc

// cgoEnabled: without cgo, nsenter is left out and `runc init` cannot work.
const cgoEnabled = false
