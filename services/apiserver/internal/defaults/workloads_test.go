package defaults

import (
	"math"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func defaultedDeployment(replicas int32, template corev1.PodTemplateSpec) appsv1.Deployment {
	return appsv1.Deployment{Spec: appsv1.DeploymentSpec{
		Replicas: new(replicas),
		Strategy: appsv1.DeploymentStrategy{
			Type: appsv1.RollingUpdateDeploymentStrategyType,
			RollingUpdate: &appsv1.RollingUpdateDeployment{
				MaxUnavailable: new(intstr.FromString("25%")),
				MaxSurge:       new(intstr.FromString("25%")),
			},
		},
		RevisionHistoryLimit:    new(int32(10)),
		ProgressDeadlineSeconds: new(int32(600)),
		Template:                template,
	}}
}

func TestDefaultDeployment(t *testing.T) {
	deployment := func(d appsv1.Deployment) *appsv1.Deployment { return &d }
	runDefaultingTests(t, []defaultingTest{
		{
			name: "minimal deployment and its template",
			in:   &appsv1.Deployment{Spec: appsv1.DeploymentSpec{Template: appTemplate()}},
			want: deployment(defaultedDeployment(1, defaultedAppTemplate())),
		},
		{
			name: "zero replicas and partial rolling update are kept",
			in: &appsv1.Deployment{Spec: appsv1.DeploymentSpec{
				Replicas: new(int32(0)),
				Strategy: appsv1.DeploymentStrategy{RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: new(intstr.FromInt32(1))}},
				Template: appTemplate(),
			}},
			want: deployment(func() appsv1.Deployment {
				d := defaultedDeployment(0, defaultedAppTemplate())
				d.Spec.Strategy.RollingUpdate.MaxSurge = new(intstr.FromInt32(1))
				return d
			}()),
		},
		{
			name: "recreate gets no rolling update",
			in: &appsv1.Deployment{Spec: appsv1.DeploymentSpec{
				Strategy:                appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType},
				RevisionHistoryLimit:    new(int32(2)),
				ProgressDeadlineSeconds: new(int32(60)),
				Template:                appTemplate(),
			}},
			want: &appsv1.Deployment{Spec: appsv1.DeploymentSpec{
				Replicas:                new(int32(1)),
				Strategy:                appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType},
				RevisionHistoryLimit:    new(int32(2)),
				ProgressDeadlineSeconds: new(int32(60)),
				Template:                defaultedAppTemplate(),
			}},
		},
	})
}

func TestDefaultReplicaSet(t *testing.T) {
	runDefaultingTests(t, []defaultingTest{
		{
			name: "replicas and template",
			in:   &appsv1.ReplicaSet{Spec: appsv1.ReplicaSetSpec{Template: appTemplate()}},
			want: &appsv1.ReplicaSet{Spec: appsv1.ReplicaSetSpec{Replicas: new(int32(1)), Template: defaultedAppTemplate()}},
		},
		{
			name: "replicas kept",
			in:   &appsv1.ReplicaSet{Spec: appsv1.ReplicaSetSpec{Replicas: new(int32(5)), Template: appTemplate()}},
			want: &appsv1.ReplicaSet{Spec: appsv1.ReplicaSetSpec{Replicas: new(int32(5)), Template: defaultedAppTemplate()}},
		},
	})
}

