package watcher

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"

	"drover.dev/dns/internal/object"
)

// pageSize is how many objects one list request returns: at most this
// many full objects are decoded at a time.
const pageSize = 500

// pagedListWatch lists in pages and trims every page as it arrives, so a
// first list of 50,000 pods holds one page of decoded pods plus compact
// ones, instead of the whole decoded list (a reflector's pager keeps every
// page until the end) or a watch-list's temporary store of keyed objects.
// It watches through inner unchanged.
type pagedListWatch struct {
	inner     cache.ListerWatcherWithContext
	transform cache.TransformFunc
	pageSize  int64
}

var _ cache.ListerWatcherWithContext = (*pagedListWatch)(nil)

// IsWatchListSemanticsUnSupported makes reflectors list (through
// ListWithContext) rather than stream the initial state in a watch.
func (lw *pagedListWatch) IsWatchListSemanticsUnSupported() bool { return true }

// ListWithContext lists every object, page by page, and returns them
// trimmed in an object.List at the resource version of the list.
func (lw *pagedListWatch) ListWithContext(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
	opts.Limit, opts.Continue = lw.pageSize, ""
	out := &object.List{}
	for {
		page, err := lw.inner.ListWithContext(ctx, opts)
		if err != nil {
			return nil, err
		}
		lm, err := meta.ListAccessor(page)
		if err != nil {
			return nil, fmt.Errorf("watcher: list: %w", err)
		}
		if out.Items == nil {
			if n := lm.GetRemainingItemCount(); n != nil && *n > 0 {
				out.Items = make([]runtime.Object, 0, meta.LenList(page)+int(*n))
			}
		}
		err = meta.EachListItem(page, func(o runtime.Object) error {
			c, err := lw.transform(o)
			if err != nil {
				return err
			}
			co, ok := c.(runtime.Object)
			if !ok {
				return unexpected(c)
			}
			out.Items = append(out.Items, co)
			return nil
		})
		if err != nil {
			return nil, err
		}
		out.ResourceVersion = lm.GetResourceVersion()
		if lm.GetContinue() == "" {
			return out, nil
		}
		// Further pages come from the snapshot the token names; the API
		// refuses a resource version beside it.
		opts.Continue, opts.ResourceVersion, opts.ResourceVersionMatch = lm.GetContinue(), "", ""
	}
}

// List is ListWithContext without a context.
func (lw *pagedListWatch) List(opts metav1.ListOptions) (runtime.Object, error) {
	return lw.ListWithContext(context.Background(), opts)
}

// WatchWithContext watches through inner.
func (lw *pagedListWatch) WatchWithContext(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
	return lw.inner.WatchWithContext(ctx, opts)
}

// Watch is WatchWithContext without a context.
func (lw *pagedListWatch) Watch(opts metav1.ListOptions) (watch.Interface, error) {
	return lw.inner.WatchWithContext(context.Background(), opts)
}
