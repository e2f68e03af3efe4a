package deployment

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	apps "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"drover.dev/controller-manager/internal/controller"
)

// errChanged: the deployment's spec changed under a sync.
var errChanged = errors.New("deployment: changed while syncing")

// ErrHashCollision asks for a retry after the collision count was raised.
var ErrHashCollision = errors.New("deployment: replica set name collision")

// byCreation sorts oldest first.
func byCreation(a, b *apps.ReplicaSet) int {
	if c := a.CreationTimestamp.Compare(b.CreationTimestamp.Time); c != 0 {
		return c
	}
	return compareStrings(a.Name, b.Name)
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// splitReplicaSets returns the ReplicaSet running d's current template (the
// oldest, when several do) and the others.
func splitReplicaSets(d *apps.Deployment, rsList []*apps.ReplicaSet) (*apps.ReplicaSet, []*apps.ReplicaSet) {
	sorted := slices.Clone(rsList)
	slices.SortFunc(sorted, byCreation)
	var newRS *apps.ReplicaSet
	var old []*apps.ReplicaSet
	for _, rs := range sorted {
		if newRS == nil && equalIgnoreHash(&rs.Spec.Template, &d.Spec.Template) {
			newRS = rs
			continue
		}
		old = append(old, rs)
	}
	return newRS, old
}

func activeReplicaSets(rss []*apps.ReplicaSet) []*apps.ReplicaSet {
	var out []*apps.ReplicaSet
	for _, rs := range rss {
		if rs != nil && replicas(rs) > 0 {
			out = append(out, rs)
		}
	}
	return out
}

func withNew(old []*apps.ReplicaSet, newRS *apps.ReplicaSet) []*apps.ReplicaSet {
	all := slices.Clone(old)
	if newRS != nil {
		all = append(all, newRS)
	}
	return all
}

// getAllReplicaSets splits rsList and brings the new ReplicaSet's revision
// and annotations up to date, creating it when create is set.
func (c *Controller) getAllReplicaSets(ctx context.Context, d *apps.Deployment, rsList []*apps.ReplicaSet, create bool) (*apps.ReplicaSet, []*apps.ReplicaSet, error) {
	newRS, old := splitReplicaSets(d, rsList)
	var maxOld int64
	for _, rs := range old {
		maxOld = max(maxOld, revision(rs))
	}
	newRevision := maxOld + 1
	var err error
	switch {
	case newRS != nil:
		newRS, err = c.syncNewReplicaSet(ctx, d, newRS, newRevision)
	case create:
		newRS, err = c.createNewReplicaSet(ctx, d, old, newRevision)
	}
	if err != nil {
		return nil, nil, err
	}
	if newRS != nil {
		if err := c.setDeploymentRevision(ctx, d, newRS.Annotations[RevisionAnnotation]); err != nil {
			return nil, nil, err
		}
	}
	return newRS, old, nil
}

func (c *Controller) syncNewReplicaSet(ctx context.Context, d *apps.Deployment, rs *apps.ReplicaSet, newRevision int64) (*apps.ReplicaSet, error) {
	cp := rs.DeepCopy()
	changed := copyAnnotations(d, cp)
	changed = setRevision(cp, newRevision) || changed
	if cp.Spec.MinReadySeconds != d.Spec.MinReadySeconds {
		cp.Spec.MinReadySeconds = d.Spec.MinReadySeconds
		changed = true
	}
	if changed {
		updated, err := c.client.AppsV1().ReplicaSets(cp.Namespace).Update(ctx, cp, metav1.UpdateOptions{})
		if err != nil {
			return nil, err
		}
		cp = updated
	}
	if hasProgressDeadline(d) && getCondition(d.Status, apps.DeploymentProgressing) == nil {
		st := d.Status.DeepCopy()
		setCondition(st, newCondition(apps.DeploymentProgressing, v1.ConditionTrue, reasonFoundNewRS,
			fmt.Sprintf("Found new replica set %q", cp.Name), c.now()))
		if err := c.writeStatus(ctx, d, *st); err != nil {
			return nil, err
		}
	}
	return cp, nil
}

func (c *Controller) createNewReplicaSet(ctx context.Context, d *apps.Deployment, old []*apps.ReplicaSet, newRevision int64) (*apps.ReplicaSet, error) {
	tpl := d.Spec.Template.DeepCopy()
	hash := templateHash(&d.Spec.Template, d.Status.CollisionCount)
	tpl.Labels = cloneLabels(tpl.Labels)
	tpl.Labels[apps.DefaultDeploymentUniqueLabelKey] = hash
	sel := d.Spec.Selector.DeepCopy()
	if sel.MatchLabels == nil {
		sel.MatchLabels = map[string]string{}
	}
	sel.MatchLabels[apps.DefaultDeploymentUniqueLabelKey] = hash
	zero := int32(0)
	rs := &apps.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{
			Name:            d.Name + "-" + hash,
			Namespace:       d.Namespace,
			Labels:          cloneLabels(tpl.Labels),
			OwnerReferences: []metav1.OwnerReference{*controller.NewControllerRef(d, controllerKind)},
		},
		Spec: apps.ReplicaSetSpec{Replicas: &zero, MinReadySeconds: d.Spec.MinReadySeconds, Selector: sel, Template: *tpl},
	}
	n := newRSReplicas(d, withNew(old, rs), rs)
	rs.Spec.Replicas = &n
	surge, _ := maxSurgeUnavailable(d)
	copyAnnotations(d, rs)
	setRevision(rs, newRevision)
	setReplicasAnnotations(rs, *d.Spec.Replicas, *d.Spec.Replicas+surge)
	created, err := c.client.AppsV1().ReplicaSets(d.Namespace).Create(ctx, rs, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		existing, gerr := c.client.AppsV1().ReplicaSets(d.Namespace).Get(ctx, rs.Name, metav1.GetOptions{})
		if gerr != nil {
			return nil, gerr
		}
		if ref := metav1.GetControllerOfNoCopy(existing); ref != nil && ref.UID == d.UID && equalIgnoreHash(&existing.Spec.Template, &d.Spec.Template) {
			// Our own, not yet in the cache.
			return existing, nil
		}
		st := d.Status.DeepCopy()
		cc := int32(0)
		if st.CollisionCount != nil {
			cc = *st.CollisionCount
		}
		cc++
		st.CollisionCount = &cc
		if err := c.writeStatus(ctx, d, *st); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %s", ErrHashCollision, rs.Name)
	}
	if err != nil {
		if hasProgressDeadline(d) {
			st := d.Status.DeepCopy()
			setCondition(st, newCondition(apps.DeploymentProgressing, v1.ConditionFalse, "FailedRSCreate",
				fmt.Sprintf("Failed to create new replica set %q: %v", rs.Name, err), c.now()))
			_ = c.writeStatus(ctx, d, *st)
		}
		return nil, err
	}
	if n > 0 {
		c.recorder.Eventf(d, v1.EventTypeNormal, "ScalingReplicaSet", "Scaled up replica set %s from 0 to %d", created.Name, n)
	}
	if hasProgressDeadline(d) {
		st := d.Status.DeepCopy()
		setCondition(st, newCondition(apps.DeploymentProgressing, v1.ConditionTrue, reasonNewRSCreated,
			fmt.Sprintf("Created new replica set %q", created.Name), c.now()))
		if err := c.writeStatus(ctx, d, *st); err != nil {
			return nil, err
		}
	}
	return created, nil
}

