package endpoints

import (
	"encoding/base64"
	"net/url"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"

	"drover.dev/apiserver/internal/cache"
	"drover.dev/apiserver/internal/fieldlabels"
)

func TestContinueTokenRoundTrip(t *testing.T) {
	tests := []struct {
		name  string
		rv    int64
		start string
	}{
		{"after a namespaced key", 42, "default/web\x00"},
		{"after a cluster-scoped key", 1, "node-1\x00"},
		{"empty start", 7, ""},
		{"largest revision", 1<<63 - 1, "ns/x\x00"},
		{"unicode and quotes", 99, "ns/ü\"\\\x00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := encodeContinue(tt.rv, tt.start)
			if strings.ContainsAny(tok, "+/=&?# ") {
				t.Errorf("token %q is not URL-safe", tok)
			}
			got, err := decodeContinue(tok)
			if err != nil {
				t.Fatalf("decodeContinue(%q): %v", tok, err)
			}
			if got.ResourceVersion != tt.rv || got.StartKey != tt.start || got.APIVersion != "meta.k8s.io/v1" {
				t.Errorf("decoded %+v, want rv %d start %q", got, tt.rv, tt.start)
			}
		})
	}
}

func TestContinueTokenRejectsGarbage(t *testing.T) {
	b64 := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	valid := encodeContinue(5, "ns/a\x00")
	tests := []struct {
		name string
		tok  string
	}{
		{"empty", ""},
		{"not base64", "!!!"},
		{"padded base64", base64.URLEncoding.EncodeToString([]byte(`{"v":"meta.k8s.io/v1","rv":5,"start":"a"}`))},
		{"truncated", valid[:len(valid)-3]},
		{"not JSON", b64("hello")},
		{"JSON array", b64(`[1,2]`)},
		{"wrong version", b64(`{"v":"meta.k8s.io/v2","rv":5,"start":"a"}`)},
		{"no version", b64(`{"rv":5,"start":"a"}`)},
		{"zero revision", b64(`{"v":"meta.k8s.io/v1","rv":0,"start":"a"}`)},
		{"negative revision", b64(`{"v":"meta.k8s.io/v1","rv":-3,"start":"a"}`)},
		{"revision as a string", b64(`{"v":"meta.k8s.io/v1","rv":"5","start":"a"}`)},
		{"path traversal", b64(`{"v":"meta.k8s.io/v1","rv":5,"start":"../secrets/kube-system/x"}`)},
		{"traversal inside", b64(`{"v":"meta.k8s.io/v1","rv":5,"start":"a/../../b"}`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := decodeContinue(tt.tok); err == nil {
				t.Errorf("decodeContinue(%q) = %+v, want an error", tt.tok, got)
			}
		})
	}
}

// FuzzContinueToken: decoding never panics, what decodes re-encodes to an
// equivalent token, and encoding round-trips every valid token.
func FuzzContinueToken(f *testing.F) {
	f.Add(encodeContinue(5, "ns/a\x00"), int64(5), "ns/a\x00")
	f.Add("", int64(0), "")
	f.Add("eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6MSwic3RhcnQiOiIuLiJ9", int64(-1), "..")
	f.Add("%%%", int64(1<<62), "\xff")
	f.Fuzz(func(t *testing.T, tok string, rv int64, start string) {
		if got, err := decodeContinue(tok); err == nil {
			if got.ResourceVersion <= 0 || strings.Contains(got.StartKey, "..") || got.APIVersion != "meta.k8s.io/v1" {
				t.Fatalf("decodeContinue(%q) accepted %+v", tok, got)
			}
			again, err := decodeContinue(encodeContinue(got.ResourceVersion, got.StartKey))
			if err != nil || *again != *got {
				t.Fatalf("re-encoding %+v gives %+v, %v", got, again, err)
			}
		}
		got, err := decodeContinue(encodeContinue(rv, start))
		valid := rv > 0 && !strings.Contains(start, "..")
		switch {
		case !valid && err == nil:
			t.Fatalf("encodeContinue(%d, %q) decoded to %+v, want an error", rv, start, got)
		case valid && err != nil:
			t.Fatalf("encodeContinue(%d, %q) does not decode: %v", rv, start, err)
		case valid && utf8.ValidString(start) && (got.ResourceVersion != rv || got.StartKey != start):
			// JSON replaces invalid UTF-8; keys of stored objects are always valid.
			t.Fatalf("encodeContinue(%d, %q) decoded to %+v", rv, start, got)
		}
	})
}

