package logs

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"syscall"
	"time"
)

// ReadOptions select what ReadLogs writes, as `kubectl logs` asks.
type ReadOptions struct {
	// Follow keeps reading as the file grows and across rotations until
	// ctx is done or, when Running is set, the container has stopped.
	Follow bool
	// TailLines keeps only the last n lines; nil means all.
	TailLines *int64
	// LimitBytes stops after that many bytes of output; nil means no limit.
	LimitBytes *int64
	// Since skips entries older than it.
	Since time.Time
	// Timestamps prefixes each entry with its RFC 3339 time.
	Timestamps bool
	// Running reports whether the writer may still append; following
	// ends at the end of the file once it returns false.
	Running func() bool
	// PollInterval is how often a followed file is checked; 100ms if 0.
	PollInterval time.Duration
}

// errLimit stops reading once LimitBytes have been written.
var errLimit = errors.New("logs: byte limit reached")

// ReadLogs writes the log at path (its rotated files first) to w. Malformed
// lines are skipped, as the kubelet does.
func ReadLogs(ctx context.Context, path string, opts ReadOptions, w io.Writer) error {
	if opts.PollInterval <= 0 {
		opts.PollInterval = 100 * time.Millisecond
	}
	out := &output{w: w, opts: opts}
	if opts.LimitBytes != nil {
		if *opts.LimitBytes <= 0 {
			return nil
		}
		out.left = *opts.LimitBytes
	}
	rotated, err := RotatedFiles(path)
	if err != nil {
		return err
	}
	var tail *tailBuffer
	if opts.TailLines != nil {
		if *opts.TailLines < 0 {
			return errors.New("logs: negative tail lines")
		}
		tail = &tailBuffer{max: int(*opts.TailLines)}
	}
	emit := out.write
	if tail != nil {
		emit = func(e Entry) error {
			if out.keep(e) {
				tail.add(e)
			}
			return nil
		}
	}
	for _, p := range rotated {
		if err := readFile(p, emit); err != nil && !errors.Is(err, os.ErrNotExist) {
			return out.result(err)
		}
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer func() { f.Close() }()
	lr := &lineReader{r: f}
	if err := lr.each(emit); err != nil {
		return out.result(err)
	}
	if tail != nil {
		if err := tail.flush(out.write); err != nil {
			return out.result(err)
		}
	}
	if !opts.Follow {
		return nil
	}
	t := time.NewTicker(opts.PollInterval)
	defer t.Stop()
	for {
		// Look whether it still runs before reading, so that nothing
		// written before it stopped is missed.
		stopped := opts.Running != nil && !opts.Running()
		if err := lr.each(out.write); err != nil {
			return out.result(err)
		}
		if rotatedAway(f, path) {
			nf, err := os.Open(path)
			if err == nil {
				// Finish the old file, then go on with the new one.
				if err := lr.each(out.write); err != nil {
					return out.result(err)
				}
				f.Close()
				f = nf
				lr = &lineReader{r: f}
				continue
			}
		}
		if stopped {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// rotatedAway reports whether path now names another file than f.
func rotatedAway(f *os.File, path string) bool {
	a, err := f.Stat()
	if err != nil {
		return false
	}
	b, err := os.Stat(path)
	if err != nil {
		return false
	}
	as, ok1 := a.Sys().(*syscall.Stat_t)
	bs, ok2 := b.Sys().(*syscall.Stat_t)
	return ok1 && ok2 && (as.Ino != bs.Ino || as.Dev != bs.Dev)
}

func readFile(path string, emit func(Entry) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return (&lineReader{r: f}).each(emit)
}

// lineReader yields complete lines of a growing file; a line still being
// written (no newline yet) is kept until its end arrives.
type lineReader struct {
	r       io.Reader
	pending []byte
	buf     [32 << 10]byte
}

// each calls emit for every parseable entry up to the current end of file.
func (lr *lineReader) each(emit func(Entry) error) error {
	for {
		n, err := lr.r.Read(lr.buf[:])
		if n > 0 {
			lr.pending = append(lr.pending, lr.buf[:n]...)
			for {
				i := bytes.IndexByte(lr.pending, '\n')
				if i < 0 {
					break
				}
				line := lr.pending[:i]
				if e, perr := ParseLine(line); perr == nil {
					// The entry outlives pending's next append.
					e.Message = bytes.Clone(e.Message)
					if err := emit(e); err != nil {
						return err
					}
				}
				lr.pending = lr.pending[i+1:]
			}
			// Reuse the buffer's front instead of growing forever.
			lr.pending = append(lr.pending[:0:0], lr.pending...)
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// tailBuffer keeps the entries of the last max lines; a line is a run of
// partial entries ended by a full one.
type tailBuffer struct {
	max   int
	lines [][]Entry
	open  []Entry
}

func (t *tailBuffer) add(e Entry) {
	t.open = append(t.open, e)
	if e.Partial {
		return
	}
	t.lines = append(t.lines, t.open)
	t.open = nil
	if len(t.lines) > t.max {
		t.lines = t.lines[len(t.lines)-t.max:]
	}
}

func (t *tailBuffer) flush(emit func(Entry) error) error {
	for _, l := range t.lines {
		for _, e := range l {
			if err := emit(e); err != nil {
				return err
			}
		}
	}
	if t.max > 0 || len(t.lines) > 0 {
		for _, e := range t.open {
			if err := emit(e); err != nil {
				return err
			}
		}
	}
	return nil
}

// output formats entries the way `kubectl logs` shows them.
type output struct {
	w    io.Writer
	opts ReadOptions
	left int64 // bytes left under LimitBytes
	buf  []byte
}

// keep applies Since.
func (o *output) keep(e Entry) bool {
	return o.opts.Since.IsZero() || !e.Time.Before(o.opts.Since)
}

func (o *output) write(e Entry) error {
	if !o.keep(e) {
		return nil
	}
	o.buf = o.buf[:0]
	if o.opts.Timestamps {
		o.buf = e.Time.UTC().AppendFormat(o.buf, timeFormat)
		o.buf = append(o.buf, ' ')
	}
	o.buf = append(o.buf, e.Message...)
	if !e.Partial {
		o.buf = append(o.buf, '\n')
	}
	b := o.buf
	limited := false
	if o.opts.LimitBytes != nil && int64(len(b)) >= o.left {
		b, limited = b[:o.left], true
	}
	if _, err := o.w.Write(b); err != nil {
		return err
	}
	if limited {
		return errLimit
	}
	o.left -= int64(len(b))
	return nil
}

// result turns the byte-limit stop into success.
func (o *output) result(err error) error {
	if errors.Is(err, errLimit) {
		return nil
	}
	return err
}
