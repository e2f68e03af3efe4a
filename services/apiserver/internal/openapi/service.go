// Package openapi serves the apiserver's OpenAPI v2 and v3 documents in the
// shape kube-apiserver v1.37 serves them, so that kubectl (apply, explain,
// field validation and dry-run detection), client-go and helm find what they
// look for. The documents are generated from the registry's resources by
// reflecting over the k8s.io/api Go types: field names from json tags,
// descriptions from the SwaggerDoc methods, patch strategies from patch
// tags, and list/map semantics and required fields from the comment markers
// recorded in markers.txt.
package openapi

import (
	"bytes"
	"compress/gzip"
	"crypto/sha512"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	openapi_v2 "github.com/google/gnostic-models/openapiv2"
	"github.com/munnerz/goautoneg"
	"google.golang.org/protobuf/proto"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/kube-openapi/pkg/handler3"

	"drover.dev/apiserver/internal/registry"
)

// Paths the service answers.
const (
	V2Path = "/openapi/v2"
	V3Path = "/openapi/v3"
)

// Content types of the documents. The v2 and v3 protobuf types are each
// accepted in two spellings; kube-openapi answers with the dotted one.
const (
	contentTypeJSON      = "application/json"
	subtypeJSON          = "json"
	subtypeV2Proto       = "com.github.proto-openapi.spec.v2.v1.0+protobuf"
	subtypeV2ProtoLegacy = "com.github.proto-openapi.spec.v2@v1.0+protobuf"
	subtypeV3Proto       = "com.github.proto-openapi.spec.v3.v1.0+protobuf"
	subtypeV3ProtoLegacy = "com.github.proto-openapi.spec.v3@v1.0+protobuf"
)

// ErrNotFound is returned for an OpenAPI path the registry does not serve.
var ErrNotFound = errors.New("openapi: no such document")

// Service serves /openapi/v2 and /openapi/v3. The documents are built on
// the first request and kept gzip-compressed; the protobuf forms are derived
// on first use.
type Service struct {
	reg     *registry.Registry
	version string

	once sync.Once
	err  error
	v2   *servedDoc
	root *servedDoc
	// v3 is keyed by discovery path: "api/v1", "apis/apps/v1", "apis", ...
	v3 map[string]*servedDoc
}

// New returns a service for the registry's resources. version is reported
// as info.version in the documents (kube-apiserver reports its git version).
func New(reg *registry.Registry, version string) *Service {
	if version == "" {
		version = "unversioned"
	}
	return &Service{reg: reg, version: version}
}

// ServeHTTP handles /openapi/v2, /openapi/v3 and /openapi/v3/<path>.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if err := s.build(); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	p := r.URL.Path
	switch {
	case p == V2Path:
		serveNegotiated(w, r, s.v2, subtypeV2Proto, subtypeV2ProtoLegacy, false)
	case p == V3Path || p == V3Path+"/":
		s.root.serve(w, r, contentTypeJSON, s.root.json)
	case strings.HasPrefix(p, V3Path+"/"):
		doc, ok := s.v3[strings.TrimPrefix(p, V3Path+"/")]
		if !ok {
			http.Error(w, ErrNotFound.Error(), http.StatusNotFound)
			return
		}
		serveNegotiated(w, r, doc, subtypeV3Proto, subtypeV3ProtoLegacy, true)
	default:
		http.Error(w, ErrNotFound.Error(), http.StatusNotFound)
	}
}

// serveNegotiated picks JSON or protobuf from the Accept header the way
// kube-openapi's handlers do: the first clause, in preference order, that
// matches one of the served types wins; nothing matching is a 406. For a v3
// group/version document, ?hash= naming the current document makes the
// answer cacheable forever, and a stale hash redirects to the current one.
func serveNegotiated(w http.ResponseWriter, r *http.Request, doc *servedDoc, protoType, protoLegacy string, v3 bool) {
	accept := r.Header.Get("Accept")
	if accept == "" {
		accept = "*/*"
	}
	w.Header().Add("Vary", "Accept")
	offers := []string{subtypeJSON, protoType, protoLegacy}
	for _, clause := range goautoneg.ParseAccept(accept) {
		if clause.Type != "application" && clause.Type != "*" {
			continue
		}
		for _, sub := range offers {
			if clause.SubType != sub && clause.SubType != "*" {
				continue
			}
			if v3 {
				if hash := r.URL.Query().Get("hash"); hash != "" {
					if hash != doc.etag {
						// The document changed since the client read /openapi/v3.
						http.Redirect(w, r, serverRelativeURL(doc.key, doc.etag), http.StatusMovedPermanently)
						return
					}
					w.Header().Set("Cache-Control", "public, immutable")
					w.Header().Set("Expires", time.Now().AddDate(1, 0, 0).Format(time.RFC1123))
				}
			}
			if sub == subtypeJSON {
				doc.serve(w, r, contentTypeJSON, doc.json)
				return
			}
			form, err := doc.protoForm()
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			doc.serve(w, r, "application/"+protoType, form)
			return
		}
	}
	w.WriteHeader(http.StatusNotAcceptable)
}

