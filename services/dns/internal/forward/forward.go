// Package forward resolves names outside the cluster domain by asking
// upstream servers, in order with failover, and caches their answers. It
// also finds upstreams that forward back to this server (loops).
package forward

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
	"go.uber.org/zap"

	"drover.dev/dns/internal/metrics"
)

// Errors of Exchange.
var (
	// ErrNoUpstream means every upstream failed or loops.
	ErrNoUpstream = errors.New("forward: no upstream answered")
	// ErrBadUpstream is returned by ParseUpstream for a malformed address.
	ErrBadUpstream = errors.New("forward: invalid upstream address")
)

// downFor is how long an upstream that failed is tried only after the others.
const downFor = 5 * time.Second

// ednsSize is the UDP size advertised upstream (the DNS flag day value).
const ednsSize = 1232

// Upstream is one upstream server.
type Upstream struct {
	Addr      string
	downUntil atomic.Int64 // unix nanos
	looping   atomic.Bool
}

// Looping reports whether loop detection disabled this upstream.
func (u *Upstream) Looping() bool { return u.looping.Load() }

// Options configure a Forwarder.
type Options struct {
	// Upstreams are host:port addresses, tried in order.
	Upstreams []string
	// Timeout bounds one exchange with one upstream.
	Timeout time.Duration
	Cache   *Cache
	Metrics *metrics.Metrics
	Logger  *zap.Logger
}

// Forwarder answers queries from its cache or its upstreams.
type Forwarder struct {
	upstreams []*Upstream
	timeout   time.Duration
	cache     *Cache
	m         *metrics.Metrics
	lg        *zap.Logger
	udp, tcp  *dns.Client
	loops     loopProbes
}

// New returns a Forwarder.
func New(o Options) (*Forwarder, error) {
	if len(o.Upstreams) == 0 {
		return nil, fmt.Errorf("%w: none given", ErrBadUpstream)
	}
	f := &Forwarder{timeout: o.Timeout, cache: o.Cache, m: o.Metrics, lg: o.Logger}
	if f.timeout <= 0 {
		f.timeout = 2 * time.Second
	}
	if f.cache == nil {
		f.cache = NewCache(0, 0, 0)
	}
	if f.lg == nil {
		f.lg = zap.NewNop()
	}
	for _, a := range o.Upstreams {
		addr, err := ParseUpstream(a)
		if err != nil {
			return nil, err
		}
		f.upstreams = append(f.upstreams, &Upstream{Addr: addr})
	}
	f.udp = &dns.Client{Net: "udp", Timeout: f.timeout, UDPSize: ednsSize}
	f.tcp = &dns.Client{Net: "tcp", Timeout: f.timeout}
	f.loops.init()
	return f, nil
}

// ParseUpstream normalizes "ip" or "ip:port" (or "[v6]:port") to host:port.
func ParseUpstream(s string) (string, error) {
	s = strings.TrimSpace(s)
	if ip := net.ParseIP(s); ip != nil {
		return net.JoinHostPort(s, "53"), nil
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil || net.ParseIP(host) == nil {
		return "", fmt.Errorf("%w: %q (want ip or ip:port)", ErrBadUpstream, s)
	}
	if _, err := net.LookupPort("udp", port); err != nil || port == "0" {
		return "", fmt.Errorf("%w: %q has a bad port", ErrBadUpstream, s)
	}
	return net.JoinHostPort(host, port), nil
}

// Upstreams returns the upstream servers.
func (f *Forwarder) Upstreams() []*Upstream { return f.upstreams }

// Cache returns the answer cache.
func (f *Forwarder) Cache() *Cache { return f.cache }

// Cached returns a cached answer for req as wire bytes (see Cache.Get).
func (f *Forwarder) Cached(qname string, req *dns.Msg, do bool) []byte {
	q := req.Question[0]
	w := f.cache.Get(qname, q.Qtype, do, req.Id, q.Name)
	f.m.CacheHit(w != nil)
	return w
}

// Exchange asks the upstreams for req's question, caches the answer under
// qname (lower case) and returns it. The returned message's ID is req's.
func (f *Forwarder) Exchange(ctx context.Context, qname string, req *dns.Msg, do bool) (*dns.Msg, error) {
	q := new(dns.Msg)
	q.Id = dns.Id()
	q.Opcode = dns.OpcodeQuery
	q.RecursionDesired = true
	q.CheckingDisabled = req.CheckingDisabled
	q.Question = []dns.Question{req.Question[0]}
	q.SetEdns0(ednsSize, do)

	var fallback *dns.Msg
	var lastErr error
	for _, u := range f.order() {
		r, err := f.exchange(ctx, q, u.Addr)
		if err != nil {
			lastErr = err
			u.downUntil.Store(time.Now().Add(downFor).UnixNano())
			f.m.UpstreamError(u.Addr)
			f.lg.Debug("upstream failed", zap.String("upstream", u.Addr), zap.Error(err))
			if ctx.Err() != nil {
				break
			}
			continue
		}
		u.downUntil.Store(0)
		if r.Rcode == dns.RcodeServerFailure || r.Rcode == dns.RcodeRefused {
			if fallback == nil {
				fallback = r
			}
			continue // another upstream may do better
		}
		r.RecursionAvailable = true
		f.cache.Set(qname, q.Question[0].Qtype, do, r)
		r.Id = req.Id
		return r, nil
	}
	if fallback != nil {
		fallback.Id = req.Id
		return fallback, nil
	}
	if lastErr == nil {
		return nil, ErrNoUpstream
	}
	return nil, fmt.Errorf("%w: %w", ErrNoUpstream, lastErr)
}

func (f *Forwarder) exchange(ctx context.Context, q *dns.Msg, addr string) (*dns.Msg, error) {
	r, _, err := f.udp.ExchangeContext(ctx, q, addr)
	if err == nil && r.Truncated {
		r, _, err = f.tcp.ExchangeContext(ctx, q, addr)
	}
	if err != nil {
		return nil, err
	}
	if len(r.Question) != 1 || !strings.EqualFold(r.Question[0].Name, q.Question[0].Name) || r.Question[0].Qtype != q.Question[0].Qtype {
		return nil, fmt.Errorf("forward: %s answered another question", addr)
	}
	return r, nil
}

// order lists usable upstreams: healthy ones first, in configured order,
// then those that failed recently (still better than nothing).
func (f *Forwarder) order() []*Upstream {
	now := time.Now().UnixNano()
	out := make([]*Upstream, 0, len(f.upstreams))
	var down []*Upstream
	for _, u := range f.upstreams {
		switch {
		case u.looping.Load():
		case u.downUntil.Load() > now:
			down = append(down, u)
		default:
			out = append(out, u)
		}
	}
	return append(out, down...)
}