func TestParseListOptions(t *testing.T) {
	const (
		pods       = "/api/v1/namespaces/default/pods"
		coreEvents = "/api/v1/namespaces/default/events"
		newEvents  = "/apis/events.k8s.io/v1/namespaces/default/events"
	)
	tests := []struct {
		name       string
		target     string
		query      string
		wantErr    bool
		wantLimit  int64
		wantFields string // the selector after aliases are mapped
		wantLabels string
	}{
		{name: "nothing", target: pods},
		{name: "label selector", target: pods, query: "labelSelector=app%3Dweb,tier+in+(a,b)", wantLabels: "app=web,tier in (a,b)"},
		{name: "field selector", target: pods, query: "fieldSelector=spec.nodeName%3Dn1,status.phase!%3DRunning", wantFields: "spec.nodeName=n1,status.phase!=Running"},
		{name: "metadata fields everywhere", target: "/api/v1/namespaces/default/configmaps", query: "fieldSelector=metadata.name%3Dx", wantFields: "metadata.name=x"},
		{name: "limit", target: pods, query: "limit=500", wantLimit: 500},
		{name: "limit zero", target: pods, query: "limit=0"},
		{name: "resourceVersion", target: pods, query: "resourceVersion=12"},
		{name: "NotOlderThan", target: pods, query: "resourceVersion=0&resourceVersionMatch=NotOlderThan"},
		{name: "Exact", target: pods, query: "resourceVersion=12&resourceVersionMatch=Exact"},
		{name: "continue", target: pods, query: "continue=abc&limit=10", wantLimit: 10},
		{name: "continue with resourceVersion 0", target: pods, query: "continue=abc&resourceVersion=0"},
		{name: "streaming list without resourceVersion", target: pods, query: "watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan"},
		{name: "events.k8s.io aliases", target: newEvents, query: "fieldSelector=regarding.name%3Dweb,reportingController%3Dkubelet,deprecatedSource%3Dk",
			wantFields: "involvedObject.name=web,reportingComponent=kubelet,source=k"},
		{name: "events.k8s.io stored names", target: newEvents, query: "fieldSelector=involvedObject.kind%3DPod", wantFields: "involvedObject.kind=Pod"},
		{name: "core events fields", target: coreEvents, query: "fieldSelector=involvedObject.uid%3Du,type%3DWarning", wantFields: "involvedObject.uid=u,type=Warning"},

		{name: "bad label selector", target: pods, query: "labelSelector=app+in+(", wantErr: true},
		{name: "bad label value", target: pods, query: "labelSelector=app%3D%25%25", wantErr: true},
		{name: "bad field selector", target: pods, query: "fieldSelector=spec.nodeName", wantErr: true},
		{name: "unsupported field label", target: pods, query: "fieldSelector=spec.containers%3Dx", wantErr: true},
		{name: "field of another resource", target: "/api/v1/namespaces/default/secrets", query: "fieldSelector=spec.nodeName%3Dn1", wantErr: true},
		{name: "alias on core events", target: coreEvents, query: "fieldSelector=regarding.name%3Dweb", wantErr: true},
		{name: "set-based field selector", target: pods, query: "fieldSelector=spec.nodeName+in+(a)", wantErr: true},
		{name: "limit not a number", target: pods, query: "limit=ten", wantErr: true},
		{name: "negative limit", target: pods, query: "limit=-1", wantErr: true},
		{name: "limit overflow", target: pods, query: "limit=99999999999999999999", wantErr: true},
		{name: "unknown resourceVersionMatch", target: pods, query: "resourceVersion=1&resourceVersionMatch=Newest", wantErr: true},
		{name: "lowercase exact", target: pods, query: "resourceVersion=1&resourceVersionMatch=exact", wantErr: true},
		{name: "match without resourceVersion", target: pods, query: "resourceVersionMatch=NotOlderThan", wantErr: true},
		{name: "Exact at 0", target: pods, query: "resourceVersion=0&resourceVersionMatch=Exact", wantErr: true},
		{name: "continue with resourceVersion", target: pods, query: "continue=abc&resourceVersion=5", wantErr: true},
		{name: "resourceVersion not a number", target: pods, query: "resourceVersion=abc", wantErr: true},
		{name: "negative resourceVersion", target: pods, query: "resourceVersion=-5", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := newTestRequest(t, "GET", tt.target+"?"+tt.query, "", nil)
			opts, err := (&API{}).parseListOptions(q)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("parseListOptions(%s) = %+v, want an error", tt.query, opts)
				}
				wantClientError(t, err)
				if c := statusCode(err); c != 400 {
					t.Errorf("code = %d, want 400", c)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseListOptions(%s): %v", tt.query, err)
			}
			if opts.limit != tt.wantLimit {
				t.Errorf("limit = %d, want %d", opts.limit, tt.wantLimit)
			}
			if got := opts.fields.String(); !sameTerms(got, tt.wantFields) {
				t.Errorf("fields = %q, want %q", got, tt.wantFields)
			}
			if got := opts.labels.String(); got != tt.wantLabels {
				t.Errorf("labels = %q, want %q", got, tt.wantLabels)
			}
			v, _ := url.ParseQuery(tt.query)
			if opts.rv != v.Get("resourceVersion") || opts.rvMatch != v.Get("resourceVersionMatch") || opts.continueToken != v.Get("continue") {
				t.Errorf("rv %q match %q continue %q do not echo the query", opts.rv, opts.rvMatch, opts.continueToken)
			}
		})
	}
}

