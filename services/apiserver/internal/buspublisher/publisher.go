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
	// rev and index of the last change on the events stream.
	rev   int64
	index int32
}

func (pos *position) after(rev int64, index int32) bool {
	return rev > pos.rev || rev == pos.rev && index > pos.index
}

func parseID(id string) (int64, int32) {
	r, i, _ := strings.Cut(id, ".")
	rev, _ := strconv.ParseInt(r, 10, 64)
	idx, _ := strconv.ParseInt(strings.SplitN(i, ".", 2)[0], 10, 32)
	return rev, int32(idx)
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
		from = cur.Header.Revision + 1
		pos.index = -1
	case err != nil:
		return fmt.Errorf("resume point: %w", err)
	default:
		pos.eventsID = id
		pos.rev, pos.index = parseID(id)
		from = pos.rev // the rest of that revision may be missing
	}
	if id, _, err := p.lastMessage(ctx, bus.NodesStream); err == nil {
		pos.nodesID = id
	} else if !errors.Is(err, bus.ErrEmpty) {
		return fmt.Errorf("resume point: %w", err)
	}
	p.lg.Info("publishing", zap.Int64("fromRevision", from))
	// Only publish while still the leader: guard each batch with the election key.
	leaderKey := election.Key()
	wctx := clientv3.WithRequireLeader(ctx)
	wch := p.cfg.Etcd.Watch(wctx, p.cfg.Prefix+"/", clientv3.WithPrefix(), clientv3.WithRev(from), clientv3.WithPrevKV())
	p.publishingOnce.Do(func() { close(p.publishing) })
	prev := pos.rev
	for wresp := range wch {
		if err := wresp.Err(); err != nil {
			if errors.Is(err, rpctypes.ErrCompacted) {
				// The bus fell behind etcd's history: skip ahead; consumers see
				// previous_revision jump and re-list.
				p.lg.Warn("etcd compacted past the bus; consumers will re-list", zap.Int64("compactRevision", wresp.CompactRevision))
				return fmt.Errorf("compacted: %w", err)
			}
			return err
		}
		if _, err := p.cfg.Etcd.Get(ctx, leaderKey, clientv3.WithCountOnly()); err != nil {
			return fmt.Errorf("leadership check: %w", err)
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
			if err := p.send(ctx, env, &pos); err != nil {
				return err
			}
			prev = env.ResourceVersion
		}
	}
	return ctx.Err()
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
		env.Object = withRV(prevItem, ev.Kv.ModRevision)
		env.OldObject = prevItem.JSON()
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
	env.Object = it.JSON()
	fill(env, it)
	env.NodeName = nodeName(it)
	if prevItem != nil {
		env.OldObject = prevItem.JSON()
		env.OldNodeName = nodeName(prevItem)
	}
	return env, true
}

func fill(env *buspb.Event, it *cache.Item) {
	env.Namespace, env.Name, env.Uid = it.Namespace, it.Name, it.UID
}

func withRV(it *cache.Item, rv int64) []byte {
	var b strings.Builder
	_ = it.WriteJSON(&b, rv)
	return []byte(b.String())
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
	data, err := proto.Marshal(env)
	if err != nil {
		return err
	}
	id := fmt.Sprintf("%d.%d", env.ResourceVersion, env.Index)
	if err := p.publishMsg(ctx, bus.EventSubject(env.Group, env.Resource, env.Namespace, env.Name), id, &pos.eventsID, env, data); err != nil {
		return err
	}
	pos.rev, pos.index = env.ResourceVersion, env.Index
	if env.Resource == "pods" && env.Group == "" {
		for i, node := range []string{env.NodeName, env.OldNodeName} {
			if node == "" || i == 1 && node == env.NodeName {
				continue
			}
			if err := p.publishMsg(ctx, bus.NodePodSubject(node, env.Namespace, env.Name), id+"."+node, &pos.nodesID, env, data); err != nil {
				return err
			}
		}
	}
	return nil
}

func (p *Publisher) publishMsg(ctx context.Context, subject, id string, lastID *string, env *buspb.Event, data []byte) error {
	msg := &nats.Msg{Subject: subject, Data: data, Header: nats.Header{}}
	msg.Header.Set(nats.MsgIdHdr, id)
	msg.Header.Set(bus.RevisionHeader, strconv.FormatInt(env.ResourceVersion, 10))
	opts := []jetstream.PublishOpt{}
	if *lastID != "" {
		opts = append(opts, jetstream.WithExpectLastMsgID(*lastID))
	}
	if _, err := p.cfg.JS.PublishMsg(ctx, msg, opts...); err != nil {
		return fmt.Errorf("publish %s: %w", subject, err)
	}
	*lastID = id
	return nil
}
