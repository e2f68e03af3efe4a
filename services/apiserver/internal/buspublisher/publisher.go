// Package buspublisher puts every change committed under /registry on the
// NATS JetStream bus, once and in revision order. Replicas elect one
// publisher through etcd; it resumes from the last revision on the stream
// and gives each message its revision as Nats-Msg-Id, so a fail-over
// re-publishes at most the last revision, which JetStream drops as duplicate.
package buspublisher

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"go.uber.org/zap"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"drover.dev/apiserver/internal/cache"
	"drover.dev/apiserver/internal/registry"
	"drover.dev/libs/bus"
	"drover.dev/libs/bus/buspb"
)

// ElectionPrefix is the etcd prefix of the publisher election.
const ElectionPrefix = "/drover/elections/bus-publisher"

// Parser extracts what routing needs from a stored object (the apiserver's cache parser).
type Parser func(resource, key string, value []byte, rv int64) (*cache.Item, error)

// Config wires a publisher.
type Config struct {
	Etcd     *clientv3.Client
	Prefix   string // "/registry"
	JS       jetstream.JetStream
	Registry *registry.Registry
	Parse    Parser
	// Skip names key segments under Prefix that are not objects.
	Skip     []string
	Identity string
	Streams  bus.StreamOptions
	Logger   *zap.Logger
	// SessionTTL is how long (seconds) a dead publisher holds the election.
	SessionTTL int
}

// Publisher is one replica's candidate publisher.
type Publisher struct {
	cfg    Config
	lg     *zap.Logger
	stored map[string]schema.GroupVersionResource // key segment → stored GVR

	publishingOnce sync.Once
	publishing     chan struct{}
}

// Publishing is closed once this replica has been elected and follows etcd:
// every change committed after that reaches the bus.
func (p *Publisher) Publishing() <-chan struct{} { return p.publishing }

// New returns a publisher; Run campaigns and publishes while elected.
func New(cfg Config) *Publisher {
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.SessionTTL == 0 {
		cfg.SessionTTL = 10
	}
	p := &Publisher{cfg: cfg, lg: cfg.Logger, stored: map[string]schema.GroupVersionResource{}, publishing: make(chan struct{})}
	for _, res := range cfg.Registry.Resources() {
		if res.StoredAsSelf() {
			p.stored[res.Storage.Resource] = res.Storage
		}
	}
	return p
}

