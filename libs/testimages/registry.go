package testimages

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// RegistryOption configures StartRegistry.
type RegistryOption func(*registryConfig)

type registryConfig struct {
	user, pass string
	logger     *log.Logger
}

// WithBasicAuth makes the registry answer 401 with a Basic challenge unless
// requests carry user:pass, like a private registry behind htpasswd.
func WithBasicAuth(user, pass string) RegistryOption {
	return func(c *registryConfig) { c.user, c.pass = user, pass }
}

// WithRequestLog logs every request the registry serves to l (default: none).
func WithRequestLog(l *log.Logger) RegistryOption {
	return func(c *registryConfig) { c.logger = l }
}

// StartRegistry serves go-containerregistry's in-memory registry over plain
// HTTP on a free 127.0.0.1 port. addr is "127.0.0.1:port", usable as the
// registry part of a reference ("127.0.0.1:port/busybox:1"). stop shuts it
// down; the registry also stops when ctx is done.
func StartRegistry(ctx context.Context, opts ...RegistryOption) (addr string, stop func(), err error) {
	cfg := registryConfig{logger: log.New(io.Discard, "", 0)}
	for _, o := range opts {
		o(&cfg)
	}
	var h http.Handler = registry.New(registry.Logger(cfg.logger))
	if cfg.user != "" {
		h = basicAuth(h, cfg.user, cfg.pass)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, fmt.Errorf("testimages: registry listen: %w", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			cfg.logger.Printf("registry: %v", err)
		}
	}()
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		<-ctx.Done()
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		_ = srv.Shutdown(sctx)
	}()
	stop = func() {
		cancel()
		<-done
	}
	return ln.Addr().String(), stop, nil
}

func basicAuth(next http.Handler, user, pass string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || subtle.ConstantTimeCompare([]byte(u), []byte(user)) != 1 ||
			subtle.ConstantTimeCompare([]byte(p), []byte(pass)) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="drover-test-registry"`)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Push uploads img as ref ("127.0.0.1:port/repo:tag"). Registries on
// loopback are reached over plain HTTP. auth may be nil (anonymous).
func Push(ctx context.Context, ref string, img v1.Image, auth ...authn.Authenticator) error {
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		return fmt.Errorf("testimages: push %q: %w", ref, err)
	}
	if !isLoopback(r.Context().RegistryStr()) {
		return fmt.Errorf("testimages: push %q: only loopback registries are supported", ref)
	}
	opts := []remote.Option{remote.WithContext(ctx)}
	if len(auth) > 0 && auth[0] != nil {
		opts = append(opts, remote.WithAuth(auth[0]))
	}
	if err := remote.Write(r, img, opts...); err != nil {
		return fmt.Errorf("testimages: push %q: %w", ref, err)
	}
	return nil
}

// isLoopback reports whether a registry host[:port] is on a loopback address.
func isLoopback(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
