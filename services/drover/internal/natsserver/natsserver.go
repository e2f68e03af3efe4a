// Package natsserver runs the embedded NATS server with JetStream that
// `drover up` starts unless an external NATS is given: the event bus.
package natsserver

import (
	"fmt"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"go.uber.org/zap"
)

// Config says where the server keeps its streams and where it listens.
type Config struct {
	StoreDir string
	// Host is the address to listen on; 127.0.0.1 when empty.
	Host   string
	Port   int
	Logger *zap.Logger
}

// Server is a running embedded NATS server.
type Server struct {
	srv *server.Server
}

// Start starts NATS with JetStream on cfg.Host and waits until it accepts
// connections. The store survives restarts, so streams resume.
func Start(cfg Config) (*Server, error) {
	host := cfg.Host
	if host == "" {
		host = "127.0.0.1"
	}
	opts := &server.Options{
		ServerName: "drover",
		Host:       host,
		Port:       cfg.Port,
		JetStream:  true,
		StoreDir:   cfg.StoreDir,
		NoSigs:     true,
		NoLog:      true,
		// A small machine: cap what JetStream may take.
		JetStreamMaxMemory: 256 << 20,
		JetStreamMaxStore:  4 << 30,
		// An envelope carries an object and its previous state; objects are
		// bounded by etcd's request limit (1.5 MiB by default).
		MaxPayload: 8 << 20,
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("natsserver: %w", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		srv.Shutdown()
		return nil, fmt.Errorf("natsserver: not ready on port %d", cfg.Port)
	}
	return &Server{srv: srv}, nil
}

// ClientURL is the URL daemons connect to.
func (s *Server) ClientURL() string { return s.srv.ClientURL() }

// Close stops the server and waits for it.
func (s *Server) Close() {
	s.srv.Shutdown()
	s.srv.WaitForShutdown()
}