// Run campaigns for the publisher role and publishes while it holds it,
// until ctx ends.
func (p *Publisher) Run(ctx context.Context) {
	for ctx.Err() == nil {
		if err := p.runOnce(ctx); err != nil && ctx.Err() == nil {
			p.lg.Warn("bus publisher stopped, campaigning again", zap.Error(err))
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

func (p *Publisher) runOnce(ctx context.Context) error {
	session, err := concurrency.NewSession(p.cfg.Etcd, concurrency.WithTTL(p.cfg.SessionTTL), concurrency.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("session: %w", err)
	}
	defer session.Close()
	election := concurrency.NewElection(session, ElectionPrefix)
	if err := election.Campaign(ctx, p.cfg.Identity); err != nil {
		return fmt.Errorf("campaign: %w", err)
	}
	p.lg.Info("elected bus publisher", zap.String("identity", p.cfg.Identity))
	leadCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-session.Done(): // lease lost: another replica may already publish
			cancel()
		case <-leadCtx.Done():
		}
	}()
	err = p.publish(leadCtx, election)
	resignCtx, rcancel := context.WithTimeout(context.Background(), 2*time.Second)
	_ = election.Resign(resignCtx)
	rcancel()
	return err
}

// lastMessage reads the id and revision of a stream's last message.
func (p *Publisher) lastMessage(ctx context.Context, name string) (id string, rev int64, err error) {
	stream, err := p.cfg.JS.Stream(ctx, name)
	if err != nil {
		return "", 0, err
	}
	info, err := stream.Info(ctx)
	if err != nil {
		return "", 0, err
	}
	if info.State.Msgs == 0 {
		return "", 0, bus.ErrEmpty
	}
	msg, err := stream.GetMsg(ctx, info.State.LastSeq)
	if err != nil {
		return "", 0, err
	}
	rev, err = strconv.ParseInt(msg.Header.Get(bus.RevisionHeader), 10, 64)
	return msg.Header.Get(nats.MsgIdHdr), rev, err
}

// position is where the publisher stands on each stream. Every publish
// names the id it expects to follow (Nats-Expected-Last-Msg-Id): a deposed
// publisher that still sends is refused instead of reordering the stream.
type position struct {
	eventsID, nodesID string
	// rev and index of the last change sent to the events stream.
	rev   int64
	index int32
	acks  acks
}

func (pos *position) after(rev int64, index int32) bool {
	return rev > pos.rev || rev == pos.rev && index > pos.index
}

// parseID reads "<rev>.<index>" (a change), "<rev>.<index>.<node>" (its
// copy on a node subject) or "<rev>.<index>.p<marker>" (a progress marker
// after that change, vouching for everything up to <marker>).
func parseID(id string) (rev int64, idx int32, marker int64) {
	parts := strings.SplitN(id, ".", 3)
	rev, _ = strconv.ParseInt(parts[0], 10, 64)
	if len(parts) > 1 {
		i, _ := strconv.ParseInt(parts[1], 10, 32)
		idx = int32(i)
	}
	if len(parts) > 2 && strings.HasPrefix(parts[2], "p") {
		marker, _ = strconv.ParseInt(parts[2][1:], 10, 64)
	}
	return rev, idx, marker
}

func (p *Publisher) publish(ctx context.Context, election *concurrency.Election) error {
	if err := bus.EnsureStreams(ctx, p.cfg.JS, p.cfg.Streams); err != nil {
		return err
	}
	var pos position
	var from int64
	id, _, err := p.lastMessage(ctx, bus.EventsStream)
	switch {
	case errors.Is(err, bus.ErrEmpty):
		cur, err := p.cfg.Etcd.Get(ctx, p.cfg.Prefix+"/\x00", clientv3.WithCountOnly())
		if err != nil {
			return err
		}
		// A new stream starts now; a first marker names this revision as the
		// previous one, so that a reader holding an older state sees the gap.
		from = cur.Header.Revision + 1
		pos.rev, pos.index = cur.Header.Revision, -1
		if err := p.sendMarker(ctx, cur.Header.Revision, cur.Header.Revision, &pos); err != nil {
			return err
		}
	case err != nil:
		return fmt.Errorf("resume point: %w", err)
	default:
		var marker int64
		pos.eventsID = id
		pos.rev, pos.index, marker = parseID(id)
		from = pos.rev // the rest of that revision may be missing
		if marker > 0 {
			from = marker + 1 // a marker vouches for everything up to it
		}
	}
	if id, _, err := p.lastMessage(ctx, bus.NodesStream); err == nil {
		pos.nodesID = id
	} else if !errors.Is(err, bus.ErrEmpty) {
		return fmt.Errorf("resume point: %w", err)
	}
	p.lg.Info("publishing", zap.Int64("fromRevision", from))
	// Readers that need a consistent view ask for a progress marker; only the
	// leader listens.
	requests := make(chan int64, 64)
	sub, err := p.cfg.JS.Conn().Subscribe(bus.ProgressSubject, func(m *nats.Msg) {
		if rev, err := strconv.ParseInt(string(m.Data), 10, 64); err == nil {
			select {
			case requests <- rev:
			default: // a request is pending already; it will cover this one
			}
		}
	})
	if err != nil {
		return fmt.Errorf("progress subscription: %w", err)
	}
	defer func() { _ = sub.Unsubscribe() }()

	leaderKey := election.Key()
	// Own gRPC stream so progress requests are answered for this watch alone.
	wctx := metadata.AppendToOutgoingContext(clientv3.WithRequireLeader(ctx), "drover-watch", "bus-publisher")
	for {
		err := p.follow(ctx, wctx, from, leaderKey, &pos, requests)
		if !errors.Is(err, rpctypes.ErrCompacted) {
			return err
		}
		// The bus fell behind etcd's history: carry on from now. The next
		// change names a previous_revision no consumer has seen, so every
		// consumer re-lists.
		cur, gerr := p.cfg.Etcd.Get(ctx, p.cfg.Prefix+"/\x00", clientv3.WithCountOnly())
		if gerr != nil {
			return gerr
		}
		p.lg.Warn("etcd compacted past the bus; skipping ahead, consumers will re-list", zap.Int64("revision", cur.Header.Revision))
		from = cur.Header.Revision + 1
		pos.rev, pos.index = cur.Header.Revision, -1
	}
}

// follow publishes the changes from revision from on, and progress markers
// when asked, until an error.
func (p *Publisher) follow(ctx, wctx context.Context, from int64, leaderKey string, pos *position, requests <-chan int64) error {
	wch := p.cfg.Etcd.Watch(wctx, p.cfg.Prefix+"/", clientv3.WithPrefix(), clientv3.WithRev(from), clientv3.WithPrevKV(), clientv3.WithProgressNotify())
	p.publishingOnce.Do(func() { close(p.publishing) })
	prev := pos.rev
	var processed, wanted int64 // etcd revision seen in full; revision a reader waits for
	for {
		acked, refused := pos.acks.next()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-acked:
			if err := pos.acks.done(nil); err != nil {
				return err
			}
			continue
		case err := <-refused:
			return pos.acks.done(err)
		case rev := <-requests:
			wanted = max(wanted, rev)
			if processed < wanted {
				_ = p.cfg.Etcd.RequestProgress(wctx)
				continue
			}
		case wresp, ok := <-wch:
			if !ok {
				return fmt.Errorf("etcd watch closed")
			}
			if err := wresp.Err(); err != nil {
				return err
			}
			if !wresp.IsProgressNotify() && len(wresp.Events) > 0 {
				if _, err := p.cfg.Etcd.Get(ctx, leaderKey, clientv3.WithCountOnly()); err != nil {
					return fmt.Errorf("leadership check: %w", err)
				}
			}
			idx := int32(0)
			lastRev := int64(0)
			for _, ev := range wresp.Events {
				if ev.Kv.ModRevision != lastRev {
					idx, lastRev = 0, ev.Kv.ModRevision
				}
				env, ok := p.envelope(ev, idx, prev)
				if !ok {
					continue
				}
				idx++
				if !pos.after(env.ResourceVersion, env.Index) {
					continue // already on the stream
				}
				if err := p.send(ctx, env, pos); err != nil {
					return err
				}
				prev = env.ResourceVersion
			}
			processed = max(processed, wresp.Header.Revision)
		}
		if wanted > 0 && processed >= wanted {
			if err := p.sendMarker(ctx, processed, prev, pos); err != nil {
				return err
			}
			wanted = 0
		}
	}
}

