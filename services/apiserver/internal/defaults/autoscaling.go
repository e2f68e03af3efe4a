package defaults

import (
	"encoding/json"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
)

// The autoscaler's historical target: 80% of the requested CPU.
const defaultCPUUtilization = 80

// metricsAnnotation is where autoscaling/v1 keeps the v2 metrics it cannot express.
const metricsAnnotation = "autoscaling.alpha.kubernetes.io/metrics"

func defaultHPA(hpa *autoscalingv2.HorizontalPodAutoscaler) {
	spec := &hpa.Spec
	setIfNil(&spec.MinReplicas, int32(1))
	if len(spec.Metrics) == 0 {
		spec.Metrics = []autoscalingv2.MetricSpec{{
			Type: autoscalingv2.ResourceMetricSourceType,
			Resource: &autoscalingv2.ResourceMetricSource{
				Name: corev1.ResourceCPU,
				Target: autoscalingv2.MetricTarget{
					Type:               autoscalingv2.UtilizationMetricType,
					AverageUtilization: new(int32(defaultCPUUtilization)),
				},
			},
		}}
	}
	// A behavior section is completed direction by direction; without one the
	// controller applies the same rules without writing them down.
	if spec.Behavior != nil {
		spec.Behavior.ScaleUp = completeScalingRules(spec.Behavior.ScaleUp, defaultScaleUpRules())
		spec.Behavior.ScaleDown = completeScalingRules(spec.Behavior.ScaleDown, defaultScaleDownRules())
	}
}

// defaultScaleUpRules: at once, the larger of doubling or adding four pods every 15s.
func defaultScaleUpRules() *autoscalingv2.HPAScalingRules {
	return &autoscalingv2.HPAScalingRules{
		StabilizationWindowSeconds: new(int32(0)),
		SelectPolicy:               new(autoscalingv2.MaxChangePolicySelect),
		Policies: []autoscalingv2.HPAScalingPolicy{
			{Type: autoscalingv2.PodsScalingPolicy, Value: 4, PeriodSeconds: 15},
			{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15},
		},
	}
}

// defaultScaleDownRules: down to the minimum in 15s steps. The stabilization window
// stays unset because its default is the controller's
// --horizontal-pod-autoscaler-downscale-stabilization flag.
func defaultScaleDownRules() *autoscalingv2.HPAScalingRules {
	return &autoscalingv2.HPAScalingRules{
		SelectPolicy: new(autoscalingv2.MaxChangePolicySelect),
		Policies: []autoscalingv2.HPAScalingPolicy{
			{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15},
		},
	}
}

// completeScalingRules overlays what the user set on the defaults.
func completeScalingRules(set, defaults *autoscalingv2.HPAScalingRules) *autoscalingv2.HPAScalingRules {
	if set == nil {
		return defaults
	}
	if set.StabilizationWindowSeconds != nil {
		defaults.StabilizationWindowSeconds = set.StabilizationWindowSeconds
	}
	if set.SelectPolicy != nil {
		defaults.SelectPolicy = set.SelectPolicy
	}
	if set.Policies != nil {
		defaults.Policies = set.Policies
	}
	// Tolerance has no default; an unset one means the controller's flag.
	defaults.Tolerance = set.Tolerance
	return defaults
}

func defaultHPAv1(hpa *autoscalingv1.HorizontalPodAutoscaler) {
	setIfNil(&hpa.Spec.MinReplicas, int32(1))
	// kube-apiserver applies the CPU target while converting autoscaling/v1, unless
	// the annotation carries other metrics; the v1 object a client reads back shows it.
	if !hasAnnotatedMetrics(hpa) {
		setIfNil(&hpa.Spec.TargetCPUUtilizationPercentage, int32(defaultCPUUtilization))
	}
}

// hasAnnotatedMetrics reports whether the annotation holds metrics; one that does
// not decode is ignored, as conversion ignores it.
func hasAnnotatedMetrics(hpa *autoscalingv1.HorizontalPodAutoscaler) bool {
	encoded, ok := hpa.Annotations[metricsAnnotation]
	if !ok {
		return false
	}
	var metrics []autoscalingv1.MetricSpec
	return json.Unmarshal([]byte(encoded), &metrics) == nil && len(metrics) > 0
}
