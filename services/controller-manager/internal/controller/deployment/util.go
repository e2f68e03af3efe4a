package deployment

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	apps "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/rand"
)

// Annotations the controller maintains, as on Kubernetes.
const (
	RevisionAnnotation        = "deployment.kubernetes.io/revision"
	RevisionHistoryAnnotation = "deployment.kubernetes.io/revision-history"
	DesiredReplicasAnnotation = "deployment.kubernetes.io/desired-replicas"
	MaxReplicasAnnotation     = "deployment.kubernetes.io/max-replicas"
	lastAppliedAnnotation     = "kubectl.kubernetes.io/last-applied-configuration"
	rollbackToAnnotation      = "deprecated.deployment.rollback.to"

	// noProgressDeadline means progressDeadlineSeconds is unset.
	noProgressDeadline = math.MaxInt32
)

// Condition reasons, as on Kubernetes (kubectl matches some of them).
const (
	reasonNewRSCreated        = "NewReplicaSetCreated"
	reasonFoundNewRS          = "FoundNewReplicaSet"
	reasonRSUpdated           = "ReplicaSetUpdated"
	reasonNewRSAvailable      = "NewReplicaSetAvailable"
	reasonTimedOut            = "ProgressDeadlineExceeded"
	reasonPaused              = "DeploymentPaused"
	reasonResumed             = "DeploymentResumed"
	reasonMinimumAvailable    = "MinimumReplicasAvailable"
	reasonMinimumNotAvailable = "MinimumReplicasUnavailable"
)

// templateHash names a ReplicaSet after its pod template (and the
// deployment's collision count).
func templateHash(tpl *v1.PodTemplateSpec, collisionCount *int32) string {
	h := fnv.New32a()
	b, _ := json.Marshal(tpl)
	h.Write(b)
	if collisionCount != nil {
		fmt.Fprintf(h, "/%d", *collisionCount)
	}
	return rand.SafeEncodeString(strconv.FormatUint(uint64(h.Sum32()), 10))
}

// equalIgnoreHash compares templates without the pod-template-hash label.
func equalIgnoreHash(a, b *v1.PodTemplateSpec) bool {
	a, b = a.DeepCopy(), b.DeepCopy()
	delete(a.Labels, apps.DefaultDeploymentUniqueLabelKey)
	delete(b.Labels, apps.DefaultDeploymentUniqueLabelKey)
	if len(a.Labels) == 0 {
		a.Labels = nil
	}
	if len(b.Labels) == 0 {
		b.Labels = nil
	}
	return apiequality.Semantic.DeepEqual(a, b)
}

func revision(obj metav1.Object) int64 {
	v, err := strconv.ParseInt(obj.GetAnnotations()[RevisionAnnotation], 10, 64)
	if err != nil {
		return 0
	}
	return v
}

func replicas(rs *apps.ReplicaSet) int32 {
	if rs == nil || rs.Spec.Replicas == nil {
		return 0
	}
	return *rs.Spec.Replicas
}

// specReplicas sums spec.replicas, counting a ReplicaSet whose controller has
// not yet removed pods at its status size, so that surge bounds hold for real
// pods too.
func specReplicas(rss ...*apps.ReplicaSet) int32 {
	var n int32
	for _, rs := range rss {
		if rs != nil {
			n += max(replicas(rs), rs.Status.Replicas)
		}
	}
	return n
}

func sum(rss []*apps.ReplicaSet, f func(*apps.ReplicaSet) int32) int32 {
	var n int32
	for _, rs := range rss {
		if rs != nil {
			n += f(rs)
		}
	}
	return n
}

// maxSurgeUnavailable resolves the rolling update bounds for d: surge rounds
// up, unavailable down, and they are never both zero.
func maxSurgeUnavailable(d *apps.Deployment) (int32, int32) {
	if d.Spec.Strategy.Type != apps.RollingUpdateDeploymentStrategyType || d.Spec.Strategy.RollingUpdate == nil {
		return 0, 0
	}
	desired := int(*d.Spec.Replicas)
	ru := d.Spec.Strategy.RollingUpdate
	def := intstr.FromString("25%")
	surgeV, unavailV := ru.MaxSurge, ru.MaxUnavailable
	if surgeV == nil {
		surgeV = &def
	}
	if unavailV == nil {
		unavailV = &def
	}
	surge, err := intstr.GetScaledValueFromIntOrPercent(surgeV, desired, true)
	if err != nil {
		surge = 0
	}
	unavail, err := intstr.GetScaledValueFromIntOrPercent(unavailV, desired, false)
	if err != nil {
		unavail = 0
	}
	if surge == 0 && unavail == 0 {
		unavail = 1
	}
	unavail = min(unavail, desired)
	return int32(surge), int32(unavail)
}