// marshal encodes an envelope within the server's payload limit: an
// envelope too large travels without the previous state, then without the
// object too, which tells consumers to read it from the apiserver.
func (p *Publisher) marshal(env *buspb.Event) ([]byte, error) {
	limit := int(p.cfg.JS.Conn().MaxPayload()) - 4096 // room for headers
	data, err := proto.Marshal(env)
	if err != nil || len(data) <= limit {
		return data, err
	}
	env.OldObject = nil
	if data, err = proto.Marshal(env); err != nil || len(data) <= limit {
		return data, err
	}
	p.lg.Warn("object too large for the bus; consumers will re-read it", zap.String("resource", env.Resource), zap.String("name", env.Name), zap.Int("bytes", len(env.Object)))
	env.Object = nil
	return proto.Marshal(env)
}

// sendMarker vouches on the events stream that every change up to rev is on it.
func (p *Publisher) sendMarker(ctx context.Context, rev, prev int64, pos *position) error {
	env := &buspb.Event{Type: buspb.EventType_EVENT_TYPE_UNSPECIFIED, ResourceVersion: rev, PreviousRevision: prev}
	data, err := proto.Marshal(env)
	if err != nil {
		return err
	}
	id := fmt.Sprintf("%d.%d.p%d", pos.rev, pos.index, rev)
	return p.publishMsg(ctx, bus.MarkerSubject, id, &pos.eventsID, pos, env, data)
}

