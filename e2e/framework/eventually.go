package framework

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

// pollInterval is how often Eventually re-checks its condition.
const pollInterval = 50 * time.Millisecond

// Eventually calls fn until it returns nil or timeout passes, then fails the test with
// the last error fn returned. It is the only way tests wait: never a sleep as a guess.
func Eventually(t testing.TB, timeout time.Duration, fn func() error) {
	t.Helper()
	if err := WaitFor(timeout, fn); err != nil {
		t.Fatal(err)
	}
}

// WaitFor is Eventually for code without a testing.TB (TestMain, helpers that return
// errors): it returns nil once fn does, or an error wrapping fn's last error.
func WaitFor(timeout time.Duration, fn func() error) error {
	deadline := time.Now().Add(timeout)
	var last error
	for {
		if last = fn(); last == nil {
			return nil
		}
		var p permanentError
		if errors.As(last, &p) {
			return p.error
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("condition not met within %s: %w", timeout, last)
		}
		time.Sleep(pollInterval)
	}
}

// permanentError ends a WaitFor at once: the condition can no longer become true.
type permanentError struct{ error }

func (p permanentError) Unwrap() error { return p.error }

// Permanent wraps err so that WaitFor and Eventually stop polling and report it.
func Permanent(err error) error { return permanentError{err} }
