package supervisor

import "time"

// backoff is the restart delay of one daemon: it doubles after every crash
// up to max, and starts over after a run that lasted at least max, so a daemon
// that crashed once in a while is restarted promptly while a crash loop is
// slowed down.
type backoff struct {
	initial, max time.Duration
	next         time.Duration
}

func newBackoff(initial, max time.Duration) *backoff {
	return &backoff{initial: initial, max: max, next: initial}
}

// delay returns how long to wait before restarting a daemon whose last run
// lasted ranFor.
func (b *backoff) delay(ranFor time.Duration) time.Duration {
	if ranFor >= b.max {
		b.next = b.initial
	}
	d := b.next
	b.next = min(2*b.next, b.max)
	return d
}