// setDeploymentRevision mirrors the new ReplicaSet's revision on d.
func (c *Controller) setDeploymentRevision(ctx context.Context, d *apps.Deployment, rev string) error {
	if rev == "" || d.Annotations[RevisionAnnotation] == rev {
		return nil
	}
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{RevisionAnnotation: rev}}})
	updated, err := c.client.AppsV1().Deployments(d.Namespace).Patch(ctx, d.Name, types.MergePatchType, patch, metav1.PatchOptions{})
	if err != nil {
		return err
	}
	c.written.Wrote(d.Namespace+"/"+d.Name, d.ResourceVersion, updated.DeepCopy())
	if updated.Generation != d.Generation {
		return fmt.Errorf("%w: %s/%s", errChanged, d.Namespace, d.Name)
	}
	*d = *updated
	return nil
}

// newRSReplicas is how far the new ReplicaSet may grow now.
func newRSReplicas(d *apps.Deployment, all []*apps.ReplicaSet, newRS *apps.ReplicaSet) int32 {
	if d.Spec.Strategy.Type != apps.RollingUpdateDeploymentStrategyType {
		return *d.Spec.Replicas
	}
	surge, _ := maxSurgeUnavailable(d)
	current := specReplicas(all...)
	maxTotal := *d.Spec.Replicas + surge
	if current >= maxTotal {
		return replicas(newRS)
	}
	up := min(maxTotal-current, *d.Spec.Replicas-replicas(newRS))
	return replicas(newRS) + max(up, 0)
}

