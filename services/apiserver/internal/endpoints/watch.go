package endpoints

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"

	"drover.dev/apiserver/internal/cache"
)

// initialEventsEnd marks the bookmark that ends the initial events of a streaming list.
const initialEventsEnd = "k8s.io/initial-events-end"

// watchStream writes watch events to one HTTP response.
type watchStream struct {
	a       *API
	q       *request
	out     outputKind
	flusher http.Flusher
	buf     bytes.Buffer
	headers bool // table column definitions already sent
	lastRV  int64
}

func (a *API) watch(q *request) {
	out, opts, err := a.listRequest(q)
	if err != nil {
		writeStatus(q.w, q.r, err)
		return
	}
	v := q.r.URL.Query()
	bookmarks := v.Get("allowWatchBookmarks") == "true"
	sendInitial := v.Get("sendInitialEvents")
	if sendInitial != "" && sendInitial != "true" && sendInitial != "false" {
		writeStatus(q.w, q.r, invalidParam("sendInitialEvents", sendInitial, "must be true or false"))
		return
	}
	if sendInitial != "" && opts.rvMatch != "NotOlderThan" {
		writeStatus(q.w, q.r, apierrors.NewInvalid(metav1.SchemeGroupVersion.WithKind("ListOptions").GroupKind(), "",
			fieldErrs("sendInitialEvents", sendInitial, "sendInitialEvents is forbidden for watch unless resourceVersionMatch is set to NotOlderThan")))
		return
	}
	if sendInitial == "" && opts.rvMatch != "" {
		writeStatus(q.w, q.r, apierrors.NewInvalid(metav1.SchemeGroupVersion.WithKind("ListOptions").GroupKind(), "",
			fieldErrs("resourceVersionMatch", opts.rvMatch, "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided")))
		return
	}
	if sendInitial == "true" && !bookmarks {
		writeStatus(q.w, q.r, apierrors.NewInvalid(metav1.SchemeGroupVersion.WithKind("ListOptions").GroupKind(), "",
			fieldErrs("allowWatchBookmarks", "false", "allowWatchBookmarks must be set to true when sendInitialEvents is set to true")))
		return
	}
	timeout := a.cfg.MinWatchTimeout + time.Duration(rand.Int64N(int64(a.cfg.MinWatchTimeout)))
	if t := v.Get("timeoutSeconds"); t != "" {
		secs, err := strconv.ParseInt(t, 10, 64)
		if err != nil || secs < 0 {
			writeStatus(q.w, q.r, apierrors.NewBadRequest(fmt.Sprintf("invalid timeoutSeconds: %q", t)))
			return
		}
		timeout = time.Duration(secs) * time.Second
	}
	if q.info.Name != "" {
		// Watching one object: GET .../pods/<name>?watch=true.
		opts.fields = fieldsAnd(opts.fields, "metadata.name", q.info.Name)
	}

	// Where the watch starts: with the current state (rv "" or "0", or a
	// streaming list), or after a given revision.
	req := cache.WatchRequest{
		Resource: q.storageRes.Resource,
		Prefix:   a.cfg.Store.ListPrefix(q.storageRes.Resource, q.info.Namespace),
		Match:    opts.match(),
	}
	initialState := sendInitial == "true" || (sendInitial == "" && (opts.rv == "" || opts.rv == "0"))
	if sendInitial == "false" && (opts.rv == "" || opts.rv == "0") {
		// Start at the current revision without the current state.
		if err := a.waitCache(q, opts.rv); err != nil {
			writeStatus(q.w, q.r, err)
			return
		}
		req.FromRV = a.cfg.Cache.Revision()
	} else if initialState {
		if err := a.waitCache(q, opts.rv); err != nil {
			writeStatus(q.w, q.r, err)
			return
		}
		req.InitialState = true
	} else {
		n, _ := strconv.ParseInt(opts.rv, 10, 64)
		if err := a.waitCache(q, opts.rv); err != nil {
			writeStatus(q.w, q.r, err)
			return
		}
		req.FromRV = n
	}

	ctx, cancel := context.WithTimeout(q.ctx, timeout)
	defer cancel()
	ws := &watchStream{a: a, q: q, out: out}
	ws.flusher, _ = q.w.(http.Flusher)
	q.w.Header().Set("Content-Type", "application/json")
	q.w.Header().Set("Transfer-Encoding", "chunked")

	w, err := a.cfg.Cache.Watch(req)
	if errors.Is(err, cache.ErrTooOld) {
		a.watchEtcd(ctx, ws, req, bookmarks)
		return
	}
	if err != nil {
		writeStatus(q.w, q.r, cacheError(err))
		return
	}
	defer w.Stop()
	q.w.WriteHeader(http.StatusOK)
	ws.flush()
	ws.lastRV = w.StartRV
	if !req.InitialState {
		ws.lastRV = max(req.FromRV, 0)
	}
	for _, ev := range w.Initial {
		if err := ws.send(ev.Type, ev.Obj, ev.RV); err != nil {
			return
		}
	}
	if req.InitialState {
		ws.lastRV = w.StartRV
		if sendInitial == "true" {
			if err := ws.bookmark(w.StartRV, true); err != nil {
				return
			}
		}
	}
	ws.flush()

	ticker := time.NewTicker(a.cfg.BookmarkInterval)
	defer ticker.Stop()
	var batch []cache.Event
	for {
		select {
		case <-w.Ready():
			var ended bool
			// Everything queued at once, flushed once.
			batch, ended = w.Take(batch)
			for _, ev := range batch {
				if err := ws.sendEvent(ev); err != nil {
					return
				}
			}
			if len(batch) > 0 {
				ws.flush()
			}
			if ended {
				return
			}
		case <-ticker.C:
			if bookmarks {
				if rev := a.cfg.Cache.Revision(); rev > ws.lastRV {
					// Bookmarks may only move forward past events already sent;
					// the cache revision is safe once the queue is drained.
					if !w.Pending() {
						if err := ws.bookmark(rev, false); err != nil {
							return
						}
						ws.flush()
					}
				}
			}
		case <-ctx.Done():
			return
		case <-a.cfg.Stopping:
			return
		}
	}
}

