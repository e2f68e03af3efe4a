package clientgo

import (
	"context"
	"fmt"
	"slices"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"drover.dev/e2e/framework"
)

// TestDroverRestartsCrashedAPIServer kills the apiserver that `drover up` supervises:
// drover must start it again, and an informer on it must catch up on what changed.
func TestDroverRestartsCrashedAPIServer(t *testing.T) {
	c := framework.SharedCluster(t)
	cs := c.Clientset(t)
	ctx := ctxFor(t)
	ns := framework.TestNamespace(t, cs)
	cms := cs.CoreV1().ConfigMaps(ns)

	pids := c.APIServerPIDs()
	if len(pids) != 1 {
		t.Fatalf("drover up (pid %d) has apiserver children %v, want one", c.Drover.Pid(), pids)
	}
	rec, lister := startConfigMapInformer(t, cs, ns)
	if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "before-crash"}, Data: map[string]string{"v": "1"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	framework.Eventually(t, defaultWait, func() error { return rec.has("add", "before-crash=1") })

	if err := syscall.Kill(pids[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// drover notices and starts a new apiserver.
	const restartWait = 60 * time.Second
	framework.Eventually(t, restartWait, func() error {
		now := c.APIServerPIDs()
		if len(now) != 1 || slices.Contains(now, pids[0]) {
			return fmt.Errorf("apiserver children %v (killed %d)", now, pids[0])
		}
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_, err := cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(rctx)
		return err
	})
	if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "after-crash"}, Data: map[string]string{"v": "2"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The reflector backs off up to ~30s between attempts.
	framework.Eventually(t, 90*time.Second, func() error { return rec.has("add", "after-crash=2") })
	if _, err := lister.Get("before-crash"); err != nil {
		t.Errorf("informer cache lost before-crash across the restart: %v", err)
	}
	if !c.Drover.Running() {
		t.Fatal("drover up exited when its apiserver crashed")
	}
}
