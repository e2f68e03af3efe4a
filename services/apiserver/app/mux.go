package app

import (
	"encoding/json"
	"net/http"
	"net/http/pprof"
	"sort"
	"strings"

	"drover.dev/apiserver/internal/endpoints"
	"drover.dev/apiserver/internal/registry"
	"drover.dev/libs/component"
)

type muxConfig struct {
	reg         *registry.Registry
	api         *endpoints.API
	discovery   *endpoints.Discovery
	openapi     http.Handler
	metrics     http.Handler
	readyChecks component.Checks
	profiling   bool
}

// newMux routes the non-resource paths (health, version, metrics, OpenAPI,
// discovery documents) and hands everything else to the resource API.
func newMux(c muxConfig) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		switch {
		case p == "/healthz" || strings.HasPrefix(p, "/healthz/"):
			component.HealthHandler("healthz", nil)(w, r)
			return
		case p == "/livez" || strings.HasPrefix(p, "/livez/"):
			component.HealthHandler("livez", nil)(w, r)
			return
		case p == "/readyz" || strings.HasPrefix(p, "/readyz/"):
			component.HealthHandler("readyz", c.readyChecks)(w, r)
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
