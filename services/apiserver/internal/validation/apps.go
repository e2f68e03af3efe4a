package validation

import (
	"encoding/json"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metavalidation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// validateWorkloadSelector requires a non-empty, valid selector and returns
// it parsed, or nil when it cannot be parsed. kind names the workload in the
// "empty selector is invalid for ..." message.
func validateWorkloadSelector(sel *metav1.LabelSelector, kind string, fldPath *field.Path) (labels.Selector, field.ErrorList) {
	if sel == nil {
		return nil, field.ErrorList{field.Required(fldPath, "")}
	}
	all := metavalidation.ValidateLabelSelector(sel, metavalidation.LabelSelectorValidationOptions{}, fldPath)
	if len(sel.MatchLabels)+len(sel.MatchExpressions) == 0 {
		all = append(all, field.Invalid(fldPath, sel, "empty selector is invalid for "+kind))
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return nil, append(all, field.Invalid(fldPath, sel, "invalid label selector"))
	}
	return s, all
}

// validateSelectorMatchesTemplate reports a template its own selector would
// not select: the controller would create pods forever.
func validateSelectorMatchesTemplate(sel labels.Selector, t *corev1.PodTemplateSpec, fldPath *field.Path) field.ErrorList {
	if sel != nil && !sel.Empty() && !sel.Matches(labels.Set(t.Labels)) {
		return field.ErrorList{field.Invalid(fldPath.Child("metadata", "labels"), t.Labels, "`selector` does not match template `labels`")}
	}
	return nil
}

func validateReplicas(replicas *int32, fldPath *field.Path) field.ErrorList {
	if replicas == nil {
		return nil // defaulted to 1
	}
	return validateNonnegative(int64(*replicas), fldPath)
}

// Deployment

func validateDeployment(d *appsv1.Deployment) field.ErrorList {
	all := validateMeta(&d.ObjectMeta, true, apivalidation.NameIsDNSSubdomain)
	return append(all, validateDeploymentSpec(&d.Spec)...)
}

func validateDeploymentSpec(spec *appsv1.DeploymentSpec) field.ErrorList {
	all := validateReplicas(spec.Replicas, specPath.Child("replicas"))
	sel, selErrs := validateWorkloadSelector(spec.Selector, "deployment", specPath.Child("selector"))
	all = append(all, selErrs...)
	tp := specPath.Child("template")
	all = append(all, validateSelectorMatchesTemplate(sel, &spec.Template, tp)...)
	all = append(all, validateAlwaysRestartingTemplate(&spec.Template, "ReplicaSet", tp)...)
	all = append(all, validateDeploymentStrategy(&spec.Strategy, specPath.Child("strategy"))...)
	all = append(all, validateNonnegative(int64(spec.MinReadySeconds), specPath.Child("minReadySeconds"))...)
	if l := spec.RevisionHistoryLimit; l != nil {
		all = append(all, validateNonnegative(int64(*l), specPath.Child("revisionHistoryLimit"))...)
	}
	if pd := spec.ProgressDeadlineSeconds; pd != nil {
		all = append(all, validateNonnegative(int64(*pd), specPath.Child("progressDeadlineSeconds"))...)
		// Otherwise a rollout would be declared failed before pods could become available.
		if *pd <= spec.MinReadySeconds {
			all = append(all, field.Invalid(specPath.Child("progressDeadlineSeconds"), *pd, "must be greater than minReadySeconds"))
		}
	}
	return all
}

func intOrZero(v *intstr.IntOrString) intstr.IntOrString {
	if v == nil {
		return intstr.FromInt32(0)
	}
	return *v
}

func validateDeploymentStrategy(s *appsv1.DeploymentStrategy, fldPath *field.Path) field.ErrorList {
	switch s.Type {
	case appsv1.RecreateDeploymentStrategyType:
		if s.RollingUpdate != nil {
			return field.ErrorList{field.Forbidden(fldPath.Child("rollingUpdate"), "may not be specified when strategy `type` is 'Recreate'")}
		}
	case appsv1.RollingUpdateDeploymentStrategyType:
		if s.RollingUpdate == nil {
			return field.ErrorList{field.Required(fldPath.Child("rollingUpdate"), "this should be defaulted and never be nil")}
		}
		p := fldPath.Child("rollingUpdate")
		maxUnavailable, maxSurge := intOrZero(s.RollingUpdate.MaxUnavailable), intOrZero(s.RollingUpdate.MaxSurge)
		all := validatePositiveIntOrPercent(maxUnavailable, p.Child("maxUnavailable"))
		all = append(all, validatePositiveIntOrPercent(maxSurge, p.Child("maxSurge"))...)
		// With neither, a rollout could never make progress.
		if intOrPercentValue(maxUnavailable) == 0 && intOrPercentValue(maxSurge) == 0 {
			all = append(all, field.Invalid(p.Child("maxUnavailable"), maxUnavailable, "may not be 0 when `maxSurge` is 0"))
		}
		return append(all, validateNotMoreThan100Percent(maxUnavailable, p.Child("maxUnavailable"))...)
	default:
		return field.ErrorList{field.NotSupported(fldPath, s, []string{string(appsv1.RecreateDeploymentStrategyType), string(appsv1.RollingUpdateDeploymentStrategyType)})}
	}
	return nil
}

func validateDeploymentUpdate(d, old *appsv1.Deployment) field.ErrorList {
	all := validateMetaUpdate(&d.ObjectMeta, &old.ObjectMeta)
	all = append(all, validateDeploymentSpec(&d.Spec)...)
	// The selector decides which ReplicaSets the Deployment owns.
	return append(all, validateImmutable(d.Spec.Selector, old.Spec.Selector, specPath.Child("selector"))...)
}

func validateDeploymentStatusUpdate(d, old *appsv1.Deployment) field.ErrorList {
	all := validateMetaUpdate(&d.ObjectMeta, &old.ObjectMeta)
	s := d.Status
	all = append(all, validateCounters(counter{"observedGeneration", s.ObservedGeneration}, counter{"replicas", int64(s.Replicas)},
		counter{"updatedReplicas", int64(s.UpdatedReplicas)}, counter{"readyReplicas", int64(s.ReadyReplicas)},
		counter{"availableReplicas", int64(s.AvailableReplicas)}, counter{"unavailableReplicas", int64(s.UnavailableReplicas)})...)
	all = append(all, validateOptionalCounters(counter{"terminatingReplicas", -1}, s.TerminatingReplicas)...)
	all = append(all, validateOptionalCounters(counter{"collisionCount", -1}, s.CollisionCount)...)
	all = append(all, validateAtMostReplicas(s.Replicas, counter{"updatedReplicas", int64(s.UpdatedReplicas)},
		counter{"readyReplicas", int64(s.ReadyReplicas)}, counter{"availableReplicas", int64(s.AvailableReplicas)})...)
	all = append(all, validateAvailableAtMostReady(s.AvailableReplicas, s.ReadyReplicas, "readyReplicas")...)
	return append(all, validateCollisionCount(s.CollisionCount, old.Status.CollisionCount)...)
}

// validateOptionalCounters checks a counter held in a pointer, if set.
func validateOptionalCounters(c counter, v *int32) field.ErrorList {
	if v == nil {
		return nil
	}
	c.value = int64(*v)
	return validateCounters(c)
}

// validateCollisionCount: the count salts revision hashes, so going back
// would reuse names.
func validateCollisionCount(v, old *int32) field.ErrorList {
	if old == nil {
		return nil
	}
	if v == nil || *v < *old {
		value := int32(0)
		if v != nil {
			value = *v
		}
		return field.ErrorList{field.Invalid(statusPath.Child("collisionCount"), value, "cannot be decremented")}
	}
	return nil
}

// ReplicaSet

func validateReplicaSet(rs *appsv1.ReplicaSet) field.ErrorList {
	all := validateMeta(&rs.ObjectMeta, true, apivalidation.NameIsDNSSubdomain)
	return append(all, validateReplicaSetSpec(&rs.Spec)...)
}

func validateReplicaSetSpec(spec *appsv1.ReplicaSetSpec) field.ErrorList {
	all := validateReplicas(spec.Replicas, specPath.Child("replicas"))
	all = append(all, validateNonnegative(int64(spec.MinReadySeconds), specPath.Child("minReadySeconds"))...)
	// Kubernetes says "deployment" here too.
	sel, selErrs := validateWorkloadSelector(spec.Selector, "deployment", specPath.Child("selector"))
	all = append(all, selErrs...)
	tp := specPath.Child("template")
	all = append(all, validateSelectorMatchesTemplate(sel, &spec.Template, tp)...)
	return append(all, validateAlwaysRestartingTemplate(&spec.Template, "ReplicaSet", tp)...)
}

func validateReplicaSetUpdate(rs, old *appsv1.ReplicaSet) field.ErrorList {
	all := validateMetaUpdate(&rs.ObjectMeta, &old.ObjectMeta)
	all = append(all, validateReplicaSetSpec(&rs.Spec)...)
	return append(all, validateImmutable(rs.Spec.Selector, old.Spec.Selector, specPath.Child("selector"))...)
}

func validateReplicaSetStatusUpdate(rs, old *appsv1.ReplicaSet) field.ErrorList {
	all := validateMetaUpdate(&rs.ObjectMeta, &old.ObjectMeta)
	s := rs.Status
	all = append(all, validateCounters(counter{"replicas", int64(s.Replicas)}, counter{"fullyLabeledReplicas", int64(s.FullyLabeledReplicas)},
		counter{"readyReplicas", int64(s.ReadyReplicas)}, counter{"availableReplicas", int64(s.AvailableReplicas)},
		counter{"observedGeneration", s.ObservedGeneration})...)
	all = append(all, validateOptionalCounters(counter{"terminatingReplicas", -1}, s.TerminatingReplicas)...)
	all = append(all, validateAtMostReplicas(s.Replicas, counter{"fullyLabeledReplicas", int64(s.FullyLabeledReplicas)},
		counter{"readyReplicas", int64(s.ReadyReplicas)}, counter{"availableReplicas", int64(s.AvailableReplicas)})...)
	return append(all, validateAvailableAtMostReady(s.AvailableReplicas, s.ReadyReplicas, "readyReplicas")...)
}

// StatefulSet

func validateStatefulSet(ss *appsv1.StatefulSet) field.ErrorList {
	// Pods are named <set>-<ordinal> and use the name as hostname, so the
	// set's name must be a DNS label.
	all := validateMeta(&ss.ObjectMeta, true, apivalidation.NameIsDNSLabel)
	return append(all, validateStatefulSetSpec(&ss.Spec, true)...)
}

func validateStatefulSetSpec(spec *appsv1.StatefulSetSpec, checkTemplate bool) field.ErrorList {
	var all field.ErrorList
	switch spec.PodManagementPolicy {
	case "":
		all = append(all, field.Required(specPath.Child("podManagementPolicy"), ""))
	case appsv1.OrderedReadyPodManagement, appsv1.ParallelPodManagement:
	default:
		all = append(all, field.Invalid(specPath.Child("podManagementPolicy"), spec.PodManagementPolicy,
			fmt.Sprintf("must be '%s' or '%s'", appsv1.OrderedReadyPodManagement, appsv1.ParallelPodManagement)))
	}
	us := specPath.Child("updateStrategy")
	switch spec.UpdateStrategy.Type {
	case "":
		all = append(all, field.Required(us, ""))
	case appsv1.OnDeleteStatefulSetStrategyType:
		if spec.UpdateStrategy.RollingUpdate != nil {
			all = append(all, field.Invalid(us.Child("rollingUpdate"), spec.UpdateStrategy.RollingUpdate,
				fmt.Sprintf("only allowed for updateStrategy '%s'", appsv1.RollingUpdateStatefulSetStrategyType)))
		}
	case appsv1.RollingUpdateStatefulSetStrategyType:
		if ru := spec.UpdateStrategy.RollingUpdate; ru != nil {
			p := us.Child("rollingUpdate")
			if ru.Partition != nil {
				all = append(all, validateNonnegative(int64(*ru.Partition), p.Child("partition"))...)
			}
			if mu := ru.MaxUnavailable; mu != nil {
				all = append(all, validatePositiveIntOrPercent(*mu, p.Child("maxUnavailable"))...)
				if intOrPercentValue(*mu) == 0 {
					all = append(all, field.Invalid(p.Child("maxUnavailable"), *mu, "cannot be 0"))
				}
				all = append(all, validateNotMoreThan100Percent(*mu, p.Child("maxUnavailable"))...)
			}
		}
	default:
		all = append(all, field.Invalid(us, spec.UpdateStrategy,
			fmt.Sprintf("must be '%s' or '%s'", appsv1.RollingUpdateStatefulSetStrategyType, appsv1.OnDeleteStatefulSetStrategyType)))
	}
	if p := spec.PersistentVolumeClaimRetentionPolicy; p != nil {
		pp := specPath.Child("persistentVolumeClaimRetentionPolicy")
		valid := []appsv1.PersistentVolumeClaimRetentionPolicyType{appsv1.RetainPersistentVolumeClaimRetentionPolicyType, appsv1.DeletePersistentVolumeClaimRetentionPolicyType}
		for _, f := range []struct {
			name  string
			value appsv1.PersistentVolumeClaimRetentionPolicyType
		}{{"whenDeleted", p.WhenDeleted}, {"whenScaled", p.WhenScaled}} {
			if f.value != valid[0] && f.value != valid[1] {
				all = append(all, field.NotSupported(pp.Child(f.name), f.value, valid))
			}
		}
	}
	for i := range spec.VolumeClaimTemplates {
		all = append(all, validatePersistentVolumeClaimSpec(&spec.VolumeClaimTemplates[i].Spec, specPath.Child("volumeClaimTemplates").Index(i).Child("spec"))...)
	}
	all = append(all, validateReplicas(spec.Replicas, specPath.Child("replicas"))...)
	all = append(all, validateNonnegative(int64(spec.MinReadySeconds), specPath.Child("minReadySeconds"))...)
	if spec.Ordinals != nil {
		// Kubernetes uses this dotted name as one path element.
		all = append(all, validateNonnegative(int64(spec.Ordinals.Start), specPath.Child("ordinals.start"))...)
	}
	if spec.ServiceName != "" {
		all = append(all, validateDNS1123Label(spec.ServiceName, specPath.Child("serviceName"))...)
	}
	sel, selErrs := validateWorkloadSelector(spec.Selector, "statefulset", specPath.Child("selector"))
	all = append(all, selErrs...)
	tp := specPath.Child("template")
	all = append(all, validateSelectorMatchesTemplate(sel, &spec.Template, tp)...)
	if checkTemplate {
		all = append(all, validatePodTemplateSpec(statefulSetTemplate(spec), tp)...)
	}
	if spec.Template.Spec.RestartPolicy != corev1.RestartPolicyAlways {
		all = append(all, field.NotSupported(tp.Child("spec", "restartPolicy"), spec.Template.Spec.RestartPolicy, []string{string(corev1.RestartPolicyAlways)}))
	}
	if spec.Template.Spec.ActiveDeadlineSeconds != nil {
		all = append(all, field.Forbidden(tp.Child("spec", "activeDeadlineSeconds"), "activeDeadlineSeconds in StatefulSet is not Supported"))
	}
	return all
}

// statefulSetTemplate returns the template as the controller will stamp it:
// hostname and subdomain are overwritten, and each claim template becomes a
// volume that mounts may refer to.
func statefulSetTemplate(spec *appsv1.StatefulSetSpec) *corev1.PodTemplateSpec {
	t := &spec.Template
	if t.Spec.Subdomain == "" && t.Spec.Hostname == "" && len(spec.VolumeClaimTemplates) == 0 {
		return t
	}
	t = t.DeepCopy()
	t.Spec.Subdomain, t.Spec.Hostname = "", ""
	var vols []corev1.Volume
	claims := map[string]bool{}
	for _, c := range spec.VolumeClaimTemplates {
		if claims[c.Name] {
			continue
		}
		claims[c.Name] = true
		vols = append(vols, corev1.Volume{Name: c.Name, VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: c.Name},
		}})
	}
	for _, v := range t.Spec.Volumes {
		if !claims[v.Name] {
			vols = append(vols, v)
		}
	}
	t.Spec.Volumes = vols
	return t
}

