package etcd

import (
	"sync/atomic"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// expectedWarnings are what etcd warns about on every start in the way drover
// runs it: HTTP and gRPC share the one loopback port, and auth (hence token
// signing) is off. Logged at debug, they no longer look like a problem.
var expectedWarnings = map[string]bool{
	"Running http and grpc server on single port. This is not recommended for production.": true,
	"simple token is not cryptographically signed":                                         true,
}

// quietCore demotes etcd's expected warnings to debug, and while the server
// closes, its complaints about closed listeners to info.
type quietCore struct {
	zapcore.Core
	closing *atomic.Bool
}

func (c quietCore) With(fields []zapcore.Field) zapcore.Core {
	return quietCore{Core: c.Core.With(fields), closing: c.closing}
}

func (c quietCore) Check(ent zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	switch {
	case expectedWarnings[ent.Message]:
		ent.Level = zapcore.DebugLevel
	case c.closing.Load() && ent.Level > zapcore.InfoLevel && ent.Level < zapcore.DPanicLevel:
		ent.Level = zapcore.InfoLevel
	}
	return c.Core.Check(ent, ce)
}

func quietLogger(lg *zap.Logger, closing *atomic.Bool) *zap.Logger {
	return lg.WithOptions(zap.WrapCore(func(core zapcore.Core) zapcore.Core {
		return quietCore{Core: core, closing: closing}
	}))
}