// watchEtcd serves a watch from a revision older than the cache history
// directly from etcd; a compacted revision ends in 410 Gone.
func (a *API) watchEtcd(ctx context.Context, ws *watchStream, req cache.WatchRequest, bookmarks bool) {
	q := ws.q
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	wch := a.cfg.Store.Client.Watch(wctx, req.Prefix, clientv3.WithPrefix(), clientv3.WithRev(req.FromRV+1), clientv3.WithPrevKV())
	q.w.WriteHeader(http.StatusOK)
	ws.flush()
	ws.lastRV = req.FromRV
	for {
		select {
		case wresp, ok := <-wch:
			if !ok {
				return
			}
			if wresp.CompactRevision != 0 || errors.Is(wresp.Err(), rpctypes.ErrCompacted) {
				_ = ws.sendError(apierrors.NewResourceExpired(fmt.Sprintf("too old resource version: %d (%d)", req.FromRV, wresp.CompactRevision)))
				ws.flush()
				return
			}
			if wresp.Err() != nil {
				return
			}
			matches := func(it *cache.Item) bool { return req.Match == nil || req.Match(it) }
			for _, e := range wresp.Events {
				ev, ok, _ := cache.EventOf(Parse, q.storageRes.Resource, cache.ChangeOf(e))
				if !ok {
					continue
				}
				if ev, ok = cache.Transition(ev, matches); !ok {
					continue
				}
				if err := ws.send(ev.Type, ev.Obj, ev.RV); err != nil {
					return
				}
			}
			ws.flush()
		case <-ctx.Done():
			return
		case <-a.cfg.Stopping:
			return
		}
	}
}

// watchBatch is how much a watch buffers before writing: a watcher that
// is behind catches up in writes this large.
const watchBatch = 64 << 10

// watchKeep is the most buffer a watch keeps between writes; one that is
// up to date holds an event or two.
const watchKeep = 16 << 10

