package endpoints

import (
	"encoding/json"
	"fmt"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"drover.dev/apiserver/internal/registry"
)

// Annotations in which autoscaling/v1 carries what only v2 can express, as Kubernetes does.
const (
	hpaMetricsAnnotation    = "autoscaling.alpha.kubernetes.io/metrics"
	hpaConditionsAnnotation = "autoscaling.alpha.kubernetes.io/conditions"
	hpaBehaviorAnnotation   = "autoscaling.alpha.kubernetes.io/behavior"
	hpaCurrentAnnotation    = "autoscaling.alpha.kubernetes.io/current-metrics"
)

// toStorage converts an object of a non-storage version to its storage version.
func toStorage(res *registry.Resource, obj runtime.Object) (runtime.Object, error) {
	switch o := obj.(type) {
	case *eventsv1.Event:
		return eventToCore(o), nil
	case *autoscalingv1.HorizontalPodAutoscaler:
		return hpaToV2(o)
	}
	return nil, fmt.Errorf("no conversion from %T to %v", obj, res.Storage)
}

// fromStorage converts a stored object to the version the request asked for.
func fromStorage(res *registry.Resource, obj runtime.Object) (runtime.Object, error) {
	switch o := obj.(type) {
	case *corev1.Event:
		return eventFromCore(o), nil
	case *autoscalingv2.HorizontalPodAutoscaler:
		return hpaToV1(o)
	}
	return nil, fmt.Errorf("no conversion from %T to %v", obj, res.GroupVersionResource)
}

func eventToCore(e *eventsv1.Event) *corev1.Event {
	out := &corev1.Event{
		ObjectMeta:          e.ObjectMeta,
		InvolvedObject:      e.Regarding,
		Related:             e.Related,
		Reason:              e.Reason,
		Message:             e.Note,
		Type:                e.Type,
		Action:              e.Action,
		EventTime:           e.EventTime,
		ReportingController: e.ReportingController,
		ReportingInstance:   e.ReportingInstance,
		Count:               e.DeprecatedCount,
		FirstTimestamp:      e.DeprecatedFirstTimestamp,
		LastTimestamp:       e.DeprecatedLastTimestamp,
	}
	if e.DeprecatedSource.Component != "" || e.DeprecatedSource.Host != "" {
		out.Source = e.DeprecatedSource
	}
	if e.Series != nil {
		out.Series = &corev1.EventSeries{Count: e.Series.Count, LastObservedTime: e.Series.LastObservedTime}
	}
	out.APIVersion, out.Kind = "v1", "Event"
	return out
}

func eventFromCore(e *corev1.Event) *eventsv1.Event {
	out := &eventsv1.Event{
		ObjectMeta:               e.ObjectMeta,
		EventTime:                e.EventTime,
		ReportingController:      e.ReportingController,
		ReportingInstance:        e.ReportingInstance,
		Action:                   e.Action,
		Reason:                   e.Reason,
		Regarding:                e.InvolvedObject,
		Related:                  e.Related,
		Note:                     e.Message,
		Type:                     e.Type,
		DeprecatedSource:         e.Source,
		DeprecatedFirstTimestamp: e.FirstTimestamp,
		DeprecatedLastTimestamp:  e.LastTimestamp,
		DeprecatedCount:          e.Count,
	}
	if out.ReportingController == "" {
		out.ReportingController = e.Source.Component
	}
	if e.Series != nil {
		out.Series = &eventsv1.EventSeries{Count: e.Series.Count, LastObservedTime: e.Series.LastObservedTime}
	}
	out.APIVersion, out.Kind = "events.k8s.io/v1", "Event"
	return out
}

func hpaToV2(in *autoscalingv1.HorizontalPodAutoscaler) (*autoscalingv2.HorizontalPodAutoscaler, error) {
	out := &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: *in.ObjectMeta.DeepCopy()}
	out.APIVersion, out.Kind = "autoscaling/v2", "HorizontalPodAutoscaler"
	out.Spec.ScaleTargetRef = autoscalingv2.CrossVersionObjectReference(in.Spec.ScaleTargetRef)
	out.Spec.MinReplicas = in.Spec.MinReplicas
	out.Spec.MaxReplicas = in.Spec.MaxReplicas
	ann := out.Annotations
	if raw, ok := ann[hpaMetricsAnnotation]; ok {
		if err := json.Unmarshal([]byte(raw), &out.Spec.Metrics); err != nil {
			return nil, fmt.Errorf("annotation %s: %w", hpaMetricsAnnotation, err)
		}
	}
	if in.Spec.TargetCPUUtilizationPercentage != nil {
		out.Spec.Metrics = append(out.Spec.Metrics, autoscalingv2.MetricSpec{
			Type: autoscalingv2.ResourceMetricSourceType,
			Resource: &autoscalingv2.ResourceMetricSource{
				Name:   corev1.ResourceCPU,
				Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: in.Spec.TargetCPUUtilizationPercentage},
			},
		})
	}
	if raw, ok := ann[hpaBehaviorAnnotation]; ok {
		out.Spec.Behavior = &autoscalingv2.HorizontalPodAutoscalerBehavior{}
		if err := json.Unmarshal([]byte(raw), out.Spec.Behavior); err != nil {
			return nil, fmt.Errorf("annotation %s: %w", hpaBehaviorAnnotation, err)
		}
	}
	if raw, ok := ann[hpaConditionsAnnotation]; ok {
		_ = json.Unmarshal([]byte(raw), &out.Status.Conditions)
	}
	if raw, ok := ann[hpaCurrentAnnotation]; ok {
		_ = json.Unmarshal([]byte(raw), &out.Status.CurrentMetrics)
	}
	for _, k := range []string{hpaMetricsAnnotation, hpaBehaviorAnnotation, hpaConditionsAnnotation, hpaCurrentAnnotation} {
		delete(out.Annotations, k)
	}
	if len(out.Annotations) == 0 {
		out.Annotations = nil
	}
	out.Status.ObservedGeneration = in.Status.ObservedGeneration
	out.Status.LastScaleTime = in.Status.LastScaleTime
	out.Status.CurrentReplicas = in.Status.CurrentReplicas
	out.Status.DesiredReplicas = in.Status.DesiredReplicas
	if in.Status.CurrentCPUUtilizationPercentage != nil {
		out.Status.CurrentMetrics = append(out.Status.CurrentMetrics, autoscalingv2.MetricStatus{
			Type: autoscalingv2.ResourceMetricSourceType,
			Resource: &autoscalingv2.ResourceMetricStatus{
				Name:    corev1.ResourceCPU,
				Current: autoscalingv2.MetricValueStatus{AverageUtilization: in.Status.CurrentCPUUtilizationPercentage},
			},
		})
	}
	return out, nil
}