// build generates every document once.
func (s *Service) build() error {
	s.once.Do(func() { s.err = s.generate() })
	return s.err
}

func (s *Service) generate() error {
	markers, err := parseMarkers(markersText)
	if err != nil {
		return err
	}
	docs, err := buildDocuments(s.reg)
	if err != nil {
		return err
	}
	gvks := servedKinds(s.reg)
	now := time.Now()

	sw := buildSwagger(s.version, docs, newSchemaSet(v2, gvks, markers))
	js, err := json.Marshal(sw)
	if err != nil {
		return fmt.Errorf("openapi: marshal v2: %w", err)
	}
	if s.v2, err = newServedDoc("", js, now, v2Proto); err != nil {
		return err
	}

	defs := newSchemaSet(v3, gvks, markers)
	s.v3 = make(map[string]*servedDoc, len(docs))
	root := handler3.OpenAPIV3Discovery{Paths: map[string]handler3.OpenAPIV3DiscoveryGroupVersion{}}
	for _, d := range docs {
		js, err := json.Marshal(buildV3(s.version, d, defs))
		if err != nil {
			return fmt.Errorf("openapi: marshal v3 %s: %w", d.key, err)
		}
		doc, err := newServedDoc(d.key, js, now, handler3.ToV3ProtoBinary)
		if err != nil {
			return err
		}
		s.v3[d.key] = doc
		root.Paths[d.key] = handler3.OpenAPIV3DiscoveryGroupVersion{ServerRelativeURL: serverRelativeURL(d.key, doc.etag)}
	}
	js, err = json.Marshal(root)
	if err != nil {
		return fmt.Errorf("openapi: marshal v3 discovery: %w", err)
	}
	s.root, err = newServedDoc("", js, now, nil)
	return err
}

// servedKinds maps each Go type to the group/version/kinds it is registered
// as in client-go's scheme, limited to the group/versions we serve: the
// x-kubernetes-group-version-kind of its definition.
func servedKinds(reg *registry.Registry) map[reflect.Type][]schema.GroupVersionKind {
	served := map[schema.GroupVersion]bool{}
	for _, gv := range reg.GroupVersions() {
		served[gv] = true
	}
	out := map[reflect.Type][]schema.GroupVersionKind{}
	for gvk, t := range scheme.Scheme.AllKnownTypes() {
		if served[gvk.GroupVersion()] {
			out[t] = append(out[t], gvk)
		}
	}
	for _, list := range out {
		sort.Slice(list, func(i, j int) bool {
			a, b := list[i], list[j]
			if a.Group != b.Group {
				return a.Group < b.Group
			}
			if a.Version != b.Version {
				return a.Version < b.Version
			}
			return a.Kind < b.Kind
		})
	}
	return out
}

// serverRelativeURL is where /openapi/v3 points for a document:
// /openapi/v3/apis/apps/v1?hash=<etag>.
func serverRelativeURL(key, etag string) string {
	u := url.URL{Path: path.Join(V3Path, key), RawQuery: url.Values{"hash": {etag}}.Encode()}
	return u.String()
}

func v2Proto(js []byte) ([]byte, error) {
	doc, err := openapi_v2.ParseDocument(js)
	if err != nil {
		return nil, err
	}
	return proto.Marshal(doc)
}

// servedDoc is one document: its JSON and, built on first request, its
// protobuf form.
type servedDoc struct {
	key      string
	etag     string
	modified time.Time
	json     *encoded
	proto    *encoded
}