// scaleReplicaSet sets rs's replicas and size annotations; it reports
// whether the size changed.
func (c *Controller) scaleReplicaSet(ctx context.Context, rs *apps.ReplicaSet, n int32, d *apps.Deployment) (bool, *apps.ReplicaSet, error) {
	surge, _ := maxSurgeUnavailable(d)
	cp := rs.DeepCopy()
	sizeChanged := replicas(rs) != n
	annotationsChanged := setReplicasAnnotations(cp, *d.Spec.Replicas, *d.Spec.Replicas+surge)
	if !sizeChanged && !annotationsChanged {
		return false, rs, nil
	}
	cp.Spec.Replicas = &n
	updated, err := c.client.AppsV1().ReplicaSets(cp.Namespace).Update(ctx, cp, metav1.UpdateOptions{})
	if err != nil {
		return false, rs, err
	}
	if sizeChanged {
		dir := "up"
		if n < replicas(rs) {
			dir = "down"
		}
		c.recorder.Eventf(d, v1.EventTypeNormal, "ScalingReplicaSet", "Scaled %s replica set %s from %d to %d", dir, rs.Name, replicas(rs), n)
	}
	return sizeChanged, updated, nil
}

// scale handles a change of d's replicas outside a rollout, proportionally
// across ReplicaSets while a rolling update is under way.
func (c *Controller) scale(ctx context.Context, d *apps.Deployment, newRS *apps.ReplicaSet, old []*apps.ReplicaSet) error {
	all := withNew(old, newRS)
	active := activeReplicaSets(all)
	var target *apps.ReplicaSet
	switch {
	case len(active) == 1:
		target = active[0]
	case len(active) == 0:
		if newRS != nil {
			target = newRS
		} else if len(old) > 0 {
			target = slices.MaxFunc(old, byCreation)
		}
	}
	if target != nil || len(active) <= 1 {
		if target == nil {
			return nil
		}
		_, _, err := c.scaleReplicaSet(ctx, target, *d.Spec.Replicas, d)
		return err
	}
	if newRS != nil && replicas(newRS) == *d.Spec.Replicas && newRS.Status.AvailableReplicas == *d.Spec.Replicas {
		for _, rs := range activeReplicaSets(old) {
			if _, _, err := c.scaleReplicaSet(ctx, rs, 0, d); err != nil {
				return err
			}
		}
		return nil
	}
	if d.Spec.Strategy.Type != apps.RollingUpdateDeploymentStrategyType {
		return nil
	}
	surge, _ := maxSurgeUnavailable(d)
	allowed := int32(0)
	if *d.Spec.Replicas > 0 {
		allowed = *d.Spec.Replicas + surge
	}
	toAdd := allowed - sum(active, replicas)
	// Larger first; for growth newer first, for shrinking older first.
	slices.SortFunc(active, func(a, b *apps.ReplicaSet) int {
		if replicas(a) != replicas(b) {
			return int(replicas(b) - replicas(a))
		}
		if toAdd > 0 {
			return -byCreation(a, b)
		}
		return byCreation(a, b)
	})
	sizes := make([]int32, len(active))
	var added int32
	for i, rs := range active {
		sizes[i] = replicas(rs)
		if toAdd != 0 {
			p := proportion(rs, d, toAdd, added)
			sizes[i] += p
			added += p
		}
	}
	for i, rs := range active {
		if i == 0 && toAdd != 0 {
			sizes[i] = max(sizes[i]+toAdd-added, 0)
		}
		if _, _, err := c.scaleReplicaSet(ctx, rs, sizes[i], d); err != nil {
			return err
		}
	}
	return nil
}

