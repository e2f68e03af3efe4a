// Package bus is drover's event bus on NATS JetStream: the subject scheme,
// the streams, and the envelope (package buspb, generated from proto/).
//
// Every committed change under /registry is published once, in etcd
// revision order, by the elected publisher (an apiserver replica):
//
//	drover.events.<group>.<resource>.<namespace>.<name>   stream DROVER_EVENTS
//	drover.nodes.<node>.pods.<namespace>.<name>           stream DROVER_NODES
//
// <group> is "core" for the core group; <namespace> is "_" for cluster-scoped
// objects. A pod's change is also published on the subject of the node it is
// bound to, and on the old node's subject when it leaves one, so that a
// kubelet hears only about its own pods. Tokens escape '.' as '~' (names may
// contain dots; '~' is not allowed in Kubernetes names).
package bus

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Stream and subject names.
const (
	EventsStream  = "DROVER_EVENTS"
	NodesStream   = "DROVER_NODES"
	EventsSubject = "drover.events"
	NodesSubject  = "drover.nodes"
	// RevisionHeader carries the etcd revision of a message's change.
	RevisionHeader = "Drover-Revision"
	// ProgressSubject takes requests (the wanted revision, decimal) for a
	// progress marker: the publisher confirms on the events stream, with a
	// message on MarkerSubject, that every change up to that revision is on it.
	ProgressSubject = "drover.bus.progress"
	MarkerSubject   = EventsSubject + ".progress"
	// LiveSubjectPrefix is where both streams republish every change they
	// store (drover.live.events.…, drover.live.nodes.…), for watchers
	// that follow the bus on plain subscriptions.
	LiveSubjectPrefix = "drover.live"
)

// Token escapes a value for use as one subject token.
func Token(s string) string {
	if s == "" {
		return "_"
	}
	return strings.NewReplacer(".", "~", " ", "_", "*", "_", ">", "_").Replace(s)
}

// EventSubject is the subject of a change to one object.
func EventSubject(group, resource, namespace, name string) string {
	if group == "" {
		group = "core"
	}
	return fmt.Sprintf("%s.%s.%s.%s.%s", EventsSubject, Token(group), Token(resource), Token(namespace), Token(name))
}

// ResourceSubject matches every change to a resource (in one namespace when given).
func ResourceSubject(group, resource, namespace string) string {
	if group == "" {
		group = "core"
	}
	ns := "*"
	if namespace != "" {
		ns = Token(namespace)
	}
	return fmt.Sprintf("%s.%s.%s.%s.*", EventsSubject, Token(group), Token(resource), ns)
}

// NodePodSubject is the subject of a change to a pod routed to a node.
func NodePodSubject(node, namespace, name string) string {
	return fmt.Sprintf("%s.%s.pods.%s.%s", NodesSubject, Token(node), Token(namespace), Token(name))
}

// NodePodsSubject matches every pod change routed to a node.
func NodePodsSubject(node string) string {
	return fmt.Sprintf("%s.%s.pods.>", NodesSubject, Token(node))
}

// StreamOptions size the streams.
type StreamOptions struct {
	// MaxAge is how long changes stay; consumers further behind re-list.
	MaxAge time.Duration
	// Duplicates is the deduplication window for publisher fail-over.
	Duplicates time.Duration
	// Replicas for a clustered NATS.
	Replicas int
}

// DefaultStreamOptions keeps an hour of changes and dedups over two minutes.
func DefaultStreamOptions() StreamOptions {
	return StreamOptions{MaxAge: time.Hour, Duplicates: 2 * time.Minute, Replicas: 1}
}

// EnsureStreams creates or updates both streams.
func EnsureStreams(ctx context.Context, js jetstream.JetStream, o StreamOptions) error {
	for _, cfg := range []jetstream.StreamConfig{
		{Name: EventsStream, Subjects: []string{EventsSubject + ".>"},
			RePublish: &jetstream.RePublish{Source: EventsSubject + ".>", Destination: LiveSubject(EventsSubject) + ".>"}},
		{Name: NodesStream, Subjects: []string{NodesSubject + ".>"},
			RePublish: &jetstream.RePublish{Source: NodesSubject + ".>", Destination: LiveSubject(NodesSubject) + ".>"}},
	} {
		cfg.Storage = jetstream.FileStorage
		cfg.Retention = jetstream.LimitsPolicy
		cfg.MaxAge = o.MaxAge
		cfg.Duplicates = o.Duplicates
		cfg.Replicas = max(o.Replicas, 1)
		cfg.Discard = jetstream.DiscardOld
		if _, err := js.CreateOrUpdateStream(ctx, cfg); err != nil {
			return fmt.Errorf("bus: stream %s: %w", cfg.Name, err)
		}
	}
	return nil
}

// ErrEmpty means the stream holds no message yet.
var ErrEmpty = errors.New("bus: stream is empty")