func validateStatefulSetUpdate(ss, old *appsv1.StatefulSet) field.ErrorList {
	// Not the create checks: the name rule was once looser and a set with
	// an old name must still be updatable to be deleted.
	all := validateMetaUpdate(&ss.ObjectMeta, &old.ObjectMeta)
	// A stored template that no longer validates is tolerated, so the set
	// can still be scaled or have its finalizers removed.
	checkTemplate := len(validateStatefulSetSpec(&old.Spec, true)) == 0
	all = append(all, validateStatefulSetSpec(&ss.Spec, checkTemplate)...)
	// Everything else in spec may change (replicas, template, update
	// strategy, ordinals, retention policy, minReadySeconds...).
	all = append(all, validateImmutable(ss.Spec.Selector, old.Spec.Selector, specPath.Child("selector"))...)
	all = append(all, validateImmutable(ss.Spec.VolumeClaimTemplates, old.Spec.VolumeClaimTemplates, specPath.Child("volumeClaimTemplates"))...)
	all = append(all, validateImmutable(ss.Spec.ServiceName, old.Spec.ServiceName, specPath.Child("serviceName"))...)
	return append(all, validateImmutable(ss.Spec.PodManagementPolicy, old.Spec.PodManagementPolicy, specPath.Child("podManagementPolicy"))...)
}