func proportion(rs *apps.ReplicaSet, d *apps.Deployment, toAdd, added int32) int32 {
	if replicas(rs) == 0 || toAdd == 0 || toAdd == added {
		return 0
	}
	f := fraction(rs, d)
	allowed := toAdd - added
	if toAdd > 0 {
		return min(f, allowed)
	}
	return max(f, allowed)
}

func fraction(rs *apps.ReplicaSet, d *apps.Deployment) int32 {
	if *d.Spec.Replicas == 0 {
		return -replicas(rs)
	}
	surge, _ := maxSurgeUnavailable(d)
	target := *d.Spec.Replicas + surge
	annotated, ok := annotatedInt(rs, MaxReplicasAnnotation)
	if !ok || annotated == 0 {
		annotated = d.Status.Replicas
	}
	if annotated == 0 {
		return 0
	}
	size := float64(replicas(rs)) * float64(target) / float64(annotated)
	return int32(math.Round(size)) - replicas(rs)
}

func (c *Controller) isScalingEvent(d *apps.Deployment, rsList []*apps.ReplicaSet) (bool, error) {
	for _, rs := range activeReplicaSets(rsList) {
		if want, ok := annotatedInt(rs, DesiredReplicasAnnotation); ok && want != *d.Spec.Replicas {
			return true, nil
		}
	}
	return false, nil
}

// syncScale scales without rolling out (paused deployments, resizes).
func (c *Controller) syncScale(ctx context.Context, d *apps.Deployment, rsList []*apps.ReplicaSet) error {
	newRS, old, err := c.getAllReplicaSets(ctx, d, rsList, false)
	if err != nil {
		return err
	}
	if err := c.scale(ctx, d, newRS, old); err != nil {
		return err
	}
	if d.Spec.Paused {
		if err := c.cleanup(ctx, d, old); err != nil {
			return err
		}
	}
	return c.syncStatus(ctx, d, withNew(old, newRS), newRS)
}

func (c *Controller) syncStatusOnly(ctx context.Context, d *apps.Deployment, rsList []*apps.ReplicaSet) error {
	newRS, old := splitReplicaSets(d, rsList)
	return c.syncStatus(ctx, d, withNew(old, newRS), newRS)
}

func (c *Controller) syncStatus(ctx context.Context, d *apps.Deployment, all []*apps.ReplicaSet, newRS *apps.ReplicaSet) error {
	return c.writeStatus(ctx, d, c.calculateStatus(d, all, newRS))
}

// writeStatus stores st unless unchanged; d takes the stored version.
func (c *Controller) writeStatus(ctx context.Context, d *apps.Deployment, st apps.DeploymentStatus) error {
	if apiequality.Semantic.DeepEqual(d.Status, st) {
		return nil
	}
	cp := d.DeepCopy()
	cp.Status = st
	updated, err := c.client.AppsV1().Deployments(d.Namespace).UpdateStatus(ctx, cp, metav1.UpdateOptions{})
	if err != nil {
		return err
	}
	c.written.Wrote(d.Namespace+"/"+d.Name, d.ResourceVersion, updated.DeepCopy())
	*d = *updated
	return nil
}

func (c *Controller) calculateStatus(d *apps.Deployment, all []*apps.ReplicaSet, newRS *apps.ReplicaSet) apps.DeploymentStatus {
	st := apps.DeploymentStatus{
		ObservedGeneration: d.Generation,
		Replicas:           sum(all, func(rs *apps.ReplicaSet) int32 { return rs.Status.Replicas }),
		ReadyReplicas:      sum(all, func(rs *apps.ReplicaSet) int32 { return rs.Status.ReadyReplicas }),
		AvailableReplicas:  sum(all, func(rs *apps.ReplicaSet) int32 { return rs.Status.AvailableReplicas }),
		CollisionCount:     d.Status.CollisionCount,
		Conditions:         slices.Clone(d.Status.Conditions),
	}
	if newRS != nil {
		st.UpdatedReplicas = newRS.Status.Replicas
	}
	st.TerminatingReplicas = terminatingReplicas(all)
	st.UnavailableReplicas = max(sum(all, replicas)-st.AvailableReplicas, 0)
	if st.AvailableReplicas >= *d.Spec.Replicas-maxUnavailable(d) {
		setCondition(&st, newCondition(apps.DeploymentAvailable, v1.ConditionTrue, reasonMinimumAvailable, "Deployment has minimum availability.", c.now()))
	} else {
		setCondition(&st, newCondition(apps.DeploymentAvailable, v1.ConditionFalse, reasonMinimumNotAvailable, "Deployment does not have minimum availability.", c.now()))
	}
	return st
}

