// Package server is the kubelet's HTTPS API: container logs (what the
// apiserver proxies for `kubectl logs`), the pods the kubelet runs, and a
// health check. Clients must present a certificate signed by the client CA
// (the apiserver's kubelet client certificate), unless anonymous access
// was asked for.
package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"drover.dev/kubelet/internal/runtime"
)

// Pods is what the server needs from the kubelet.
type Pods interface {
	// Running lists the pods the kubelet runs.
	Running() []*v1.Pod
}

// Options configure the server.
type Options struct {
	Addr         string
	Cert         tls.Certificate
	ClientCAFile string
	// Anonymous allows requests without a client certificate.
	Anonymous bool
	Runtime   runtime.Runtime
	Logger    *zap.Logger
}

// Server is a running kubelet API.
type Server struct {
	Addr   net.Addr
	srv    *http.Server
	o      Options
	source atomic.Pointer[Pods]
}

// SetPods sets where the pods come from (the pod manager, created after
// the server because the Node must advertise the server's port first).
func (s *Server) SetPods(p Pods) { s.source.Store(&p) }

func (s *Server) running() []*v1.Pod {
	if p := s.source.Load(); p != nil {
		return (*p).Running()
	}
	return nil
}

// Start listens and serves in the background.
func Start(o Options) (*Server, error) {
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	tc := &tls.Config{Certificates: []tls.Certificate{o.Cert}, MinVersion: tls.VersionTLS12}
	switch {
	case o.ClientCAFile != "":
		pem, err := os.ReadFile(o.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("server: client CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("server: client CA %s holds no certificate", o.ClientCAFile)
		}
		tc.ClientCAs = pool
		tc.ClientAuth = tls.VerifyClientCertIfGiven
	case !o.Anonymous:
		o.Logger.Warn("no --client-ca-file and no --anonymous-auth: the kubelet API answers only /healthz")
	}
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return nil, fmt.Errorf("server: listen: %w", err)
	}
	s := &Server{Addr: ln.Addr(), o: o}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	mux.Handle("GET /pods", s.authn(http.HandlerFunc(s.pods)))
	mux.Handle("GET /containerLogs/{namespace}/{pod}/{container}", s.authn(http.HandlerFunc(s.logs)))
	s.srv = &http.Server{Handler: mux, TLSConfig: tc, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := s.srv.Serve(tls.NewListener(ln, tc)); err != nil && !errors.Is(err, http.ErrServerClosed) {
			o.Logger.Error("kubelet api stopped", zap.Error(err))
		}
	}()
	return s, nil
}

// Close stops the server.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return s.srv.Shutdown(ctx)
}

func (s *Server) authn(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		verified := r.TLS != nil && len(r.TLS.VerifiedChains) > 0
		if !verified && !s.o.Anonymous {
			writeStatus(w, apierrors.NewUnauthorized("a client certificate signed by the kubelet's client CA is required"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func writeStatus(w http.ResponseWriter, err *apierrors.StatusError) {
	st := err.Status()
	st.Kind, st.APIVersion = "Status", "v1"
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(int(st.Code))
	_ = json.NewEncoder(w).Encode(st)
}

func (s *Server) pods(w http.ResponseWriter, _ *http.Request) {
	list := v1.PodList{TypeMeta: metav1.TypeMeta{Kind: "PodList", APIVersion: "v1"}}
	for _, p := range s.running() {
		list.Items = append(list.Items, *p)
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(list)
}

// logs serves /containerLogs/{ns}/{pod}/{container} with the query
// parameters of PodLogOptions.
func (s *Server) logs(w http.ResponseWriter, r *http.Request) {
	ns, name, cname := r.PathValue("namespace"), r.PathValue("pod"), r.PathValue("container")
	var pod *v1.Pod
	for _, p := range s.running() {
		if p.Namespace == ns && p.Name == name {
			pod = p
		}
	}
	if pod == nil {
		writeStatus(w, apierrors.NewNotFound(v1.Resource("pods"), name))
		return
	}
	opts, err := logOptions(r)
	if err != nil {
		writeStatus(w, apierrors.NewBadRequest(err.Error()))
		return
	}
	previous, _ := strconv.ParseBool(r.URL.Query().Get("previous"))
	id, err := s.findContainer(r.Context(), pod, cname, previous)
	if err != nil {
		writeStatus(w, apierrors.NewBadRequest(err.Error()))
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	fw := &flushWriter{w: w}
	if f, ok := w.(http.Flusher); ok {
		fw.f = f
	}
	if err := s.o.Runtime.ContainerLogs(r.Context(), id, opts, fw); err != nil && r.Context().Err() == nil {
		s.o.Logger.Debug("log stream ended", zap.String("container", id), zap.Error(err))
	}
}

// findContainer picks the container's newest instance, or the one before
// it for previous=true.
func (s *Server) findContainer(ctx context.Context, pod *v1.Pod, name string, previous bool) (string, error) {
	sbs, err := s.o.Runtime.ListPodSandboxes(ctx)
	if err != nil {
		return "", err
	}
	var instances []*runtime.ContainerStatus
	for _, sb := range sbs {
		if sb.PodUID != string(pod.UID) {
			continue
		}
		cs, err := s.o.Runtime.ListContainers(ctx, sb.ID)
		if err != nil {
			return "", err
		}
		for _, c := range cs {
			if c.Name == name {
				instances = append(instances, c)
			}
		}
	}
	var latest, prev *runtime.ContainerStatus
	for _, c := range instances {
		switch {
		case latest == nil || c.Attempt > latest.Attempt:
			prev, latest = latest, c
		case prev == nil || c.Attempt > prev.Attempt:
			prev = c
		}
	}
	if previous {
		if prev == nil {
			return "", fmt.Errorf("previous terminated container %q in pod %q not found", name, pod.Name)
		}
		return prev.ID, nil
	}
	if latest == nil {
		return "", fmt.Errorf("container %q in pod %q is waiting to start", name, pod.Name)
	}
	return latest.ID, nil
}

func logOptions(r *http.Request) (runtime.LogOptions, error) {
	q := r.URL.Query()
	var o runtime.LogOptions
	var err error
	if v := q.Get("follow"); v != "" {
		if o.Follow, err = strconv.ParseBool(v); err != nil {
			return o, fmt.Errorf("follow: %w", err)
		}
	}
	if v := q.Get("timestamps"); v != "" {
		if o.Timestamps, err = strconv.ParseBool(v); err != nil {
			return o, fmt.Errorf("timestamps: %w", err)
		}
	}
	for _, p := range []struct {
		name string
		dst  **int64
	}{{"tailLines", &o.TailLines}, {"limitBytes", &o.LimitBytes}} {
		if v := q.Get(p.name); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				return o, fmt.Errorf("%s must be a non-negative integer", p.name)
			}
			*p.dst = &n
		}
	}
	if v := q.Get("sinceSeconds"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			return o, fmt.Errorf("sinceSeconds must be a positive integer")
		}
		o.Since = time.Now().Add(-time.Duration(n) * time.Second)
	}
	if v := q.Get("sinceTime"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return o, fmt.Errorf("sinceTime: %w", err)
		}
		o.Since = t
	}
	return o, nil
}

// flushWriter flushes after every write so that follow streams promptly.
type flushWriter struct {
	w http.ResponseWriter
	f http.Flusher
}

func (fw *flushWriter) Write(p []byte) (int, error) {
	n, err := fw.w.Write(p)
	if fw.f != nil {
		fw.f.Flush()
	}
	return n, err
}
