package supervisor

import (
	"bytes"
	"io"
	"sync"
)

// maxLine bounds how much of a line without a newline is buffered; a longer
// run of bytes is passed on as a line of its own.
const maxLine = 64 << 10

// lineSink receives the complete lines of one daemon's output stream.
type lineSink struct {
	// mu is shared by every sink of a supervisor so that lines of different
	// daemons, and of stdout and stderr, never interleave within a line.
	mu     *sync.Mutex
	prefix []byte
	out    io.Writer // drover's own output; each line gets prefix
	file   io.Writer // the daemon's log file; lines as the daemon wrote them
}

func (s *lineSink) writeLine(line []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.out != nil {
		buf := make([]byte, 0, len(s.prefix)+len(line))
		buf = append(append(buf, s.prefix...), line...)
		s.out.Write(buf) //nolint:errcheck // a closed terminal must not stop the daemon
	}
	if s.file != nil {
		s.file.Write(line) //nolint:errcheck // same: logging is best effort
	}
}

// lineWriter splits a byte stream into lines for a lineSink. It is the
// Stdout or Stderr of an exec.Cmd, so Write is called from one goroutine.
type lineWriter struct {
	sink *lineSink
	buf  []byte
}

func (w *lineWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			w.buf = append(w.buf, p...)
			if len(w.buf) >= maxLine {
				w.flush()
			}
			break
		}
		line := p[:i+1]
		p = p[i+1:]
		if len(w.buf) > 0 {
			w.buf = append(w.buf, line...)
			w.sink.writeLine(w.buf)
			w.buf = w.buf[:0]
			continue
		}
		w.sink.writeLine(line)
	}
	return n, nil
}

// flush passes on a last line that did not end in a newline, ending it.
func (w *lineWriter) flush() {
	if len(w.buf) == 0 {
		return
	}
	w.sink.writeLine(append(w.buf, '\n'))
	w.buf = w.buf[:0]
}