// sameTerms compares selectors as sets of terms: parsing sorts terms by
// their original field names, so mapped names may come in another order.
func sameTerms(a, b string) bool {
	as, bs := strings.Split(a, ","), strings.Split(b, ",")
	slices.Sort(as)
	slices.Sort(bs)
	return slices.Equal(as, bs)
}

func TestListOptionsMatch(t *testing.T) {
	q := newTestRequest(t, "GET", "/api/v1/namespaces/default/pods?labelSelector=app%3Dweb&fieldSelector=spec.nodeName%3Dn1", "", nil)
	opts, err := (&API{}).parseListOptions(q)
	if err != nil {
		t.Fatal(err)
	}
	item := func(app, node string) *cache.Item {
		raw := `{"kind":"Pod","apiVersion":"v1","metadata":{"name":"p","namespace":"default","labels":{"app":"` + app + `"}},"spec":{"nodeName":"` + node + `"}}`
		it, err := Parse("pods", "/registry/pods/default/p", []byte(raw), 3)
		if err != nil {
			t.Fatal(err)
		}
		return it
	}
	match := opts.match()
	tests := []struct {
		app, node string
		want      bool
	}{
		{"web", "n1", true},
		{"db", "n1", false},
		{"web", "n2", false},
		{"db", "n2", false},
	}
	for _, tt := range tests {
		if got := match(item(tt.app, tt.node)); got != tt.want {
			t.Errorf("match(app=%s, node=%s) = %v, want %v", tt.app, tt.node, got, tt.want)
		}
	}

	everything := &listOptions{labels: labels.Everything(), fields: fields.Everything()}
	if everything.match() != nil {
		t.Error("empty selectors must give a nil match (the cache then skips filtering)")
	}
}

// FuzzListOptions: any query string parses without a panic; errors are 400s
// and what parses obeys the rules.
func FuzzListOptions(f *testing.F) {
	for _, s := range []string{
		"",
		"labelSelector=app%3Dweb&fieldSelector=spec.nodeName%3Dn1&limit=10",
		"resourceVersion=5&resourceVersionMatch=Exact",
		"resourceVersion=0&resourceVersionMatch=NotOlderThan&continue=x",
		"fieldSelector=regarding.name%3Dx,reportingController!%3Dy",
		"labelSelector=a+in+(b,c),!d,e!%3Df&limit=-1",
		"fieldSelector=%5C%3D%5C,a",
		"limit=1e3&resourceVersion=%20",
		"watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true",
	} {
		f.Add(s, uint8(0))
		f.Add(s, uint8(2))
	}
	targets := []string{
		"/api/v1/namespaces/default/pods",
		"/api/v1/events",
		"/apis/events.k8s.io/v1/namespaces/default/events",
		"/api/v1/nodes",
		"/apis/apps/v1/deployments",
	}
	f.Fuzz(func(t *testing.T, query string, target uint8) {
		q := newTestRequest(t, "GET", targets[int(target)%len(targets)], "", nil)
		q.r.URL.RawQuery = query
		opts, err := (&API{}).parseListOptions(q)
		if err != nil {
			wantClientError(t, err)
			if c := statusCode(err); c != 400 {
				t.Fatalf("code %d for %q, want 400", c, query)
			}
			return
		}
		if opts.limit < 0 {
			t.Fatalf("negative limit %d accepted", opts.limit)
		}
		if opts.rvMatch != "" && opts.rv == "" && q.r.URL.Query().Get("sendInitialEvents") == "" {
			t.Fatalf("resourceVersionMatch %q accepted without resourceVersion or sendInitialEvents", opts.rvMatch)
		}
		if opts.rvMatch == "Exact" && opts.rv == "0" {
			t.Fatal("Exact accepted at resourceVersion 0")
		}
		if opts.continueToken != "" && opts.rv != "" && opts.rv != "0" {
			t.Fatal("continue accepted with a resourceVersion")
		}
		for _, r := range opts.fields.Requirements() {
			if !fieldlabels.Check(q.storageRes.Resource, r.Field) {
				t.Fatalf("unsupported field %q accepted for %s", r.Field, q.storageRes.Resource)
			}
		}
		// The parsed selectors must work on objects.
		if m := opts.match(); m != nil {
			it := cache.NewItem("/registry/pods/default/p", "default", "p", []byte(`{}`), 1, labels.Set{"app": "web"}, fields.Set{"metadata.name": "p"})
			_ = m(it)
		}
	})
}
