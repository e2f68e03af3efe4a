package forward

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"sync"

	"github.com/miekg/dns"
	"go.uber.org/zap"
)

// ProbeSuffix ends the names of loop probes. Under .invalid (RFC 6761), a
// real resolver answers them NXDOMAIN at once without asking anyone.
const ProbeSuffix = ".loop-probe.drover-dns.invalid."

// loopProbes remembers the probes sent and which came back to us.
type loopProbes struct {
	mu   sync.Mutex
	seen map[string]int
}

func (l *loopProbes) init() { l.seen = map[string]int{} }

// IsProbe reports whether qname (lower case) is a loop probe name; the
// server answers those NXDOMAIN itself after calling ObserveProbe.
func IsProbe(qname string) bool { return strings.HasSuffix(qname, ProbeSuffix) }

// ObserveProbe records that a probe query reached this server.
func (f *Forwarder) ObserveProbe(qname string) {
	f.loops.mu.Lock()
	defer f.loops.mu.Unlock()
	if _, ok := f.loops.seen[qname]; ok {
		f.loops.seen[qname]++
	}
}

// DetectLoops sends each upstream a probe query with a random name. If the
// probe reaches this server (ObserveProbe) the upstream forwards back to
// us: it is marked looping and never used, as CoreDNS' loop plugin would
// otherwise have the server exit. It returns the looping upstreams. The
// DNS listener must be serving when it is called.
func (f *Forwarder) DetectLoops(ctx context.Context) []string {
	var looping []string
	for _, u := range f.upstreams {
		var nonce [8]byte
		_, _ = rand.Read(nonce[:])
		name := hex.EncodeToString(nonce[:]) + ProbeSuffix
		f.loops.mu.Lock()
		f.loops.seen[name] = 0
		f.loops.mu.Unlock()

		q := new(dns.Msg)
		q.SetQuestion(name, dns.TypeHINFO)
		_, _ = f.exchange(ctx, q, u.Addr) // the answer does not matter, the echo does

		f.loops.mu.Lock()
		n := f.loops.seen[name]
		delete(f.loops.seen, name)
		f.loops.mu.Unlock()
		if n > 0 {
			u.looping.Store(true)
			f.m.Loop(u.Addr)
			f.lg.Error("upstream forwards queries back to this server: not using it", zap.String("upstream", u.Addr))
			looping = append(looping, u.Addr)
		}
	}
	return looping
}