func newServedDoc(key string, js []byte, modified time.Time, toProto func([]byte) ([]byte, error)) (*servedDoc, error) {
	sum := sha512.Sum512(js)
	d := &servedDoc{key: key, etag: fmt.Sprintf("%X", sum), modified: modified}
	d.json = newEncoded(func() ([]byte, error) { return js, nil })
	if err := d.json.load(); err != nil {
		return nil, err
	}
	if toProto != nil {
		d.proto = newEncoded(func() ([]byte, error) {
			plain, err := d.json.plain()
			if err != nil {
				return nil, err
			}
			return toProto(plain)
		})
	}
	return d, nil
}

func (d *servedDoc) protoForm() (*encoded, error) {
	if d.proto == nil {
		return nil, ErrNotFound
	}
	if err := d.proto.load(); err != nil {
		return nil, fmt.Errorf("openapi: protobuf: %w", err)
	}
	return d.proto, nil
}

// serve writes one form of the document, honouring If-None-Match; clients
// that accept gzip get the stored bytes, others a decompressing stream.
func (d *servedDoc) serve(w http.ResponseWriter, r *http.Request, contentType string, form *encoded) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Etag", strconv.Quote(d.etag))
	h.Set("Last-Modified", d.modified.UTC().Format(http.TimeFormat))
	h.Add("Vary", "Accept-Encoding")
	if etagMatches(r.Header.Get("If-None-Match"), d.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	if err := form.load(); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	gzipped := acceptsGzip(r)
	if gzipped {
		h.Set("Content-Encoding", "gzip")
		h.Set("Content-Length", strconv.Itoa(len(form.gz)))
	} else {
		h.Set("Content-Length", strconv.Itoa(form.size))
	}
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	if gzipped {
		_, _ = w.Write(form.gz)
		return
	}
	zr, err := gzip.NewReader(bytes.NewReader(form.gz))
	if err != nil {
		return // cannot happen: we compressed it
	}
	_, _ = io.Copy(w, zr)
}

// encoded is one byte form of a document, built once and kept only
// gzip-compressed: the documents shrink six to sevenfold, and clients
// (client-go, kubectl, helm) ask for gzip.
type encoded struct {
	once  sync.Once
	build func() ([]byte, error)
	gz    []byte
	size  int // uncompressed length
	err   error
}

// gzipWriters reuses compressors: each holds about a megabyte of state.
var gzipWriters = sync.Pool{New: func() any {
	zw, _ := gzip.NewWriterLevel(io.Discard, gzip.BestSpeed)
	return zw
}}

func newEncoded(build func() ([]byte, error)) *encoded { return &encoded{build: build} }

func (e *encoded) load() error {
	e.once.Do(func() {
		plain, err := e.build()
		e.build = nil // let the uncompressed bytes go
		if err != nil {
			e.err = err
			return
		}
		var buf bytes.Buffer
		buf.Grow(len(plain) / 4)
		zw := gzipWriters.Get().(*gzip.Writer)
		defer gzipWriters.Put(zw)
		zw.Reset(&buf)
		if _, err := zw.Write(plain); err != nil {
			e.err = err
			return
		}
		if err := zw.Close(); err != nil {
			e.err = err
			return
		}
		e.gz, e.size = bytes.Clone(buf.Bytes()), len(plain)
	})
	return e.err
}

// plain returns the uncompressed bytes.
func (e *encoded) plain() ([]byte, error) {
	if err := e.load(); err != nil {
		return nil, err
	}
	zr, err := gzip.NewReader(bytes.NewReader(e.gz))
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, e.size)
	buf := bytes.NewBuffer(out)
	if _, err := io.Copy(buf, zr); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		coding, params, _ := strings.Cut(part, ";")
		if !strings.EqualFold(strings.TrimSpace(coding), "gzip") {
			continue
		}
		for _, p := range strings.Split(params, ";") {
			if k, v, ok := strings.Cut(strings.TrimSpace(p), "="); ok && k == "q" {
				if q, err := strconv.ParseFloat(v, 64); err == nil && q == 0 {
					return false
				}
			}
		}
		return true
	}
	return false
}

// etagMatches implements If-None-Match's weak comparison.
func etagMatches(header, etag string) bool {
	for _, tag := range strings.Split(header, ",") {
		tag = strings.TrimPrefix(strings.TrimSpace(tag), "W/")
		if tag == "*" || tag == strconv.Quote(etag) {
			return true
		}
	}
	return false
}
