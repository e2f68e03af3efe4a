package runc

import (
	"errors"
	"maps"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"drover.dev/kubelet/internal/keylock"
	"drover.dev/kubelet/internal/runtime"
)

// The runtime keeps what it knows of each sandbox and container in memory,
// so that the kubelet's once-a-second relist and every pod sync cost map
// look-ups instead of reading and parsing JSON and probing processes.
// The files stay the truth: New loads them, every change is written before
// it is cached, and dirs that appear or vanish behind this process's back
// are picked up when everything is listed.
//
// A container that is created or running is watched through a pidfd of its
// init process: while the pidfd is not readable the process lives and the
// cached state holds; once it is (or when there is no pidfd), status falls
// back to the full probe of exit.json, libcontainer's state and the shim.
// An exited container's status never changes again and is kept as is.

// sandboxEntry is a cached sandbox.
type sandboxEntry struct {
	meta  *sandboxMeta
	ready bool
}

// containerEntry is a cached container; mu guards all but meta, which never
// changes.
type containerEntry struct {
	meta *containerMeta

	mu      sync.Mutex
	started time.Time
	// exited is the final status once known.
	exited *runtime.ContainerStatus
	// live is ContainerCreated or ContainerRunning while pidfd says the init
	// process has not exited; "" when unknown.
	live  runtime.ContainerState
	pidfd int
	pid   int // of the init process, when pidfd is set
}

func newContainerEntry(m *containerMeta) *containerEntry {
	return &containerEntry{meta: m, pidfd: -1}
}

// closePidfd forgets the init process; e.mu must be held.
func (e *containerEntry) closePidfd() {
	if e.pidfd >= 0 {
		_ = unix.Close(e.pidfd)
		e.pidfd = -1
	}
	e.live, e.pid = "", 0
}

// watch keeps a pidfd of the container's init process, whose state is st;
// e.mu must be held. Without a pidfd the full probe runs every time.
func (e *containerEntry) watch(pid int, st runtime.ContainerState) {
	e.closePidfd()
	if pid <= 0 {
		return
	}
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return
	}
	e.pidfd, e.live, e.pid = fd, st, pid
}

