package defaults

import (
	"maps"
	"math"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Controllers keep this many old ReplicaSets / ControllerRevisions for rollback.
const defaultRevisionHistoryLimit = 10

func defaultDeployment(d *appsv1.Deployment) {
	spec := &d.Spec
	setIfNil(&spec.Replicas, int32(1))
	setIfEmpty(&spec.Strategy.Type, appsv1.RollingUpdateDeploymentStrategyType)
	if spec.Strategy.Type == appsv1.RollingUpdateDeploymentStrategyType {
		setIfNil(&spec.Strategy.RollingUpdate, appsv1.RollingUpdateDeployment{})
		setIfNil(&spec.Strategy.RollingUpdate.MaxUnavailable, intstr.FromString("25%"))
		setIfNil(&spec.Strategy.RollingUpdate.MaxSurge, intstr.FromString("25%"))
	}
	setIfNil(&spec.RevisionHistoryLimit, int32(defaultRevisionHistoryLimit))
	setIfNil(&spec.ProgressDeadlineSeconds, int32(600))
	defaultPodSpec(&spec.Template.Spec)
}

func defaultReplicaSet(rs *appsv1.ReplicaSet) {
	setIfNil(&rs.Spec.Replicas, int32(1))
	defaultPodSpec(&rs.Spec.Template.Spec)
}

func defaultStatefulSet(ss *appsv1.StatefulSet) {
	spec := &ss.Spec
	setIfEmpty(&spec.PodManagementPolicy, appsv1.OrderedReadyPodManagement)

	// Only a strategy Kubernetes picked itself gets an empty rollingUpdate; an
	// explicit RollingUpdate without one stays without partition and maxUnavailable.
	if spec.UpdateStrategy.Type == "" {
		spec.UpdateStrategy.Type = appsv1.RollingUpdateStatefulSetStrategyType
		setIfNil(&spec.UpdateStrategy.RollingUpdate, appsv1.RollingUpdateStatefulSetStrategy{})
	}
	if rolling := spec.UpdateStrategy.RollingUpdate; spec.UpdateStrategy.Type == appsv1.RollingUpdateStatefulSetStrategyType && rolling != nil {
		setIfNil(&rolling.Partition, int32(0))
		// MaxUnavailableStatefulSet is on by default since 1.37.
		setIfNil(&rolling.MaxUnavailable, intstr.FromInt32(1))
	}

	// Retain: deleting or scaling down a StatefulSet must not destroy its data.
	setIfNil(&spec.PersistentVolumeClaimRetentionPolicy, appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{})
	setIfEmpty(&spec.PersistentVolumeClaimRetentionPolicy.WhenDeleted, appsv1.RetainPersistentVolumeClaimRetentionPolicyType)
	setIfEmpty(&spec.PersistentVolumeClaimRetentionPolicy.WhenScaled, appsv1.RetainPersistentVolumeClaimRetentionPolicyType)

	setIfNil(&spec.Replicas, int32(1))
	setIfNil(&spec.RevisionHistoryLimit, int32(defaultRevisionHistoryLimit))
	defaultPodSpec(&spec.Template.Spec)
	// Claim templates are defaulted as whole claims, status phase included.
	for i := range spec.VolumeClaimTemplates {
		defaultPersistentVolumeClaim(&spec.VolumeClaimTemplates[i])
	}
}

func defaultDaemonSet(ds *appsv1.DaemonSet) {
	spec := &ds.Spec
	setIfEmpty(&spec.UpdateStrategy.Type, appsv1.RollingUpdateDaemonSetStrategyType)
	if spec.UpdateStrategy.Type == appsv1.RollingUpdateDaemonSetStrategyType {
		setIfNil(&spec.UpdateStrategy.RollingUpdate, appsv1.RollingUpdateDaemonSet{})
		// One node at a time, and no surge: two copies of a node agent may conflict.
		setIfNil(&spec.UpdateStrategy.RollingUpdate.MaxUnavailable, intstr.FromInt32(1))
		setIfNil(&spec.UpdateStrategy.RollingUpdate.MaxSurge, intstr.FromInt32(0))
	}
	setIfNil(&spec.RevisionHistoryLimit, int32(defaultRevisionHistoryLimit))
	defaultPodSpec(&spec.Template.Spec)
}

func defaultJob(job *batchv1.Job) {
	spec := &job.Spec
	// A Job that says neither how many pods nor how many at once runs one pod once.
	if spec.Completions == nil && spec.Parallelism == nil {
		spec.Completions = new(int32(1))
	}
	setIfNil(&spec.Parallelism, int32(1))
	if spec.BackoffLimitPerIndex != nil {
		// With per-index limits the global limit must not cut in first.
		setIfNil(&spec.BackoffLimit, int32(math.MaxInt32))
	} else {
		setIfNil(&spec.BackoffLimit, int32(6))
	}
	if spec.Template.Labels != nil && len(job.Labels) == 0 {
		job.Labels = maps.Clone(spec.Template.Labels)
	}
	setIfNil(&spec.CompletionMode, batchv1.NonIndexedCompletion)
	setIfNil(&spec.Suspend, false)
	if spec.PodFailurePolicy != nil {
		// Pod failure rules judge a pod by its final phase, so wait until it has one.
		setIfNil(&spec.PodReplacementPolicy, batchv1.Failed)
	} else {
		setIfNil(&spec.PodReplacementPolicy, batchv1.TerminatingOrFailed)
	}
	setIfNil(&spec.ManualSelector, false)
	defaultPodFailurePolicy(spec.PodFailurePolicy)
	defaultPodSpec(&spec.Template.Spec)
}

// defaultCronJob leaves the job template's own fields unset: Kubernetes defaults
// them on each Job the CronJob creates, not on the template.
func defaultCronJob(cj *batchv1.CronJob) {
	spec := &cj.Spec
	setIfEmpty(&spec.ConcurrencyPolicy, batchv1.AllowConcurrent)
	setIfNil(&spec.Suspend, false)
	setIfNil(&spec.SuccessfulJobsHistoryLimit, int32(3))
	setIfNil(&spec.FailedJobsHistoryLimit, int32(1))
	defaultPodFailurePolicy(spec.JobTemplate.Spec.PodFailurePolicy)
	defaultPodSpec(&spec.JobTemplate.Spec.Template.Spec)
}

func defaultPodFailurePolicy(policy *batchv1.PodFailurePolicy) {
	if policy == nil {
		return
	}
	for i := range policy.Rules {
		conditions := policy.Rules[i].OnPodConditions
		for j := range conditions {
			setIfEmpty(&conditions[j].Status, corev1.ConditionTrue)
		}
	}
}