func validateStatefulSetStatusUpdate(ss, old *appsv1.StatefulSet) field.ErrorList {
	all := validateMetaUpdate(&ss.ObjectMeta, &old.ObjectMeta)
	s := ss.Status
	all = append(all, validateCounters(counter{"replicas", int64(s.Replicas)}, counter{"readyReplicas", int64(s.ReadyReplicas)},
		counter{"currentReplicas", int64(s.CurrentReplicas)}, counter{"updatedReplicas", int64(s.UpdatedReplicas)},
		counter{"availableReplicas", int64(s.AvailableReplicas)}, counter{"observedGeneration", s.ObservedGeneration})...)
	all = append(all, validateOptionalCounters(counter{"collisionCount", -1}, s.CollisionCount)...)
	all = append(all, validateAtMostReplicas(s.Replicas, counter{"readyReplicas", int64(s.ReadyReplicas)},
		counter{"currentReplicas", int64(s.CurrentReplicas)}, counter{"updatedReplicas", int64(s.UpdatedReplicas)},
		counter{"availableReplicas", int64(s.AvailableReplicas)})...)
	all = append(all, validateAvailableAtMostReady(s.AvailableReplicas, s.ReadyReplicas, "status.readyReplicas")...)
	return append(all, validateCollisionCount(s.CollisionCount, old.Status.CollisionCount)...)
}

