package validation

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metavalidation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Limits from Kubernetes' batch validation.
const (
	maxParallelismForIndexedJob   = 100_000
	maxFailedIndexesForIndexedJob = 100_000
	maxPodFailurePolicyRules      = 20
	maxOnExitCodesValues          = 255
	maxOnPodConditionsPatterns    = 20
	maxManagedByLength            = 63
	// A CronJob's jobs are named <cronjob>-<11 digit timestamp> and must
	// stay within 63 characters.
	maxCronJobNameLength = validation.DNS1035LabelMaxLength - 11
)

// The unprefixed labels jobs have always put on their pods, still set and
// checked beside the batch.kubernetes.io/ ones.
const (
	legacyControllerUIDLabel = "controller-uid"
	legacyJobNameLabel       = "job-name"
)

func validateJob(job *batchv1.Job) field.ErrorList {
	all := validateMeta(&job.ObjectMeta, true, apivalidation.NameIsDNSSubdomain)
	all = append(all, validateGeneratedSelector(job)...)
	all = append(all, validateJobSpecWithSelector(&job.Spec, specPath)...)
	return append(all, validateNameAllowsCompletions(job)...)
}

// validateGeneratedSelector checks the selector kube-apiserver generates for
// a job without manualSelector: it must select the uid and name labels that
// were put on the template, so that jobs never adopt each other's pods.
func validateGeneratedSelector(job *batchv1.Job) field.ErrorList {
	if (job.Spec.ManualSelector != nil && *job.Spec.ManualSelector) || job.Spec.Selector == nil {
		return nil
	}
	var all field.ErrorList
	if job.UID == "" {
		all = append(all, field.Required(metaPath.Child("uid"), ""))
	}
	tmplMeta := specPath.Child("template", "metadata")
	expected := map[string]string{
		legacyControllerUIDLabel:   string(job.UID),
		legacyJobNameLabel:         job.Name,
		batchv1.ControllerUidLabel: string(job.UID),
		batchv1.JobNameLabel:       job.Name,
	}
	for _, k := range []string{legacyControllerUIDLabel, legacyJobNameLabel, batchv1.ControllerUidLabel, batchv1.JobNameLabel} {
		want := expected[k]
		switch got, ok := job.Spec.Template.Labels[k]; {
		case !ok:
			all = append(all, field.Required(tmplMeta.Child("labels").Key(k), fmt.Sprintf("must be '%s'", want)))
		case got != want:
			all = append(all, field.Invalid(tmplMeta.Child("labels").Key(k), job.Spec.Template.Labels, fmt.Sprintf("must be '%s'", want)))
		}
	}
	if sel, err := metav1.LabelSelectorAsSelector(job.Spec.Selector); err == nil && !sel.Matches(labels.Set(expected)) {
		all = append(all, field.Invalid(specPath.Child("selector"), job.Spec.Selector, "`selector` not auto-generated"))
	}
	return all
}

// validateNameAllowsCompletions: indexed pods get hostnames <job>-<index>,
// which must be DNS labels.
func validateNameAllowsCompletions(job *batchv1.Job) field.ErrorList {
	if !isIndexed(&job.Spec) || job.Spec.Completions == nil || *job.Spec.Completions <= 0 {
		return nil
	}
	host := fmt.Sprintf("%s-%d", job.Name, *job.Spec.Completions-1)
	if len(validation.IsDNS1123Label(host)) > 0 {
		return field.ErrorList{field.Invalid(metaPath.Child("name"), job.Name, fmt.Sprintf("will not able to create pod with invalid DNS label: %s", host))}
	}
	return nil
}

func isIndexed(spec *batchv1.JobSpec) bool {
	return spec.CompletionMode != nil && *spec.CompletionMode == batchv1.IndexedCompletion
}

// validateJobSpecWithSelector is the Job's own spec check; a CronJob's job
// template has no selector yet.
func validateJobSpecWithSelector(spec *batchv1.JobSpec, fldPath *field.Path) field.ErrorList {
	all := validateJobSpec(spec, fldPath)
	if spec.Selector == nil {
		return append(all, field.Required(fldPath.Child("selector"), ""))
	}
	all = append(all, metavalidation.ValidateLabelSelector(spec.Selector, metavalidation.LabelSelectorValidationOptions{}, fldPath.Child("selector"))...)
	if sel, err := metav1.LabelSelectorAsSelector(spec.Selector); err == nil && !sel.Matches(labels.Set(spec.Template.Labels)) {
		all = append(all, field.Invalid(fldPath.Child("template", "metadata", "labels"), spec.Template.Labels, "`selector` does not match template `labels`"))
	}
	return all
}

