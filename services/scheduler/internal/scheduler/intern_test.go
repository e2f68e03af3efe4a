package scheduler

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"

	v1 "k8s.io/api/core/v1"

	"drover.dev/scheduler/internal/framework"
)

// decode returns a fresh pod from JSON, as an informer would.
func decode(t *testing.T, s string) *v1.Pod {
	t.Helper()
	p := &v1.Pod{}
	if err := json.Unmarshal([]byte(s), p); err != nil {
		t.Fatal(err)
	}
	return p
}

func trimmed(t *testing.T, s string) *v1.Pod {
	t.Helper()
	out, err := trimPod(decode(t, s))
	if err != nil {
		t.Fatal(err)
	}
	return out.(*v1.Pod)
}

// TestReplicasShareConstraints: pods decoded separately with equal
// affinity and spread constraints share one copy after trimming (and then
// one parsed selector); different constraints are kept apart.
func TestReplicasShareConstraints(t *testing.T) {
	const web = `{"metadata":{"name":"%s","namespace":"ns","uid":"%s","labels":{"app":"web","tier":"front"}},"spec":{
		"affinity":{"podAntiAffinity":{"preferredDuringSchedulingIgnoredDuringExecution":[{"weight":100,"podAffinityTerm":{
			"labelSelector":{"matchLabels":{"app":"web","tier":"front"}},"topologyKey":"kubernetes.io/hostname"}}]}},
		"topologySpreadConstraints":[{"maxSkew":1,"topologyKey":"topology.kubernetes.io/zone","whenUnsatisfiable":"DoNotSchedule",
			"labelSelector":{"matchLabels":{"app":"web"}}}]}}`
	a := trimmed(t, fmtPod(web, "a"))
	b := trimmed(t, fmtPod(web, "b"))
	if a.Spec.Affinity != b.Spec.Affinity {
		t.Fatal("equal affinities not shared")
	}
	if &a.Spec.TopologySpreadConstraints[0] != &b.Spec.TopologySpreadConstraints[0] {
		t.Fatal("equal spread constraints not shared")
	}
	other := trimmed(t, fmtPod(`{"metadata":{"name":"%s","namespace":"ns","uid":"%s"},"spec":{
		"affinity":{"podAntiAffinity":{"preferredDuringSchedulingIgnoredDuringExecution":[{"weight":100,"podAffinityTerm":{
			"labelSelector":{"matchLabels":{"app":"db","tier":"front"}},"topologyKey":"kubernetes.io/hostname"}}]}}}}`, "c"))
	if other.Spec.Affinity == a.Spec.Affinity {
		t.Fatal("different affinities shared")
	}
	pa, pb, pc := framework.NewPodInfo(a), framework.NewPodInfo(b), framework.NewPodInfo(other)
	ta, tb, tc := pa.PreferredAntiAffinityTerms[0], pb.PreferredAntiAffinityTerms[0], pc.PreferredAntiAffinityTerms[0]
	if reflect.ValueOf(ta.Namespaces).Pointer() != reflect.ValueOf(tb.Namespaces).Pointer() {
		t.Fatal("shared term parsed twice")
	}
	if !ta.Matches(a, nil) || tc.Matches(a, nil) {
		t.Fatal("terms match wrongly")
	}
}

func fmtPod(tmpl, name string) string { return fmt.Sprintf(tmpl, name, name+"-uid") }
