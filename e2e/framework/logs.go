package framework

import (
	"fmt"
	"strings"
)

// maxLogLines bounds how much of a log a failing test prints.
const maxLogLines = 300

// maxTestLogLines bounds the lines of each log a failing test prints of its own span.
const maxTestLogLines = 60

// tail returns the last n lines of s, saying how many were left out.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) <= n {
		return strings.Join(lines, "\n")
	}
	return fmt.Sprintf("... (%d earlier lines left out)\n%s", len(lines)-n, strings.Join(lines[len(lines)-n:], "\n"))
}