// initExited reports whether the watched init process has exited (or
// there is none to watch); e.mu must be held.
func (e *containerEntry) initExited() bool {
	if e.pidfd < 0 || e.live == "" {
		return true
	}
	fds := []unix.PollFd{{Fd: int32(e.pidfd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, 0)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		// A readable pidfd means the process has exited.
		return err != nil || n > 0
	}
}

// state is the cache.
type state struct {
	mu         sync.Mutex
	sandboxes  map[string]*sandboxEntry
	containers map[string]*containerEntry
	// pending are ids being created by this process: their dirs exist
	// before their metadata, and listing must not load them half-made.
	pending map[string]bool
	// pods serializes sandbox creation and removal per pod UID.
	pods keylock.Map
	// When the dirs were last compared with the cache.
	sandboxesSynced, containersSynced time.Time
}

// dirResync is how often listing compares the cache with the dirs: what
// this process does is cached at once, so only other processes' changes
// (none while one kubelet owns the root) wait for it.
const dirResync = time.Second

// due reports whether *last is older than dirResync and, if so, sets it to
// now; c.mu must be held.
func due(last *time.Time) bool {
	now := time.Now()
	if !last.IsZero() && now.Sub(*last) < dirResync {
		return false
	}
	*last = now
	return true
}

func newState() *state {
	return &state{
		sandboxes:  map[string]*sandboxEntry{},
		containers: map[string]*containerEntry{},
		pending:    map[string]bool{},
	}
}

// loadAll fills the cache from the root dir (New, after a restart).
func (r *Runtime) loadAll() error {
	if _, err := r.syncSandboxDirs(); err != nil {
		return err
	}
	_, err := r.syncContainerDirs()
	return err
}

// syncSandboxDirs makes the cached sandboxes match the dirs on disk (at
// most once per dirResync): new ones are loaded, vanished ones dropped. It
// returns the cached entries. The cache stays locked throughout, so that a
// sandbox made or removed meanwhile is not taken for a stranger's.
func (r *Runtime) syncSandboxDirs() ([]*sandboxEntry, error) {
	c := r.cache
	c.mu.Lock()
	defer c.mu.Unlock()
	if !due(&c.sandboxesSynced) {
		return c.sandboxList(), nil
	}
	ents, err := os.ReadDir(filepath.Join(r.opts.RootDir, "sandboxes"))
	if err != nil {
		return nil, err
	}
	onDisk := make(map[string]bool, len(ents))
	for _, e := range ents {
		id := e.Name()
		onDisk[id] = true
		if _, ok := c.sandboxes[id]; ok || c.pending[id] {
			continue
		}
		m, err := r.readSandbox(id)
		if err != nil {
			// Half-made (crash during RunPodSandbox) or foreign: skip.
			continue
		}
		c.sandboxes[id] = &sandboxEntry{meta: m, ready: r.probeSandboxReady(m)}
	}
	for id := range c.sandboxes {
		if !onDisk[id] {
			delete(c.sandboxes, id)
		}
	}
	return c.sandboxList(), nil
}

// sandboxList returns the cached sandboxes; c.mu must be held.
func (c *state) sandboxList() []*sandboxEntry {
	out := make([]*sandboxEntry, 0, len(c.sandboxes))
	for _, se := range c.sandboxes {
		out = append(out, se)
	}
	return out
}

// syncContainerDirs does for containers what syncSandboxDirs does.
func (r *Runtime) syncContainerDirs() ([]*containerEntry, error) {
	c := r.cache
	c.mu.Lock()
	if !due(&c.containersSynced) {
		c.mu.Unlock()
		return r.cachedContainers(""), nil
	}
	ents, err := os.ReadDir(filepath.Join(r.opts.RootDir, "containers"))
	if err != nil {
		c.mu.Unlock()
		return nil, err
	}
	onDisk := make(map[string]bool, len(ents))
	for _, e := range ents {
		id := e.Name()
		onDisk[id] = true
		if _, ok := c.containers[id]; ok || c.pending[id] {
			continue
		}
		m, err := r.readContainer(id)
		if err != nil {
			continue
		}
		ce := newContainerEntry(m)
		ce.started = r.readStarted(id)
		c.containers[id] = ce
	}
	var gone []*containerEntry
	for id, ce := range c.containers {
		if !onDisk[id] {
			delete(c.containers, id)
			gone = append(gone, ce)
		}
	}
	c.mu.Unlock()
	for _, ce := range gone {
		ce.mu.Lock()
		ce.closePidfd()
		ce.mu.Unlock()
	}
	return r.cachedContainers(""), nil
}

// cachedContainers returns the cached containers of a sandbox ("" for all).
func (r *Runtime) cachedContainers(sandboxID string) []*containerEntry {
	c := r.cache
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*containerEntry
	for _, ce := range c.containers {
		if sandboxID == "" || ce.meta.SandboxID == sandboxID {
			out = append(out, ce)
		}
	}
	return out
}

// sandboxEntryFor returns the cached sandbox, loading it from disk if this
// process has not seen it.
func (r *Runtime) sandboxEntryFor(id string) (*sandboxEntry, error) {
	c := r.cache
	c.mu.Lock()
	se, ok := c.sandboxes[id]
	c.mu.Unlock()
	if ok {
		return se, nil
	}
	m, err := r.readSandbox(id)
	if err != nil {
		return nil, err
	}
	se = &sandboxEntry{meta: m, ready: r.probeSandboxReady(m)}
	c.mu.Lock()
	defer c.mu.Unlock()
	if cur, ok := c.sandboxes[id]; ok {
		return cur, nil
	}
	c.sandboxes[id] = se
	return se, nil
}

// containerEntryFor returns the cached container, loading it from disk if
// this process has not seen it.
func (r *Runtime) containerEntryFor(id string) (*containerEntry, error) {
	c := r.cache
	c.mu.Lock()
	ce, ok := c.containers[id]
	c.mu.Unlock()
	if ok {
		return ce, nil
	}
	m, err := r.readContainer(id)
	if err != nil {
		return nil, err
	}
	ce = newContainerEntry(m)
	ce.started = r.readStarted(id)
	c.mu.Lock()
	defer c.mu.Unlock()
	if cur, ok := c.containers[id]; ok {
		return cur, nil
	}
	c.containers[id] = ce
	return ce, nil
}

// setPending marks id as being made (or no longer) by this process.
func (r *Runtime) setPending(id string, on bool) {
	c := r.cache
	c.mu.Lock()
	defer c.mu.Unlock()
	if on {
		c.pending[id] = true
	} else {
		delete(c.pending, id)
	}
}

func (r *Runtime) putSandbox(se *sandboxEntry) {
	c := r.cache
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sandboxes[se.meta.ID] = se
	delete(c.pending, se.meta.ID)
}

func (r *Runtime) dropSandbox(id string) {
	c := r.cache
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.sandboxes, id)
}

func (r *Runtime) putContainer(ce *containerEntry) {
	c := r.cache
	c.mu.Lock()
	defer c.mu.Unlock()
	c.containers[ce.meta.ID] = ce
	delete(c.pending, ce.meta.ID)
}

func (r *Runtime) dropContainer(id string) {
	c := r.cache
	c.mu.Lock()
	ce, ok := c.containers[id]
	delete(c.containers, id)
	c.mu.Unlock()
	if ok {
		ce.mu.Lock()
		ce.closePidfd()
		ce.mu.Unlock()
	}
}

// readStarted reads the start stamp StartContainer wrote.
func (r *Runtime) readStarted(id string) time.Time {
	b, err := os.ReadFile(filepath.Join(r.containerDir(id), startedFile))
	if err != nil {
		return time.Time{}
	}
	t, _ := time.Parse(time.RFC3339Nano, string(b))
	return t
}

// containerStatus reports a cached container, probing only when the
// cached state may be stale.
func (r *Runtime) containerStatus(ce *containerEntry) (*runtime.ContainerStatus, error) {
	ce.mu.Lock()
	defer ce.mu.Unlock()
	if ce.exited != nil {
		return cloneStatus(ce.exited), nil
	}
	if !ce.initExited() {
		st := r.baseStatus(ce.meta)
		st.StartedAt = ce.started
		st.State = ce.live
		return st, nil
	}
	st, pid, final, err := r.probe(ce.meta, ce.pidfd < 0)
	if err != nil {
		return nil, err
	}
	if st.StartedAt.IsZero() {
		st.StartedAt = ce.started
	}
	switch {
	case final:
		ce.closePidfd()
		ce.exited = cloneStatus(st)
	case st.State == runtime.ContainerCreated || st.State == runtime.ContainerRunning:
		if pid > 0 {
			ce.watch(pid, st.State)
		}
	}
	return st, nil
}

// cloneStatus copies st so that callers may change it.
func cloneStatus(st *runtime.ContainerStatus) *runtime.ContainerStatus {
	out := *st
	out.Labels = maps.Clone(st.Labels)
	return &out
}
