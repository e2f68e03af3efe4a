package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"drover.dev/scheduler/app/options"
	schedtesting "drover.dev/scheduler/app/testing"
)

func scheduledCount(t *testing.T, ts *schedtesting.TestServer) int {
	t.Helper()
	m, err := ts.Metrics()
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(m, "\n") {
		if strings.HasPrefix(line, `scheduler_schedule_attempts_total{profile="default-scheduler",result="scheduled"}`) {
			var n int
			fmt.Sscanf(line[strings.LastIndex(line, " ")+1:], "%d", &n)
			return n
		}
	}
	return 0
}

func TestLeaderFailoverWithoutDoubleBinding(t *testing.T) {
	c := startCluster(t)
	for i := range 3 {
		c.addNode(t, hollowNode{name: fmt.Sprintf("node-%d", i)})
	}
	le := func(o *options.Options) {
		o.LeaderElect = true
		o.LeaderElectLeaseDuration = 2 * time.Second
		o.LeaderElectRenewDeadline = 1500 * time.Millisecond
		o.LeaderElectRetryPeriod = 200 * time.Millisecond
	}
	a := c.startScheduler(t, le)
	eventually(t, 10*time.Second, func() error {
		l, err := c.cs.CoordinationV1().Leases("kube-system").Get(context.Background(), "drover-scheduler", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity == "" {
			return fmt.Errorf("no holder")
		}
		return nil
	})
	b := c.startScheduler(t, le)

	for i := range 20 {
		c.createPod(t, newPod(fmt.Sprintf("before-%d", i)))
	}
	for i := range 20 {
		c.waitScheduled(t, fmt.Sprintf("before-%d", i))
	}
	if got := scheduledCount(t, b); got != 0 {
		t.Fatalf("standby scheduled %d pods while the leader ran", got)
	}
	if got := scheduledCount(t, a); got != 20 {
		t.Fatalf("leader scheduled %d pods, want 20", got)
	}
	// The leader goes away; the standby takes over.
	a.Stop()
	for i := range 20 {
		c.createPod(t, newPod(fmt.Sprintf("after-%d", i)))
	}
	for i := range 20 {
		c.waitScheduled(t, fmt.Sprintf("after-%d", i))
	}
	if got := scheduledCount(t, b); got != 20 {
		t.Fatalf("new leader scheduled %d pods, want 20", got)
	}
	// Every pod was bound once: one Scheduled event each, no binding errors.
	for _, prefix := range []string{"before", "after"} {
		for i := range 20 {
			name := fmt.Sprintf("%s-%d", prefix, i)
			eventually(t, 10*time.Second, func() error {
				if n := len(c.events(t, name, "Scheduled")); n != 1 {
					return fmt.Errorf("%s has %d Scheduled events", name, n)
				}
				return nil
			})
			if f := c.events(t, name, "FailedScheduling"); len(f) > 0 {
				t.Fatalf("%s: FailedScheduling %v", name, f)
			}
		}
	}
}
