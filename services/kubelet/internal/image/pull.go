package image

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	goruntime "runtime"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"go.uber.org/zap"

	"drover.dev/kubelet/internal/runtime"
)

// PullImage fetches ref (name[:tag] or name@digest) for this machine's
// platform and stores it. Credentials in auth that match the registry are
// tried in order (most specific first), anonymous access when none match.
// Errors wrap ErrImagePull, or ErrInvalidImageName for a bad reference.
func (s *Store) PullImage(ctx context.Context, ref string, auth []runtime.RegistryAuth) (*runtime.Image, error) {
	r, err := parseRef(ref)
	if err != nil {
		return nil, err
	}
	if s.reg.insecure(r.Context().RegistryStr()) {
		if r, err = parseRef(ref, name.Insecure); err != nil {
			return nil, err
		}
	}
	// Pulls of one reference share the work, unless they bring different
	// credentials (one may be allowed where the other is not).
	key := "pull:" + canonicalName(r)
	for _, a := range auth {
		key += "|" + a.Server + "|" + a.Username + "|" + digestOf([]byte(a.Password+"\x00"+a.Auth+"\x00"+a.IdentityToken))
	}
	v, err, _ := s.flight.Do(key, func() (any, error) {
		start := time.Now()
		img, err := s.pull(ctx, r, auth)
		if err != nil {
			return nil, err
		}
		s.lg.Info("pulled image", zap.String("ref", ref), zap.String("image", img.ID), zap.Duration("took", time.Since(start)))
		return img, nil
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrImagePull, ref, err)
	}
	// Callers sharing a flight must not share slices they may edit.
	return cloneImage(v.(*runtime.Image)), nil
}

func (s *Store) pull(ctx context.Context, r name.Reference, auth []runtime.RegistryAuth) (*runtime.Image, error) {
	s.gcMu.RLock()
	defer s.gcMu.RUnlock()
	base := []remote.Option{
		remote.WithContext(ctx),
		remote.WithTransport(s.reg.transport),
		remote.WithPlatform(v1.Platform{OS: "linux", Architecture: goruntime.GOARCH}),
	}
	var lastErr error
	for _, a := range authenticators(r, auth) {
		desc, err := remote.Get(r, append(base, remote.WithAuth(a))...)
		if err != nil {
			lastErr = err
			if isAuthError(err) {
				continue // the next matching credential may work
			}
			return nil, err
		}
		img, err := desc.Image()
		if err != nil {
			return nil, err
		}
		var tags []string
		if _, ok := r.(name.Tag); ok {
			tags = []string{canonicalName(r)}
		}
		repoDigest := canonicalName(r.Context().Digest(desc.Digest.String()))
		return s.add(ctx, img, tags, []string{repoDigest})
	}
	return nil, lastErr
}

func isAuthError(err error) bool {
	var terr *transport.Error
	return errors.As(err, &terr) && (terr.StatusCode == http.StatusUnauthorized || terr.StatusCode == http.StatusForbidden)
}

// authenticators returns the credentials matching r's registry, most
// specific server first, or anonymous when none match.
func authenticators(r name.Reference, auth []runtime.RegistryAuth) []authn.Authenticator {
	type match struct {
		score int
		a     authn.Authenticator
	}
	var ms []match
	for _, ra := range auth {
		score, ok := serverMatches(ra.Server, r.Context())
		if !ok {
			continue
		}
		cfg := authn.AuthConfig{Username: ra.Username, Password: ra.Password, IdentityToken: ra.IdentityToken}
		if cfg.Username == "" && ra.Auth != "" {
			if dec, err := base64.StdEncoding.DecodeString(ra.Auth); err == nil {
				cfg.Username, cfg.Password, _ = strings.Cut(string(dec), ":")
			}
		}
		ms = append(ms, match{score, authn.FromConfig(cfg)})
	}
	sort.SliceStable(ms, func(i, j int) bool { return ms[i].score > ms[j].score })
	out := make([]authn.Authenticator, 0, len(ms)+1)
	for _, m := range ms {
		out = append(out, m.a)
	}
	if len(out) == 0 {
		out = append(out, authn.Anonymous)
	}
	return out
}

// serverMatches tells whether a .dockerconfigjson server key (host[:port],
// optionally with a scheme, a path prefix or a leading "*." wildcard label)
// covers repo, and how specifically (longer is more specific), following the
// kubelet's credential keyring.
func serverMatches(server string, repo name.Repository) (int, bool) {
	s := server
	if i := strings.Index(s, "://"); i >= 0 {
		s = s[i+3:]
	}
	s = strings.TrimSuffix(s, "/")
	s = strings.TrimSuffix(s, "/v1")
	s = strings.TrimSuffix(s, "/v2")
	host, prefix, _ := strings.Cut(s, "/")
	if host == "" {
		return 0, false
	}
	regHost := repo.RegistryStr()
	if isDockerHub(host) {
		host = name.DefaultRegistry
	}
	if wild, ok := strings.CutPrefix(host, "*."); ok {
		h := regHost
		if i := strings.Index(h, "."); i < 0 || h[i+1:] != wild {
			return 0, false
		}
	} else if host != regHost {
		return 0, false
	}
	if prefix != "" {
		rp := repo.RepositoryStr()
		if rp != prefix && !strings.HasPrefix(rp, prefix+"/") {
			return 0, false
		}
	}
	return len(s), true
}

func isDockerHub(host string) bool {
	switch host {
	case "docker.io", "index.docker.io", "registry-1.docker.io":
		return true
	}
	return false
}

// registryAccess decides how registries are reached: loopback ones and those
// listed as insecure over plain HTTP (or TLS without verification), every
// other one over verified TLS only, as Docker does.
type registryAccess struct {
	hosts     map[string]bool // "host" or "host:port"
	nets      []*net.IPNet
	transport http.RoundTripper
}

func newRegistryAccess(insecure []string) (*registryAccess, error) {
	ra := &registryAccess{hosts: map[string]bool{}}
	for _, e := range insecure {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		if _, n, err := net.ParseCIDR(e); err == nil {
			ra.nets = append(ra.nets, n)
			continue
		}
		if strings.ContainsAny(e, "/ ") {
			return nil, fmt.Errorf("image: insecure registry %q: want host, host:port or CIDR", e)
		}
		ra.hosts[e] = true
	}
	secure := http.DefaultTransport.(*http.Transport).Clone()
	lax := secure.Clone()
	lax.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // only for registries configured insecure
	ra.transport = &accessTransport{access: ra, secure: secure, insecure: lax}
	return ra, nil
}

// insecure reports whether the registry host[:port] may use plain HTTP.
func (ra *registryAccess) insecure(hostport string) bool {
	if ra.hosts[hostport] {
		return true
	}
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if ra.hosts[host] || host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return false
	}
	if ip.IsLoopback() {
		return true
	}
	for _, n := range ra.nets {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

// accessTransport enforces registryAccess on every request, including the
// plain-HTTP fallback go-containerregistry tries for private addresses.
type accessTransport struct {
	access           *registryAccess
	secure, insecure http.RoundTripper
}

func (t *accessTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.access.insecure(req.URL.Host) {
		return t.insecure.RoundTrip(req)
	}
	if req.URL.Scheme != "https" {
		return nil, fmt.Errorf("image: refusing plain HTTP to %s: not a loopback registry and not in insecure registries", req.URL.Host)
	}
	return t.secure.RoundTrip(req)
}
