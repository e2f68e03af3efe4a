package deployment

import (
	"context"
	"testing"

	apps "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
)

func ptr[T any](v T) *T { return &v }

func newD(replicas int32, surge, unavailable intstr.IntOrString) *apps.Deployment {
	labels := map[string]string{"app": "web"}
	return &apps.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "d-uid", Generation: 1,
			Annotations: map[string]string{"kubernetes.io/change-cause": "v1"}},
		Spec: apps.DeploymentSpec{
			Replicas: &replicas, Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: v1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: v1.PodSpec{Containers: []v1.Container{{Name: "c", Image: "nginx:1"}}}},
			Strategy: apps.DeploymentStrategy{Type: apps.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &apps.RollingUpdateDeployment{MaxSurge: &surge, MaxUnavailable: &unavailable}},
			RevisionHistoryLimit:    ptr(int32(10)),
			ProgressDeadlineSeconds: ptr(int32(600)),
		},
	}
}

func rsOf(replicas, status int32) *apps.ReplicaSet {
	return &apps.ReplicaSet{Spec: apps.ReplicaSetSpec{Replicas: &replicas}, Status: apps.ReplicaSetStatus{Replicas: status}}
}

func TestMaxSurgeUnavailable(t *testing.T) {
	tests := []struct {
		name                string
		replicas            int32
		surge, unavailable  intstr.IntOrString
		wantSurge, wantUnav int32
	}{
		{"percent rounds surge up, unavailable down", 10, intstr.FromString("25%"), intstr.FromString("25%"), 3, 2},
		{"absolute", 5, intstr.FromInt32(2), intstr.FromInt32(1), 2, 1},
		{"both zero becomes one unavailable", 4, intstr.FromInt32(0), intstr.FromString("10%"), 0, 1},
		{"unavailable capped at replicas", 2, intstr.FromInt32(1), intstr.FromInt32(5), 1, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, u := maxSurgeUnavailable(newD(tt.replicas, tt.surge, tt.unavailable))
			if s != tt.wantSurge || u != tt.wantUnav {
				t.Fatalf("got %d/%d, want %d/%d", s, u, tt.wantSurge, tt.wantUnav)
			}
		})
	}
}

func TestNewRSReplicas(t *testing.T) {
	d := newD(10, intstr.FromInt32(3), intstr.FromInt32(2))
	tests := []struct {
		name string
		old  *apps.ReplicaSet
		new  *apps.ReplicaSet
		want int32
	}{
		{"first rollout takes all", rsOf(0, 0), rsOf(0, 0), 10},
		{"surges by maxSurge", rsOf(10, 10), rsOf(0, 0), 3},
		{"no room", rsOf(10, 10), rsOf(3, 3), 3},
		{"old pods still terminating hold the surge back", rsOf(8, 10), rsOf(3, 3), 3},
		{"grows as old shrinks", rsOf(6, 6), rsOf(3, 3), 7},
		{"never past replicas", rsOf(0, 0), rsOf(9, 9), 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := newRSReplicas(d, []*apps.ReplicaSet{tt.old, tt.new}, tt.new); got != tt.want {
				t.Fatalf("got %d, want %d", got, tt.want)
			}
		})
	}
	recreate := newD(4, intstr.FromInt32(1), intstr.FromInt32(1))
	recreate.Spec.Strategy = apps.DeploymentStrategy{Type: apps.RecreateDeploymentStrategyType}
	if got := newRSReplicas(recreate, nil, rsOf(0, 0)); got != 4 {
		t.Fatalf("recreate: got %d", got)
	}
}

func TestProportion(t *testing.T) {
	d := newD(6, intstr.FromInt32(1), intstr.FromInt32(0))
	old := rsOf(3, 3)
	old.Annotations = map[string]string{MaxReplicasAnnotation: "4"}
	newRS := rsOf(1, 1)
	newRS.Annotations = map[string]string{MaxReplicasAnnotation: "4"}
	// From 3+1 (max 4) to 6+1: each grows by 7/4.
	if got := proportion(old, d, 3, 0); got != 2 {
		t.Fatalf("old grows by %d, want 2", got)
	}
	if got := proportion(newRS, d, 3, 2); got != 1 {
		t.Fatalf("new grows by %d, want 1", got)
	}
	if got := proportion(rsOf(0, 0), d, 3, 0); got != 0 {
		t.Fatalf("empty replica set grows by %d", got)
	}
}

func TestSetRevisionKeepsHistory(t *testing.T) {
	rs := &apps.ReplicaSet{}
	for _, rev := range []int64{1, 3, 2, 5} {
		setRevision(rs, rev)
	}
	if rs.Annotations[RevisionAnnotation] != "5" || rs.Annotations[RevisionHistoryAnnotation] != "1,3" {
		t.Fatalf("annotations %v", rs.Annotations)
	}
}