// DaemonSet

func validateDaemonSet(ds *appsv1.DaemonSet) field.ErrorList {
	all := validateMeta(&ds.ObjectMeta, true, apivalidation.NameIsDNSSubdomain)
	return append(all, validateDaemonSetSpec(&ds.Spec)...)
}

func validateDaemonSetSpec(spec *appsv1.DaemonSetSpec) field.ErrorList {
	sel, all := validateWorkloadSelector(spec.Selector, "daemonset", specPath.Child("selector"))
	tp := specPath.Child("template")
	all = append(all, validateSelectorMatchesTemplate(sel, &spec.Template, tp)...)
	all = append(all, validateAlwaysRestartingTemplate(&spec.Template, "DaemonSet", tp)...)
	all = append(all, validateNonnegative(int64(spec.MinReadySeconds), specPath.Child("minReadySeconds"))...)
	if l := spec.RevisionHistoryLimit; l != nil {
		all = append(all, validateNonnegative(int64(*l), specPath.Child("revisionHistoryLimit"))...)
	}
	us := specPath.Child("updateStrategy")
	switch spec.UpdateStrategy.Type {
	case appsv1.OnDeleteDaemonSetStrategyType:
	case appsv1.RollingUpdateDaemonSetStrategyType:
		ru := spec.UpdateStrategy.RollingUpdate
		if ru == nil {
			return append(all, field.Required(us.Child("rollingUpdate"), ""))
		}
		p := us.Child("rollingUpdate")
		maxUnavailable, maxSurge := intOrZero(ru.MaxUnavailable), intOrZero(ru.MaxSurge)
		all = append(all, validatePositiveIntOrPercent(maxUnavailable, p.Child("maxUnavailable"))...)
		all = append(all, validatePositiveIntOrPercent(maxSurge, p.Child("maxSurge"))...)
		all = append(all, validateNotMoreThan100Percent(maxUnavailable, p.Child("maxUnavailable"))...)
		all = append(all, validateNotMoreThan100Percent(maxSurge, p.Child("maxSurge"))...)
		// One node's pod is replaced either by surging or by going unavailable.
		hasUnavailable, hasSurge := intOrPercentValue(maxUnavailable) != 0, intOrPercentValue(maxSurge) != 0
		switch {
		case hasUnavailable && hasSurge:
			all = append(all, field.Invalid(p.Child("maxSurge"), maxSurge, "may not be set when maxUnavailable is non-zero"))
		case !hasUnavailable && !hasSurge:
			all = append(all, field.Required(p.Child("maxUnavailable"), "cannot be 0 when maxSurge is 0"))
		}
	default:
		all = append(all, field.NotSupported(us, spec.UpdateStrategy,
			[]string{string(appsv1.RollingUpdateDaemonSetStrategyType), string(appsv1.OnDeleteDaemonSetStrategyType)}))
	}
	return all
}