func TestDefaultStatefulSet(t *testing.T) {
	retain := appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
		WhenDeleted: appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
		WhenScaled:  appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
	}
	runDefaultingTests(t, []defaultingTest{
		{
			name: "minimal statefulset, template and claim templates",
			in: &appsv1.StatefulSet{Spec: appsv1.StatefulSetSpec{
				Template:             appTemplate(),
				VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{ObjectMeta: metav1.ObjectMeta{Name: "data"}}},
			}},
			want: &appsv1.StatefulSet{Spec: appsv1.StatefulSetSpec{
				Replicas:            new(int32(1)),
				PodManagementPolicy: appsv1.OrderedReadyPodManagement,
				UpdateStrategy: appsv1.StatefulSetUpdateStrategy{
					Type: appsv1.RollingUpdateStatefulSetStrategyType,
					RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{
						Partition:      new(int32(0)),
						MaxUnavailable: new(intstr.FromInt32(1)),
					},
				},
				RevisionHistoryLimit:                 new(int32(10)),
				PersistentVolumeClaimRetentionPolicy: &retain,
				Template:                             defaultedAppTemplate(),
				VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
					ObjectMeta: metav1.ObjectMeta{Name: "data"},
					Spec:       corev1.PersistentVolumeClaimSpec{VolumeMode: new(corev1.PersistentVolumeFilesystem)},
					Status:     corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending},
				}},
			}},
		},
		{
			name: "explicit rolling update without parameters stays without them",
			in: &appsv1.StatefulSet{Spec: appsv1.StatefulSetSpec{
				UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType},
				Template:       appTemplate(),
			}},
			want: &appsv1.StatefulSet{Spec: appsv1.StatefulSetSpec{
				Replicas:                             new(int32(1)),
				PodManagementPolicy:                  appsv1.OrderedReadyPodManagement,
				UpdateStrategy:                       appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType},
				RevisionHistoryLimit:                 new(int32(10)),
				PersistentVolumeClaimRetentionPolicy: &retain,
				Template:                             defaultedAppTemplate(),
			}},
		},
		{
			name: "set values are kept",
			in: &appsv1.StatefulSet{Spec: appsv1.StatefulSetSpec{
				Replicas:            new(int32(3)),
				PodManagementPolicy: appsv1.ParallelPodManagement,
				UpdateStrategy: appsv1.StatefulSetUpdateStrategy{
					Type:          appsv1.RollingUpdateStatefulSetStrategyType,
					RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: new(int32(2))},
				},
				PersistentVolumeClaimRetentionPolicy: &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{WhenDeleted: appsv1.DeletePersistentVolumeClaimRetentionPolicyType},
				Template:                             appTemplate(),
			}},
			want: &appsv1.StatefulSet{Spec: appsv1.StatefulSetSpec{
				Replicas:            new(int32(3)),
				PodManagementPolicy: appsv1.ParallelPodManagement,
				UpdateStrategy: appsv1.StatefulSetUpdateStrategy{
					Type:          appsv1.RollingUpdateStatefulSetStrategyType,
					RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: new(int32(2)), MaxUnavailable: new(intstr.FromInt32(1))},
				},
				RevisionHistoryLimit: new(int32(10)),
				PersistentVolumeClaimRetentionPolicy: &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
					WhenDeleted: appsv1.DeletePersistentVolumeClaimRetentionPolicyType,
					WhenScaled:  appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
				},
				Template: defaultedAppTemplate(),
			}},
		},
	})
}

func TestDefaultDaemonSet(t *testing.T) {
	runDefaultingTests(t, []defaultingTest{
		{
			name: "rolling update one node at a time, without surge",
			in:   &appsv1.DaemonSet{Spec: appsv1.DaemonSetSpec{Template: appTemplate()}},
			want: &appsv1.DaemonSet{Spec: appsv1.DaemonSetSpec{
				UpdateStrategy: appsv1.DaemonSetUpdateStrategy{
					Type: appsv1.RollingUpdateDaemonSetStrategyType,
					RollingUpdate: &appsv1.RollingUpdateDaemonSet{
						MaxUnavailable: new(intstr.FromInt32(1)),
						MaxSurge:       new(intstr.FromInt32(0)),
					},
				},
				RevisionHistoryLimit: new(int32(10)),
				Template:             defaultedAppTemplate(),
			}},
		},
		{
			name: "on delete",
			in: &appsv1.DaemonSet{Spec: appsv1.DaemonSetSpec{
				UpdateStrategy:       appsv1.DaemonSetUpdateStrategy{Type: appsv1.OnDeleteDaemonSetStrategyType},
				RevisionHistoryLimit: new(int32(1)),
				Template:             appTemplate(),
			}},
			want: &appsv1.DaemonSet{Spec: appsv1.DaemonSetSpec{
				UpdateStrategy:       appsv1.DaemonSetUpdateStrategy{Type: appsv1.OnDeleteDaemonSetStrategyType},
				RevisionHistoryLimit: new(int32(1)),
				Template:             defaultedAppTemplate(),
			}},
		},
	})
}

// jobTemplate is a Job's pod template; Jobs must not restart in place.
func jobTemplate() corev1.PodTemplateSpec {
	t := appTemplate()
	t.Spec.RestartPolicy = corev1.RestartPolicyNever
	return t
}

func defaultedJobTemplate() corev1.PodTemplateSpec {
	t := defaultedAppTemplate()
	t.Spec.RestartPolicy = corev1.RestartPolicyNever
	return t
}

func defaultedJob() *batchv1.Job {
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
		Spec: batchv1.JobSpec{
			Completions:          new(int32(1)),
			Parallelism:          new(int32(1)),
			BackoffLimit:         new(int32(6)),
			CompletionMode:       new(batchv1.NonIndexedCompletion),
			Suspend:              new(false),
			PodReplacementPolicy: new(batchv1.TerminatingOrFailed),
			ManualSelector:       new(false),
			Template:             defaultedJobTemplate(),
		},
	}
}