func validateJobSpec(spec *batchv1.JobSpec, fldPath *field.Path) field.ErrorList {
	var all field.ErrorList
	for _, f := range []struct {
		name  string
		value *int32
	}{
		{"parallelism", spec.Parallelism}, {"completions", spec.Completions}, {"backoffLimit", spec.BackoffLimit},
		{"ttlSecondsAfterFinished", spec.TTLSecondsAfterFinished}, {"backoffLimitPerIndex", spec.BackoffLimitPerIndex},
		{"maxFailedIndexes", spec.MaxFailedIndexes},
	} {
		if f.value != nil {
			all = append(all, validateNonnegative(int64(*f.value), fldPath.Child(f.name))...)
		}
	}
	if d := spec.ActiveDeadlineSeconds; d != nil {
		all = append(all, validateNonnegative(*d, fldPath.Child("activeDeadlineSeconds"))...)
	}
	if spec.MaxFailedIndexes != nil && spec.BackoffLimitPerIndex == nil {
		all = append(all, field.Required(fldPath.Child("backoffLimitPerIndex"), "when maxFailedIndexes is specified"))
	}
	if m := spec.ManagedBy; m != nil {
		all = append(all, validation.IsDomainPrefixedPath(fldPath.Child("managedBy"), *m)...)
		if len(*m) > maxManagedByLength {
			all = append(all, field.TooLong(fldPath.Child("managedBy"), "", maxManagedByLength))
		}
	}
	if m := spec.CompletionMode; m != nil {
		if *m != batchv1.NonIndexedCompletion && *m != batchv1.IndexedCompletion {
			all = append(all, notSupported(fldPath.Child("completionMode"), *m, batchv1.NonIndexedCompletion, batchv1.IndexedCompletion))
		}
	}
	if isIndexed(spec) {
		if spec.Completions == nil {
			all = append(all, field.Required(fldPath.Child("completions"), fmt.Sprintf("when completion mode is %s", batchv1.IndexedCompletion)))
		}
		if p := spec.Parallelism; p != nil && *p > maxParallelismForIndexedJob {
			all = append(all, field.Invalid(fldPath.Child("parallelism"), *p, fmt.Sprintf("must be less than or equal to %d when completion mode is %s", maxParallelismForIndexedJob, batchv1.IndexedCompletion)))
		}
		if m := spec.MaxFailedIndexes; m != nil {
			if spec.Completions != nil && *m > *spec.Completions {
				all = append(all, field.Invalid(fldPath.Child("maxFailedIndexes"), *m, "must be less than or equal to completions"))
			}
			if *m > maxFailedIndexesForIndexedJob {
				all = append(all, field.Invalid(fldPath.Child("maxFailedIndexes"), *m, fmt.Sprintf("must be less than or equal to %d", maxFailedIndexesForIndexedJob)))
			}
		}
	} else {
		if b := spec.BackoffLimitPerIndex; b != nil {
			all = append(all, field.Invalid(fldPath.Child("backoffLimitPerIndex"), *b, "requires indexed completion mode"))
		}
		if m := spec.MaxFailedIndexes; m != nil {
			all = append(all, field.Invalid(fldPath.Child("maxFailedIndexes"), *m, "requires indexed completion mode"))
		}
		if spec.SuccessPolicy != nil {
			all = append(all, field.Invalid(fldPath.Child("successPolicy"), *spec.SuccessPolicy, "requires indexed completion mode"))
		}
	}
	if spec.PodFailurePolicy != nil {
		all = append(all, validatePodFailurePolicy(spec, fldPath.Child("podFailurePolicy"))...)
	}
	if p := spec.PodReplacementPolicy; p != nil {
		all = append(all, validateEnum(*p, fldPath.Child("podReplacementPolicy"), batchv1.Failed, batchv1.TerminatingOrFailed)...)
		// Failed pods are the only signal a failure policy can act on.
		if spec.PodFailurePolicy != nil && *p != batchv1.Failed {
			all = append(all, field.NotSupported(fldPath.Child("podReplacementPolicy"), *p, []batchv1.PodReplacementPolicy{batchv1.Failed}))
		}
	}
	tp := fldPath.Child("template")
	all = append(all, validatePodTemplateSpec(&spec.Template, tp)...)
	// A job's pods run to completion, so restarting always is meaningless.
	switch rp := spec.Template.Spec.RestartPolicy; {
	case rp == corev1.RestartPolicyAlways || rp == "":
		all = append(all, field.Required(tp.Child("spec", "restartPolicy"), fmt.Sprintf("valid values: %q, %q", corev1.RestartPolicyOnFailure, corev1.RestartPolicyNever)))
	case rp != corev1.RestartPolicyOnFailure && rp != corev1.RestartPolicyNever:
		all = append(all, notSupported(tp.Child("spec", "restartPolicy"), rp, corev1.RestartPolicyOnFailure, corev1.RestartPolicyNever))
	case spec.PodFailurePolicy != nil && rp != corev1.RestartPolicyNever:
		all = append(all, field.Invalid(tp.Child("spec", "restartPolicy"), rp, fmt.Sprintf("only %q is supported when podFailurePolicy is specified", corev1.RestartPolicyNever)))
	}
	return all
}