// terminatingReplicas sums the ReplicaSets' terminating pods. It is unknown
// (nil) while a ReplicaSet its controller has synced does not report one;
// ReplicaSets never synced count as zero.
func terminatingReplicas(all []*apps.ReplicaSet) *int32 {
	var n int32
	for _, rs := range all {
		switch {
		case rs == nil:
		case rs.Status.TerminatingReplicas != nil:
			n += *rs.Status.TerminatingReplicas
		case rs.Status.ObservedGeneration != 0:
			return nil
		}
	}
	return &n
}

// replicaFailure is the ReplicaFailure condition of the new ReplicaSet, or
// else of the first old one that has it, as a Deployment condition.
func replicaFailure(all []*apps.ReplicaSet, newRS *apps.ReplicaSet) (apps.DeploymentCondition, bool) {
	for _, rs := range append([]*apps.ReplicaSet{newRS}, all...) {
		if rs == nil {
			continue
		}
		for _, c := range rs.Status.Conditions {
			if c.Type == apps.ReplicaSetReplicaFailure {
				return apps.DeploymentCondition{
					Type: apps.DeploymentReplicaFailure, Status: c.Status, Reason: c.Reason, Message: c.Message,
					LastTransitionTime: c.LastTransitionTime, LastUpdateTime: c.LastTransitionTime,
				}, true
			}
		}
	}
	return apps.DeploymentCondition{}, false
}

func hasProgressDeadline(d *apps.Deployment) bool {
	return d.Spec.ProgressDeadlineSeconds != nil && *d.Spec.ProgressDeadlineSeconds != noProgressDeadline
}

func complete(d *apps.Deployment, st *apps.DeploymentStatus) bool {
	n := *d.Spec.Replicas
	return st.UpdatedReplicas == n && st.Replicas == n && st.AvailableReplicas == n && st.ObservedGeneration >= d.Generation
}

func progressing(d *apps.Deployment, st *apps.DeploymentStatus) bool {
	old := d.Status
	return st.UpdatedReplicas > old.UpdatedReplicas ||
		st.Replicas-st.UpdatedReplicas < old.Replicas-old.UpdatedReplicas ||
		st.ReadyReplicas > old.ReadyReplicas ||
		st.AvailableReplicas > old.AvailableReplicas
}

// syncRolloutStatus updates status and the Progressing condition.
func (c *Controller) syncRolloutStatus(ctx context.Context, d *apps.Deployment, all []*apps.ReplicaSet, newRS *apps.ReplicaSet) error {
	st := c.calculateStatus(d, all, newRS)
	now := c.now()
	if !hasProgressDeadline(d) {
		removeCondition(&st, apps.DeploymentProgressing)
	}
	cur := getCondition(d.Status, apps.DeploymentProgressing)
	isComplete := complete(d, &st)
	rsName := ""
	if newRS != nil {
		rsName = newRS.Name
	}
	if hasProgressDeadline(d) && !d.Spec.Paused && (cur == nil || cur.Reason != reasonTimedOut) {
		switch {
		case isComplete:
			msg := fmt.Sprintf("Deployment %q has successfully progressed.", d.Name)
			if newRS != nil {
				msg = fmt.Sprintf("ReplicaSet %q has successfully progressed.", rsName)
			}
			c := newCondition(apps.DeploymentProgressing, v1.ConditionTrue, reasonNewRSAvailable, msg, now)
			if cur != nil && cur.Status == v1.ConditionTrue {
				c.LastTransitionTime = cur.LastTransitionTime
			}
			if cur == nil || cur.Reason != c.Reason || cur.Message != c.Message {
				removeCondition(&st, apps.DeploymentProgressing)
				st.Conditions = append(st.Conditions, c)
			}
		case progressing(d, &st):
			msg := fmt.Sprintf("Deployment %q is progressing.", d.Name)
			if newRS != nil {
				msg = fmt.Sprintf("ReplicaSet %q is progressing.", rsName)
			}
			c := newCondition(apps.DeploymentProgressing, v1.ConditionTrue, reasonRSUpdated, msg, now)
			if cur != nil && cur.Status == v1.ConditionTrue {
				c.LastTransitionTime = cur.LastTransitionTime
			}
			removeCondition(&st, apps.DeploymentProgressing)
			st.Conditions = append(st.Conditions, c)
		case cur != nil && cur.LastUpdateTime.Add(time.Duration(*d.Spec.ProgressDeadlineSeconds)*time.Second).Before(now):
			msg := fmt.Sprintf("Deployment %q has timed out progressing.", d.Name)
			if newRS != nil {
				msg = fmt.Sprintf("ReplicaSet %q has timed out progressing.", rsName)
			}
			removeCondition(&st, apps.DeploymentProgressing)
			st.Conditions = append(st.Conditions, newCondition(apps.DeploymentProgressing, v1.ConditionFalse, reasonTimedOut, msg, now))
		}
	}
	if failure, ok := replicaFailure(all, newRS); ok {
		setCondition(&st, failure)
	} else {
		removeCondition(&st, apps.DeploymentReplicaFailure)
	}
	if apiequality.Semantic.DeepEqual(d.Status, st) {
		c.requeueStuck(d, &st)
		return nil
	}
	if err := c.writeStatus(ctx, d, st); err != nil {
		return err
	}
	c.requeueStuck(d, &st)
	return nil
}

