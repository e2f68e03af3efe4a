package endpoints

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"

	"drover.dev/apiserver/internal/cache"
	"drover.dev/apiserver/internal/fieldlabels"
	"drover.dev/apiserver/internal/storage"
)

// Parse builds a cache item from a stored value: the cache's, the bus
// publisher's and direct etcd reads' parser.
func Parse(resource, key string, value []byte, rv int64) (*cache.Item, error) {
	m, err := fieldlabels.Extract(resource, value)
	if err != nil {
		return nil, err
	}
	it := cache.NewItem(key, m.Namespace, m.Name, value, rv, m.Labels, m.Fields)
	it.UID = m.UID
	return it, nil
}

// readConsistency interprets resourceVersion for get and list: it waits
// until the cache is as fresh as the request needs.
func (a *API) waitCache(q *request, rv string) error {
	switch rv {
	case "0":
		return nil
	case "":
		if _, err := a.cfg.Cache.WaitFresh(q.ctx); err != nil {
			return cacheError(err)
		}
		return nil
	}
	n, err := strconv.ParseInt(rv, 10, 64)
	if err != nil || n < 0 {
		return invalidResourceVersion(rv)
	}
	if err := a.cfg.Cache.WaitForRevision(q.ctx, n, 3*time.Second); err != nil {
		if errors.Is(err, cache.ErrTimeout) {
			return tooLargeResourceVersion(n, a.cfg.Cache.Revision())
		}
		return cacheError(err)
	}
	return nil
}

// tooLargeResourceVersion carries the cause client-go's reflector looks for
// (apierrors.HasStatusCause ResourceVersionTooLarge) to retry.
func tooLargeResourceVersion(want, have int64) error {
	err := apierrors.NewTimeoutError(fmt.Sprintf("Too large resource version: %d, current: %d", want, have), 1)
	err.ErrStatus.Details.Causes = []metav1.StatusCause{{Type: metav1.CauseTypeResourceVersionTooLarge, Message: "Too large resource version"}}
	return err
}

func invalidResourceVersion(rv string) error {
	return apierrors.NewBadRequest(fmt.Sprintf("invalid resource version: %q", rv))
}

func cacheError(err error) error {
	if errors.Is(err, cache.ErrTimeout) {
		return apierrors.NewTimeoutError("storage is not ready: cache has not caught up with etcd", 1)
	}
	return apierrors.NewServiceUnavailable(err.Error())
}

func (a *API) get(q *request) {
	out, err := negotiate(q.r)
	out = readOutput(out)
	if err != nil {
		writeStatus(q.w, q.r, err)
		return
	}
	if err := a.waitCache(q, q.r.URL.Query().Get("resourceVersion")); err != nil {
		writeStatus(q.w, q.r, err)
		return
	}
	it, _ := a.cfg.Cache.Get(q.storageRes.Resource, q.key(q.info.Name))
	if it == nil {
		writeStatus(q.w, q.r, apierrors.NewNotFound(q.groupResource(), q.info.Name))
		return
	}
	if out == outputObject && q.res.StoredAsSelf() {
		writeBody(q.w, q.r, http.StatusOK, it.JSON())
		return
	}
	obj, err := a.decodeItem(q.res, it)
	if err != nil {
		writeStatus(q.w, q.r, apierrors.NewInternalError(err))
		return
	}
	a.writeObject(q, out, http.StatusOK, obj)
}

// writeObject writes one object as the client asked: itself, a table or its metadata.
func (a *API) writeObject(q *request, out outputKind, code int, obj runtime.Object) {
	switch out {
	case outputTable:
		table, err := a.table(q, []runtime.Object{obj}, false)
		if err != nil {
			writeStatus(q.w, q.r, err)
			return
		}
		writeJSON(q.w, q.r, code, table)
	case outputMetadata:
		writeJSON(q.w, q.r, code, partialMetadata(obj))
	case outputProtobuf:
		body, err := protobufBody(obj, q.res.GVK())
		if err != nil {
			setGVK(obj, q.res.GVK())
			writeJSON(q.w, q.r, code, obj)
			return
		}
		q.w.Header().Set("Content-Type", runtime.ContentTypeProtobuf)
		q.w.WriteHeader(code)
		_, _ = q.w.Write(body)
	default:
		setGVK(obj, q.res.GVK())
		writeJSON(q.w, q.r, code, obj)
	}
}

