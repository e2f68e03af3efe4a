package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"drover.dev/apiserver/app/options"
	apiservertesting "drover.dev/apiserver/app/testing"
	"drover.dev/libs/bus"
	"drover.dev/libs/natstest"
)

// An informer fed by the bus converges to the same state as one fed by the
// apiserver's HTTP watch, also across a NATS restart.
// busEnv is an apiserver publishing to a real NATS, with clients for both.
type busEnv struct {
	nats *natstest.Server
	cs   kubernetes.Interface
	js   jetstream.JetStream
}

// startWithBus starts NATS and an apiserver publishing to it, and waits
// until the publisher has created stream.
func startWithBus(t *testing.T, ctx context.Context, stream string) *busEnv {
	t.Helper()
	ns := natstest.Start(t)
	ts := apiservertesting.StartTestServer(t, "", func(o *options.Options) { o.NATSURL = ns.ClientURL() })
	cs, err := kubernetes.NewForConfig(ts.Config)
	if err != nil {
		t.Fatal(err)
	}
	_, js := ns.JetStream(t, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	eventually(t, 20*time.Second, func() error {
		_, err := js.Stream(ctx, stream)
		return err
	})
	return &busEnv{nats: ns, cs: cs, js: js}
}

func TestBusInformerConvergesWithHTTPInformer(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e := startWithBus(t, ctx, bus.EventsStream)
	cs, js, ns := e.cs, e.js, e.nats

	cms := cs.CoreV1().ConfigMaps("default")
	httpInf := cache.NewSharedIndexInformer(cache.NewListWatchFromClient(cs.CoreV1().RESTClient(), "configmaps", "default", fields.Everything()), &corev1.ConfigMap{}, 0, cache.Indexers{})
	busLW := &bus.ListWatch{
		JS: js,
		ListFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return cms.List(ctx, o)
		},
		Source: bus.Source{
			Stream:  bus.EventsStream,
			Subject: bus.ResourceSubject("", "configmaps", "default"),
			Decode: func(b []byte) (runtime.Object, error) {
				cm := &corev1.ConfigMap{}
				return cm, json.Unmarshal(b, cm)
			},
		},
	}
	busInf := cache.NewSharedIndexInformer(busLW, &corev1.ConfigMap{}, 0, cache.Indexers{})
	go httpInf.Run(ctx.Done())
	go busInf.Run(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), httpInf.HasSynced, busInf.HasSynced) {
		t.Fatal("informers did not sync")
	}
	write := func(prefix string) {
		for i := range 20 {
			name := fmt.Sprintf("%s-%d", prefix, i)
			cm, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if i%3 == 0 {
				cm.Data = map[string]string{"k": "v"}
				if _, err := cms.Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			if i%4 == 0 {
				if err := cms.Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	converged := func() error {
		a, b := state(httpInf.GetStore()), state(busInf.GetStore())
		if a != b {
			return fmt.Errorf("http informer:\n%s\nbus informer:\n%s", a, b)
		}
		return nil
	}
	write("before")
	eventually(t, 20*time.Second, converged)
	ns.Restart(t)
	write("after")
	eventually(t, 30*time.Second, converged)
}

func state(s cache.Store) string {
	var out []string
	for _, o := range s.List() {
		cm := o.(*corev1.ConfigMap)
		out = append(out, cm.Name+"@"+cm.ResourceVersion)
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

// A kubelet-style subscriber on its node's subject hears exactly the pods
// bound to its node (created there, then deleted) and nothing of pods on
// other nodes or unscheduled ones.
func TestNodeSubscriberSeesOnlyItsPods(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e := startWithBus(t, ctx, bus.NodesStream)
	cs, js := e.cs, e.js
	pods := cs.CoreV1().Pods("default")
	onNodeA := func(o runtime.Object) bool { return o.(*corev1.Pod).Spec.NodeName == "node-a" }
	lw := &bus.ListWatch{
		JS: js,
		ListFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = "spec.nodeName=node-a"
			return pods.List(ctx, o)
		},
		Source: bus.Source{
			Stream:  bus.NodesStream,
			Subject: bus.NodePodsSubject("node-a"),
			Decode: func(b []byte) (runtime.Object, error) {
				p := &corev1.Pod{}
				return p, json.Unmarshal(b, p)
			},
			Match: onNodeA,
		},
	}
	list, err := lw.ListWithContext(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w, err := lw.WatchWithContext(ctx, metav1.ListOptions{ResourceVersion: list.(*corev1.PodList).ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	create := func(name, node string) {
		p := testPod(name)
		p.Spec.NodeName = node
		if _, err := pods.Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	create("elsewhere", "node-b") // never seen
	create("mine", "node-a")
	create("unscheduled", "")
	zero := int64(0)
	if err := pods.Delete(ctx, "mine", metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatal(err)
	}
	want := []string{"ADDED mine", "DELETED mine"}
	for _, exp := range want {
		select {
		case ev := <-w.ResultChan():
			if got := string(ev.Type) + " " + ev.Object.(*corev1.Pod).Name; got != exp {
				t.Fatalf("got %s, want %s", got, exp)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("timed out waiting for %s", exp)
		}
	}
	select {
	case ev := <-w.ResultChan():
		t.Fatalf("unexpected event %s %s", ev.Type, ev.Object.(*corev1.Pod).Name)
	case <-time.After(500 * time.Millisecond):
	}
}

// A SharedInformerFactory whose pod informer watches through the bus serves
// listers as usual (how daemons run with --watch-source=bus).
func TestSharedInformerFactoryOnTheBus(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e := startWithBus(t, ctx, bus.EventsStream)
	cs, js := e.cs, e.js
	factory := informers.NewSharedInformerFactory(cs, 0)
	bus.UseBus(factory, js, bus.Resource{Resource: "pods", Client: cs.CoreV1().RESTClient(), New: func() runtime.Object { return &corev1.Pod{} }})
	pods := factory.Core().V1().Pods()
	pods.Informer()
	factory.Start(ctx.Done())
	factory.WaitForCacheSync(ctx.Done())
	if _, err := cs.CoreV1().Pods("default").Create(ctx, testPod("via-bus"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() error {
		_, err := pods.Lister().Pods("default").Get("via-bus")
		return err
	})
}
