package clientgo

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	"drover.dev/e2e/framework"
)

func TestWatchFromResourceVersion(t *testing.T) {
	c := framework.SharedCluster(t)
	cs := c.Clientset(t)
	ctx := ctxFor(t)
	ns := framework.TestNamespace(t, cs)
	cms := cs.CoreV1().ConfigMaps(ns)

	// An event before the start point must not be replayed.
	if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "before"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	list, err := cms.List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	start := list.ResourceVersion

	type want struct {
		typ  watch.EventType
		name string
		rv   string
	}
	var wants []want
	a, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "a"}, Data: map[string]string{"v": "1"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wants = append(wants, want{watch.Added, "a", a.ResourceVersion})
	a.Data["v"] = "2"
	if a, err = cms.Update(ctx, a, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	wants = append(wants, want{watch.Modified, "a", a.ResourceVersion})
	b, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "b"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wants = append(wants, want{watch.Added, "b", b.ResourceVersion})
	if err := cms.Delete(ctx, "a", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	wants = append(wants, want{watch.Deleted, "a", ""})

	w, err := cms.Watch(ctx, metav1.ListOptions{ResourceVersion: start})
	if err != nil {
		t.Fatalf("watch from %s: %v", start, err)
	}
	defer w.Stop()
	var lastRV string
	for i, wt := range wants {
		ev := nextEvent(t, w, defaultWait)
		cm, ok := ev.Object.(*corev1.ConfigMap)
		if !ok {
			t.Fatalf("event %d: %s with %T, want %s of configmap %s", i, ev.Type, ev.Object, wt.typ, wt.name)
		}
		if ev.Type != wt.typ || cm.Name != wt.name {
			t.Fatalf("event %d: %s %s, want %s %s", i, ev.Type, cm.Name, wt.typ, wt.name)
		}
		if wt.rv != "" && cm.ResourceVersion != wt.rv {
			t.Errorf("event %d (%s %s): resourceVersion %s, want %s as the write returned", i, ev.Type, cm.Name, cm.ResourceVersion, wt.rv)
		}
		if wt.typ == watch.Deleted && cm.ResourceVersion == lastRV {
			t.Errorf("DELETED event carries the last update's resourceVersion %s, want the deletion's", lastRV)
		}
		lastRV = cm.ResourceVersion
	}
	// Nothing else came between: the next event is the next write.
	if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "marker"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ev := nextEvent(t, w, defaultWait)
	if cm, ok := ev.Object.(*corev1.ConfigMap); !ok || ev.Type != watch.Added || cm.Name != "marker" {
		t.Fatalf("after the expected events: %s %v, want ADDED marker", ev.Type, ev.Object)
	}

	// A watch with a label selector sees only matching objects; an update that makes an
	// object stop matching is a DELETED for that watch.
	list, err = cms.List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	lw, err := cms.Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion, LabelSelector: "watched=yes"})
	if err != nil {
		t.Fatal(err)
	}
	defer lw.Stop()
	if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "unwatched"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	sel, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "watched", Labels: map[string]string{"watched": "yes"}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ev = nextEvent(t, lw, defaultWait)
	if cm, ok := ev.Object.(*corev1.ConfigMap); !ok || ev.Type != watch.Added || cm.Name != "watched" {
		t.Fatalf("selector watch: %s %v, want ADDED watched", ev.Type, ev.Object)
	}
	sel.Labels["watched"] = "no"
	if _, err := cms.Update(ctx, sel, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	ev = nextEvent(t, lw, defaultWait)
	if cm, ok := ev.Object.(*corev1.ConfigMap); !ok || ev.Type != watch.Deleted || cm.Name != "watched" {
		t.Fatalf("selector watch after the label changed: %s %v, want DELETED watched", ev.Type, ev.Object)
	}
}

func TestWatchTimeoutSeconds(t *testing.T) {
	c := framework.SharedCluster(t)
	cs := c.Clientset(t)
	ctx := ctxFor(t)
	ns := framework.TestNamespace(t, cs)
	w, err := cs.CoreV1().ConfigMaps(ns).Watch(ctx, metav1.ListOptions{TimeoutSeconds: ptr(int64(1))})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	deadline := time.After(defaultWait)
	for {
		select {
		case _, ok := <-w.ResultChan():
			if !ok {
				return // the server ended the watch
			}
		case <-deadline:
			t.Fatalf("watch with timeoutSeconds=1 still open after %s", defaultWait)
		}
	}
}

// TestWatchGoneAfterCompaction compacts etcd and checks the resourceVersion semantics
// around it. Like kube-apiserver's watch cache, an apiserver may still serve a watch from
// a compacted revision out of its own event history, but then it must be exactly the
// events that followed; a server that has no such history (a replica started after the
// compaction) must answer 410 Gone, and exact lists at a compacted revision are 410.
func TestWatchGoneAfterCompaction(t *testing.T) {
	c := framework.SharedCluster(t)
	cs := c.Clientset(t)
	ctx := ctxFor(t)
	ns := framework.TestNamespace(t, cs)
	cms := cs.CoreV1().ConfigMaps(ns)

	old, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "old"}, Data: map[string]string{"n": "0"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	oldRV := old.ResourceVersion
	cur := old
	var updateRVs []string
	for i := range 3 {
		cur.Data["n"] = string(rune('1' + i))
		if cur, err = cms.Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		updateRVs = append(updateRVs, cur.ResourceVersion)
	}
	rev := compactEtcd(t, c)
	t.Logf("compacted etcd at revision %d; the object was created at %s", rev, oldRV)

	t.Run("exact list at a compacted revision is 410", func(t *testing.T) {
		_, err := cms.List(ctx, metav1.ListOptions{ResourceVersion: oldRV, ResourceVersionMatch: metav1.ResourceVersionMatchExact})
		wantStatus(t, err, http.StatusGone, metav1.StatusReasonExpired)
	})

	t.Run("watch on the running apiserver: 410 or exactly the later events", func(t *testing.T) {
		w, err := cms.Watch(ctx, metav1.ListOptions{ResourceVersion: oldRV})
		if err != nil {
			s := apiStatus(t, err)
			if s.Code != http.StatusGone || s.Reason != metav1.StatusReasonExpired {
				t.Fatalf("watch from compacted rv: %d %s %q, want 410 Expired or the events", s.Code, s.Reason, s.Message)
			}
			return
		}
		defer w.Stop()
		for i, want := range updateRVs {
			ev := nextEvent(t, w, defaultWait)
			if s, ok := ev.Object.(*metav1.Status); ok {
				if i == 0 && ev.Type == watch.Error && s.Code == http.StatusGone && s.Reason == metav1.StatusReasonExpired {
					return
				}
				t.Fatalf("event %d: %s %+v", i, ev.Type, s)
			}
			cm, ok := ev.Object.(*corev1.ConfigMap)
			if !ok || ev.Type != watch.Modified || cm.Name != "old" || cm.ResourceVersion != want {
				t.Fatalf("event %d from the watch history: %s %v, want MODIFIED old at %s", i, ev.Type, ev.Object, want)
			}
		}
		t.Log("the apiserver served the compacted range from its own watch history")
	})

	// A replica started now has only etcd to serve old revisions from.
	_, port := c.StartAPIServer(t)
	replica, err := kubernetes.NewForConfig(c.ConfigFor(port))
	if err != nil {
		t.Fatal(err)
	}
	rcms := replica.CoreV1().ConfigMaps(ns)

	t.Run("watch on a fresh replica from a compacted revision is 410", func(t *testing.T) {
		w, err := rcms.Watch(ctx, metav1.ListOptions{ResourceVersion: oldRV})
		if err != nil {
			s := apiStatus(t, err)
			if s.Code != http.StatusGone || s.Reason != metav1.StatusReasonExpired {
				t.Fatalf("watch from compacted rv: %d %s %q, want 410 Expired", s.Code, s.Reason, s.Message)
			}
			return
		}
		defer w.Stop()
		ev := nextEvent(t, w, defaultWait)
		s, ok := ev.Object.(*metav1.Status)
		if ev.Type != watch.Error || !ok {
			t.Fatalf("watch from rv %s, compacted in etcd at %d: first event %s %T, want ERROR with a 410 Status", oldRV, rev, ev.Type, ev.Object)
		}
		if s.Code != http.StatusGone || s.Reason != metav1.StatusReasonExpired {
			t.Fatalf("watch from compacted rv: %d %s %q, want 410 Expired", s.Code, s.Reason, s.Message)
		}
		if !strings.Contains(s.Message, "too old resource version") {
			t.Errorf("410 message %q, want Kubernetes' \"too old resource version: ...\"", s.Message)
		}
	})

	t.Run("watch on a fresh replica from a revision still in etcd", func(t *testing.T) {
		// The last update is at or after the compaction point, so etcd still has what
		// follows it, though the replica's cache began later.
		w, err := rcms.Watch(ctx, metav1.ListOptions{ResourceVersion: cur.ResourceVersion})
		if err != nil {
			t.Fatalf("watch from a live rv after compaction: %v", err)
		}
		defer w.Stop()
		if err := cms.Delete(ctx, "old", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		ev := nextEvent(t, w, defaultWait)
		if cm, ok := ev.Object.(*corev1.ConfigMap); !ok || ev.Type != watch.Deleted || cm.Name != "old" {
			t.Fatalf("watch after compaction: %s %v, want DELETED old", ev.Type, ev.Object)
		}
	})
}

// compactEtcd compacts the cluster's etcd at its current revision, through etcd's own
// client at the address `drover up` wrote.
func compactEtcd(t *testing.T, c *framework.Cluster) int64 {
	t.Helper()
	url, err := c.EtcdURL()
	if err != nil {
		t.Fatal(err)
	}
	cfg := clientv3.Config{Endpoints: strings.Split(url, ","), DialTimeout: 10 * time.Second}
	if strings.HasPrefix(url, "https://") {
		cfg.TLS = etcdTLS(t, c)
	}
	cli, err := clientv3.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, "/registry/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		t.Fatalf("etcd get: %v", err)
	}
	rev := resp.Header.Revision
	if _, err := cli.Compact(ctx, rev, clientv3.WithCompactPhysical()); err != nil {
		t.Fatalf("etcd compact at %d: %v", rev, err)
	}
	return rev
}

// etcdTLS trusts the cluster CA and presents the apiserver's etcd client certificate if
// `drover up` made one.
func etcdTLS(t *testing.T, c *framework.Cluster) *tls.Config {
	pki := filepath.Join(c.StateDir, "pki")
	ca, err := os.ReadFile(filepath.Join(pki, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	cfg := &tls.Config{RootCAs: pool}
	for _, pair := range [][2]string{{"apiserver-etcd-client.crt", "apiserver-etcd-client.key"}, {"etcd-client.crt", "etcd-client.key"}} {
		if cert, err := tls.LoadX509KeyPair(filepath.Join(pki, pair[0]), filepath.Join(pki, pair[1])); err == nil {
			cfg.Certificates = []tls.Certificate{cert}
			break
		}
	}
	return cfg
}