func TestEqualIgnoreHashAndHash(t *testing.T) {
	d := newD(1, intstr.FromInt32(1), intstr.FromInt32(0))
	tpl := d.Spec.Template.DeepCopy()
	tpl.Labels[apps.DefaultDeploymentUniqueLabelKey] = "abc"
	if !equalIgnoreHash(tpl, &d.Spec.Template) {
		t.Fatal("templates differing by the hash label must be equal")
	}
	tpl.Spec.Containers[0].Image = "nginx:2"
	if equalIgnoreHash(tpl, &d.Spec.Template) {
		t.Fatal("different images compared equal")
	}
	h0 := templateHash(&d.Spec.Template, nil)
	if h0 != templateHash(&d.Spec.Template, nil) || h0 == templateHash(&d.Spec.Template, ptr(int32(1))) {
		t.Fatal("hash must be stable and change with the collision count")
	}
}

func TestSyncCreatesFirstReplicaSet(t *testing.T) {
	d := newD(4, intstr.FromString("25%"), intstr.FromString("25%"))
	client := fake.NewClientset(d)
	f := informers.NewSharedInformerFactory(client, 0)
	c := New(client, f.Apps().V1().Deployments(), f.Apps().V1().ReplicaSets(), f.Core().V1().Pods(), nil, nil)
	_ = f.Apps().V1().Deployments().Informer().GetIndexer().Add(d)
	if err := c.sync(context.Background(), "ns/web"); err != nil {
		t.Fatal(err)
	}
	rss, err := client.AppsV1().ReplicaSets("ns").List(context.Background(), metav1.ListOptions{})
	if err != nil || len(rss.Items) != 1 {
		t.Fatalf("replica sets %v %v", rss, err)
	}
	rs := rss.Items[0]
	hash := rs.Labels[apps.DefaultDeploymentUniqueLabelKey]
	if rs.Name != "web-"+hash || *rs.Spec.Replicas != 4 || rs.Spec.Selector.MatchLabels[apps.DefaultDeploymentUniqueLabelKey] != hash ||
		rs.Annotations[RevisionAnnotation] != "1" || rs.Annotations[DesiredReplicasAnnotation] != "4" ||
		rs.Annotations[MaxReplicasAnnotation] != "5" || rs.Annotations["kubernetes.io/change-cause"] != "v1" {
		t.Fatalf("replica set %+v", rs.ObjectMeta)
	}
	got, _ := client.AppsV1().Deployments("ns").Get(context.Background(), "web", metav1.GetOptions{})
	if got.Annotations[RevisionAnnotation] != "1" {
		t.Fatalf("deployment annotations %v", got.Annotations)
	}
	cond := getCondition(got.Status, apps.DeploymentProgressing)
	if cond == nil || cond.Reason != reasonNewRSCreated || got.Status.ObservedGeneration != 1 {
		t.Fatalf("status %+v", got.Status)
	}
}

// ownedRS is a ReplicaSet of d running its template with replicas pods.
func ownedRS(d *apps.Deployment, replicas int32) *apps.ReplicaSet {
	hash := templateHash(&d.Spec.Template, nil)
	tpl := d.Spec.Template.DeepCopy()
	tpl.Labels = cloneLabels(tpl.Labels)
	tpl.Labels[apps.DefaultDeploymentUniqueLabelKey] = hash
	return &apps.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: d.Name + "-" + hash, Namespace: d.Namespace, UID: "rs-uid", Labels: tpl.Labels,
			Annotations: map[string]string{RevisionAnnotation: "1", DesiredReplicasAnnotation: "4", MaxReplicasAnnotation: "5"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: d.Name, UID: d.UID,
				Controller: ptr(true), BlockOwnerDeletion: ptr(true)}}},
		Spec: apps.ReplicaSetSpec{Replicas: &replicas, Template: *tpl,
			Selector: &metav1.LabelSelector{MatchLabels: tpl.Labels}},
		Status: apps.ReplicaSetStatus{Replicas: replicas, ReadyReplicas: replicas, AvailableReplicas: replicas, ObservedGeneration: 1},
	}
}

