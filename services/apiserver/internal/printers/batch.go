package printers

import (
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/duration"
)

func init() {
	jobSelectorDoc := batchv1.JobSpec{}.SwaggerDoc()["selector"]
	register(schema.GroupKind{Group: batchv1.GroupName, Kind: "Job"}, &kindPrinter{
		columns: []metav1.TableColumnDefinition{
			nameColumn,
			column("Status", "Status of the job."),
			column("Completions", batchv1.JobStatus{}.SwaggerDoc()["succeeded"]),
			column("Duration", "Time required to complete the job."),
			ageColumn,
			containersColumn,
			imagesColumn,
			wideColumn("Selector", jobSelectorDoc),
		},
		rows: rowsOf(jobCells),
	})
	cronSpecDoc := batchv1.CronJobSpec{}.SwaggerDoc()
	cronStatusDoc := batchv1.CronJobStatus{}.SwaggerDoc()
	register(schema.GroupKind{Group: batchv1.GroupName, Kind: "CronJob"}, &kindPrinter{
		columns: []metav1.TableColumnDefinition{
			nameColumn,
			column("Schedule", cronSpecDoc["schedule"]),
			column("Timezone", cronSpecDoc["timeZone"]),
			typedColumn("Suspend", "boolean", cronSpecDoc["suspend"]),
			typedColumn("Active", "integer", cronStatusDoc["active"]),
			column("Last Schedule", cronStatusDoc["lastScheduleTime"]),
			ageColumn,
			containersColumn,
			imagesColumn,
			wideColumn("Selector", jobSelectorDoc),
		},
		rows: rowsOf(cronJobCells),
	})
}

func jobCells(job *batchv1.Job, now time.Time) []any {
	var completions string
	switch parallelism := job.Spec.Parallelism; {
	case job.Spec.Completions != nil:
		completions = fmt.Sprintf("%d/%d", job.Status.Succeeded, *job.Spec.Completions)
	case parallelism != nil && *parallelism > 1:
		// A work queue: done when any pod succeeds.
		completions = fmt.Sprintf("%d/1 of %d", job.Status.Succeeded, *parallelism)
	default:
		completions = fmt.Sprintf("%d/1", job.Status.Succeeded)
	}

	var took string
	switch start, end := job.Status.StartTime, job.Status.CompletionTime; {
	case start == nil:
	case end == nil:
		took = duration.HumanDuration(now.Sub(start.Time))
	default:
		took = duration.HumanDuration(end.Sub(start.Time))
	}

	names, images := containerCells(job.Spec.Template.Spec.Containers)
	return []any{
		job.Name,
		jobStatus(job),
		completions,
		took,
		since(job.CreationTimestamp, now),
		names,
		images,
		metav1.FormatLabelSelector(job.Spec.Selector),
	}
}

// jobStatus is the job's most telling state; finished beats terminating
// beats suspended beats the interim success and failure markers.
func jobStatus(job *batchv1.Job) string {
	switch {
	case jobCondition(job, batchv1.JobComplete):
		return "Complete"
	case jobCondition(job, batchv1.JobFailed):
		return "Failed"
	case job.DeletionTimestamp != nil:
		return "Terminating"
	case jobCondition(job, batchv1.JobSuspended):
		return "Suspended"
	case jobCondition(job, batchv1.JobFailureTarget):
		return "FailureTarget"
	case jobCondition(job, batchv1.JobSuccessCriteriaMet):
		return "SuccessCriteriaMet"
	}
	return "Running"
}

// jobCondition reports whether the job's first condition of type t is true.
func jobCondition(job *batchv1.Job, t batchv1.JobConditionType) bool {
	for _, c := range job.Status.Conditions {
		if c.Type == t {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func cronJobCells(cj *batchv1.CronJob, now time.Time) []any {
	lastSchedule := "<none>"
	if t := cj.Status.LastScheduleTime; t != nil {
		lastSchedule = since(*t, now)
	}
	timeZone := "<none>"
	if cj.Spec.TimeZone != nil {
		timeZone = *cj.Spec.TimeZone
	}
	suspend := cj.Spec.Suspend
	if suspend == nil {
		suspend = new(false) // the API's default
	}
	tmpl := cj.Spec.JobTemplate.Spec
	names, images := containerCells(tmpl.Template.Spec.Containers)
	return []any{
		cj.Name,
		cj.Spec.Schedule,
		timeZone,
		boolPtrCell(suspend),
		int64(len(cj.Status.Active)),
		lastSchedule,
		since(cj.CreationTimestamp, now),
		names,
		images,
		metav1.FormatLabelSelector(tmpl.Selector),
	}
}
