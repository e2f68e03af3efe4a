package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/miekg/dns"
)

// ErrListen is returned when the UDP and TCP sockets cannot both be bound.
var ErrListen = errors.New("server: listen")

// Server serves DNS over UDP and TCP on one address.
type Server struct {
	// Addr is the bound address (UDP and TCP share the port).
	Addr *net.UDPAddr
	udp  *dns.Server
	tcp  *dns.Server
	errs chan error
}

// Listen binds addr (host:port; port 0 picks one free for both UDP and
// TCP) and starts serving h.
func Listen(addr string, h *Handler) (*Server, error) {
	pc, ln, err := bind(addr)
	if err != nil {
		return nil, err
	}
	s := &Server{
		Addr: pc.LocalAddr().(*net.UDPAddr),
		udp: &dns.Server{PacketConn: pc, Handler: transport{h, true}, UDPSize: 4096,
			ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second},
		tcp: &dns.Server{Listener: ln, Handler: transport{h, false},
			ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second, IdleTimeout: func() time.Duration { return 10 * time.Second }},
		errs: make(chan error, 2),
	}
	started := make(chan struct{}, 2)
	for _, srv := range []*dns.Server{s.udp, s.tcp} {
		srv.NotifyStartedFunc = func() { started <- struct{}{} }
		go func() { s.errs <- srv.ActivateAndServe() }()
	}
	for range 2 {
		select {
		case <-started:
		case err := <-s.errs:
			_ = s.Shutdown(context.Background())
			return nil, fmt.Errorf("%w: %w", ErrListen, err)
		}
	}
	return s, nil
}

// Errors delivers an error if a listener stops by itself.
func (s *Server) Errors() <-chan error { return s.errs }

// Shutdown stops both listeners.
func (s *Server) Shutdown(ctx context.Context) error {
	return errors.Join(s.udp.ShutdownContext(ctx), s.tcp.ShutdownContext(ctx))
}

// bind opens the UDP and TCP sockets on the same port.
func bind(addr string) (net.PacketConn, net.Listener, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %q: %w", ErrListen, addr, err)
	}
	tries := 1
	if port == "0" {
		tries = 20 // the free UDP port may be taken for TCP
	}
	var lastErr error
	for range tries {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: udp %s: %w", ErrListen, addr, err)
		}
		p := pc.LocalAddr().(*net.UDPAddr).Port
		ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(p)))
		if err == nil {
			return pc, ln, nil
		}
		_ = pc.Close()
		lastErr = err
	}
	return nil, nil, fmt.Errorf("%w: tcp %s: %w", ErrListen, addr, lastErr)
}