// readOutput: reads are answered from stored JSON even for protobuf clients.
func readOutput(out outputKind) outputKind {
	if out == outputProtobuf {
		return outputObject
	}
	return out
}

func partialMetadata(obj runtime.Object) *metav1.PartialObjectMetadata {
	pm := &metav1.PartialObjectMetadata{}
	pm.APIVersion, pm.Kind = "meta.k8s.io/v1", "PartialObjectMetadata"
	if om, ok := structField(obj, "ObjectMeta"); ok {
		pm.ObjectMeta = om.Interface().(metav1.ObjectMeta)
	}
	return pm
}

// table renders objects with the kind's printer and attaches each row's object
// as the includeObject parameter says (Metadata by default, like Kubernetes).
func (a *API) table(q *request, objs []runtime.Object, noHeaders bool) (*metav1.Table, error) {
	if a.cfg.Hooks.Table == nil {
		return nil, apierrors.NewInternalError(fmt.Errorf("tables are not available"))
	}
	table, err := a.cfg.Hooks.Table(q.res.GVK(), objs, noHeaders, time.Now())
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	include := q.r.URL.Query().Get("includeObject")
	for i := range table.Rows {
		if i >= len(objs) {
			break
		}
		switch include {
		case "None":
		case "Object":
			setGVK(objs[i], q.res.GVK())
			table.Rows[i].Object = runtime.RawExtension{Object: objs[i]}
		default:
			table.Rows[i].Object = runtime.RawExtension{Object: partialMetadata(objs[i])}
		}
	}
	table.APIVersion, table.Kind = "meta.k8s.io/v1", "Table"
	return table, nil
}

// listOptions are the parsed list and watch query parameters.
type listOptions struct {
	labels        labels.Selector
	fields        fields.Selector
	rv            string
	rvMatch       string
	limit         int64
	continueToken string
}

func (a *API) parseListOptions(q *request) (*listOptions, error) {
	v := q.r.URL.Query()
	opts := &listOptions{rv: v.Get("resourceVersion"), rvMatch: v.Get("resourceVersionMatch"), continueToken: v.Get("continue")}
	var err error
	if opts.labels, err = labels.Parse(v.Get("labelSelector")); err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("unable to parse requirement: %v", err))
	}
	if opts.fields, err = fields.ParseSelector(v.Get("fieldSelector")); err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid field selector: %v", err))
	}
	if opts.fields, err = a.checkFieldSelector(q, opts.fields); err != nil {
		return nil, err
	}
	if l := v.Get("limit"); l != "" {
		if opts.limit, err = strconv.ParseInt(l, 10, 64); err != nil || opts.limit < 0 {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid limit: %q", l))
		}
	}
	switch opts.rvMatch {
	case "", "NotOlderThan", "Exact":
	default:
		return nil, invalidParam("resourceVersionMatch", opts.rvMatch, "supported values: \"Exact\", \"NotOlderThan\"")
	}
	if opts.rvMatch != "" && opts.rv == "" && v.Get("sendInitialEvents") == "" {
		return nil, invalidParam("resourceVersionMatch", opts.rvMatch, "resourceVersionMatch is forbidden unless resourceVersion is provided")
	}
	if opts.rvMatch == "Exact" && opts.rv == "0" {
		return nil, invalidParam("resourceVersionMatch", opts.rvMatch, "resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\"")
	}
	if opts.continueToken != "" && opts.rv != "" && opts.rv != "0" {
		return nil, invalidParam("resourceVersion", opts.rv, "specifying resource version is not allowed when using continue")
	}
	if opts.rv != "" {
		if n, err := strconv.ParseInt(opts.rv, 10, 64); err != nil || n < 0 {
			return nil, invalidResourceVersion(opts.rv)
		}
	}
	return opts, nil
}

func invalidParam(name, value, msg string) error {
	return apierrors.NewBadRequest(fmt.Sprintf("invalid %s %q: %s", name, value, msg))
}

// checkFieldSelector refuses fields the resource does not index and maps
// aliases (events.k8s.io names) to stored names.
func (a *API) checkFieldSelector(q *request, sel fields.Selector) (fields.Selector, error) {
	if sel.Empty() {
		return sel, nil
	}
	aliases := fieldlabels.Aliases[q.res.Group]
	return sel.Transform(func(f, v string) (string, string, error) {
		if to, ok := aliases[f]; ok {
			f = to
		}
		if !fieldlabels.Check(q.storageRes.Resource, f) {
			return "", "", apierrors.NewBadRequest(fmt.Sprintf("field label not supported: %s", f))
		}
		return f, v, nil
	})
}

