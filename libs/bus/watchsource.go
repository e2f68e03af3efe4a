package bus

import (
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/pflag"
	"go.uber.org/zap"
)

// Watch sources a daemon's informers can follow.
const (
	WatchSourceBus       = "bus"
	WatchSourceAPIServer = "apiserver"
)

// WatchOptions are the flags every daemon but the apiserver shares to
// choose where its informers watch: the bus (default when a NATS URL is
// given) or the apiserver's HTTP watch.
type WatchOptions struct {
	NATSURL     string
	WatchSource string
}

// AddFlags registers --nats-url and --watch-source.
func (o *WatchOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.NATSURL, "nats-url", o.NATSURL, "NATS server URL(s), comma separated; informers then watch through the event bus")
	fs.StringVar(&o.WatchSource, "watch-source", o.WatchSource, "where informers watch: bus or apiserver (default bus when --nats-url is set)")
}

// Validate reports flag errors.
func (o *WatchOptions) Validate() []error {
	switch o.Source() {
	case WatchSourceAPIServer:
	case WatchSourceBus:
		if o.NATSURL == "" {
			return []error{fmt.Errorf("--watch-source=bus needs --nats-url")}
		}
	default:
		return []error{fmt.Errorf("--watch-source: %q is neither bus nor apiserver", o.WatchSource)}
	}
	return nil
}

// Source is the effective watch source.
func (o *WatchOptions) Source() string {
	if o.WatchSource != "" {
		return o.WatchSource
	}
	if o.NATSURL != "" {
		return WatchSourceBus
	}
	return WatchSourceAPIServer
}

// Connect dials NATS when the source is the bus. It returns a nil
// JetStream (and a no-op close) for the apiserver source.
func (o *WatchOptions) Connect(name string, lg *zap.Logger) (jetstream.JetStream, func(), error) {
	if o.Source() != WatchSourceBus {
		return nil, func() {}, nil
	}
	if lg == nil {
		lg = zap.NewNop()
	}
	nc, err := nats.Connect(o.NATSURL,
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			lg.Warn("nats disconnected", zap.Error(err))
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { lg.Info("nats reconnected", zap.String("url", c.ConnectedUrl())) }),
	)
	if err != nil {
		return nil, nil, fmt.Errorf("bus: connect %s: %w", o.NATSURL, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("bus: jetstream: %w", err)
	}
	return js, nc.Close, nil
}
