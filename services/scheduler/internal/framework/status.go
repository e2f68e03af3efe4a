// Package framework is the scheduling framework: the plugin extension points,
// the per-cycle state, the node and pod views plugins read, and the runtime
// that runs a profile's plugins in order.
package framework

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	v1 "k8s.io/api/core/v1"
)

// Code is the outcome of a plugin call.
type Code int

// Codes a plugin can return.
const (
	// Success means the plugin ran and the pod may go on.
	Success Code = iota
	// Error is an internal failure; the pod is retried with back-off.
	Error
	// Unschedulable means the pod does not fit now; preemption may help.
	Unschedulable
	// UnschedulableAndUnresolvable means the pod does not fit and
	// preemption on that node cannot help.
	UnschedulableAndUnresolvable
	// Wait is returned by Permit plugins that hold the pod.
	Wait
	// Skip is returned by PreFilter/PreScore plugins that have nothing to
	// do for this pod; their Filter/Score is then not called.
	Skip
)

var codeNames = []string{"Success", "Error", "Unschedulable", "UnschedulableAndUnresolvable", "Wait", "Skip"}

func (c Code) String() string {
	if int(c) < len(codeNames) {
		return codeNames[c]
	}
	return fmt.Sprintf("Code(%d)", int(c))
}

// Status is a plugin's answer; a nil *Status is Success.
type Status struct {
	code    Code
	reasons []string
	err     error
	plugin  string
}

// NewStatus returns a status with the code and reasons.
func NewStatus(code Code, reasons ...string) *Status {
	s := &Status{code: code, reasons: reasons}
	if code == Error {
		s.err = errors.New(s.Message())
	}
	return s
}

// AsStatus wraps an error into an Error status (nil for nil).
func AsStatus(err error) *Status {
	if err == nil {
		return nil
	}
	return &Status{code: Error, reasons: []string{err.Error()}, err: err}
}

// Code returns the code (Success for nil).
func (s *Status) Code() Code {
	if s == nil {
		return Success
	}
	return s.code
}

// Reasons are the human-readable reasons.
func (s *Status) Reasons() []string {
	if s == nil {
		return nil
	}
	return s.reasons
}

// Message joins the reasons.
func (s *Status) Message() string {
	if s == nil {
		return ""
	}
	return strings.Join(s.reasons, ", ")
}

// Plugin names the plugin that produced the status.
func (s *Status) Plugin() string {
	if s == nil {
		return ""
	}
	return s.plugin
}

// WithPlugin records the plugin that produced the status.
// A status already naming the plugin is not written to, so that plugins
// may return one shared status from parallel Filter calls.
func (s *Status) WithPlugin(name string) *Status {
	if s != nil && s.plugin != name {
		s.plugin = name
	}
	return s
}

// IsSuccess is true for nil or Success.
func (s *Status) IsSuccess() bool { return s.Code() == Success }

// IsSkip is true for Skip.
func (s *Status) IsSkip() bool { return s.Code() == Skip }

// IsWait is true for Wait.
func (s *Status) IsWait() bool { return s.Code() == Wait }

// IsRejected is true when the pod does not fit (either unschedulable code).
func (s *Status) IsRejected() bool {
	c := s.Code()
	return c == Unschedulable || c == UnschedulableAndUnresolvable
}

// AsError returns the status as an error (nil when it is not a failure).
func (s *Status) AsError() error {
	if s.IsSuccess() || s.IsSkip() || s.IsWait() {
		return nil
	}
	if s.err != nil {
		return s.err
	}
	return errors.New(s.Message())
}

func (s *Status) String() string {
	if s == nil {
		return "Success"
	}
	return fmt.Sprintf("%s: %s", s.code, s.Message())
}

// ErrNoNodes is returned when the cluster has no nodes at all.
var ErrNoNodes = errors.New("framework: no nodes available to schedule pods")

// NoNodeAvailableMsg starts every FitError message, as in Kubernetes.
const NoNodeAvailableMsg = "0/%v nodes are available"

// NodeToStatusMap holds why each rejected node was rejected.
type NodeToStatusMap map[string]*Status

// Diagnosis explains a failed scheduling attempt.
type Diagnosis struct {
	NodeToStatus NodeToStatusMap
	// UnschedulablePlugins rejected the pod; events that help them requeue it.
	UnschedulablePlugins map[string]struct{}
	PreFilterMsg         string
	PostFilterMsg        string
}

// FitError is returned when no node fits the pod.
type FitError struct {
	Pod         *v1.Pod
	NumAllNodes int
	Diagnosis   Diagnosis
}

// Error renders Kubernetes' message: "0/3 nodes are available: 1 Insufficient
// cpu, 2 node(s) had untolerated taint {k: v}. preemption: ...".
func (f *FitError) Error() string {
	msg := fmt.Sprintf(NoNodeAvailableMsg+":", f.NumAllNodes)
	if f.Diagnosis.PreFilterMsg != "" {
		msg += fmt.Sprintf(" %v.", f.Diagnosis.PreFilterMsg)
	} else {
		counts := map[string]int{}
		for _, st := range f.Diagnosis.NodeToStatus {
			for _, r := range st.Reasons() {
				counts[r]++
			}
		}
		parts := make([]string, 0, len(counts))
		for r, n := range counts {
			parts = append(parts, fmt.Sprintf("%v %v", n, r))
		}
		sort.Strings(parts)
		if len(parts) > 0 {
			msg += fmt.Sprintf(" %v.", strings.Join(parts, ", "))
		}
	}
	if f.Diagnosis.PostFilterMsg != "" {
		msg += " " + f.Diagnosis.PostFilterMsg
	}
	return msg
}
