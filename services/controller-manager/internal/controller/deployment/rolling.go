package deployment

import (
	"context"
	"slices"

	apps "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
)

// availableOf never trusts more available pods than a ReplicaSet is scaled
// to: after a scale-down its status lags behind until its controller acts.
func availableOf(rs *apps.ReplicaSet) int32 {
	return min(rs.Status.AvailableReplicas, replicas(rs))
}

func (c *Controller) rolloutRolling(ctx context.Context, d *apps.Deployment, rsList []*apps.ReplicaSet) error {
	newRS, old, err := c.getAllReplicaSets(ctx, d, rsList, true)
	if err != nil {
		return err
	}
	all := withNew(old, newRS)
	if scaled, updated, err := c.reconcileNewReplicaSet(ctx, d, all, newRS); err != nil {
		return err
	} else if scaled {
		newRS = updated
		return c.syncRolloutStatus(ctx, d, withNew(old, newRS), newRS)
	}
	scaled, old, err := c.reconcileOldReplicaSets(ctx, d, old, newRS)
	if err != nil {
		return err
	}
	if scaled {
		return c.syncRolloutStatus(ctx, d, withNew(old, newRS), newRS)
	}
	return c.syncStatusThenCleanup(ctx, d, old, newRS)
}

// syncStatusThenCleanup writes the rollout status and, once it reports the
// rollout complete, prunes old ReplicaSets. Cleaning up after the write
// (not in a later sync) matters: the watch echo of the controller's own
// status write queues no sync.
func (c *Controller) syncStatusThenCleanup(ctx context.Context, d *apps.Deployment, old []*apps.ReplicaSet, newRS *apps.ReplicaSet) error {
	if err := c.syncRolloutStatus(ctx, d, withNew(old, newRS), newRS); err != nil {
		return err
	}
	if complete(d, &d.Status) {
		return c.cleanup(ctx, d, old)
	}
	return nil
}

func (c *Controller) reconcileNewReplicaSet(ctx context.Context, d *apps.Deployment, all []*apps.ReplicaSet, newRS *apps.ReplicaSet) (bool, *apps.ReplicaSet, error) {
	switch want := *d.Spec.Replicas; {
	case replicas(newRS) == want:
		return false, newRS, nil
	case replicas(newRS) > want:
		return c.scaleReplicaSet(ctx, newRS, want, d)
	}
	return c.scaleReplicaSet(ctx, newRS, newRSReplicas(d, all, newRS), d)
}

// reconcileOldReplicaSets scales old ReplicaSets down as far as
// maxUnavailable allows, unhealthy pods first.
func (c *Controller) reconcileOldReplicaSets(ctx context.Context, d *apps.Deployment, old []*apps.ReplicaSet, newRS *apps.ReplicaSet) (bool, []*apps.ReplicaSet, error) {
	if sum(old, replicas) == 0 {
		return false, old, nil
	}
	all := withNew(old, newRS)
	_, maxUnavail := maxSurgeUnavailable(d)
	minAvailable := *d.Spec.Replicas - maxUnavail
	var newUnavailable int32
	if newRS != nil {
		newUnavailable = replicas(newRS) - newRS.Status.AvailableReplicas
	}
	maxScaledDown := sum(all, replicas) - minAvailable - newUnavailable
	if maxScaledDown <= 0 {
		return false, old, nil
	}
	old = slices.Clone(old)
	slices.SortFunc(old, byCreation)
	var cleaned int32
	for i, rs := range old {
		if cleaned >= maxScaledDown {
			break
		}
		if replicas(rs) == 0 || availableOf(rs) == replicas(rs) {
			continue
		}
		n := min(maxScaledDown-cleaned, replicas(rs)-availableOf(rs))
		_, updated, err := c.scaleReplicaSet(ctx, rs, replicas(rs)-n, d)
		if err != nil {
			return false, old, err
		}
		old[i] = updated
		cleaned += n
	}
	all = withNew(old, newRS)
	available := sum(all, availableOf)
	var scaledDown int32
	if available > minAvailable {
		total := available - minAvailable
		for i, rs := range old {
			if scaledDown >= total {
				break
			}
			if replicas(rs) == 0 {
				continue
			}
			n := min(replicas(rs), total-scaledDown)
			_, updated, err := c.scaleReplicaSet(ctx, rs, replicas(rs)-n, d)
			if err != nil {
				return false, old, err
			}
			old[i] = updated
			scaledDown += n
		}
	}
	return cleaned+scaledDown > 0, old, nil
}

func (c *Controller) rolloutRecreate(ctx context.Context, d *apps.Deployment, rsList []*apps.ReplicaSet) error {
	newRS, old, err := c.getAllReplicaSets(ctx, d, rsList, false)
	if err != nil {
		return err
	}
	scaledDown := false
	for i, rs := range old {
		if replicas(rs) == 0 {
			continue
		}
		scaled, updated, err := c.scaleReplicaSet(ctx, rs, 0, d)
		if err != nil {
			return err
		}
		old[i] = updated
		scaledDown = scaledDown || scaled
	}
	if scaledDown {
		return c.syncRolloutStatus(ctx, d, withNew(old, newRS), newRS)
	}
	running, err := c.oldPodsRunning(d, rsList, newRS, old)
	if err != nil {
		return err
	}
	if running {
		return c.syncRolloutStatus(ctx, d, withNew(old, newRS), newRS)
	}
	if newRS == nil {
		if newRS, old, err = c.getAllReplicaSets(ctx, d, rsList, true); err != nil {
			return err
		}
	}
	if replicas(newRS) != *d.Spec.Replicas {
		_, updated, err := c.scaleReplicaSet(ctx, newRS, *d.Spec.Replicas, d)
		if err != nil {
			return err
		}
		newRS = updated
	}
	return c.syncStatusThenCleanup(ctx, d, old, newRS)
}

// oldPodsRunning reports whether pods of old ReplicaSets still exist and
// have not finished.
func (c *Controller) oldPodsRunning(d *apps.Deployment, rsList []*apps.ReplicaSet, newRS *apps.ReplicaSet, old []*apps.ReplicaSet) (bool, error) {
	if sum(old, func(rs *apps.ReplicaSet) int32 { return rs.Status.Replicas }) > 0 {
		return true, nil
	}
	byRS, err := c.podsByReplicaSet(d, rsList)
	if err != nil {
		return false, err
	}
	for uid, pods := range byRS {
		if newRS != nil && uid == newRS.UID {
			continue
		}
		for _, p := range pods {
			if p.Status.Phase != v1.PodFailed && p.Status.Phase != v1.PodSucceeded {
				return true, nil
			}
		}
	}
	return false, nil
}