func (ws *watchStream) flush() {
	if ws.buf.Len() > 0 {
		_, _ = ws.q.w.Write(ws.buf.Bytes())
		ws.buf.Reset()
	}
	if ws.buf.Cap() > watchKeep {
		// Grown for a backlog or the initial state: a thousand watchers that
		// have caught up must not each keep it.
		ws.buf = bytes.Buffer{}
	}
	if ws.flusher != nil {
		ws.flusher.Flush()
	}
}

// sendEvent sends a live event from the cache. A stored-as-is JSON object
// goes out as the event's shared frame, encoded once for all watchers.
func (ws *watchStream) sendEvent(ev cache.Event) error {
	if ws.out != outputObject || !ws.q.res.StoredAsSelf() {
		return ws.send(ev.Type, ev.Obj, ev.RV)
	}
	ws.lastRV = max(ws.lastRV, ev.RV)
	b := ev.Frame()
	if ws.buf.Len() > 0 || len(b) < watchDirect {
		// Behind earlier events, or small enough to batch with later ones.
		ws.buf.Write(b)
		if ws.buf.Len() > watchBatch {
			ws.flush()
		}
		return ws.q.r.Context().Err()
	}
	if _, err := ws.q.w.Write(b); err != nil {
		return err
	}
	return ws.q.r.Context().Err()
}

// watchDirect is the frame size from which a frame is written straight to
// the response rather than copied into the watch's buffer first.
const watchDirect = 512

// send appends one event; the object carries the event's revision.
func (ws *watchStream) send(typ watch.EventType, it *cache.Item, rv int64) error {
	ws.lastRV = max(ws.lastRV, rv)
	start := ws.buf.Len()
	ws.buf.WriteString(`{"type":"`)
	ws.buf.WriteString(string(typ))
	ws.buf.WriteString(`","object":`)
	if ws.out == outputObject && ws.q.res.StoredAsSelf() {
		_ = it.WriteJSON(&ws.buf, rv)
	} else {
		obj, err := ws.a.decodeStored(ws.q.res, it.Raw, rv)
		if err != nil {
			ws.a.lg.Warn("dropping undecodable watch event", zap.String("key", it.Key), zap.Error(err))
			// Only this event: earlier ones may still be in the buffer.
			ws.buf.Truncate(start)
			return nil
		}
		var v any = obj
		switch ws.out {
		case outputTable:
			table, err := ws.a.table(ws.q, []runtime.Object{obj}, ws.headers)
			if err != nil {
				return err
			}
			ws.headers = true
			v = table
		case outputMetadata:
			v = partialMetadata(obj)
		default:
			setGVK(obj, ws.q.res.GVK())
		}
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		ws.buf.Write(b)
	}
	ws.buf.WriteString("}\n")
	if ws.buf.Len() > watchBatch {
		ws.flush()
	}
	return ws.q.r.Context().Err()
}

// bookmark sends a BOOKMARK whose object has only the resourceVersion (and
// the initial-events-end annotation when it closes a streaming list).
func (ws *watchStream) bookmark(rv int64, initialEnd bool) error {
	ws.lastRV = rv
	obj := ws.q.res.New()
	if ws.out == outputMetadata {
		obj = &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: "meta.k8s.io/v1", Kind: "PartialObjectMetadata"}}
	}
	acc := mustAccessor(obj)
	acc.SetResourceVersion(strconv.FormatInt(rv, 10))
	if initialEnd {
		acc.SetAnnotations(map[string]string{initialEventsEnd: "true"})
	}
	b, err := json.Marshal(&metav1.WatchEvent{Type: string(watch.Bookmark), Object: runtime.RawExtension{Object: obj}})
	if err != nil {
		return err
	}
	ws.buf.Write(b)
	ws.buf.WriteByte('\n')
	return ws.q.r.Context().Err()
}

func (ws *watchStream) sendError(err error) error {
	status := err.(apierrors.APIStatus).Status()
	status.Kind, status.APIVersion = "Status", "v1"
	b, merr := json.Marshal(&metav1.WatchEvent{Type: string(watch.Error), Object: runtime.RawExtension{Object: &status}})
	if merr != nil {
		return merr
	}
	ws.buf.Write(b)
	ws.buf.WriteByte('\n')
	return nil
}