func TestStatusCopiesReplicaFailureAndTerminating(t *testing.T) {
	ctx := context.Background()
	d := newD(4, intstr.FromString("25%"), intstr.FromString("25%"))
	d.Annotations[RevisionAnnotation] = "1"
	rs := ownedRS(d, 4)
	rs.Status.Replicas, rs.Status.ReadyReplicas, rs.Status.AvailableReplicas = 3, 3, 3
	rs.Status.TerminatingReplicas = ptr(int32(2))
	failed := metav1.Now()
	rs.Status.Conditions = []apps.ReplicaSetCondition{{Type: apps.ReplicaSetReplicaFailure, Status: v1.ConditionTrue,
		Reason: "FailedCreate", Message: "pods \"web-x\" is forbidden: exceeded quota", LastTransitionTime: failed}}
	client := fake.NewClientset(d, rs)
	f := informers.NewSharedInformerFactory(client, 0)
	c := New(client, f.Apps().V1().Deployments(), f.Apps().V1().ReplicaSets(), f.Core().V1().Pods(), nil, nil)
	_ = f.Apps().V1().Deployments().Informer().GetIndexer().Add(d)
	_ = f.Apps().V1().ReplicaSets().Informer().GetIndexer().Add(rs)
	if err := c.sync(ctx, "ns/web"); err != nil {
		t.Fatal(err)
	}
	got, _ := client.AppsV1().Deployments("ns").Get(ctx, "web", metav1.GetOptions{})
	if got.Status.TerminatingReplicas == nil || *got.Status.TerminatingReplicas != 2 {
		t.Fatalf("terminatingReplicas %v, want 2", got.Status.TerminatingReplicas)
	}
	cond := getCondition(got.Status, apps.DeploymentReplicaFailure)
	if cond == nil || cond.Status != v1.ConditionTrue || cond.Reason != "FailedCreate" || cond.Message != rs.Status.Conditions[0].Message ||
		!cond.LastUpdateTime.Equal(&failed) {
		t.Fatalf("ReplicaFailure condition %+v", cond)
	}

	// The ReplicaSet recovers: the condition goes away.
	rs = rs.DeepCopy()
	rs.Status.Conditions = nil
	rs.Status.TerminatingReplicas = ptr(int32(0))
	_ = f.Apps().V1().ReplicaSets().Informer().GetIndexer().Update(rs)
	_ = f.Apps().V1().Deployments().Informer().GetIndexer().Update(got)
	if err := c.sync(ctx, "ns/web"); err != nil {
		t.Fatal(err)
	}
	got, _ = client.AppsV1().Deployments("ns").Get(ctx, "web", metav1.GetOptions{})
	if cond := getCondition(got.Status, apps.DeploymentReplicaFailure); cond != nil {
		t.Fatalf("ReplicaFailure kept after recovery: %+v", cond)
	}
	if got.Status.TerminatingReplicas == nil || *got.Status.TerminatingReplicas != 0 {
		t.Fatalf("terminatingReplicas %v, want 0", got.Status.TerminatingReplicas)
	}
}

func TestTerminatingReplicasUnknown(t *testing.T) {
	synced := rsOf(1, 1)
	synced.Status.ObservedGeneration = 1
	fresh := rsOf(1, 0)
	counted := rsOf(1, 1)
	counted.Status.TerminatingReplicas = ptr(int32(3))
	if got := terminatingReplicas([]*apps.ReplicaSet{fresh, counted, nil}); got == nil || *got != 3 {
		t.Fatalf("got %v, want 3 (never-synced sets count as zero)", got)
	}
	if got := terminatingReplicas([]*apps.ReplicaSet{counted, synced}); got != nil {
		t.Fatalf("got %d, want unknown while a synced set reports none", *got)
	}
}

// Only a ReplicaSet's own status moving is coalesced; anything the
// deployment acts on (spec, labels, owners, deletion) syncs at once.
func TestStatusOnly(t *testing.T) {
	base := &apps.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "web-1", Generation: 2, Labels: map[string]string{"app": "web"},
		OwnerReferences: []metav1.OwnerReference{{UID: "d-uid", Name: "web", Kind: "Deployment"}}},
		Status: apps.ReplicaSetStatus{Replicas: 3, ObservedGeneration: 2}}
	tests := []struct {
		name   string
		change func(rs *apps.ReplicaSet)
		want   bool
	}{
		{"pods turned ready", func(rs *apps.ReplicaSet) { rs.Status.ReadyReplicas = 2; rs.Status.AvailableReplicas = 2 }, true},
		{"scaled", func(rs *apps.ReplicaSet) { rs.Generation = 3 }, false},
		{"relabelled", func(rs *apps.ReplicaSet) { rs.Labels = map[string]string{"app": "other"} }, false},
		{"orphaned", func(rs *apps.ReplicaSet) { rs.OwnerReferences = nil }, false},
		{"being deleted", func(rs *apps.ReplicaSet) { rs.DeletionTimestamp = &metav1.Time{} }, false},
		{"replica failure", func(rs *apps.ReplicaSet) {
			rs.Status.Conditions = []apps.ReplicaSetCondition{{Type: apps.ReplicaSetReplicaFailure, Status: v1.ConditionTrue}}
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := base.DeepCopy()
			tt.change(n)
			if got := statusOnly(base, n); got != tt.want {
				t.Fatalf("statusOnly = %v, want %v", got, tt.want)
			}
		})
	}
}