func (o *listOptions) match() func(*cache.Item) bool {
	if o.labels.Empty() && o.fields.Empty() {
		return nil
	}
	return func(it *cache.Item) bool {
		return o.labels.Matches(it.Labels) && o.fields.Matches(it.Fields)
	}
}

// continueToken is Kubernetes' continue token: the snapshot revision and the
// key to start from, relative to the listed prefix.
type continueToken struct {
	APIVersion      string `json:"v"`
	ResourceVersion int64  `json:"rv"`
	StartKey        string `json:"start"`
}

func encodeContinue(rv int64, startKeyRel string) string {
	b, _ := json.Marshal(continueToken{APIVersion: "meta.k8s.io/v1", ResourceVersion: rv, StartKey: startKeyRel})
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeContinue(s string) (*continueToken, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, err
	}
	var t continueToken
	if err := json.Unmarshal(b, &t); err != nil {
		return nil, err
	}
	if t.APIVersion != "meta.k8s.io/v1" || t.ResourceVersion <= 0 || strings.Contains(t.StartKey, "..") {
		return nil, fmt.Errorf("invalid token")
	}
	return &t, nil
}

// listRequest negotiates the output and parses the query of a list or watch.
func (a *API) listRequest(q *request) (outputKind, *listOptions, error) {
	out, err := negotiate(q.r)
	if err != nil {
		return 0, nil, err
	}
	opts, err := a.parseListOptions(q)
	if err != nil {
		return 0, nil, err
	}
	return readOutput(out), opts, nil
}

func (a *API) list(q *request) {
	out, opts, err := a.listRequest(q)
	if err != nil {
		writeStatus(q.w, q.r, err)
		return
	}
	prefix := a.cfg.Store.ListPrefix(q.storageRes.Resource, q.info.Namespace)
	var (
		items     []*cache.Item
		rev       int64
		more      bool
		remaining int64
	)
	fromEtcd := opts.continueToken != "" || opts.rvMatch == "Exact" || (opts.limit > 0 && opts.rv != "" && opts.rv != "0" && opts.rvMatch == "")
	if fromEtcd {
		var start string
		var atRev int64
		if opts.continueToken != "" {
			tok, err := decodeContinue(opts.continueToken)
			if err != nil {
				writeStatus(q.w, q.r, apierrors.NewBadRequest(fmt.Sprintf("continue key is not valid: %v", err)))
				return
			}
			start, atRev = prefix+tok.StartKey, tok.ResourceVersion
		} else {
			atRev, _ = strconv.ParseInt(opts.rv, 10, 64)
		}
		items, rev, more, remaining, err = a.listEtcd(q, prefix, start, atRev, opts)
		if err != nil {
			writeStatus(q.w, q.r, err)
			return
		}
	} else {
		if err := a.waitCache(q, opts.rv); err != nil {
			writeStatus(q.w, q.r, err)
			return
		}
		items, rev, more = a.cfg.Cache.List(q.storageRes.Resource, prefix, "", opts.match(), int(opts.limit))
	}
	lm := metav1.ListMeta{ResourceVersion: strconv.FormatInt(rev, 10)}
	if more && len(items) > 0 {
		last := items[len(items)-1].Key
		lm.Continue = encodeContinue(rev, strings.TrimPrefix(last, prefix)+"\x00")
		if opts.match() == nil {
			// Only known without selectors, as in Kubernetes.
			n := remaining
			if !fromEtcd {
				n = int64(a.cfg.Cache.CountAfter(q.storageRes.Resource, prefix, last))
			}
			if n > 0 {
				lm.RemainingItemCount = &n
			}
		}
	}
	a.writeList(q, out, items, lm)
}

