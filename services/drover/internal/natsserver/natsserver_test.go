package natsserver

import (
	"context"
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