func validateDaemonSetUpdate(ds, old *appsv1.DaemonSet) field.ErrorList {
	all := validateMetaUpdate(&ds.ObjectMeta, &old.ObjectMeta)
	all = append(all, validateImmutable(ds.Spec.Selector, old.Spec.Selector, specPath.Child("selector"))...)
	return append(all, validateDaemonSetSpec(&ds.Spec)...)
}

func validateDaemonSetStatusUpdate(ds, old *appsv1.DaemonSet) field.ErrorList {
	all := validateMetaUpdate(&ds.ObjectMeta, &old.ObjectMeta)
	s := ds.Status
	all = append(all, validateCounters(counter{"currentNumberScheduled", int64(s.CurrentNumberScheduled)},
		counter{"numberMisscheduled", int64(s.NumberMisscheduled)}, counter{"desiredNumberScheduled", int64(s.DesiredNumberScheduled)},
		counter{"numberReady", int64(s.NumberReady)}, counter{"observedGeneration", s.ObservedGeneration},
		counter{"updatedNumberScheduled", int64(s.UpdatedNumberScheduled)}, counter{"numberAvailable", int64(s.NumberAvailable)},
		counter{"numberUnavailable", int64(s.NumberUnavailable)})...)
	all = append(all, validateOptionalCounters(counter{"collisionCount", -1}, s.CollisionCount)...)
	return append(all, validateCollisionCount(s.CollisionCount, old.Status.CollisionCount)...)
}

