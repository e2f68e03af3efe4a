package watcher

import (
	"context"
	"errors"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/watchlist"

	"drover.dev/dns/internal/object"
)

// pagingServer serves n pods in pages of at most opts.Limit, like the
// apiserver: a continue token, and the list's resource version.
type pagingServer struct {
	n     int
	calls []metav1.ListOptions
	fail  int // the call (1-based) that fails, 0 for none
}

var errPage = errors.New("page failed")

func (p *pagingServer) ListWithContext(_ context.Context, opts metav1.ListOptions) (runtime.Object, error) {
	p.calls = append(p.calls, opts)
	if len(p.calls) == p.fail {
		return nil, errPage
	}
	start := 0
	if opts.Continue != "" {
		if _, err := fmt.Sscanf(opts.Continue, "from-%d", &start); err != nil {
			return nil, err
		}
	}
	end := p.n
	if opts.Limit > 0 {
		end = min(p.n, start+int(opts.Limit))
	}
	list := &corev1.PodList{ListMeta: metav1.ListMeta{ResourceVersion: "42"}}
	for i := start; i < end; i++ {
		list.Items = append(list.Items, corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: fmt.Sprintf("p%d", i)},
			Status: corev1.PodStatus{PodIP: fmt.Sprintf("10.0.%d.%d", i/256, i%256)}})
	}
	if end < p.n {
		list.Continue = fmt.Sprintf("from-%d", end)
	}
	return list, nil
}

func (p *pagingServer) WatchWithContext(context.Context, metav1.ListOptions) (watch.Interface, error) {
	return watch.NewEmptyWatch(), nil
}

func TestPagedList(t *testing.T) {
	tests := []struct {
		name      string
		pods      int
		fail      int
		wantCalls int
		wantErr   error
	}{
		{"empty", 0, 0, 1, nil},
		{"one short page", 3, 0, 1, nil},
		{"exactly one full page", 4, 0, 1, nil},
		{"several pages", 10, 0, 3, nil},
		{"a failing page fails the list", 10, 2, 2, errPage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := &pagingServer{n: tt.pods, fail: tt.fail}
			lw := &pagedListWatch{inner: srv, transform: object.NewTransformer().Transform, pageSize: 4}
			got, err := lw.ListWithContext(context.Background(), metav1.ListOptions{ResourceVersion: "0"})
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error %v, want %v", err, tt.wantErr)
			}
			if len(srv.calls) != tt.wantCalls {
				t.Errorf("%d list calls, want %d", len(srv.calls), tt.wantCalls)
			}
			for i, c := range srv.calls {
				if c.Limit != 4 {
					t.Errorf("call %d: limit %d", i, c.Limit)
				}
				if i == 0 && (c.ResourceVersion != "0" || c.Continue != "") {
					t.Errorf("first call %+v: want the reflector's resource version and no token", c)
				}
				if i > 0 && (c.ResourceVersion != "" || c.Continue == "") {
					t.Errorf("call %d %+v: want a token and no resource version", i, c)
				}
			}
			if err != nil {
				return
			}
			items, err := meta.ExtractListWithAlloc(got)
			if err != nil {
				t.Fatal(err)
			}
			if len(items) != tt.pods {
				t.Fatalf("%d items, want %d", len(items), tt.pods)
			}
			for i, it := range items {
				p, ok := it.(*object.Pod)
				if !ok || p.Name != fmt.Sprintf("p%d", i) || len(p.IPs) != 1 {
					t.Fatalf("item %d: %#v", i, it)
				}
			}
			if acc, err := meta.ListAccessor(got); err != nil || acc.GetResourceVersion() != "42" {
				t.Errorf("list meta %v, %v", acc, err)
			}
		})
	}
}

// TestPagedListReflector runs a real reflector over the paging lister: it
// must list (not stream a watch-list) and hand the store compact objects.
func TestPagedListReflector(t *testing.T) {
	srv := &pagingServer{n: 1234}
	lw := &pagedListWatch{inner: srv, transform: object.NewTransformer().Transform, pageSize: 100}
	if !watchlist.DoesClientNotSupportWatchListSemantics(lw) {
		t.Fatal("reflectors would stream a watch-list instead of listing in pages")
	}
	z, ss := newStores(t)
	r := cache.NewReflectorWithOptions(lw, &corev1.Pod{}, ss["pods"], cache.ReflectorOptions{Name: "pods"})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.RunWithContext(ctx) }()
	defer func() { cancel(); <-done }()
	if !cache.WaitForCacheSync(ctx.Done(), ss["pods"].HasSynced) {
		t.Fatal("not synced")
	}
	if got := z.Stats().PodIPs; got != srv.n {
		t.Errorf("zone holds %d pod IPs, want %d", got, srv.n)
	}
	if len(srv.calls) != 13 {
		t.Errorf("%d list calls, want 13 pages", len(srv.calls))
	}
}
