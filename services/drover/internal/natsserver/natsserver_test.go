package natsserver

import (
	"context"
	"fmt"
	"net"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// A stream written before a restart is still there after it.
func TestStreamsSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t)
	s, err := Start(Config{StoreDir: dir, Port: port})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	publish := func(url string) jetstream.JetStream {
		nc, err := nats.Connect(url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		js, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		return js
	}
	js := publish(s.ClientURL())
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "T", Subjects: []string{"t.>"}, Storage: jetstream.FileStorage}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "t.a", []byte("hello")); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = Start(Config{StoreDir: dir, Port: port})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	js = publish(s.ClientURL())
	st, err := js.Stream(ctx, "T")
	if err != nil {
		t.Fatal(err)
	}
	m, err := st.GetMsg(ctx, 1)
	if err != nil {
		t.Fatalf("after restart: %v", err)
	}
	if string(m.Data) != "hello" {
		t.Fatalf("after restart the message is %q", m.Data)
	}
}

// TestListensOnHost: with nodes in their own network namespaces NATS listens on the
// bridge's host address instead of loopback.
func TestListensOnHost(t *testing.T) {
	port := freePort(t)
	s, err := Start(Config{StoreDir: t.TempDir(), Host: "127.0.0.2", Port: port})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if want := fmt.Sprintf("nats://127.0.0.2:%d", port); s.ClientURL() != want {
		t.Errorf("ClientURL = %q, want %q", s.ClientURL(), want)
	}
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatalf("connect %s: %v", s.ClientURL(), err)
	}
	nc.Close()
	if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
		c.Close()
		t.Errorf("also listens on 127.0.0.1:%d", port)
	}
}