func validatePodFailurePolicy(spec *batchv1.JobSpec, fldPath *field.Path) field.ErrorList {
	var all field.ErrorList
	rules := spec.PodFailurePolicy.Rules
	rulesPath := fldPath.Child("rules")
	if len(rules) > maxPodFailurePolicyRules {
		return field.ErrorList{field.TooMany(rulesPath, len(rules), maxPodFailurePolicyRules)}
	}
	containers := map[string]bool{}
	for _, c := range spec.Template.Spec.Containers {
		containers[c.Name] = true
	}
	for _, c := range spec.Template.Spec.InitContainers {
		containers[c.Name] = true
	}
	actions := []batchv1.PodFailurePolicyAction{batchv1.PodFailurePolicyActionCount, batchv1.PodFailurePolicyActionFailIndex,
		batchv1.PodFailurePolicyActionFailJob, batchv1.PodFailurePolicyActionIgnore}
	for i, r := range rules {
		p := rulesPath.Index(i)
		all = append(all, validateEnum(r.Action, p.Child("action"), actions...)...)
		if r.Action == batchv1.PodFailurePolicyActionFailIndex && spec.BackoffLimitPerIndex == nil {
			all = append(all, field.Invalid(p.Child("action"), r.Action, "requires the backoffLimitPerIndex to be set"))
		}
		switch {
		case r.OnExitCodes != nil && len(r.OnPodConditions) > 0:
			all = append(all, field.Invalid(p, field.OmitValueType{}, "specifying both OnExitCodes and OnPodConditions is not supported"))
		case r.OnExitCodes == nil && len(r.OnPodConditions) == 0:
			all = append(all, field.Invalid(p, field.OmitValueType{}, "specifying one of OnExitCodes and OnPodConditions is required"))
		}
		if ec := r.OnExitCodes; ec != nil {
			ep := p.Child("onExitCodes")
			if ec.ContainerName != nil && !containers[*ec.ContainerName] {
				all = append(all, field.Invalid(ep.Child("containerName"), *ec.ContainerName, "must be one of the container or initContainer names in the pod template"))
			}
			all = append(all, validateEnum(ec.Operator, ep.Child("operator"), batchv1.PodFailurePolicyOnExitCodesOpIn, batchv1.PodFailurePolicyOnExitCodesOpNotIn)...)
			if len(ec.Values) == 0 {
				all = append(all, field.Invalid(ep.Child("values"), ec.Values, "at least one value is required"))
			} else if len(ec.Values) > maxOnExitCodesValues {
				all = append(all, field.TooMany(ep.Child("values"), len(ec.Values), maxOnExitCodesValues))
			}
			for j, v := range ec.Values {
				// 0 means success, which a failure policy never sees.
				if ec.Operator == batchv1.PodFailurePolicyOnExitCodesOpIn && v == 0 {
					all = append(all, field.Invalid(ep.Child("values").Index(j), v, "must not be 0 for the In operator"))
				}
				if j > 0 && ec.Values[j-1] >= v {
					all = append(all, field.Invalid(ep.Child("values").Index(j), v, "must be ordered"))
				}
			}
		}
		if len(r.OnPodConditions) > maxOnPodConditionsPatterns {
			all = append(all, field.TooMany(p.Child("onPodConditions"), len(r.OnPodConditions), maxOnPodConditionsPatterns))
		}
		for j, c := range r.OnPodConditions {
			cp := p.Child("onPodConditions").Index(j)
			all = append(all, validateQualifiedName(string(c.Type), cp.Child("type"))...)
			all = append(all, validateEnum(c.Status, cp.Child("status"), corev1.ConditionFalse, corev1.ConditionTrue, corev1.ConditionUnknown)...)
		}
	}
	return all
}

