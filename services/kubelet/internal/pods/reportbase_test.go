package pods

import (
	"context"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
)

// TestLaggingInformerKeepsTransitionTimes: syncs that still see the pod as
// it was before the kubelet's own status landed report the same status,
// transition times included, so nothing is sent again.
func TestLaggingInformerKeepsTransitionTimes(t *testing.T) {
	h := newHarness(t, pod(v1.RestartPolicyAlways))
	ctx := context.Background()
	h.w.sync(ctx)
	first, ok := h.st.Get(h.pod.UID)
	if !ok || first.Phase != v1.PodRunning || len(first.Conditions) == 0 {
		t.Fatalf("first status %+v", first)
	}
	time.Sleep(10 * time.Millisecond) // a later "now"
	h.w.sync(ctx)                     // the worker's pod still has no status
	again, _ := h.st.Get(h.pod.UID)
	for i, c := range again.Conditions {
		if !c.LastTransitionTime.Equal(&first.Conditions[i].LastTransitionTime) {
			t.Fatalf("%s moved from %v to %v", c.Type, first.Conditions[i].LastTransitionTime, c.LastTransitionTime)
		}
	}
}