func (p *Publisher) envelope(ev *clientv3.Event, idx int32, prev int64) (*buspb.Event, bool) {
	key := string(ev.Kv.Key)
	seg, _, ok := strings.Cut(strings.TrimPrefix(key, p.cfg.Prefix+"/"), "/")
	if !ok {
		return nil, false
	}
	for _, s := range p.cfg.Skip {
		if s == seg {
			return nil, false
		}
	}
	gvr, ok := p.stored[seg]
	if !ok {
		return nil, false
	}
	env := &buspb.Event{Group: gvr.Group, Version: gvr.Version, Resource: gvr.Resource,
		ResourceVersion: ev.Kv.ModRevision, Index: idx, PreviousRevision: prev}
	var prevItem *cache.Item
	if ev.PrevKv != nil {
		prevItem, _ = p.cfg.Parse(seg, key, ev.PrevKv.Value, ev.PrevKv.ModRevision)
	}
	if ev.Type == clientv3.EventTypeDelete {
		if prevItem == nil {
			return nil, false
		}
		env.Type = buspb.EventType_EVENT_TYPE_DELETED
		env.Object = ev.PrevKv.Value
		env.OldObject = ev.PrevKv.Value
		fill(env, prevItem)
		env.OldNodeName = nodeName(prevItem)
		return env, true
	}
	it, err := p.cfg.Parse(seg, key, ev.Kv.Value, ev.Kv.ModRevision)
	if err != nil {
		p.lg.Warn("not publishing undecodable object", zap.String("key", key), zap.Error(err))
		return nil, false
	}
	env.Type = buspb.EventType_EVENT_TYPE_MODIFIED
	if ev.IsCreate() || prevItem == nil {
		env.Type = buspb.EventType_EVENT_TYPE_ADDED
	}
	env.Object = ev.Kv.Value
	fill(env, it)
	env.NodeName = nodeName(it)
	if prevItem != nil {
		env.OldObject = ev.PrevKv.Value
		env.OldNodeName = nodeName(prevItem)
	}
	return env, true
}

func fill(env *buspb.Event, it *cache.Item) {
	env.Namespace, env.Name, env.Uid = it.Namespace, it.Name, it.UID
}

func nodeName(it *cache.Item) string {
	if it == nil || it.Fields == nil || !it.Fields.Has("spec.nodeName") {
		return ""
	}
	return it.Fields.Get("spec.nodeName")
}

// send publishes the envelope on its object subject and on the subjects of
// the nodes it concerns, each after the stream's last message, waiting for
// every acknowledgement so that order holds.
func (p *Publisher) send(ctx context.Context, env *buspb.Event, pos *position) error {
	data, err := p.marshal(env)
	if err != nil {
		return err
	}
	id := fmt.Sprintf("%d.%d", env.ResourceVersion, env.Index)
	if err := p.publishMsg(ctx, bus.EventSubject(env.Group, env.Resource, env.Namespace, env.Name), id, &pos.eventsID, pos, env, data); err != nil {
		return err
	}
	pos.rev, pos.index = env.ResourceVersion, env.Index
	if env.Resource == "pods" && env.Group == "" {
		for i, node := range []string{env.NodeName, env.OldNodeName} {
			if node == "" || i == 1 && node == env.NodeName {
				continue
			}
			if err := p.publishMsg(ctx, bus.NodePodSubject(node, env.Namespace, env.Name), id+"."+node, &pos.nodesID, pos, env, data); err != nil {
				return err
			}
		}
	}
	return nil
}

// publishMsg sends without waiting for the acknowledgement, keeping up to
// a window of messages in flight. Order still holds: every message names
// its predecessor's id, so once one is refused or lost, every later one is
// refused too, and the publisher restarts from the stream's last message.
func (p *Publisher) publishMsg(ctx context.Context, subject, id string, lastID *string, pos *position, env *buspb.Event, data []byte) error {
	msg := &nats.Msg{Subject: subject, Data: data, Header: nats.Header{}}
	msg.Header.Set(nats.MsgIdHdr, id)
	msg.Header.Set(bus.RevisionHeader, strconv.FormatInt(env.ResourceVersion, 10))
	opts := []jetstream.PublishOpt{}
	if *lastID != "" {
		opts = append(opts, jetstream.WithExpectLastMsgID(*lastID))
	}
	for pos.acks.full() {
		if err := pos.acks.wait(ctx); err != nil {
			return err
		}
	}
	f, err := p.cfg.JS.PublishMsgAsync(msg, opts...)
	if err != nil {
		return fmt.Errorf("publish %s: %w", subject, err)
	}
	pos.acks.add(f, subject)
	*lastID = id
	return pos.acks.settle()
}
