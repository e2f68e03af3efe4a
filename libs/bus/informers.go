package bus

import (
	"context"
	"encoding/json"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// Resource names a resource whose informer should watch through the bus.
type Resource struct {
	// Group and Resource as on the bus subjects ("" group for core).
	Group, Resource string
	// Namespace limits the informer to one namespace ("" for all).
	Namespace string
	// Client is the REST client of the resource's group version, for lists
	// (e.g. clientset.CoreV1().RESTClient()).
	Client cache.Getter
	// New returns an empty object of the resource's type, e.g. &corev1.Pod{}.
	New func() runtime.Object
	// FieldSelector narrows lists (e.g. "status.phase!=Succeeded"); Match
	// must then apply the same rule to watched objects.
	FieldSelector string
	Match         func(runtime.Object) bool
}

// NewResourceListWatch lists r through the apiserver and watches it on the bus.
func NewResourceListWatch(js jetstream.JetStream, r Resource) *ListWatch {
	sel := fields.Everything()
	if r.FieldSelector != "" {
		if parsed, err := fields.ParseSelector(r.FieldSelector); err == nil {
			sel = parsed
		}
	}
	http := cache.NewListWatchFromClient(r.Client, r.Resource, r.Namespace, sel)
	return &ListWatch{
		JS: js,
		ListFunc: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			return http.ListWithContext(ctx, opts)
		},
		Source: Source{
			Stream:  EventsStream,
			Subject: ResourceSubject(r.Group, r.Resource, r.Namespace),
			Decode: func(b []byte) (runtime.Object, error) {
				obj := r.New()
				return obj, json.Unmarshal(b, obj)
			},
			Match: r.Match,
		},
	}
}

// UseBus makes factory's informers for resources watch through the bus: a
// daemon calls it before asking the factory for those informers, and every
// other use of the factory stays as it is (--watch-source=bus).
func UseBus(factory informers.SharedInformerFactory, js jetstream.JetStream, resources ...Resource) {
	for _, r := range resources {
		lw := NewResourceListWatch(js, r)
		obj := r.New()
		factory.InformerFor(obj, func(_ kubernetes.Interface, resync time.Duration) cache.SharedIndexInformer {
			return cache.NewSharedIndexInformer(lw, obj, resync, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
		})
	}
}

// NewNodePodsListWatch lists a node's pods with list (which should select
// spec.nodeName) and watches them on the node's routing subject; a pod
// that leaves the node arrives as a deletion.
func NewNodePodsListWatch(js jetstream.JetStream, node string, list func(context.Context, metav1.ListOptions) (runtime.Object, error)) *ListWatch {
	return &ListWatch{
		JS:       js,
		ListFunc: list,
		Source: Source{
			Stream:  NodesStream,
			Subject: NodePodsSubject(node),
			Decode: func(b []byte) (runtime.Object, error) {
				p := &corev1.Pod{}
				return p, json.Unmarshal(b, p)
			},
			Match: func(o runtime.Object) bool { return o.(*corev1.Pod).Spec.NodeName == node },
		},
	}
}
