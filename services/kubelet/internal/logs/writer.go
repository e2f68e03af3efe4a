package logs

import (
	"bufio"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// Defaults of WriterOptions, those of the kubelet (containerLogMaxSize,
// containerLogMaxFiles) and containerd (max_container_log_line_size).
const (
	DefaultMaxSize     = 10 << 20
	DefaultMaxFiles    = 5
	DefaultMaxLineSize = 16 << 10
)

// rotatedSuffix is appended to a rotated file's name: "<path>.<time>".
const rotatedSuffix = "20060102-150405.000000000"

// WriterOptions tune a Writer; zero values take the defaults.
type WriterOptions struct {
	// MaxSize is the size after which the file is rotated.
	MaxSize int64
	// MaxFiles is how many files are kept, the current one included.
	MaxFiles int
	// MaxLineSize is the longest entry (16 at least); longer lines are
	// split into partial entries.
	MaxLineSize int
	// Now stamps entries; time.Now when nil.
	Now func() time.Time
}

// Writer appends CRI log entries to a file, rotating it by size. It is safe
// for concurrent use, so stdout and stderr can be copied at once.
type Writer struct {
	opts WriterOptions
	path string

	mu   sync.Mutex
	f    *os.File
	size int64
	buf  []byte
}

// NewWriter opens (appending to) the log file at path.
func NewWriter(path string, opts WriterOptions) (*Writer, error) {
	if opts.MaxSize <= 0 {
		opts.MaxSize = DefaultMaxSize
	}
	if opts.MaxFiles <= 0 {
		opts.MaxFiles = DefaultMaxFiles
	}
	if opts.MaxLineSize <= 0 {
		opts.MaxLineSize = DefaultMaxLineSize
	}
	// bufio's smallest buffer.
	opts.MaxLineSize = max(opts.MaxLineSize, 16)
	if opts.Now == nil {
		opts.Now = time.Now
	}
	w := &Writer{opts: opts, path: path}
	if err := w.open(); err != nil {
		return nil, err
	}
	return w, nil
}

func (w *Writer) open() error {
	f, err := os.OpenFile(w.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	w.f, w.size = f, st.Size()
	return nil
}

// Copy reads r until EOF and writes one entry per line, splitting lines
// longer than MaxLineSize into partial entries. A last line without a
// newline is written as a full entry.
func (w *Writer) Copy(stream Stream, r io.Reader) error {
	br := bufio.NewReaderSize(r, w.opts.MaxLineSize)
	for {
		line, err := br.ReadSlice('\n')
		switch {
		case err == nil:
			if werr := w.WriteEntry(Entry{Stream: stream, Message: line[:len(line)-1]}); werr != nil {
				return werr
			}
		case errors.Is(err, bufio.ErrBufferFull):
			if werr := w.WriteEntry(Entry{Stream: stream, Partial: true, Message: line}); werr != nil {
				return werr
			}
		case errors.Is(err, io.EOF):
			if len(line) > 0 {
				return w.WriteEntry(Entry{Stream: stream, Message: line})
			}
			return nil
		default:
			if len(line) > 0 {
				_ = w.WriteEntry(Entry{Stream: stream, Message: line})
			}
			return err
		}
	}
}

// WriteEntry appends e, stamping it with Now when e.Time is zero.
func (w *Writer) WriteEntry(e Entry) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return os.ErrClosed
	}
	if e.Time.IsZero() {
		e.Time = w.opts.Now()
	}
	w.buf = appendEntry(w.buf[:0], e)
	if w.size > 0 && w.size+int64(len(w.buf)) > w.opts.MaxSize {
		if err := w.rotate(); err != nil {
			return err
		}
	}
	n, err := w.f.Write(w.buf)
	w.size += int64(n)
	return err
}

// rotate renames the current file aside, drops the oldest rotated files
// beyond MaxFiles and starts a new file.
func (w *Writer) rotate() error {
	if err := w.f.Close(); err != nil {
		return err
	}
	w.f = nil
	rotated := w.path + "." + w.opts.Now().UTC().Format(rotatedSuffix)
	if err := os.Rename(w.path, rotated); err != nil {
		return err
	}
	old, err := RotatedFiles(w.path)
	if err != nil {
		return err
	}
	for len(old) > w.opts.MaxFiles-1 {
		if err := os.Remove(old[0]); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		old = old[1:]
	}
	return w.open()
}

// Close closes the file.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	return err
}

// RotatedFiles lists the rotated files of the log at path, oldest first.
func RotatedFiles(path string) ([]string, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		name := e.Name()
		suffix, ok := strings.CutPrefix(name, base+".")
		if !ok || len(suffix) != len(rotatedSuffix) {
			continue
		}
		if _, err := time.Parse(rotatedSuffix, suffix); err != nil {
			continue
		}
		out = append(out, filepath.Join(dir, name))
	}
	// The suffix sorts in time order.
	sort.Strings(out)
	return out, nil
}