// listEtcd reads a page at a fixed revision from etcd, skipping objects the
// selectors reject until limit objects are found.
func (a *API) listEtcd(q *request, prefix, start string, rev int64, opts *listOptions) (items []*cache.Item, atRev int64, more bool, remaining int64, err error) {
	match := opts.match()
	var out []*cache.Item
	for {
		want := opts.limit - int64(len(out))
		if opts.limit == 0 {
			want = 0
		} else if match != nil {
			want = max(want, 100)
		}
		page, err := a.cfg.Store.List(q.ctx, prefix, start, rev, want)
		if err != nil {
			if errors.Is(err, storage.ErrCompacted) {
				if opts.continueToken != "" {
					return nil, 0, false, 0, apierrors.NewResourceExpired("The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.")
				}
				return nil, 0, false, 0, apierrors.NewResourceExpired(fmt.Sprintf("too old resource version: %d", rev))
			}
			if errors.Is(err, storage.ErrFutureRevision) {
				return nil, 0, false, 0, tooLargeResourceVersion(rev, 0)
			}
			return nil, 0, false, 0, apierrors.NewInternalError(err)
		}
		rev = page.Revision
		for i, kv := range page.KVs {
			it, err := Parse(q.storageRes.Resource, kv.Key, kv.Value, kv.ModRevision)
			if err != nil {
				continue
			}
			if match != nil && !match(it) {
				continue
			}
			if opts.limit > 0 && int64(len(out)) == opts.limit {
				return out, rev, true, page.Count - int64(i), nil
			}
			out = append(out, it)
			if opts.limit > 0 && int64(len(out)) == opts.limit && (i < len(page.KVs)-1 || page.More) {
				return out, rev, true, page.Count - int64(i) - 1, nil
			}
		}
		if !page.More || len(page.KVs) == 0 {
			return out, rev, false, 0, nil
		}
		start = page.KVs[len(page.KVs)-1].Key + "\x00"
	}
}

// writeList writes a list. Objects stored in the requested version are
// copied from their stored bytes without decoding.
func (a *API) writeList(q *request, out outputKind, items []*cache.Item, listMeta metav1.ListMeta) {
	if out != outputObject || !q.res.StoredAsSelf() {
		objs := make([]runtime.Object, 0, len(items))
		for _, it := range items {
			obj, err := a.decodeItem(q.res, it)
			if err != nil {
				writeStatus(q.w, q.r, apierrors.NewInternalError(err))
				return
			}
			objs = append(objs, obj)
		}
		switch out {
		case outputTable:
			table, err := a.table(q, objs, false)
			if err != nil {
				writeStatus(q.w, q.r, err)
				return
			}
			table.ListMeta = listMeta
			writeJSON(q.w, q.r, http.StatusOK, table)
		case outputMetadata:
			list := &metav1.PartialObjectMetadataList{ListMeta: listMeta}
			list.APIVersion, list.Kind = "meta.k8s.io/v1", "PartialObjectMetadataList"
			for _, o := range objs {
				list.Items = append(list.Items, *partialMetadata(o))
			}
			writeJSON(q.w, q.r, http.StatusOK, list)
		default:
			var buf bytes.Buffer
			writeListHeader(&buf, q, listMeta)
			for i, o := range objs {
				if i > 0 {
					buf.WriteByte(',')
				}
				setGVK(o, q.res.GVK())
				b, err := json.Marshal(o)
				if err != nil {
					writeStatus(q.w, q.r, apierrors.NewInternalError(err))
					return
				}
				buf.Write(b)
			}
			buf.WriteString("]}")
			writeBody(q.w, q.r, http.StatusOK, buf.Bytes())
		}
		return
	}
	if isPretty(q.r) {
		var buf bytes.Buffer
		writeListItems(&buf, q, listMeta, items)
		writeBody(q.w, q.r, http.StatusOK, buf.Bytes())
		return
	}
	// Stream the stored bytes: a list of 10,000 objects never sits in memory twice.
	q.w.Header().Set("Content-Type", "application/json")
	q.w.WriteHeader(http.StatusOK)
	bw := listWriters.Get().(*bufio.Writer)
	bw.Reset(q.w)
	writeListItems(bw, q, listMeta, items)
	_ = bw.Flush()
	bw.Reset(nil)
	listWriters.Put(bw)
}

var listWriters = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 64*1024) }}

type byteWriter interface {
	io.Writer
	WriteByte(byte) error
	WriteString(string) (int, error)
}

func writeListItems(w byteWriter, q *request, lm metav1.ListMeta, items []*cache.Item) {
	writeListHeader(w, q, lm)
	for i, it := range items {
		if i > 0 {
			_ = w.WriteByte(',')
		}
		_ = it.WriteJSON(w, it.RV)
	}
	_, _ = w.WriteString("]}\n")
}

func writeListHeader(buf io.Writer, q *request, lm metav1.ListMeta) {
	gv := q.res.GroupVersion().String()
	meta, _ := json.Marshal(lm)
	fmt.Fprintf(buf, `{"kind":%q,"apiVersion":%q,"metadata":%s,"items":[`, q.res.Kind+"List", gv, meta)
}
