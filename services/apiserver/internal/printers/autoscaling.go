package printers

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// autoscaling/v1 HPAs carry the metrics v1 cannot express in annotations.
const (
	hpaMetricSpecsAnnotation    = "autoscaling.alpha.kubernetes.io/metrics"
	hpaMetricStatusesAnnotation = "autoscaling.alpha.kubernetes.io/current-metrics"
	// hpaDefaultCPUUtilization is the target of an HPA that names no metric.
	hpaDefaultCPUUtilization = 80
)

// maxHPAMetrics is how many metrics the TARGETS column shows.
const maxHPAMetrics = 2

func init() {
	specDoc := autoscalingv2.HorizontalPodAutoscalerSpec{}.SwaggerDoc()
	register(schema.GroupKind{Group: autoscalingv2.GroupName, Kind: "HorizontalPodAutoscaler"}, &kindPrinter{
		columns: []metav1.TableColumnDefinition{
			nameColumn,
			column("Reference", specDoc["scaleTargetRef"]),
			column("Targets", specDoc["metrics"]),
			column("MinPods", specDoc["minReplicas"]),
			column("MaxPods", specDoc["maxReplicas"]),
			column("Replicas", autoscalingv2.HorizontalPodAutoscalerStatus{}.SwaggerDoc()["currentReplicas"]),
			ageColumn,
		},
		rows: rowsOfErr(func(obj runtime.Object, now time.Time) ([]any, error) {
			hpa, err := asHPAv2(obj)
			if err != nil {
				return nil, err
			}
			return hpaCells(hpa, now), nil
		}),
	})
}

func hpaCells(hpa *autoscalingv2.HorizontalPodAutoscaler, now time.Time) []any {
	minPods := "1" // the API's default
	if hpa.Spec.MinReplicas != nil {
		minPods = fmt.Sprintf("%d", *hpa.Spec.MinReplicas)
	}
	return []any{
		hpa.Name,
		hpa.Spec.ScaleTargetRef.Kind + "/" + hpa.Spec.ScaleTargetRef.Name,
		hpaTargets(hpa.Spec.Metrics, hpa.Status.CurrentMetrics),
		minPods,
		int64(hpa.Spec.MaxReplicas),
		int64(hpa.Status.CurrentReplicas),
		since(hpa.CreationTimestamp, now),
	}
}

// hpaTargets shows each metric as current/target ("cpu: 42%/80%"), pairing
// the i-th metric with the i-th current value.
func hpaTargets(specs []autoscalingv2.MetricSpec, statuses []autoscalingv2.MetricStatus) string {
	if len(specs) == 0 {
		return "<none>"
	}
	var shown []string
	for i, spec := range specs {
		if len(shown) == maxHPAMetrics {
			break
		}
		var status *autoscalingv2.MetricStatus
		if i < len(statuses) {
			status = &statuses[i]
		}
		shown = append(shown, hpaTarget(spec, status))
	}
	joined := strings.Join(shown, ", ")
	if len(specs) > maxHPAMetrics {
		return fmt.Sprintf("%s + %d more...", joined, len(specs)-maxHPAMetrics)
	}
	return joined
}

func hpaTarget(spec autoscalingv2.MetricSpec, status *autoscalingv2.MetricStatus) string {
	const unknown = "<unknown>"
	if status == nil {
		status = &autoscalingv2.MetricStatus{}
	}
	switch {
	case spec.Type == autoscalingv2.ExternalMetricSourceType && spec.External != nil:
		target, current := spec.External.Target, status.External
		if target.AverageValue != nil {
			cur := unknown
			if current != nil && current.Current.AverageValue != nil {
				cur = quantityString(current.Current.AverageValue)
			}
			return fmt.Sprintf("%s/%s (avg)", cur, quantityString(target.AverageValue))
		}
		cur := unknown
		if current != nil {
			cur = quantityString(current.Current.Value)
		}
		return fmt.Sprintf("%s/%s", cur, quantityString(target.Value))

	case spec.Type == autoscalingv2.PodsMetricSourceType && spec.Pods != nil:
		cur := unknown
		if status.Pods != nil {
			cur = quantityString(status.Pods.Current.AverageValue)
		}
		return fmt.Sprintf("%s/%s", cur, quantityString(spec.Pods.Target.AverageValue))

	case spec.Type == autoscalingv2.ObjectMetricSourceType && spec.Object != nil:
		target, current := spec.Object.Target, status.Object
		if target.AverageValue != nil {
			cur := unknown
			if current != nil && current.Current.AverageValue != nil {
				cur = quantityString(current.Current.AverageValue)
			}
			return fmt.Sprintf("%s/%s (avg)", cur, quantityString(target.AverageValue))
		}
		cur := unknown
		if current != nil {
			cur = quantityString(current.Current.Value)
		}
		return fmt.Sprintf("%s/%s", cur, quantityString(target.Value))

	case spec.Type == autoscalingv2.ResourceMetricSourceType && spec.Resource != nil:
		var current *autoscalingv2.MetricValueStatus
		if status.Resource != nil {
			current = &status.Resource.Current
		}
		return string(spec.Resource.Name) + ": " + resourceTarget(spec.Resource.Target, current)

	case spec.Type == autoscalingv2.ContainerResourceMetricSourceType && spec.ContainerResource != nil:
		var current *autoscalingv2.MetricValueStatus
		if status.ContainerResource != nil {
			current = &status.ContainerResource.Current
		}
		return string(spec.ContainerResource.Name) + ": " + resourceTarget(spec.ContainerResource.Target, current)
	}
	// Also for a metric missing its source, which validation rejects.
	return "<unknown type>"
}

