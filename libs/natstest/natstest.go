// Package natstest runs a real NATS server with JetStream in-process for
// tests, on a free loopback port with its store in a temporary directory.
package natstest

import (
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Server is a running NATS server.
type Server struct {
	*server.Server
	dir string
}

// Start starts NATS with JetStream and stops it when the test ends.
func Start(tb testing.TB) *Server {
	tb.Helper()
	s := &Server{dir: tb.TempDir()}
	s.start(tb, -1)
	tb.Cleanup(s.Shutdown)
	return s
}

func (s *Server) start(tb testing.TB, port int) {
	tb.Helper()
	opts := &server.Options{Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: s.dir, NoLog: true, NoSigs: true, MaxPayload: 8 << 20}
	srv, err := server.NewServer(opts)
	if err != nil {
		tb.Fatalf("natstest: %v", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		tb.Fatal("natstest: server not ready")
	}
	s.Server = srv
}

// Restart stops the server and starts it again on the same port with the
// same store, as a NATS restart in production would.
func (s *Server) Restart(tb testing.TB) {
	tb.Helper()
	p := s.Server.Addr()
	s.Shutdown()
	s.WaitForShutdown()
	s.start(tb, portOf(p.String()))
}

// JetStream connects a client with opts, closed when the test ends.
func (s *Server) JetStream(tb testing.TB, opts ...nats.Option) (*nats.Conn, jetstream.JetStream) {
	tb.Helper()
	nc, err := nats.Connect(s.ClientURL(), opts...)
	if err != nil {
		tb.Fatalf("natstest: %v", err)
	}
	tb.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatalf("natstest: %v", err)
	}
	return nc, js
}