func validateJobUpdate(job, old *batchv1.Job) field.ErrorList {
	all := validateMetaUpdate(&job.ObjectMeta, &old.ObjectMeta)
	all = append(all, validateJobSpecWithSelector(&job.Spec, specPath)...)
	all = append(all, validateJobSpecUpdate(&job.Spec, &old.Spec, old.Status.StartTime == nil)...)
	return append(all, validateNameAllowsCompletions(job)...)
}

func validateJobSpecUpdate(spec, old *batchv1.JobSpec, notStarted bool) field.ErrorList {
	var all field.ErrorList
	// Completions may only scale an indexed job, together with parallelism.
	if !isIndexed(spec) {
		all = append(all, validateImmutable(spec.Completions, old.Completions, specPath.Child("completions"))...)
	} else if spec.Completions != nil && !equalPtr(spec.Completions, old.Completions) && !equalPtr(spec.Completions, spec.Parallelism) {
		all = append(all, field.Invalid(specPath.Child("completions"), spec.Completions, "can only be modified in tandem with spec.parallelism"))
	}
	all = append(all, validateImmutable(spec.Selector, old.Selector, specPath.Child("selector"))...)
	all = append(all, validateJobTemplateUpdate(spec, old, notStarted)...)
	all = append(all, validateImmutable(spec.CompletionMode, old.CompletionMode, specPath.Child("completionMode"))...)
	all = append(all, validateImmutable(spec.PodFailurePolicy, old.PodFailurePolicy, specPath.Child("podFailurePolicy"))...)
	all = append(all, validateImmutable(spec.BackoffLimitPerIndex, old.BackoffLimitPerIndex, specPath.Child("backoffLimitPerIndex"))...)
	all = append(all, validateImmutable(spec.ManagedBy, old.ManagedBy, specPath.Child("managedBy"))...)
	return append(all, validateImmutable(spec.SuccessPolicy, old.SuccessPolicy, specPath.Child("successPolicy"))...)
}

// validateJobTemplateUpdate keeps a job's pod template fixed, except that a
// suspended job that never started may have its scheduling directives
// changed, so a queueing controller can place it before resuming it.
func validateJobTemplateUpdate(spec, old *batchv1.JobSpec, notStarted bool) field.ErrorList {
	oldTemplate := &old.Template
	if old.Suspend != nil && *old.Suspend && notStarted {
		oldTemplate = old.Template.DeepCopy()
		t := &spec.Template
		if t.Spec.Affinity == nil || oldTemplate.Spec.Affinity == nil {
			if oldTemplate.Spec.Affinity != nil {
				oldTemplate.Spec.Affinity.NodeAffinity = nil
				if *oldTemplate.Spec.Affinity == (corev1.Affinity{}) {
					oldTemplate.Spec.Affinity = nil
				}
			} else if t.Spec.Affinity != nil {
				oldTemplate.Spec.Affinity = &corev1.Affinity{NodeAffinity: t.Spec.Affinity.NodeAffinity}
			}
		} else {
			oldTemplate.Spec.Affinity.NodeAffinity = t.Spec.Affinity.NodeAffinity
		}
		oldTemplate.Spec.NodeSelector = t.Spec.NodeSelector
		oldTemplate.Spec.Tolerations = t.Spec.Tolerations
		oldTemplate.Annotations = t.Annotations
		oldTemplate.Labels = t.Labels
		oldTemplate.Spec.SchedulingGates = t.Spec.SchedulingGates
	}
	return validateImmutable(&spec.Template, oldTemplate, specPath.Child("template"))
}

func validateJobStatusUpdate(job, old *batchv1.Job) field.ErrorList {
	all := validateMetaUpdate(&job.ObjectMeta, &old.ObjectMeta)
	s := job.Status
	all = append(all, validateCounters(counter{"active", int64(s.Active)}, counter{"succeeded", int64(s.Succeeded)},
		counter{"failed", int64(s.Failed)})...)
	all = append(all, validateOptionalCounters(counter{"ready", -1}, s.Ready)...)
	all = append(all, validateOptionalCounters(counter{"terminating", -1}, s.Terminating)...)
	// A finished job stays finished.
	if isJobFinished(old) && !isJobFinished(job) {
		all = append(all, field.Invalid(statusPath.Child("conditions"), field.OmitValueType{}, "cannot disable the terminal state"))
	}
	return all
}

