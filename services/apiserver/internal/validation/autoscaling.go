package validation

import (
	"fmt"
	"slices"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"k8s.io/apimachinery/pkg/api/resource"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	pathvalidation "k8s.io/apimachinery/pkg/api/validation/path"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Caps on HPA behavior from Kubernetes' autoscaling validation.
const (
	maxPeriodSeconds              = 1800
	maxStabilizationWindowSeconds = 3600
)

func validateHPA(hpa *autoscalingv2.HorizontalPodAutoscaler) field.ErrorList {
	all := validateMeta(&hpa.ObjectMeta, true, apivalidation.NameIsDNSSubdomain)
	return append(all, validateHPASpec(&hpa.Spec)...)
}

func validateHPAUpdate(hpa, old *autoscalingv2.HorizontalPodAutoscaler) field.ErrorList {
	return append(validateMetaUpdate(&hpa.ObjectMeta, &old.ObjectMeta), validateHPASpec(&hpa.Spec)...)
}

func validateHPAStatusUpdate(hpa, old *autoscalingv2.HorizontalPodAutoscaler) field.ErrorList {
	all := validateMetaUpdate(&hpa.ObjectMeta, &old.ObjectMeta)
	for i, c := range hpa.Status.Conditions {
		if c.ObservedGeneration != nil {
			all = append(all, validateNonnegative(*c.ObservedGeneration, statusPath.Child("conditions").Index(i).Child("observedGeneration"))...)
		}
	}
	return append(all, validateCounters(counter{"currentReplicas", int64(hpa.Status.CurrentReplicas)},
		counter{"desiredReplicas", int64(hpa.Status.DesiredReplicas)})...)
}

func validateHPASpec(spec *autoscalingv2.HorizontalPodAutoscalerSpec) field.ErrorList {
	var all field.ErrorList
	// Scaling to zero sits behind the alpha HPAScaleToZero gate, off by default.
	if m := spec.MinReplicas; m != nil && *m < 1 {
		all = append(all, field.Invalid(specPath.Child("minReplicas"), *m, "must be greater than or equal to 1"))
	}
	switch {
	case spec.MaxReplicas == 0:
		all = append(all, field.Required(specPath.Child("maxReplicas"), "must be set and greater than 0"))
	case spec.MaxReplicas < 0:
		all = append(all, field.Invalid(specPath.Child("maxReplicas"), spec.MaxReplicas, "must be greater than or equal to 1"))
	}
	if m := spec.MinReplicas; m != nil && spec.MaxReplicas < *m {
		all = append(all, field.Invalid(specPath.Child("maxReplicas"), spec.MaxReplicas, "must be greater than or equal to `minReplicas`"))
	}
	// The target may be in the core group (a ReplicationController).
	all = append(all, validateCrossVersionObjectReference(spec.ScaleTargetRef, true, specPath.Child("scaleTargetRef"))...)
	for i, m := range spec.Metrics {
		all = append(all, validateMetricSpec(m, specPath.Child("metrics").Index(i))...)
	}
	if b := spec.Behavior; b != nil {
		bp := specPath.Child("behavior")
		all = append(all, validateScalingRules(b.ScaleUp, bp.Child("scaleUp"))...)
		all = append(all, validateScalingRules(b.ScaleDown, bp.Child("scaleDown"))...)
	}
	return all
}

func validateCrossVersionObjectReference(ref autoscalingv2.CrossVersionObjectReference, allowEmptyGroup bool, fldPath *field.Path) field.ErrorList {
	var all field.ErrorList
	if ref.Kind == "" {
		all = append(all, field.Required(fldPath.Child("kind"), ""))
	} else {
		all = append(all, errs(fldPath.Child("kind"), ref.Kind, pathvalidation.ValidatePathSegmentName(ref.Kind, false))...)
	}
	if ref.Name == "" {
		all = append(all, field.Required(fldPath.Child("name"), ""))
	} else {
		all = append(all, errs(fldPath.Child("name"), ref.Name, pathvalidation.ValidatePathSegmentName(ref.Name, false))...)
	}
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	switch {
	case err != nil:
		all = append(all, field.Invalid(fldPath.Child("apiVersion"), ref.APIVersion, err.Error()))
	case !allowEmptyGroup && gv.Group == "":
		all = append(all, field.Invalid(fldPath.Child("apiVersion"), ref.APIVersion, "apiVersion must specify API group"))
	}
	return all
}

var metricSourceTypes = []autoscalingv2.MetricSourceType{
	autoscalingv2.ContainerResourceMetricSourceType, autoscalingv2.ExternalMetricSourceType, autoscalingv2.ObjectMetricSourceType,
	autoscalingv2.PodsMetricSourceType, autoscalingv2.ResourceMetricSourceType,
}

// validateMetricSpec requires the source named by type, and only that one.
func validateMetricSpec(m autoscalingv2.MetricSpec, fldPath *field.Path) field.ErrorList {
	var all field.ErrorList
	if m.Type == "" {
		all = append(all, field.Required(fldPath.Child("type"), "must specify a metric source type"))
	}
	if !slices.Contains(metricSourceTypes, m.Type) {
		all = append(all, field.NotSupported(fldPath.Child("type"), m.Type, metricSourceTypes))
	}
	type source struct {
		name string
		typ  autoscalingv2.MetricSourceType
		set  bool
	}
	sources := []source{
		{"object", autoscalingv2.ObjectMetricSourceType, m.Object != nil},
		{"external", autoscalingv2.ExternalMetricSourceType, m.External != nil},
		{"pods", autoscalingv2.PodsMetricSourceType, m.Pods != nil},
		{"resource", autoscalingv2.ResourceMetricSourceType, m.Resource != nil},
		{"containerResource", autoscalingv2.ContainerResourceMetricSourceType, m.ContainerResource != nil},
	}
	first, present := "", 0
	for _, s := range sources {
		if s.set {
			present++
			if first == "" {
				first = s.name
			}
		}
	}
	switch first {
	case "object":
		p := fldPath.Child("object")
		all = append(all, validateCrossVersionObjectReference(m.Object.DescribedObject, true, p.Child("describedObject"))...)
		all = append(all, validateMetricIdentifier(m.Object.Metric, p.Child("metric"))...)
		all = append(all, validateMetricTarget(m.Object.Target, p.Child("target"))...)
		if m.Object.Target.Value == nil && m.Object.Target.AverageValue == nil {
			all = append(all, field.Required(p.Child("target", "averageValue"), "must set either a target value or averageValue"))
		}
	case "external":
		p := fldPath.Child("external")
		all = append(all, validateMetricIdentifier(m.External.Metric, p.Child("metric"))...)
		all = append(all, validateMetricTarget(m.External.Target, p.Child("target"))...)
		t := m.External.Target
		if t.Value == nil && t.AverageValue == nil {
			all = append(all, field.Required(p.Child("target", "averageValue"), "must set either a target value for metric or a per-pod target"))
		}
		if t.Value != nil && t.AverageValue != nil {
			all = append(all, field.Forbidden(p.Child("target", "value"), "may not set both a target value for metric and a per-pod target"))
		}
	case "pods":
		p := fldPath.Child("pods")
		all = append(all, validateMetricIdentifier(m.Pods.Metric, p.Child("metric"))...)
		all = append(all, validateMetricTarget(m.Pods.Target, p.Child("target"))...)
		if m.Pods.Target.AverageValue == nil {
			all = append(all, field.Required(p.Child("target", "averageValue"), "must specify a positive target averageValue"))
		}
	case "resource":
		p := fldPath.Child("resource")
		if m.Resource.Name == "" {
			all = append(all, field.Required(p.Child("name"), "must specify a resource name"))
		}
		all = append(all, validateUtilizationTarget(m.Resource.Target, p.Child("target"))...)
	case "containerResource":
		p := fldPath.Child("containerResource")
		if m.ContainerResource.Name == "" {
			all = append(all, field.Required(p.Child("name"), "must specify a resource name"))
		} else {
			all = append(all, validateContainerResourceName(m.ContainerResource.Name, p.Child("name"))...)
		}
		if m.ContainerResource.Container == "" {
			all = append(all, field.Required(p.Child("container"), "must specify a container"))
		} else {
			all = append(all, validateDNS1123Label(m.ContainerResource.Container, p.Child("container"))...)
		}
		all = append(all, validateUtilizationTarget(m.ContainerResource.Target, p.Child("target"))...)
	}
	for _, s := range sources {
		if s.typ == m.Type && !s.set {
			all = append(all, field.Required(fldPath.Child(s.name), "must populate information for the given metric source"))
		}
		if present > 1 && s.set && s.typ != m.Type {
			all = append(all, field.Forbidden(fldPath.Child(s.name), "must populate the given metric source only"))
		}
	}
	return all
}

func validateUtilizationTarget(t autoscalingv2.MetricTarget, fldPath *field.Path) field.ErrorList {
	all := validateMetricTarget(t, fldPath)
	if t.AverageUtilization == nil && t.AverageValue == nil {
		all = append(all, field.Required(fldPath.Child("averageUtilization"), "must set either a target raw value or a target utilization"))
	}
	if t.AverageUtilization != nil && t.AverageValue != nil {
		all = append(all, field.Forbidden(fldPath.Child("averageValue"), "may not set both a target raw value and a target utilization"))
	}
	return all
}

func validateMetricTarget(t autoscalingv2.MetricTarget, fldPath *field.Path) field.ErrorList {
	var all field.ErrorList
	if t.Type == "" {
		all = append(all, field.Required(fldPath.Child("type"), "must specify a metric target type"))
	}
	if t.Type != autoscalingv2.UtilizationMetricType && t.Type != autoscalingv2.ValueMetricType && t.Type != autoscalingv2.AverageValueMetricType {
		all = append(all, field.Invalid(fldPath.Child("type"), t.Type, "must be either Utilization, Value, or AverageValue"))
	}
	for _, q := range []struct {
		name  string
		value *resource.Quantity
	}{{"value", t.Value}, {"averageValue", t.AverageValue}} {
		if q.value != nil && q.value.Sign() != 1 {
			all = append(all, field.Invalid(fldPath.Child(q.name), q.value.String(), "must be positive"))
		}
	}
	if u := t.AverageUtilization; u != nil && *u < 1 {
		all = append(all, field.Invalid(fldPath.Child("averageUtilization"), *u, "must be greater than 0"))
	}
	return all
}

func validateMetricIdentifier(id autoscalingv2.MetricIdentifier, fldPath *field.Path) field.ErrorList {
	if id.Name == "" {
		return field.ErrorList{field.Required(fldPath.Child("name"), "must specify a metric name")}
	}
	all := errs(fldPath.Child("name"), id.Name, pathvalidation.ValidatePathSegmentName(id.Name, false))
	if id.Selector != nil {
		all = append(all, validateLabelSelector(id.Selector, fldPath.Child("selector"))...)
	}
	return all
}

func validateScalingRules(r *autoscalingv2.HPAScalingRules, fldPath *field.Path) field.ErrorList {
	if r == nil {
		return nil
	}
	var all field.ErrorList
	if w := r.StabilizationWindowSeconds; w != nil {
		if *w < 0 {
			all = append(all, field.Invalid(fldPath.Child("stabilizationWindowSeconds"), *w, "must be greater than or equal to zero"))
		}
		if *w > maxStabilizationWindowSeconds {
			all = append(all, field.Invalid(fldPath.Child("stabilizationWindowSeconds"), *w, fmt.Sprintf("must be less than or equal to %v", maxStabilizationWindowSeconds)))
		}
	}
	if s := r.SelectPolicy; s != nil {
		all = append(all, validateEnum(*s, fldPath.Child("selectPolicy"), autoscalingv2.DisabledPolicySelect, autoscalingv2.MaxChangePolicySelect, autoscalingv2.MinChangePolicySelect)...)
	}
	pp := fldPath.Child("policies")
	if len(r.Policies) == 0 {
		all = append(all, field.Required(pp, "must specify at least one Policy"))
	}
	for i, p := range r.Policies {
		ip := pp.Index(i)
		if p.Type != autoscalingv2.PodsScalingPolicy && p.Type != autoscalingv2.PercentScalingPolicy {
			all = append(all, notSupported(ip.Child("type"), p.Type, autoscalingv2.PercentScalingPolicy, autoscalingv2.PodsScalingPolicy))
		}
		if p.Value <= 0 {
			all = append(all, field.Invalid(ip.Child("value"), p.Value, notPositiveErrorMsg))
		}
		if p.PeriodSeconds <= 0 {
			all = append(all, field.Invalid(ip.Child("periodSeconds"), p.PeriodSeconds, notPositiveErrorMsg))
		}
		if p.PeriodSeconds > maxPeriodSeconds {
			all = append(all, field.Invalid(ip.Child("periodSeconds"), p.PeriodSeconds, fmt.Sprintf("must be less than or equal to %v", maxPeriodSeconds)))
		}
	}
	if t := r.Tolerance; t != nil {
		all = append(all, validateNonnegativeQuantity(*t, fldPath.Child("tolerance"))...)
	}
	return all
}
