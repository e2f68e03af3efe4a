package validation

import (
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// validJob looks like a job after kube-apiserver generated its selector.
func validJob() *batchv1.Job {
	uid := types.UID("0d9a3c1e-1111-2222-3333-444455556666")
	lbls := map[string]string{
		"controller-uid": string(uid), "job-name": "pi",
		batchv1.ControllerUidLabel: string(uid), batchv1.JobNameLabel: "pi",
	}
	t := validTemplate()
	t.Labels = lbls
	t.Spec.RestartPolicy = corev1.RestartPolicyNever
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "pi", Namespace: "default", UID: uid},
		Spec: batchv1.JobSpec{
			Parallelism:    ptr[int32](1),
			Completions:    ptr[int32](1),
			BackoffLimit:   ptr[int32](6),
			Selector:       &metav1.LabelSelector{MatchLabels: map[string]string{batchv1.ControllerUidLabel: string(uid)}},
			ManualSelector: nil,
			Template:       t,
			CompletionMode: ptr(batchv1.NonIndexedCompletion),
			Suspend:        ptr(false),
		},
	}
}

func validCronJob() *batchv1.CronJob {
	t := validTemplate()
	t.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
	return &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: "nightly", Namespace: "default"},
		Spec: batchv1.CronJobSpec{
			Schedule:                   "0 3 * * *",
			ConcurrencyPolicy:          batchv1.AllowConcurrent,
			SuccessfulJobsHistoryLimit: ptr[int32](3),
			FailedJobsHistoryLimit:     ptr[int32](1),
			JobTemplate:                batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: t, BackoffLimit: ptr[int32](6)}},
		},
	}
}

func TestValidateJob(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*batchv1.Job)
		want   []want
	}{
		{"valid", func(*batchv1.Job) {}, nil},
		{"restartPolicy Always", func(j *batchv1.Job) { j.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyAlways }, []want{required("spec.template.spec.restartPolicy")}},
		{"selector required", func(j *batchv1.Job) { j.Spec.Selector = nil }, []want{required("spec.selector")}},
		{"selector not generated", func(j *batchv1.Job) {
			j.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "x"}}
		}, []want{invalid("spec.selector"), invalid("spec.template.metadata.labels")}},
		{"manual selector", func(j *batchv1.Job) {
			j.Spec.ManualSelector = ptr(true)
			j.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"job-name": "pi"}}
		}, nil},
		{"negative counts", func(j *batchv1.Job) {
			j.Spec.Parallelism, j.Spec.BackoffLimit = ptr[int32](-1), ptr[int32](-1)
		}, []want{invalid("spec.parallelism"), invalid("spec.backoffLimit")}},
		{"indexed needs completions", func(j *batchv1.Job) {
			j.Spec.CompletionMode = ptr(batchv1.IndexedCompletion)
			j.Spec.Completions = nil
		}, []want{required("spec.completions")}},
		{"per-index backoff needs indexed", func(j *batchv1.Job) { j.Spec.BackoffLimitPerIndex = ptr[int32](1) }, []want{invalid("spec.backoffLimitPerIndex")}},
		{"failure policy needs Never", func(j *batchv1.Job) {
			j.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
			j.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
				Action: batchv1.PodFailurePolicyActionFailJob, OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{0}},
			}}}
		}, []want{invalid("spec.template.spec.restartPolicy"), invalid("spec.podFailurePolicy.rules[0].onExitCodes.values[0]")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := validJob()
			tt.mutate(j)
			checkErrs(t, Validate(j), tt.want...)
		})
	}
}

func TestValidateJobUpdate(t *testing.T) {
	old := validJob()
	old.ResourceVersion = "1"
	suspended := old.DeepCopy()
	suspended.Spec.Suspend = ptr(true)
	tests := []struct {
		name   string
		old    *batchv1.Job
		mutate func(*batchv1.Job)
		want   []want
	}{
		{"parallelism may change", old, func(j *batchv1.Job) { j.Spec.Parallelism = ptr[int32](3) }, nil},
		{"template immutable", old, func(j *batchv1.Job) { j.Spec.Template.Spec.Containers[0].Image = "busybox" }, []want{invalid("spec.template")}},
		{"selector immutable", old, func(j *batchv1.Job) {
			j.Spec.Selector.MatchLabels["job-name"] = "pi"
		}, []want{invalid("spec.selector")}},
		{"completions immutable", old, func(j *batchv1.Job) { j.Spec.Completions = ptr[int32](2) }, []want{invalid("spec.completions")}},
		{"suspended job may be re-scheduled", suspended, func(j *batchv1.Job) {
			j.Spec.Template.Spec.NodeSelector = map[string]string{"zone": "a"}
		}, nil},
		{"suspended job image still fixed", suspended, func(j *batchv1.Job) {
			j.Spec.Template.Spec.Containers[0].Image = "busybox"
		}, []want{invalid("spec.template")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := tt.old.DeepCopy()
			tt.mutate(j)
			checkErrs(t, ValidateUpdate(j, tt.old), tt.want...)
		})
	}
}