// resourceTarget is current/target of a CPU or memory metric, as an average
// value or as a percentage of the pods' requests.
func resourceTarget(target autoscalingv2.MetricTarget, current *autoscalingv2.MetricValueStatus) string {
	if target.AverageValue != nil {
		cur := "<unknown>"
		if current != nil {
			cur = quantityString(current.AverageValue)
		}
		return cur + "/" + quantityString(target.AverageValue)
	}
	cur := "<unknown>"
	if current != nil && current.AverageUtilization != nil {
		cur = fmt.Sprintf("%d%%", *current.AverageUtilization)
	}
	want := "<auto>"
	if target.AverageUtilization != nil {
		want = fmt.Sprintf("%d%%", *target.AverageUtilization)
	}
	return cur + "/" + want
}

// quantityString prints an optional quantity ("<nil>" when unset) from a
// copy, since printing caches the string in the quantity and the objects
// may be shared with other readers.
func quantityString(q *resource.Quantity) string {
	if q == nil {
		return "<nil>"
	}
	c := q.DeepCopy()
	return c.String()
}

// asHPAv2 gives an autoscaling/v1 HPA the shape of an autoscaling/v2 one, as
// the API's conversion does: the CPU target, the extra metrics kept in
// annotations, and the default CPU target when no metric is named.
func asHPAv2(obj runtime.Object) (*autoscalingv2.HorizontalPodAutoscaler, error) {
	switch hpa := obj.(type) {
	case *autoscalingv2.HorizontalPodAutoscaler:
		return hpa, nil
	case *autoscalingv1.HorizontalPodAutoscaler:
		return convertHPAv1(hpa), nil
	}
	return nil, fmt.Errorf("%w: got %T, want a HorizontalPodAutoscaler", ErrUnexpectedObject, obj)
}

func convertHPAv1(in *autoscalingv1.HorizontalPodAutoscaler) *autoscalingv2.HorizontalPodAutoscaler {
	out := &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: in.ObjectMeta,
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference(in.Spec.ScaleTargetRef),
			MinReplicas:    in.Spec.MinReplicas,
			MaxReplicas:    in.Spec.MaxReplicas,
		},
		Status: autoscalingv2.HorizontalPodAutoscalerStatus{
			CurrentReplicas: in.Status.CurrentReplicas,
			DesiredReplicas: in.Status.DesiredReplicas,
		},
	}

	var cpuTarget []autoscalingv2.MetricSpec
	if in.Spec.TargetCPUUtilizationPercentage != nil {
		cpuTarget = []autoscalingv2.MetricSpec{cpuUtilization(*in.Spec.TargetCPUUtilizationPercentage)}
	}
	out.Spec.Metrics = cpuTarget
	// Annotated metrics come first, then the CPU target. Undecodable
	// annotations are ignored, as in Kubernetes.
	if enc, ok := in.Annotations[hpaMetricSpecsAnnotation]; ok {
		var extra []autoscalingv1.MetricSpec
		if json.Unmarshal([]byte(enc), &extra) == nil {
			out.Spec.Metrics = make([]autoscalingv2.MetricSpec, 0, len(extra)+len(cpuTarget))
			for _, m := range extra {
				out.Spec.Metrics = append(out.Spec.Metrics, convertMetricSpecV1(m))
			}
			out.Spec.Metrics = append(out.Spec.Metrics, cpuTarget...)
		}
	}
	if len(out.Spec.Metrics) == 0 {
		out.Spec.Metrics = []autoscalingv2.MetricSpec{cpuUtilization(hpaDefaultCPUUtilization)}
	}

	if cur := in.Status.CurrentCPUUtilizationPercentage; cur != nil {
		out.Status.CurrentMetrics = []autoscalingv2.MetricStatus{{
			Type: autoscalingv2.ResourceMetricSourceType,
			Resource: &autoscalingv2.ResourceMetricStatus{
				Name:    corev1.ResourceCPU,
				Current: autoscalingv2.MetricValueStatus{AverageUtilization: new(*cur)},
			},
		}}
	}
	// The annotation has more detail than the CPU field, and replaces it.
	if enc, ok := in.Annotations[hpaMetricStatusesAnnotation]; ok {
		var current []autoscalingv1.MetricStatus
		if json.Unmarshal([]byte(enc), &current) == nil {
			out.Status.CurrentMetrics = make([]autoscalingv2.MetricStatus, 0, len(current))
			for _, m := range current {
				out.Status.CurrentMetrics = append(out.Status.CurrentMetrics, convertMetricStatusV1(m))
			}
		}
	}
	return out
}