// ControllerRevision

func validateControllerRevision(cr *appsv1.ControllerRevision) field.ErrorList {
	all := validateMeta(&cr.ObjectMeta, true, apivalidation.NameIsDNSSubdomain)
	all = append(all, validateNonnegative(cr.Revision, field.NewPath("revision"))...)
	dataPath := field.NewPath("data")
	var v any
	switch err := json.Unmarshal(cr.Data.Raw, &v); {
	case cr.Data.Raw == nil && cr.Data.Object != nil:
		// Built in process rather than decoded; it serialises to an object.
	case cr.Data.Raw == nil:
		all = append(all, field.Required(dataPath, "data is mandatory"))
	case err != nil:
		all = append(all, field.Invalid(dataPath, "<value omitted>", fmt.Sprintf("error parsing data: %v", err.Error())))
	case v == nil:
		all = append(all, field.Required(dataPath, "data is mandatory"))
	default:
		if _, ok := v.(map[string]any); !ok {
			all = append(all, field.Required(dataPath, "data must be a valid JSON object"))
		}
	}
	return all
}

func validateControllerRevisionUpdate(cr, old *appsv1.ControllerRevision) field.ErrorList {
	all := validateMetaUpdate(&cr.ObjectMeta, &old.ObjectMeta)
	all = append(all, validateNonnegative(cr.Revision, field.NewPath("revision"))...)
	// A revision is a snapshot; changing it would rewrite history.
	return append(all, validateImmutable(cr.Data, old.Data, field.NewPath("data"))...)
}
