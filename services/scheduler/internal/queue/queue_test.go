package queue

import (
	"context"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"drover.dev/scheduler/internal/framework"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func pod(name string, prio int32) *v1.Pod {
	return &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID(name)}, Spec: v1.PodSpec{Priority: &prio}}
}

func newQueue(c *clock) *PriorityQueue {
	return New(Options{
		Now: c.now, InitialBackoff: time.Second, MaxBackoff: 10 * time.Second,
		EventsToRegister: map[string][]framework.ClusterEvent{
			"Fit": {{Resource: framework.EventAssignedPod, ActionType: framework.Delete}},
			"Aff": {{Resource: framework.EventNode, ActionType: framework.UpdateNodeLabel}},
		},
	})
}

func pop(t *testing.T, q *PriorityQueue) *QueuedPodInfo {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	done := make(chan *QueuedPodInfo, 1)
	go func() {
		qi, _ := q.Pop(ctx)
		done <- qi
	}()
	select {
	case qi := <-done:
		if qi == nil {
			t.Fatal("pop returned nothing")
		}
		return qi
	case <-time.After(2 * time.Second):
		q.Close()
		t.Fatal("pop blocked")
	}
	return nil
}

func TestPopOrder(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	q := newQueue(c)
	for _, p := range []struct {
		name string
		prio int32
	}{{"low-1", 0}, {"high", 100}, {"low-2", 0}, {"mid", 50}} {
		q.Add(pod(p.name, p.prio))
		c.t = c.t.Add(time.Millisecond)
	}
	want := []string{"high", "mid", "low-1", "low-2"}
	for _, w := range want {
		if got := pop(t, q).Pod.Name; got != w {
			t.Fatalf("popped %s, want %s", got, w)
		}
	}
}

func TestUnschedulableMovesOnlyOnHelpfulEvents(t *testing.T) {
	tests := []struct {
		name    string
		plugins []string
		event   framework.ClusterEvent
		moves   bool
	}{
		{"registered event", []string{"Fit"}, framework.ClusterEvent{Resource: framework.EventAssignedPod, ActionType: framework.Delete}, true},
		{"other action", []string{"Fit"}, framework.ClusterEvent{Resource: framework.EventAssignedPod, ActionType: framework.Add}, false},
		{"other resource", []string{"Fit"}, framework.ClusterEvent{Resource: framework.EventNode, ActionType: framework.Add}, false},
		{"any of several plugins", []string{"Fit", "Aff"}, framework.ClusterEvent{Resource: framework.EventNode, ActionType: framework.UpdateNodeLabel}, true},
		{"plugin without registration moves on everything", []string{"Unknown"}, framework.ClusterEvent{Resource: framework.EventNode, ActionType: framework.Add}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &clock{t: time.Unix(1000, 0)}
			q := newQueue(c)
			q.Add(pod("p", 0))
			qi := pop(t, q)
			cycle := q.SchedulingCycle()
			qi.UnschedulablePlugins = map[string]struct{}{}
			for _, p := range tt.plugins {
				qi.UnschedulablePlugins[p] = struct{}{}
			}
			q.AddUnschedulableIfNotPresent(qi, cycle)
			if d := q.Depths(); d.Unschedulable != 1 {
				t.Fatalf("depths %+v", d)
			}
			c.t = c.t.Add(time.Minute) // past back-off
			q.MoveAllToActiveOrBackoffQueue(tt.event, nil)
			d := q.Depths()
			if (d.Active == 1) != tt.moves || (d.Unschedulable == 1) == tt.moves {
				t.Fatalf("depths %+v, want moved=%v", d, tt.moves)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	q := newQueue(c)
	q.Add(pod("p", 0))
	for attempt, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second} {
		qi := pop(t, q)
		if qi.Attempts != attempt+1 {
			t.Fatalf("attempts %d", qi.Attempts)
		}
		qi.UnschedulablePlugins = nil // an error: straight to back-off
		q.AddUnschedulableIfNotPresent(qi, q.SchedulingCycle())
		c.t = c.t.Add(want - time.Millisecond)
		q.flushBackoff()
		if d := q.Depths(); d.Backoff != 1 {
			t.Fatalf("attempt %d: left back-off early: %+v", attempt, d)
		}
		c.t = c.t.Add(2 * time.Millisecond)
		q.flushBackoff()
		if d := q.Depths(); d.Active != 1 {
			t.Fatalf("attempt %d: still backing off after %v: %+v", attempt, want, d)
		}
	}
}

func TestEventDuringCycleSendsPodToBackoff(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	q := newQueue(c)
	q.Add(pod("p", 0))
	qi := pop(t, q)
	cycle := q.SchedulingCycle()
	// While the pod was being scheduled, a node was added.
	q.MoveAllToActiveOrBackoffQueue(framework.ClusterEvent{Resource: framework.EventNode, ActionType: framework.Add}, nil)
	qi.UnschedulablePlugins = map[string]struct{}{"Fit": {}}
	q.AddUnschedulableIfNotPresent(qi, cycle)
	if d := q.Depths(); d.Backoff != 1 || d.Unschedulable != 0 {
		t.Fatalf("depths %+v: a pod that may have missed an event must retry", d)
	}
}

func TestUpdateAndDelete(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	q := newQueue(c)
	q.Add(pod("p", 0))
	qi := pop(t, q)
	qi.UnschedulablePlugins = map[string]struct{}{"Fit": {}}
	q.AddUnschedulableIfNotPresent(qi, q.SchedulingCycle())
	// A status-only update does not move it.
	old := qi.Pod
	upd := old.DeepCopy()
	upd.Status.Conditions = []v1.PodCondition{{Type: v1.PodScheduled, Status: v1.ConditionFalse}}
	q.Update(old, upd)
	if d := q.Depths(); d.Unschedulable != 1 {
		t.Fatalf("status update moved the pod: %+v", d)
	}
	// A label change does.
	c.t = c.t.Add(time.Minute)
	upd2 := upd.DeepCopy()
	upd2.Labels = map[string]string{"new": "label"}
	q.Update(upd, upd2)
	if d := q.Depths(); d.Active != 1 {
		t.Fatalf("label update did not move the pod: %+v", d)
	}
	q.Delete(upd2)
	if d := q.Depths(); d != (Depths{}) {
		t.Fatalf("after delete %+v", d)
	}
}

func TestNominatedPods(t *testing.T) {
	q := newQueue(&clock{t: time.Unix(1000, 0)})
	p := pod("p", 10)
	pi := framework.NewPodInfo(p)
	q.AddNominatedPod(pi, "node-1")
	if got := q.NominatedPodsForNode("node-1"); len(got) != 1 || got[0].Pod.Name != "p" {
		t.Fatalf("nominated %v", got)
	}
	q.AddNominatedPod(pi, "node-2")
	if len(q.NominatedPodsForNode("node-1")) != 0 || len(q.NominatedPodsForNode("node-2")) != 1 {
		t.Fatal("re-nomination did not move the pod")
	}
	q.DeleteNominatedPodIfExists(p)
	if len(q.NominatedPodsForNode("node-2")) != 0 {
		t.Fatal("nomination not cleared")
	}
}
