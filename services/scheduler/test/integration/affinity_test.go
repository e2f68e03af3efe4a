package integration

import (
	"fmt"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// zonedNodes adds nodes zone-<z>-<i>.
func zonedNodes(t *testing.T, c *cluster, zones, perZone int) {
	for z := range zones {
		for i := range perZone {
			c.addNode(t, hollowNode{name: fmt.Sprintf("zone-%d-%d", z, i), labels: map[string]string{v1.LabelTopologyZone: fmt.Sprintf("zone-%d", z)}})
		}
	}
}

func zoneOf(node string) string { return node[:strings.LastIndex(node, "-")] }

func TestAntiAffinitySpreadsAcrossZones(t *testing.T) {
	c := startCluster(t)
	zonedNodes(t, c, 3, 2)
	c.startScheduler(t, nil)
	anti := func(p *v1.Pod) {
		p.Labels = map[string]string{"app": "db"}
		p.Spec.Affinity = &v1.Affinity{PodAntiAffinity: &v1.PodAntiAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: []v1.PodAffinityTerm{{
				LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}},
				TopologyKey:   v1.LabelTopologyZone,
			}},
		}}
	}
	zones := map[string]bool{}
	for i := range 3 {
		name := fmt.Sprintf("db-%d", i)
		c.createPod(t, newPod(name, anti))
		z := zoneOf(c.waitScheduled(t, name))
		if zones[z] {
			t.Fatalf("%s shares zone %s", name, z)
		}
		zones[z] = true
	}
	// A fourth replica has no zone left.
	c.createPod(t, newPod("db-3", anti))
	msg := c.waitUnschedulable(t, "db-3")
	if msg != "0/6 nodes are available: 6 node(s) didn't match pod anti-affinity rules. preemption: 0/6 nodes are available: 6 No preemption victims found for incoming pod." {
		t.Fatalf("message: %s", msg)
	}

	// Affinity: a cache pod must share a zone with db-0.
	dbZone := zoneOf(c.waitScheduled(t, "db-0"))
	c.createPod(t, newPod("cache", func(p *v1.Pod) {
		p.Labels = map[string]string{"app": "cache"}
		p.Spec.Affinity = &v1.Affinity{PodAffinity: &v1.PodAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: []v1.PodAffinityTerm{{
				LabelSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: metav1.LabelSelectorOpIn, Values: []string{"db"}}}},
				TopologyKey:   v1.LabelTopologyZone,
			}},
		}}
		// Only db-0's zone qualifies once the others are excluded by node affinity.
		p.Spec.Affinity.NodeAffinity = &v1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &v1.NodeSelector{
			NodeSelectorTerms: []v1.NodeSelectorTerm{{MatchExpressions: []v1.NodeSelectorRequirement{{Key: v1.LabelTopologyZone, Operator: v1.NodeSelectorOpIn, Values: []string{dbZone, "zone-none"}}}}},
		}}
	}))
	if z := zoneOf(c.waitScheduled(t, "cache")); z != dbZone {
		t.Fatalf("cache in %s, want %s", z, dbZone)
	}
	// Affinity to pods that exist nowhere is unschedulable.
	c.createPod(t, newPod("lonely", func(p *v1.Pod) {
		p.Spec.Affinity = &v1.Affinity{PodAffinity: &v1.PodAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: []v1.PodAffinityTerm{{
				LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "ghost"}},
				TopologyKey:   v1.LabelTopologyZone,
			}},
		}}
	}))
	msg = c.waitUnschedulable(t, "lonely")
	if !strings.Contains(msg, "6 node(s) didn't match pod affinity rules") {
		t.Fatalf("message: %s", msg)
	}
}

func TestTopologySpread(t *testing.T) {
	c := startCluster(t)
	zonedNodes(t, c, 3, 2)
	c.addNode(t, hollowNode{name: "nozone"})
	c.startScheduler(t, nil)
	spread := func(p *v1.Pod) {
		p.Labels = map[string]string{"app": "web"}
		p.Spec.TopologySpreadConstraints = []v1.TopologySpreadConstraint{{
			MaxSkew: 1, TopologyKey: v1.LabelTopologyZone, WhenUnsatisfiable: v1.DoNotSchedule,
			LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
		}}
	}
	perZone := map[string]int{}
	for i := range 9 {
		name := fmt.Sprintf("web-%d", i)
		c.createPod(t, newPod(name, spread))
		node := c.waitScheduled(t, name)
		if node == "nozone" {
			t.Fatalf("%s on a node without the zone label", name)
		}
		perZone[zoneOf(node)]++
	}
	for z, n := range perZone {
		if n != 3 {
			t.Fatalf("zone %s has %d pods, want 3 each: %v", z, n, perZone)
		}
	}
	// Pods that may only go to zone-0 but count every zone for skew: the
	// first makes skew 1 (allowed), the second would make it 2.
	zone0 := func(p *v1.Pod) {
		p.Spec.NodeSelector = map[string]string{v1.LabelTopologyZone: "zone-0"}
		ignore := v1.NodeInclusionPolicyIgnore
		p.Spec.TopologySpreadConstraints[0].NodeAffinityPolicy = &ignore
	}
	c.createPod(t, newPod("web-zone0", spread, zone0))
	c.waitScheduled(t, "web-zone0")
	c.createPod(t, newPod("web-skewed", spread, zone0))
	msg := c.waitUnschedulable(t, "web-skewed")
	want := "0/7 nodes are available: 2 node(s) didn't match pod topology spread constraints, 5 node(s) didn't match Pod's node affinity/selector."
	if !strings.HasPrefix(msg, want) {
		t.Fatalf("message\n got: %s\nwant: %s", msg, want)
	}
}
