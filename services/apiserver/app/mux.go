package app

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/pprof"
	"sort"
	"strings"

	"drover.dev/apiserver/internal/endpoints"
	"drover.dev/apiserver/internal/registry"
)

type muxConfig struct {
	reg         *registry.Registry
	api         *endpoints.API
	discovery   *endpoints.Discovery
	openapi     http.Handler
	metrics     http.Handler
	readyChecks map[string]func() error
	profiling   bool
}

// newMux routes the non-resource paths (health, version, metrics, OpenAPI,
// discovery documents) and hands everything else to the resource API.
func newMux(c muxConfig) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		switch {
		case p == "/healthz" || p == "/livez" || strings.HasPrefix(p, "/healthz/") || strings.HasPrefix(p, "/livez/"):
			writeHealth(w, r, nil)
			return
		case p == "/readyz" || strings.HasPrefix(p, "/readyz/"):
			writeHealth(w, r, c.readyChecks)
			return
		case p == "/version" || p == "/version/":
			w.Header().Set("Content-Type", "application/json")
			enc := json.NewEncoder(w)
			enc.SetIndent("", "  ")
			_ = enc.Encode(Version)
			return
		case c.profiling && strings.HasPrefix(p, "/debug/pprof"):
			servePprof(w, r)
			return
		case p == "/metrics":
			c.metrics.ServeHTTP(w, r)
			return
		case p == "/openapi/v2" || p == "/openapi/v3" || strings.HasPrefix(p, "/openapi/v3/"):
			c.openapi.ServeHTTP(w, r)
			return
		case p == "/":
			w.Header().Set("Content-Type", "application/json")
			paths := []string{"/api", "/api/v1", "/apis", "/healthz", "/livez", "/metrics", "/openapi/v2", "/openapi/v3", "/readyz", "/version"}
			for _, gv := range c.reg.GroupVersions() {
				if gv.Group != "" {
					paths = append(paths, "/apis/"+gv.Group, "/apis/"+gv.String())
				}
			}
			sort.Strings(paths)
			_ = json.NewEncoder(w).Encode(map[string][]string{"paths": paths})
			return
		}
		if r.Method == http.MethodGet && c.discovery.ServeHTTP(w, r) {
			return
		}
		c.api.ServeHTTP(w, r)
	})
}

// writeHealth answers like kube-apiserver: "ok", or the failing checks with
// 500; ?verbose lists every check.
func writeHealth(w http.ResponseWriter, r *http.Request, checks map[string]func() error) {
	names := make([]string, 0, len(checks))
	for n := range checks {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	failed := false
	for _, n := range names {
		if err := checks[n](); err != nil {
			failed = true
			fmt.Fprintf(&b, "[-]%s failed: %v\n", n, err)
		} else {
			fmt.Fprintf(&b, "[+]%s ok\n", n)
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if failed {
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte(b.String() + "healthz check failed\n"))
		return
	}
	if _, verbose := r.URL.Query()["verbose"]; verbose {
		_, _ = w.Write([]byte(b.String() + "healthz check passed\n"))
		return
	}
	_, _ = w.Write([]byte("ok"))
}

func servePprof(w http.ResponseWriter, r *http.Request) {
	switch strings.TrimPrefix(r.URL.Path, "/debug/pprof/") {
	case "cmdline":
		pprof.Cmdline(w, r)
	case "profile":
		pprof.Profile(w, r)
	case "symbol":
		pprof.Symbol(w, r)
	case "trace":
		pprof.Trace(w, r)
	default:
		pprof.Index(w, r)
	}
}