// maxUnavailable is the unavailability allowed for the Available condition.
func maxUnavailable(d *apps.Deployment) int32 {
	if d.Spec.Strategy.Type != apps.RollingUpdateDeploymentStrategyType || *d.Spec.Replicas == 0 {
		return 0
	}
	_, u := maxSurgeUnavailable(d)
	return u
}

func getCondition(s apps.DeploymentStatus, t apps.DeploymentConditionType) *apps.DeploymentCondition {
	for i := range s.Conditions {
		if s.Conditions[i].Type == t {
			return &s.Conditions[i]
		}
	}
	return nil
}

func newCondition(t apps.DeploymentConditionType, status v1.ConditionStatus, reason, message string, now time.Time) apps.DeploymentCondition {
	ts := metav1.NewTime(now)
	return apps.DeploymentCondition{Type: t, Status: status, Reason: reason, Message: message, LastUpdateTime: ts, LastTransitionTime: ts}
}

// setCondition replaces the condition of c's type; an unchanged status and
// reason keep the old transition time.
func setCondition(s *apps.DeploymentStatus, c apps.DeploymentCondition) {
	if cur := getCondition(*s, c.Type); cur != nil {
		if cur.Status == c.Status && cur.Reason == c.Reason {
			return
		}
		if cur.Status == c.Status {
			c.LastTransitionTime = cur.LastTransitionTime
		}
	}
	removeCondition(s, c.Type)
	s.Conditions = append(s.Conditions, c)
}

func removeCondition(s *apps.DeploymentStatus, t apps.DeploymentConditionType) {
	s.Conditions = slices.DeleteFunc(s.Conditions, func(c apps.DeploymentCondition) bool { return c.Type == t })
}

// copyAnnotations copies d's annotations onto rs, leaving out the ones that
// belong to the ReplicaSet; it reports whether rs changed.
func copyAnnotations(d *apps.Deployment, rs *apps.ReplicaSet) bool {
	changed := false
	if rs.Annotations == nil {
		rs.Annotations = map[string]string{}
	}
	for k, v := range d.Annotations {
		if skipCopy(k) || rs.Annotations[k] == v {
			continue
		}
		rs.Annotations[k] = v
		changed = true
	}
	return changed
}

func skipCopy(k string) bool {
	switch k {
	case lastAppliedAnnotation, RevisionAnnotation, RevisionHistoryAnnotation, DesiredReplicasAnnotation, MaxReplicasAnnotation, rollbackToAnnotation:
		return true
	}
	return false
}

// setReplicasAnnotations records the deployment size rs was scaled for.
func setReplicasAnnotations(rs *apps.ReplicaSet, desired, maxReplicas int32) bool {
	if rs.Annotations == nil {
		rs.Annotations = map[string]string{}
	}
	d, m := strconv.Itoa(int(desired)), strconv.Itoa(int(maxReplicas))
	if rs.Annotations[DesiredReplicasAnnotation] == d && rs.Annotations[MaxReplicasAnnotation] == m {
		return false
	}
	rs.Annotations[DesiredReplicasAnnotation] = d
	rs.Annotations[MaxReplicasAnnotation] = m
	return true
}

// setRevision sets rs's revision, keeping the old one in the history
// annotation; it reports whether rs changed.
func setRevision(rs *apps.ReplicaSet, rev int64) bool {
	if rs.Annotations == nil {
		rs.Annotations = map[string]string{}
	}
	old := rs.Annotations[RevisionAnnotation]
	oldRev, _ := strconv.ParseInt(old, 10, 64)
	if old != "" && oldRev >= rev {
		return false
	}
	if old != "" {
		hist := rs.Annotations[RevisionHistoryAnnotation]
		if hist == "" {
			hist = old
		} else {
			hist = strings.Join([]string{hist, old}, ",")
		}
		rs.Annotations[RevisionHistoryAnnotation] = hist
	}
	rs.Annotations[RevisionAnnotation] = strconv.FormatInt(rev, 10)
	return true
}

func annotatedInt(rs *apps.ReplicaSet, key string) (int32, bool) {
	v, ok := rs.Annotations[key]
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, false
	}
	return int32(n), true
}

func cloneLabels(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return maps.Clone(m)
}
