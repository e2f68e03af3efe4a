package defaults

import (
	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
)

func defaultPriorityClass(pc *schedulingv1.PriorityClass) {
	setIfNil(&pc.PreemptionPolicy, corev1.PreemptLowerPriority)
}