func TestValidateCronJob(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*batchv1.CronJob)
		want   []want
	}{
		{"valid", func(*batchv1.CronJob) {}, nil},
		{"descriptor", func(c *batchv1.CronJob) { c.Spec.Schedule = "@hourly" }, nil},
		{"names and steps", func(c *batchv1.CronJob) { c.Spec.Schedule = "*/15 9-17 * JAN-jun mon-fri" }, nil},
		{"bad schedule", func(c *batchv1.CronJob) { c.Spec.Schedule = "61 * * * *" }, []want{invalid("spec.schedule")}},
		{"schedule required", func(c *batchv1.CronJob) { c.Spec.Schedule = "" }, []want{required("spec.schedule")}},
		{"TZ in schedule", func(c *batchv1.CronJob) { c.Spec.Schedule = "TZ=UTC 0 * * * *" }, []want{invalid("spec.schedule")}},
		{"timeZone valid", func(c *batchv1.CronJob) { c.Spec.TimeZone = ptr("Etc/UTC") }, nil},
		{"timeZone unknown", func(c *batchv1.CronJob) { c.Spec.TimeZone = ptr("Mars/Olympus") }, []want{invalid("spec.timeZone")}},
		{"concurrency policy", func(c *batchv1.CronJob) { c.Spec.ConcurrencyPolicy = "Sometimes" }, []want{notSupportedAt("spec.concurrencyPolicy")}},
		{"selector is generated", func(c *batchv1.CronJob) {
			c.Spec.JobTemplate.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
		}, []want{invalid("spec.jobTemplate.spec.selector")}},
		{"template restart policy", func(c *batchv1.CronJob) {
			c.Spec.JobTemplate.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyAlways
		}, []want{required("spec.jobTemplate.spec.template.spec.restartPolicy")}},
		{"name too long", func(c *batchv1.CronJob) { c.Name = strings.Repeat("a", 53) }, []want{invalid("metadata.name")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validCronJob()
			tt.mutate(c)
			checkErrs(t, Validate(c), tt.want...)
		})
	}
}

func TestParseCronSchedule(t *testing.T) {
	tests := []struct {
		schedule string
		wantErr  string
	}{
		{"* * * * *", ""},
		{"0 0 1 1 0", ""},
		{"0-59/5 0,12 1-31 1-12 0-6", ""},
		{"5/10 * * * *", ""},
		{"? * * * *", ""},
		{"@weekly", ""},
		{"@every 1h30m", ""},
		{"CRON_TZ=UTC 0 0 * * *", ""},
		{"", "empty spec string"},
		{"* * * *", "expected exactly 5 fields, found 4: [* * * *]"},
		{"* * * * * *", "expected exactly 5 fields, found 6"},
		{"60 * * * *", "end of range (60) above maximum (59): 60"},
		{"* 24 * * *", "end of range (24) above maximum (23)"},
		{"* * 0 * *", "beginning of range (0) below minimum (1): 0"},
		{"* * * 13 * ", "end of range (13) above maximum (12)"},
		{"* * * * 7", "end of range (7) above maximum (6)"},
		{"5-1 * * * *", "beginning of range (5) beyond end of range (1): 5-1"},
		{"*/0 * * * *", "step of range should be a positive number: */0"},
		{"1-2-3 * * * *", "too many hyphens: 1-2-3"},
		{"1/2/3 * * * *", "too many slashes: 1/2/3"},
		{"x * * * *", "failed to parse int from x"},
		{"* * * foo *", "failed to parse int from foo"},
		{"@fortnightly", "unrecognized descriptor: @fortnightly"},
		{"@every soon", "failed to parse duration @every soon"},
		{"TZ=Nowhere/Land 0 * * * *", "provided bad location Nowhere/Land"},
		{"TZ=UTC", "invalid schedule format"},
	}
	for _, tt := range tests {
		t.Run(tt.schedule, func(t *testing.T) {
			err := parseCronSchedule(tt.schedule)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("error = %v, want containing %q", err, tt.wantErr)
			}
		})
	}
}
