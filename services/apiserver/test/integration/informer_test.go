package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

func TestInformerSeesChanges(t *testing.T) {
	_, cs := startServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cms := cs.CoreV1().ConfigMaps("default")
	if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "before"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	factory := informers.NewSharedInformerFactory(cs, 0)
	inf := factory.Core().V1().ConfigMaps().Informer()
	var mu sync.Mutex
	events := map[string]int{}
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { mu.Lock(); events["add"]++; mu.Unlock() },
		UpdateFunc: func(any, any) { mu.Lock(); events["update"]++; mu.Unlock() },
		DeleteFunc: func(any) { mu.Lock(); events["delete"]++; mu.Unlock() },
	})
	factory.Start(ctx.Done())
	syncCtx, syncCancel := context.WithTimeout(ctx, 10*time.Second)
	defer syncCancel()
	if !cache.WaitForCacheSync(syncCtx.Done(), inf.HasSynced) {
		t.Fatal("informer did not sync (streaming list must end with the initial-events bookmark)")
	}
	cm, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "after"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cm.Data = map[string]string{"k": "v"}
	if _, err := cms.Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := cms.Delete(ctx, "after", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		if events["add"] < 2 || events["update"] < 1 || events["delete"] < 1 {
			return fmt.Errorf("events so far: %v", events)
		}
		return nil
	})
	if _, ok, _ := inf.GetStore().GetByKey("default/before"); !ok {
		t.Fatal("initial object missing from the informer store")
	}
}

func TestWatchTooOldIsGone(t *testing.T) {
	ts, cs := startServer(t)
	ctx := context.Background()
	cms := cs.CoreV1().ConfigMaps("default")
	first, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "x"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Push the history window past the first revision, then compact etcd.
	for i := range 5 {
		if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("y%d", i)}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	etcd, err := clientv3.New(clientv3.Config{Endpoints: []string{ts.EtcdURL}})
	if err != nil {
		t.Fatal(err)
	}
	defer etcd.Close()
	resp, err := etcd.Get(ctx, "/registry/none")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := etcd.Compact(ctx, resp.Header.Revision, clientv3.WithCompactPhysical()); err != nil {
		t.Fatal(err)
	}
	// Resuming inside the cache history still works.
	w, err := cms.Watch(ctx, metav1.ListOptions{ResourceVersion: first.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	ev := <-w.ResultChan()
	w.Stop()
	if ev.Type != watch.Added {
		t.Fatalf("resume from history: %v", ev)
	}
	// A list at a compacted revision is 410 Gone.
	_, err = cms.List(ctx, metav1.ListOptions{ResourceVersion: first.ResourceVersion, ResourceVersionMatch: metav1.ResourceVersionMatchExact})
	if !apierrors.IsResourceExpired(err) && !apierrors.IsGone(err) {
		t.Fatalf("exact list at compacted revision: %v", err)
	}
	// A watch from before the cache history falls back to etcd: 410 as an ERROR event.
	w, err = cms.Watch(ctx, metav1.ListOptions{ResourceVersion: "1"})
	if err != nil {
		if !apierrors.IsResourceExpired(err) && !apierrors.IsGone(err) {
			t.Fatalf("watch at rv 1: %v", err)
		}
		return
	}
	defer w.Stop()
	select {
	case ev := <-w.ResultChan():
		st, ok := ev.Object.(*metav1.Status)
		if ev.Type != watch.Error || !ok || st.Code != 410 {
			t.Fatalf("want 410 error event, got %v %v", ev.Type, ev.Object)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no 410")
	}
}

func TestTableAndDiscovery(t *testing.T) {
	ts, cs := startServer(t)
	ctx := context.Background()
	if _, err := cs.CoreV1().Pods("default").Create(ctx, testPod("tp"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", ts.URL+"/api/v1/namespaces/default/pods", nil)
	req.Header.Set("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io,application/json")
	resp, err := ts.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var table metav1.Table
	if err := json.NewDecoder(resp.Body).Decode(&table); err != nil {
		t.Fatal(err)
	}
	var cols []string
	for _, c := range table.ColumnDefinitions {
		if c.Priority == 0 {
			cols = append(cols, c.Name)
		}
	}
	if got := strings.Join(cols, " "); got != "Name Ready Status Restarts Age" {
		t.Fatalf("pod columns %q", got)
	}
	if len(table.Rows) != 1 || table.Rows[0].Cells[0] != "tp" {
		t.Fatalf("rows %+v", table.Rows)
	}

	groups, resources, err := cs.Discovery().ServerGroupsAndResources()
	if err != nil {
		t.Fatal(err)
	}
	if len(groups) < 10 {
		t.Fatalf("only %d groups", len(groups))
	}
	short := map[string]bool{}
	for _, rl := range resources {
		for _, r := range rl.APIResources {
			for _, s := range r.ShortNames {
				short[s] = true
			}
		}
	}
	for _, s := range []string{"po", "svc", "deploy", "rs", "ns", "cm", "sa", "ep", "pv", "pvc", "hpa", "ds", "sts", "cj"} {
		if !short[s] {
			t.Errorf("short name %s missing", s)
		}
	}
	v, err := cs.Discovery().ServerVersion()
	if err != nil || v.Minor != "37" {
		t.Fatalf("version %v %v", v, err)
	}
	for _, p := range []string{"/healthz", "/livez", "/readyz", "/metrics", "/openapi/v2", "/openapi/v3"} {
		resp, err := ts.Client.Get(ts.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("%s: %d %s", p, resp.StatusCode, body)
		}
	}
}

func TestTwoReplicasShareState(t *testing.T) {
	a := startServerA(t)
	b := apiservertestingStart(t, a.EtcdURL)
	csA, _ := kubernetes.NewForConfig(a.Config)
	csB, _ := kubernetes.NewForConfig(b.Config)
	ctx := context.Background()
	w, err := csA.CoreV1().ConfigMaps("default").Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if _, err := csB.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "via-b"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(5 * time.Second)
	for {
		select {
		case ev := <-w.ResultChan():
			if cm, ok := ev.Object.(*corev1.ConfigMap); ok && cm.Name == "via-b" {
				if _, err := csA.CoreV1().ConfigMaps("default").Get(ctx, "via-b", metav1.GetOptions{}); err != nil {
					t.Fatal(err)
				}
				return
			}
		case <-deadline:
			t.Fatal("replica A never saw the write made through B")
		}
	}
}