// requeueStuck checks a rollout again when its progress deadline passes.
func (c *Controller) requeueStuck(d *apps.Deployment, st *apps.DeploymentStatus) {
	cur := getCondition(*st, apps.DeploymentProgressing)
	if !hasProgressDeadline(d) || cur == nil || cur.Reason == reasonTimedOut || complete(d, st) || d.Spec.Paused {
		return
	}
	after := cur.LastUpdateTime.Add(time.Duration(*d.Spec.ProgressDeadlineSeconds)*time.Second).Sub(c.now()) + time.Second
	c.queue.AddAfter(d.Namespace+"/"+d.Name, max(after, time.Second))
}

func (c *Controller) checkPausedConditions(ctx context.Context, d *apps.Deployment) error {
	if !hasProgressDeadline(d) {
		return nil
	}
	cur := getCondition(d.Status, apps.DeploymentProgressing)
	pausedCond := cur != nil && cur.Reason == reasonPaused
	st := d.Status.DeepCopy()
	switch {
	case d.Spec.Paused && !pausedCond:
		setCondition(st, newCondition(apps.DeploymentProgressing, v1.ConditionUnknown, reasonPaused, "Deployment is paused", c.now()))
	case !d.Spec.Paused && pausedCond:
		setCondition(st, newCondition(apps.DeploymentProgressing, v1.ConditionUnknown, reasonResumed, "Deployment is resumed", c.now()))
	default:
		return nil
	}
	return c.writeStatus(ctx, d, *st)
}

// cleanup deletes the oldest scaled-down ReplicaSets beyond
// revisionHistoryLimit.
func (c *Controller) cleanup(ctx context.Context, d *apps.Deployment, old []*apps.ReplicaSet) error {
	if d.Spec.RevisionHistoryLimit == nil {
		return nil
	}
	var alive []*apps.ReplicaSet
	for _, rs := range old {
		if rs.DeletionTimestamp == nil {
			alive = append(alive, rs)
		}
	}
	diff := len(alive) - int(*d.Spec.RevisionHistoryLimit)
	if diff <= 0 {
		return nil
	}
	slices.SortFunc(alive, func(a, b *apps.ReplicaSet) int {
		if ra, rb := revision(a), revision(b); ra != rb {
			if ra < rb {
				return -1
			}
			return 1
		}
		return byCreation(a, b)
	})
	for _, rs := range alive {
		if diff == 0 {
			break
		}
		if rs.Status.Replicas != 0 || replicas(rs) != 0 || rs.Generation > rs.Status.ObservedGeneration {
			continue
		}
		err := c.client.AppsV1().ReplicaSets(rs.Namespace).Delete(ctx, rs.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &rs.UID}})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return err
		}
		diff--
	}
	return nil
}
