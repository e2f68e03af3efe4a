// Package bus checks the event bus end to end: `drover up` with two
// apiserver replicas and the embedded NATS; the publishing replica is killed
// in the middle of a stream of writes.
package bus

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/proto"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"drover.dev/e2e/framework"
	"drover.dev/libs/bus"
	"drover.dev/libs/bus/buspb"
)

func TestMain(m *testing.M) {
	framework.Main(m, framework.MainOptions{Cluster: true, ClusterOptions: framework.ClusterOptions{ExtraArgs: []string{"--apiserver-replicas", "2"}}})
}

// publisherPID reads the elected publisher's identity (host_pid) from etcd.
func publisherPID(t *testing.T, c *framework.Cluster) int {
	t.Helper()
	url, err := c.EtcdURL()
	if err != nil {
		t.Fatal(err)
	}
	etcd, err := clientv3.New(clientv3.Config{Endpoints: strings.Split(url, ",")})
	if err != nil {
		t.Fatal(err)
	}
	defer etcd.Close()
	var pid int
	framework.Eventually(t, 30*time.Second, func() error {
		resp, err := etcd.Get(context.Background(), "/drover/elections/bus-publisher", clientv3.WithFirstCreate()...)
		if err != nil {
			return err
		}
		if len(resp.Kvs) == 0 {
			return fmt.Errorf("no publisher elected yet")
		}
		id := string(resp.Kvs[0].Value)
		pid, err = strconv.Atoi(id[strings.LastIndex(id, "_")+1:])
		return err
	})
	return pid
}

// Every change made while the publishing apiserver is killed reaches the
// stream exactly once, in revision order.
func TestPublisherFailoverKeepsOrderAndExactlyOnce(t *testing.T) {
	c := framework.SharedCluster(t)
	cs := c.Clientset(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	ns := framework.TestNamespace(t, cs)
	leader := publisherPID(t, c)

	const n = 150
	for i := range n {
		if i == n/3 {
			if err := syscall.Kill(leader, syscall.SIGKILL); err != nil {
				t.Fatalf("kill publisher %d: %v", leader, err)
			}
		}
		name := fmt.Sprintf("cm-%03d", i)
		framework.Eventually(t, 30*time.Second, func() error { // the other replica serves while one restarts
			_, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
			if err != nil && strings.Contains(err.Error(), "already exists") {
				return nil
			}
			return err
		})
	}

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
	seen := map[string]int{}
	framework.Eventually(t, 60*time.Second, func() error {
		stream, err := js.Stream(ctx, bus.EventsStream)
		if err != nil {
			return err
		}
		info, err := stream.Info(ctx)
		if err != nil {
			return err
		}
		clear(seen)
		var prevRev int64
		var prevIdx int32 = -1
		for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
			m, err := stream.GetMsg(ctx, seq)
			if err != nil {
				return err
			}
			ev := &buspb.Event{}
			if err := proto.Unmarshal(m.Data, ev); err != nil {
				return err
			}
			if ev.Type == buspb.EventType_EVENT_TYPE_UNSPECIFIED {
				continue // a progress marker
			}
			if ev.ResourceVersion < prevRev || ev.ResourceVersion == prevRev && ev.Index <= prevIdx {
				t.Fatalf("stream out of order at seq %d: %d.%d after %d.%d", seq, ev.ResourceVersion, ev.Index, prevRev, prevIdx)
			}
			prevRev, prevIdx = ev.ResourceVersion, ev.Index
			if ev.Namespace == ns && ev.Resource == "configmaps" && ev.Type == buspb.EventType_EVENT_TYPE_ADDED {
				seen[ev.Name]++
			}
		}
		if len(seen) < n {
			return fmt.Errorf("%d of %d creates on the stream so far", len(seen), n)
		}
		return nil
	})
	for name, count := range seen {
		if count != 1 {
			t.Errorf("%s published %d times", name, count)
		}
	}
	if newLeader := publisherPID(t, c); newLeader == leader {
		t.Errorf("publisher %d still leads after being killed", leader)
	}
}
