// Package logs writes and reads container logs in the CRI log format, the
// on-disk layout Kubernetes' kubelet and containerd share:
//
//	2016-10-06T00:17:09.669794202Z stdout F a full line
//	2016-10-06T00:17:09.669794202Z stderr P a chunk of a longer line
//
// The writer splits a stream into lines (long lines into partial "P" chunks
// ended by a full "F" entry) and rotates the file by size; the reader serves
// `kubectl logs` options: follow, tail, since, limitBytes and timestamps.
package logs

import (
	"bytes"
	"errors"
	"fmt"
	"time"
)

// Stream names a container output stream.
type Stream string

const (
	Stdout Stream = "stdout"
	Stderr Stream = "stderr"
)

// Tags of the third field: a full line, or a chunk of a longer line.
const (
	tagFull    = "F"
	tagPartial = "P"
)

// timeFormat is what the kubelet and containerd write (RFC 3339, UTC, ns).
const timeFormat = time.RFC3339Nano

// ErrBadLine means a line does not follow the CRI log format.
var ErrBadLine = errors.New("logs: malformed CRI log line")

// Entry is one line of a CRI log file.
type Entry struct {
	Time   time.Time
	Stream Stream
	// Partial marks a chunk of a line that continues in the next entry.
	Partial bool
	// Message excludes the trailing newline.
	Message []byte
}

// ParseLine parses one CRI log line (with or without its trailing newline).
// The returned Message aliases line.
func ParseLine(line []byte) (Entry, error) {
	line = bytes.TrimSuffix(line, []byte{'\n'})
	var e Entry
	ts, rest, ok := bytes.Cut(line, []byte{' '})
	if !ok {
		return e, fmt.Errorf("%w: no timestamp", ErrBadLine)
	}
	t, err := time.Parse(timeFormat, string(ts))
	if err != nil {
		return e, fmt.Errorf("%w: %v", ErrBadLine, err)
	}
	stream, rest, ok := bytes.Cut(rest, []byte{' '})
	if !ok {
		return e, fmt.Errorf("%w: no stream", ErrBadLine)
	}
	switch s := Stream(stream); s {
	case Stdout, Stderr:
		e.Stream = s
	default:
		return e, fmt.Errorf("%w: unknown stream %q", ErrBadLine, stream)
	}
	tag, msg, ok := bytes.Cut(rest, []byte{' '})
	if !ok {
		// "ts stream F" with an empty message has no trailing space in
		// some writers; accept it.
		tag, msg = rest, nil
	}
	// The tag field may carry more ":"-separated flags in the future; only
	// the first one is defined.
	tag, _, _ = bytes.Cut(tag, []byte{':'})
	switch string(tag) {
	case tagFull:
	case tagPartial:
		e.Partial = true
	default:
		return e, fmt.Errorf("%w: unknown tag %q", ErrBadLine, tag)
	}
	e.Time = t
	e.Message = msg
	return e, nil
}

// appendEntry formats e as one CRI log line with its newline.
func appendEntry(b []byte, e Entry) []byte {
	b = e.Time.UTC().AppendFormat(b, timeFormat)
	b = append(b, ' ')
	b = append(b, e.Stream...)
	if e.Partial {
		b = append(b, " "+tagPartial+" "...)
	} else {
		b = append(b, " "+tagFull+" "...)
	}
	b = append(b, e.Message...)
	return append(b, '\n')
}
