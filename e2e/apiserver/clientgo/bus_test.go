package clientgo

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"drover.dev/e2e/framework"
	"drover.dev/libs/bus"
	"drover.dev/libs/bus/buspb"
)

// A write through the API reaches the JetStream bus of `drover up`'s
// embedded NATS, with the revision the client saw and on the object's subject.
func TestWritesReachTheBus(t *testing.T) {
	c := framework.SharedCluster(t)
	cs := c.Clientset(t)
	ctx := ctxFor(t)
	ns := framework.TestNamespace(t, cs)
	url, err := os.ReadFile(filepath.Join(c.StateDir, "nats.url"))
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(strings.TrimSpace(string(url)))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	// The publisher creates the stream once elected.
	var cons jetstream.Consumer
	framework.Eventually(t, 30*time.Second, func() error {
		var err error
		cons, err = js.OrderedConsumer(ctx, bus.EventsStream, jetstream.OrderedConsumerConfig{
			FilterSubjects: []string{bus.ResourceSubject("", "configmaps", ns)},
			DeliverPolicy:  jetstream.DeliverNewPolicy,
		})
		return err
	})
	// Writes go on until one is seen: the consumer starts at "new" messages.
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; time.Now().Before(deadline); i++ {
		cm, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm-" + strconv.Itoa(i)}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		msg, err := cons.Next(jetstream.FetchMaxWait(time.Second))
		if err != nil {
			continue
		}
		ev := &buspb.Event{}
		if err := proto.Unmarshal(msg.Data(), ev); err != nil {
			t.Fatal(err)
		}
		if ev.Namespace != ns || ev.Resource != "configmaps" || ev.Type != buspb.EventType_EVENT_TYPE_ADDED {
			t.Fatalf("unexpected event %+v", ev)
		}
		if ev.Name == cm.Name && strconv.FormatInt(ev.ResourceVersion, 10) != cm.ResourceVersion {
			t.Fatalf("bus revision %d, API resourceVersion %s", ev.ResourceVersion, cm.ResourceVersion)
		}
		return
	}
	t.Fatal("no configmap event reached the bus")
}