func TestDefaultJob(t *testing.T) {
	runDefaultingTests(t, []defaultingTest{
		{
			name: "minimal job takes its template's labels",
			in:   &batchv1.Job{Spec: batchv1.JobSpec{Template: jobTemplate()}},
			want: defaultedJob(),
		},
		{
			name: "parallelism alone leaves completions open",
			in:   &batchv1.Job{Spec: batchv1.JobSpec{Parallelism: new(int32(4)), Template: jobTemplate()}},
			want: func() *batchv1.Job {
				j := defaultedJob()
				j.Spec.Completions, j.Spec.Parallelism = nil, new(int32(4))
				return j
			}(),
		},
		{
			name: "completions alone gets parallelism 1",
			in:   &batchv1.Job{Spec: batchv1.JobSpec{Completions: new(int32(5)), Template: jobTemplate()}},
			want: func() *batchv1.Job {
				j := defaultedJob()
				j.Spec.Completions = new(int32(5))
				return j
			}(),
		},
		{
			name: "per-index backoff lifts the global limit",
			in: &batchv1.Job{Spec: batchv1.JobSpec{
				CompletionMode: new(batchv1.IndexedCompletion), BackoffLimitPerIndex: new(int32(2)), Template: jobTemplate(),
			}},
			want: func() *batchv1.Job {
				j := defaultedJob()
				j.Spec.CompletionMode = new(batchv1.IndexedCompletion)
				j.Spec.BackoffLimitPerIndex = new(int32(2))
				j.Spec.BackoffLimit = new(int32(math.MaxInt32))
				return j
			}(),
		},
		{
			name: "pod failure policy replaces only failed pods and matches true conditions",
			in: &batchv1.Job{Spec: batchv1.JobSpec{
				PodFailurePolicy: &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
					Action:          batchv1.PodFailurePolicyActionIgnore,
					OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: corev1.DisruptionTarget}},
				}}},
				Template: jobTemplate(),
			}},
			want: func() *batchv1.Job {
				j := defaultedJob()
				j.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
					Action:          batchv1.PodFailurePolicyActionIgnore,
					OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue}},
				}}}
				j.Spec.PodReplacementPolicy = new(batchv1.Failed)
				return j
			}(),
		},
		{
			name: "set values and labels are kept",
			in: &batchv1.Job{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"team": "data"}},
				Spec: batchv1.JobSpec{
					BackoffLimit: new(int32(0)), Suspend: new(true), ManualSelector: new(true),
					PodReplacementPolicy: new(batchv1.Failed), Template: jobTemplate(),
				},
			},
			want: func() *batchv1.Job {
				j := defaultedJob()
				j.Labels = map[string]string{"team": "data"}
				j.Spec.BackoffLimit, j.Spec.Suspend, j.Spec.ManualSelector = new(int32(0)), new(true), new(true)
				j.Spec.PodReplacementPolicy = new(batchv1.Failed)
				return j
			}(),
		},
	})
}

func TestDefaultCronJob(t *testing.T) {
	runDefaultingTests(t, []defaultingTest{
		{
			name: "job template keeps its job fields unset but gets pod defaults",
			in: &batchv1.CronJob{Spec: batchv1.CronJobSpec{
				Schedule: "*/5 * * * *",
				JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{
					PodFailurePolicy: &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
						Action:          batchv1.PodFailurePolicyActionFailJob,
						OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: corev1.DisruptionTarget}},
					}}},
					Template: jobTemplate(),
				}},
			}},
			want: &batchv1.CronJob{Spec: batchv1.CronJobSpec{
				Schedule:                   "*/5 * * * *",
				ConcurrencyPolicy:          batchv1.AllowConcurrent,
				Suspend:                    new(false),
				SuccessfulJobsHistoryLimit: new(int32(3)),
				FailedJobsHistoryLimit:     new(int32(1)),
				JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{
					PodFailurePolicy: &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
						Action:          batchv1.PodFailurePolicyActionFailJob,
						OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue}},
					}}},
					Template: defaultedJobTemplate(),
				}},
			}},
		},
		{
			name: "set values are kept",
			in: &batchv1.CronJob{Spec: batchv1.CronJobSpec{
				ConcurrencyPolicy: batchv1.ForbidConcurrent, Suspend: new(true),
				SuccessfulJobsHistoryLimit: new(int32(0)), FailedJobsHistoryLimit: new(int32(5)),
				JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: jobTemplate()}},
			}},
			want: &batchv1.CronJob{Spec: batchv1.CronJobSpec{
				ConcurrencyPolicy: batchv1.ForbidConcurrent, Suspend: new(true),
				SuccessfulJobsHistoryLimit: new(int32(0)), FailedJobsHistoryLimit: new(int32(5)),
				JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: defaultedJobTemplate()}},
			}},
		},
	})
}