func cpuUtilization(percent int32) autoscalingv2.MetricSpec {
	return autoscalingv2.MetricSpec{
		Type: autoscalingv2.ResourceMetricSourceType,
		Resource: &autoscalingv2.ResourceMetricSource{
			Name:   corev1.ResourceCPU,
			Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: new(percent)},
		},
	}
}

// convertMetricSpecV1 maps an annotated v1 metric to v2. Only the fields the
// TARGETS column reads matter here.
func convertMetricSpecV1(in autoscalingv1.MetricSpec) autoscalingv2.MetricSpec {
	out := autoscalingv2.MetricSpec{Type: autoscalingv2.MetricSourceType(in.Type)}
	if s := in.Object; s != nil {
		target := autoscalingv2.MetricTarget{Type: autoscalingv2.ValueMetricType, AverageValue: s.AverageValue}
		if s.AverageValue == nil {
			target.Value = new(s.TargetValue)
		} else {
			target.Type = autoscalingv2.AverageValueMetricType
			if !s.TargetValue.IsZero() {
				target.Value = new(s.TargetValue)
			}
		}
		out.Object = &autoscalingv2.ObjectMetricSource{
			DescribedObject: autoscalingv2.CrossVersionObjectReference(s.Target),
			Metric:          autoscalingv2.MetricIdentifier{Name: s.MetricName, Selector: s.Selector},
			Target:          target,
		}
	}
	if s := in.Pods; s != nil {
		out.Pods = &autoscalingv2.PodsMetricSource{
			Metric: autoscalingv2.MetricIdentifier{Name: s.MetricName, Selector: s.Selector},
			Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: new(s.TargetAverageValue)},
		}
	}
	if s := in.Resource; s != nil {
		out.Resource = &autoscalingv2.ResourceMetricSource{
			Name:   s.Name,
			Target: utilizationOrAverage(s.TargetAverageUtilization, s.TargetAverageValue),
		}
	}
	if s := in.ContainerResource; s != nil {
		out.ContainerResource = &autoscalingv2.ContainerResourceMetricSource{
			Name:      s.Name,
			Container: s.Container,
			Target:    utilizationOrAverage(s.TargetAverageUtilization, s.TargetAverageValue),
		}
	}
	if s := in.External; s != nil {
		target := autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, Value: s.TargetValue, AverageValue: s.TargetAverageValue}
		if s.TargetValue != nil {
			target.Type = autoscalingv2.ValueMetricType
		}
		out.External = &autoscalingv2.ExternalMetricSource{
			Metric: autoscalingv2.MetricIdentifier{Name: s.MetricName, Selector: s.MetricSelector},
			Target: target,
		}
	}
	return out
}

func utilizationOrAverage(utilization *int32, average *resource.Quantity) autoscalingv2.MetricTarget {
	t := autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageUtilization: utilization, AverageValue: average}
	if utilization != nil {
		t.Type = autoscalingv2.UtilizationMetricType
	}
	return t
}

// convertMetricStatusV1 maps an annotated v1 current metric to v2.
func convertMetricStatusV1(in autoscalingv1.MetricStatus) autoscalingv2.MetricStatus {
	out := autoscalingv2.MetricStatus{Type: autoscalingv2.MetricSourceType(in.Type)}
	if s := in.Object; s != nil {
		out.Object = &autoscalingv2.ObjectMetricStatus{
			DescribedObject: autoscalingv2.CrossVersionObjectReference(s.Target),
			Metric:          autoscalingv2.MetricIdentifier{Name: s.MetricName, Selector: s.Selector},
			Current:         autoscalingv2.MetricValueStatus{Value: new(s.CurrentValue), AverageValue: s.AverageValue},
		}
	}
	if s := in.Pods; s != nil {
		out.Pods = &autoscalingv2.PodsMetricStatus{
			Metric:  autoscalingv2.MetricIdentifier{Name: s.MetricName, Selector: s.Selector},
			Current: autoscalingv2.MetricValueStatus{AverageValue: new(s.CurrentAverageValue)},
		}
	}
	if s := in.Resource; s != nil {
		out.Resource = &autoscalingv2.ResourceMetricStatus{
			Name:    s.Name,
			Current: autoscalingv2.MetricValueStatus{AverageValue: new(s.CurrentAverageValue), AverageUtilization: s.CurrentAverageUtilization},
		}
	}
	if s := in.ContainerResource; s != nil {
		out.ContainerResource = &autoscalingv2.ContainerResourceMetricStatus{
			Name:      s.Name,
			Container: s.Container,
			Current:   autoscalingv2.MetricValueStatus{AverageValue: new(s.CurrentAverageValue), AverageUtilization: s.CurrentAverageUtilization},
		}
	}
	if s := in.External; s != nil {
		out.External = &autoscalingv2.ExternalMetricStatus{
			Metric:  autoscalingv2.MetricIdentifier{Name: s.MetricName, Selector: s.MetricSelector},
			Current: autoscalingv2.MetricValueStatus{Value: new(s.CurrentValue), AverageValue: s.CurrentAverageValue},
		}
	}
	return out
}