func isJobFinished(job *batchv1.Job) bool {
	for _, c := range job.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// CronJob

func validateCronJob(cj *batchv1.CronJob) field.ErrorList {
	all := validateMeta(&cj.ObjectMeta, true, apivalidation.NameIsDNSSubdomain)
	all = append(all, validateCronJobSpec(&cj.Spec, nil)...)
	if len(cj.Name) > maxCronJobNameLength {
		all = append(all, field.Invalid(metaPath.Child("name"), cj.Name, fmt.Sprintf("must be no more than %d characters", maxCronJobNameLength)))
	}
	return all
}

// validateCronJobUpdate skips the name length rule so that older cronjobs
// with longer names can still be updated and deleted.
func validateCronJobUpdate(cj, old *batchv1.CronJob) field.ErrorList {
	return append(validateMetaUpdate(&cj.ObjectMeta, &old.ObjectMeta), validateCronJobSpec(&cj.Spec, &old.Spec)...)
}

func validateCronJobSpec(spec, old *batchv1.CronJobSpec) field.ErrorList {
	var all field.ErrorList
	sp := specPath.Child("schedule")
	if spec.Schedule == "" {
		all = append(all, field.Required(sp, ""))
	} else {
		if err := parseCronSchedule(spec.Schedule); err != nil {
			all = append(all, field.Invalid(sp, spec.Schedule, err.Error()))
		}
		// Only schedules stored before the timeZone field existed may keep a TZ prefix.
		allowTZ := old != nil && strings.Contains(old.Schedule, "TZ")
		switch {
		case allowTZ && strings.Contains(spec.Schedule, "TZ") && spec.TimeZone != nil:
			all = append(all, field.Invalid(sp, spec.Schedule, "cannot use both timeZone field and TZ or CRON_TZ in schedule"))
		case !allowTZ && strings.Contains(spec.Schedule, "TZ"):
			all = append(all, field.Invalid(sp, spec.Schedule, "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"))
		}
	}
	if d := spec.StartingDeadlineSeconds; d != nil {
		all = append(all, validateNonnegative(*d, specPath.Child("startingDeadlineSeconds"))...)
	}
	if old == nil || !equalPtr(old.TimeZone, spec.TimeZone) {
		all = append(all, validateTimeZone(spec.TimeZone, specPath.Child("timeZone"))...)
	}
	all = append(all, validateEnum(spec.ConcurrencyPolicy, specPath.Child("concurrencyPolicy"),
		batchv1.AllowConcurrent, batchv1.ForbidConcurrent, batchv1.ReplaceConcurrent)...)
	jp := specPath.Child("jobTemplate", "spec")
	all = append(all, validateJobSpec(&spec.JobTemplate.Spec, jp)...)
	// Each job's selector is generated when the job is created.
	if spec.JobTemplate.Spec.Selector != nil {
		all = append(all, field.Invalid(jp.Child("selector"), spec.JobTemplate.Spec.Selector, "`selector` will be auto-generated"))
	}
	if m := spec.JobTemplate.Spec.ManualSelector; m != nil && *m {
		all = append(all, field.NotSupported(jp.Child("manualSelector"), spec.JobTemplate.Spec.ManualSelector, []string{"nil", "false"}))
	}
	if l := spec.SuccessfulJobsHistoryLimit; l != nil {
		all = append(all, validateNonnegative(int64(*l), specPath.Child("successfulJobsHistoryLimit"))...)
	}
	if l := spec.FailedJobsHistoryLimit; l != nil {
		all = append(all, validateNonnegative(int64(*l), specPath.Child("failedJobsHistoryLimit"))...)
	}
	return all
}

// validTimeZoneCharacters follows the IANA naming rules Kubernetes applies
// to each part of a zone name, before asking the zone database.
var validTimeZoneCharacters = regexp.MustCompile(`^[A-Za-z\.\-_0-9+]{1,14}$`)

func validateTimeZone(tz *string, fldPath *field.Path) field.ErrorList {
	if tz == nil {
		return nil
	}
	if *tz == "" {
		return field.ErrorList{field.Invalid(fldPath, tz, "timeZone must be nil or non-empty string")}
	}
	for _, part := range strings.Split(*tz, "/") {
		if part == "." || part == ".." || strings.HasPrefix(part, "-") || !validTimeZoneCharacters.MatchString(part) {
			return field.ErrorList{field.Invalid(fldPath, tz, fmt.Sprintf("unknown time zone %s", *tz))}
		}
	}
	var all field.ErrorList
	if strings.EqualFold(*tz, "Local") {
		all = append(all, field.Invalid(fldPath, tz, "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones"))
	}
	if _, err := time.LoadLocation(*tz); err != nil {
		all = append(all, field.Invalid(fldPath, tz, err.Error()))
	}
	return all
}
