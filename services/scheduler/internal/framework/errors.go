package framework

import "errors"

// ErrNotFound is returned by CycleState.Read and listers for missing keys.
var ErrNotFound = errors.New("framework: not found")
