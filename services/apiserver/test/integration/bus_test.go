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
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"drover.dev/apiserver/app/options"
	apiservertesting "drover.dev/apiserver/app/testing"
	"drover.dev/libs/bus"
	"drover.dev/libs/natstest"
)

// An informer fed by the bus converges to the same state as one fed by the
// apiserver's HTTP watch, also across a NATS restart.
func TestBusInformerConvergesWithHTTPInformer(t *testing.T) {
	ns := natstest.Start(t)
	ts := apiservertesting.StartTestServer(t, "", func(o *options.Options) { o.NATSURL = ns.ClientURL() })
	cs, err := kubernetes.NewForConfig(ts.Config)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(ns.ClientURL(), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	eventually(t, 20*time.Second, func() error {
		_, err := js.Stream(ctx, bus.EventsStream)
		return err
	})

	cms := cs.CoreV1().ConfigMaps("default")
	httpInf := cache.NewSharedIndexInformer(cache.NewListWatchFromClient(cs.CoreV1().RESTClient(), "configmaps", "default", fieldsEverything()), &corev1.ConfigMap{}, 0, cache.Indexers{})
	busLW := &bus.ListWatch{
		JS: js,
		ListFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return cms.List(ctx, o)
		},
		Source: bus.Source{
			Stream:   bus.EventsStream,
			Subjects: []string{bus.ResourceSubject("", "configmaps", "default")},
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

func fieldsEverything() fields.Selector { return fields.Everything() }