func hpaToV1(in *autoscalingv2.HorizontalPodAutoscaler) (*autoscalingv1.HorizontalPodAutoscaler, error) {
	out := &autoscalingv1.HorizontalPodAutoscaler{ObjectMeta: *in.ObjectMeta.DeepCopy()}
	out.APIVersion, out.Kind = "autoscaling/v1", "HorizontalPodAutoscaler"
	out.Spec.ScaleTargetRef = autoscalingv1.CrossVersionObjectReference(in.Spec.ScaleTargetRef)
	out.Spec.MinReplicas = in.Spec.MinReplicas
	out.Spec.MaxReplicas = in.Spec.MaxReplicas
	var other []autoscalingv2.MetricSpec
	for _, m := range in.Spec.Metrics {
		if m.Type == autoscalingv2.ResourceMetricSourceType && m.Resource != nil && m.Resource.Name == corev1.ResourceCPU &&
			m.Resource.Target.Type == autoscalingv2.UtilizationMetricType && out.Spec.TargetCPUUtilizationPercentage == nil {
			out.Spec.TargetCPUUtilizationPercentage = m.Resource.Target.AverageUtilization
			continue
		}
		other = append(other, m)
	}
	setAnn := func(key string, v any) error {
		raw, err := json.Marshal(v)
		if err != nil {
			return err
		}
		if out.Annotations == nil {
			out.Annotations = map[string]string{}
		}
		out.Annotations[key] = string(raw)
		return nil
	}
	if len(other) > 0 {
		if err := setAnn(hpaMetricsAnnotation, other); err != nil {
			return nil, err
		}
	}
	if in.Spec.Behavior != nil {
		if err := setAnn(hpaBehaviorAnnotation, in.Spec.Behavior); err != nil {
			return nil, err
		}
	}
	if len(in.Status.Conditions) > 0 {
		if err := setAnn(hpaConditionsAnnotation, in.Status.Conditions); err != nil {
			return nil, err
		}
	}
	out.Status.ObservedGeneration = in.Status.ObservedGeneration
	out.Status.LastScaleTime = in.Status.LastScaleTime
	out.Status.CurrentReplicas = in.Status.CurrentReplicas
	out.Status.DesiredReplicas = in.Status.DesiredReplicas
	var otherCurrent []autoscalingv2.MetricStatus
	for _, m := range in.Status.CurrentMetrics {
		if m.Type == autoscalingv2.ResourceMetricSourceType && m.Resource != nil && m.Resource.Name == corev1.ResourceCPU &&
			m.Resource.Current.AverageUtilization != nil && m.Resource.Current.AverageValue == nil && out.Status.CurrentCPUUtilizationPercentage == nil {
			out.Status.CurrentCPUUtilizationPercentage = m.Resource.Current.AverageUtilization
			continue
		}
		otherCurrent = append(otherCurrent, m)
	}
	if len(otherCurrent) > 0 {
		if err := setAnn(hpaCurrentAnnotation, otherCurrent); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// VersionConverter converts an object between the versions of a resource
// that share storage (autoscaling v1/v2 HPAs, core and events.k8s.io events),
// going through the storage version. The field manager uses it to keep
// managedFields written through either version.
func VersionConverter(reg *registry.Registry) func(obj runtime.Object, to schema.GroupVersion) (runtime.Object, error) {
	return func(obj runtime.Object, to schema.GroupVersion) (runtime.Object, error) {
		gvk := obj.GetObjectKind().GroupVersionKind()
		res, ok := reg.LookupKind(gvk)
		if !ok {
			return nil, fmt.Errorf("no resource for %v", gvk)
		}
		if res.GroupVersion() == to {
			return obj, nil
		}
		stored := obj
		if !res.StoredAsSelf() {
			var err error
			if stored, err = toStorage(res, obj); err != nil {
				return nil, err
			}
		}
		if res.Storage.GroupVersion() == to {
			return stored, nil
		}
		for _, r := range reg.Resources() {
			if r.Storage == res.Storage && r.GroupVersion() == to {
				return fromStorage(r, stored)
			}
		}
		return nil, fmt.Errorf("no version %v of %v", to, gvk)
	}
}
