package endpoints

import (
	"encoding/json"
	"maps"
	"reflect"
	"slices"
	"testing"
	"time"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/diff"
)

func ptr[T any](v T) *T { return &v }

var (
	eventsGVR  = schema.GroupVersionResource{Group: "events.k8s.io", Version: "v1", Resource: "events"}
	hpaV1GVR   = schema.GroupVersionResource{Group: "autoscaling", Version: "v1", Resource: "horizontalpodautoscalers"}
	convertNow = metav1.NewTime(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
)

func fullEventsEvent() *eventsv1.Event {
	return &eventsv1.Event{
		TypeMeta: metav1.TypeMeta{APIVersion: "events.k8s.io/v1", Kind: "Event"},
		ObjectMeta: metav1.ObjectMeta{
			Name: "web.17", Namespace: "default", UID: "u-1", Labels: map[string]string{"a": "b"},
			Annotations: map[string]string{"note": "x"}, CreationTimestamp: convertNow,
		},
		EventTime:                metav1.NewMicroTime(convertNow.Time),
		Series:                   &eventsv1.EventSeries{Count: 3, LastObservedTime: metav1.NewMicroTime(convertNow.Add(time.Minute))},
		ReportingController:      "example.com/controller",
		ReportingInstance:        "controller-0",
		Action:                   "Scale",
		Reason:                   "Scaled",
		Regarding:                corev1.ObjectReference{Kind: "Deployment", Namespace: "default", Name: "web", UID: "u-2", APIVersion: "apps/v1"},
		Related:                  &corev1.ObjectReference{Kind: "ReplicaSet", Namespace: "default", Name: "web-1"},
		Note:                     "scaled up to 3",
		Type:                     corev1.EventTypeNormal,
		DeprecatedSource:         corev1.EventSource{Component: "deployment-controller", Host: "cp-1"},
		DeprecatedFirstTimestamp: convertNow,
		DeprecatedLastTimestamp:  metav1.NewTime(convertNow.Add(time.Hour)),
		DeprecatedCount:          4,
	}
}

func TestEventConversionRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		in   *eventsv1.Event
	}{
		{"every field", fullEventsEvent()},
		{"minimal", &eventsv1.Event{
			TypeMeta:            metav1.TypeMeta{APIVersion: "events.k8s.io/v1", Kind: "Event"},
			ObjectMeta:          metav1.ObjectMeta{Name: "e", Namespace: "ns"},
			EventTime:           metav1.NewMicroTime(convertNow.Time),
			ReportingController: "c", ReportingInstance: "i", Action: "A", Reason: "R", Type: corev1.EventTypeWarning,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := tt.in.DeepCopy()
			stored, err := toStorage(mustResource(t, eventsGVR), tt.in)
			if err != nil {
				t.Fatal(err)
			}
			core, ok := stored.(*corev1.Event)
			if !ok {
				t.Fatalf("stored as %T, want *v1.Event", stored)
			}
			if core.APIVersion != "v1" || core.Kind != "Event" {
				t.Errorf("stored as %s %s", core.APIVersion, core.Kind)
			}
			if core.Message != tt.in.Note || core.InvolvedObject != tt.in.Regarding || core.Count != tt.in.DeprecatedCount ||
				core.ReportingController != tt.in.ReportingController || !core.FirstTimestamp.Equal(&tt.in.DeprecatedFirstTimestamp) {
				t.Errorf("core event does not carry the fields: %+v", core)
			}
			back, err := fromStorage(mustResource(t, eventsGVR), core)
			if err != nil {
				t.Fatal(err)
			}
			if !equality.Semantic.DeepEqual(back, tt.in) {
				t.Errorf("round trip changed the event:\n%s", diff.Diff(tt.in, back))
			}
			if !reflect.DeepEqual(before, tt.in) {
				t.Error("conversion modified its input")
			}
		})
	}
}

func TestEventFromCore(t *testing.T) {
	// Events written by core/v1 clients (kubelet, old controllers) carry the
	// reporter in source; events.k8s.io shows it as reportingController.
	core := &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: "p.1", Namespace: "default"},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "p"},
		Reason:         "Pulled", Message: "pulled image", Type: corev1.EventTypeNormal,
		Source:         corev1.EventSource{Component: "kubelet", Host: "n1"},
		FirstTimestamp: convertNow, LastTimestamp: convertNow, Count: 2,
	}
	out, err := fromStorage(mustResource(t, eventsGVR), core)
	if err != nil {
		t.Fatal(err)
	}
	ev := out.(*eventsv1.Event)
	if ev.ReportingController != "kubelet" || ev.DeprecatedSource != core.Source || ev.Note != "pulled image" || ev.Regarding.Name != "p" || ev.DeprecatedCount != 2 {
		t.Errorf("events.k8s.io view = %+v", ev)
	}
	if ev.APIVersion != "events.k8s.io/v1" || ev.Kind != "Event" {
		t.Errorf("view is %s %s", ev.APIVersion, ev.Kind)
	}
	// Back to core, the source survives and nothing else is invented.
	back := eventToCore(ev)
	if back.Source != core.Source || back.Message != core.Message || back.Count != core.Count {
		t.Errorf("core again = %+v", back)
	}

	// An event without a source does not get an empty one.
	noSource := eventToCore(&eventsv1.Event{ObjectMeta: metav1.ObjectMeta{Name: "x"}})
	if noSource.Source != (corev1.EventSource{}) || noSource.Series != nil {
		t.Errorf("empty event gained %+v %+v", noSource.Source, noSource.Series)
	}
}

func cpuTarget(pct int32) autoscalingv2.MetricSpec {
	return autoscalingv2.MetricSpec{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
		Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr(pct)},
	}}
}

func memoryTarget() autoscalingv2.MetricSpec {
	return autoscalingv2.MetricSpec{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
		Name: corev1.ResourceMemory, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: ptr(resource.MustParse("512Mi"))},
	}}
}

func externalTarget() autoscalingv2.MetricSpec {
	return autoscalingv2.MetricSpec{Type: autoscalingv2.ExternalMetricSourceType, External: &autoscalingv2.ExternalMetricSource{
		Metric: autoscalingv2.MetricIdentifier{Name: "queue_depth", Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"q": "jobs"}}},
		Target: autoscalingv2.MetricTarget{Type: autoscalingv2.ValueMetricType, Value: ptr(resource.MustParse("30"))},
	}}
}

func cpuCurrent(pct int32) autoscalingv2.MetricStatus {
	return autoscalingv2.MetricStatus{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricStatus{
		Name: corev1.ResourceCPU, Current: autoscalingv2.MetricValueStatus{AverageUtilization: ptr(pct)},
	}}
}

func memoryCurrent() autoscalingv2.MetricStatus {
	return autoscalingv2.MetricStatus{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricStatus{
		Name: corev1.ResourceMemory, Current: autoscalingv2.MetricValueStatus{AverageValue: ptr(resource.MustParse("300Mi"))},
	}}
}

func hpaV2(metrics []autoscalingv2.MetricSpec, current []autoscalingv2.MetricStatus) *autoscalingv2.HorizontalPodAutoscaler {
	h := &autoscalingv2.HorizontalPodAutoscaler{
		TypeMeta:   metav1.TypeMeta{APIVersion: "autoscaling/v2", Kind: "HorizontalPodAutoscaler"},
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", Annotations: map[string]string{"keep": "me"}},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{Kind: "Deployment", Name: "web", APIVersion: "apps/v1"},
			MinReplicas:    ptr[int32](2),
			MaxReplicas:    10,
			Metrics:        metrics,
		},
		Status: autoscalingv2.HorizontalPodAutoscalerStatus{
			ObservedGeneration: ptr[int64](3), LastScaleTime: &convertNow, CurrentReplicas: 3, DesiredReplicas: 4,
			CurrentMetrics: current,
		},
	}
	return h
}

func TestHPAV2ToV1AndBack(t *testing.T) {
	behavior := &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleDown: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: ptr[int32](60)}}
	conditions := []autoscalingv2.HorizontalPodAutoscalerCondition{{Type: autoscalingv2.AbleToScale, Status: corev1.ConditionTrue, Reason: "ReadyForNewScale", LastTransitionTime: convertNow}}
	tests := []struct {
		name        string
		in          *autoscalingv2.HorizontalPodAutoscaler
		wantCPU     *int32
		wantCurrent *int32
		// wantAnnotations are the v1 view's alpha annotations.
		wantAnnotations []string
		// wantBack are the metrics after v2 -> v1 -> v2 when their order changes.
		wantBack []autoscalingv2.MetricSpec
	}{
		{
			name:        "CPU only",
			in:          hpaV2([]autoscalingv2.MetricSpec{cpuTarget(70)}, []autoscalingv2.MetricStatus{cpuCurrent(40)}),
			wantCPU:     ptr[int32](70),
			wantCurrent: ptr[int32](40),
		},
		{
			name:            "other metrics after CPU",
			in:              hpaV2([]autoscalingv2.MetricSpec{memoryTarget(), externalTarget(), cpuTarget(60)}, []autoscalingv2.MetricStatus{memoryCurrent(), cpuCurrent(55)}),
			wantCPU:         ptr[int32](60),
			wantCurrent:     ptr[int32](55),
			wantAnnotations: []string{hpaMetricsAnnotation, hpaCurrentAnnotation},
		},
		{
			name:            "no CPU target",
			in:              hpaV2([]autoscalingv2.MetricSpec{memoryTarget()}, nil),
			wantAnnotations: []string{hpaMetricsAnnotation},
		},
		{
			name: "behavior and conditions",
			in: func() *autoscalingv2.HorizontalPodAutoscaler {
				h := hpaV2([]autoscalingv2.MetricSpec{cpuTarget(80)}, nil)
				h.Spec.Behavior = behavior
				h.Status.Conditions = conditions
				return h
			}(),
			wantCPU:         ptr[int32](80),
			wantAnnotations: []string{hpaBehaviorAnnotation, hpaConditionsAnnotation},
		},
		{
			name:            "a second CPU target stays in the annotation",
			in:              hpaV2([]autoscalingv2.MetricSpec{cpuTarget(50), cpuTarget(90)}, nil),
			wantCPU:         ptr[int32](50),
			wantAnnotations: []string{hpaMetricsAnnotation},
			// The shown target comes back last, as in Kubernetes.
			wantBack: []autoscalingv2.MetricSpec{cpuTarget(90), cpuTarget(50)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := tt.in.DeepCopy()
			view, err := fromStorage(mustResource(t, hpaV1GVR), tt.in)
			if err != nil {
				t.Fatal(err)
			}
			v1 := view.(*autoscalingv1.HorizontalPodAutoscaler)
			if v1.APIVersion != "autoscaling/v1" || v1.Kind != "HorizontalPodAutoscaler" {
				t.Errorf("view is %s %s", v1.APIVersion, v1.Kind)
			}
			if !reflect.DeepEqual(v1.Spec.TargetCPUUtilizationPercentage, tt.wantCPU) {
				t.Errorf("targetCPUUtilizationPercentage = %v, want %v", valueOf(v1.Spec.TargetCPUUtilizationPercentage), valueOf(tt.wantCPU))
			}
			if !reflect.DeepEqual(v1.Status.CurrentCPUUtilizationPercentage, tt.wantCurrent) {
				t.Errorf("currentCPUUtilizationPercentage = %v, want %v", valueOf(v1.Status.CurrentCPUUtilizationPercentage), valueOf(tt.wantCurrent))
			}
			if v1.Spec.MaxReplicas != 10 || *v1.Spec.MinReplicas != 2 || v1.Spec.ScaleTargetRef.Name != "web" || v1.Status.DesiredReplicas != 4 {
				t.Errorf("v1 view lost spec or status: %+v", v1)
			}
			var got []string
			for k := range v1.Annotations {
				if k != "keep" {
					got = append(got, k)
				}
			}
			slices.Sort(got)
			wantAnn := slices.Clone(tt.wantAnnotations)
			slices.Sort(wantAnn)
			if !slices.Equal(got, wantAnn) {
				t.Errorf("alpha annotations = %q, want %q", got, wantAnn)
			}
			if v1.Annotations["keep"] != "me" {
				t.Error("user annotation lost")
			}

			stored, err := toStorage(mustResource(t, hpaV1GVR), v1)
			if err != nil {
				t.Fatal(err)
			}
			back := stored.(*autoscalingv2.HorizontalPodAutoscaler)
			want := tt.in.DeepCopy()
			if tt.wantBack != nil {
				want.Spec.Metrics = tt.wantBack
			}
			if !equality.Semantic.DeepEqual(back, want) {
				t.Errorf("v2 -> v1 -> v2 changed the object:\n%s", diff.Diff(want, back))
			}
			if !reflect.DeepEqual(before, tt.in) {
				t.Error("conversion modified its input")
			}
		})
	}
}

func valueOf[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

// TestHPAV2ToV1AndBackKeepsMetrics: the order of metrics may change (CPU
// goes last, as in Kubernetes), nothing else.
func TestHPAV2ToV1AndBackKeepsMetrics(t *testing.T) {
	in := hpaV2([]autoscalingv2.MetricSpec{cpuTarget(60), memoryTarget(), externalTarget()}, []autoscalingv2.MetricStatus{cpuCurrent(30), memoryCurrent()})
	v1, err := hpaToV1(in)
	if err != nil {
		t.Fatal(err)
	}
	back, err := hpaToV2(v1)
	if err != nil {
		t.Fatal(err)
	}
	wantMetrics := []autoscalingv2.MetricSpec{memoryTarget(), externalTarget(), cpuTarget(60)}
	if !equality.Semantic.DeepEqual(back.Spec.Metrics, wantMetrics) {
		t.Errorf("metrics after the round trip:\n%s", diff.Diff(wantMetrics, back.Spec.Metrics))
	}
	if len(back.Status.CurrentMetrics) != 2 {
		t.Errorf("current metrics after the round trip: %+v", back.Status.CurrentMetrics)
	}
}

// TestHPAV2ToV1KeepsCPUCurrentValue: v1 shows a CPU metric's utilization;
// whatever else the metric holds must survive in the current-metrics
// annotation like every other metric, or a write through v1 loses it.
func TestHPAV2ToV1KeepsCPUCurrentValue(t *testing.T) {
	cpuValueTarget := autoscalingv2.MetricSpec{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
		Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: ptr(resource.MustParse("500m"))},
	}}
	cpuCurrentWith := func(v autoscalingv2.MetricValueStatus) autoscalingv2.MetricStatus {
		return autoscalingv2.MetricStatus{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricStatus{Name: corev1.ResourceCPU, Current: v}}
	}
	tests := []struct {
		name string
		in   *autoscalingv2.HorizontalPodAutoscaler
	}{
		{"average value only", hpaV2([]autoscalingv2.MetricSpec{cpuValueTarget},
			[]autoscalingv2.MetricStatus{cpuCurrentWith(autoscalingv2.MetricValueStatus{AverageValue: ptr(resource.MustParse("420m"))})})},
		{"utilization and average value", hpaV2([]autoscalingv2.MetricSpec{cpuTarget(60)},
			[]autoscalingv2.MetricStatus{cpuCurrentWith(autoscalingv2.MetricValueStatus{AverageUtilization: ptr[int32](45), AverageValue: ptr(resource.MustParse("225m"))})})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v1, err := hpaToV1(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			back, err := hpaToV2(v1)
			if err != nil {
				t.Fatal(err)
			}
			if !equality.Semantic.DeepEqual(back.Spec.Metrics, tt.in.Spec.Metrics) {
				t.Errorf("spec metrics:\n%s", diff.Diff(tt.in.Spec.Metrics, back.Spec.Metrics))
			}
			if !equality.Semantic.DeepEqual(back.Status.CurrentMetrics, tt.in.Status.CurrentMetrics) {
				t.Errorf("current metrics:\n%s", diff.Diff(tt.in.Status.CurrentMetrics, back.Status.CurrentMetrics))
			}
		})
	}
}

func TestHPAV1ToV2(t *testing.T) {
	other, err := json.Marshal([]autoscalingv2.MetricSpec{memoryTarget()})
	if err != nil {
		t.Fatal(err)
	}
	v1 := &autoscalingv1.HorizontalPodAutoscaler{
		TypeMeta: metav1.TypeMeta{APIVersion: "autoscaling/v1", Kind: "HorizontalPodAutoscaler"},
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", Annotations: map[string]string{
			hpaMetricsAnnotation: string(other), "keep": "me",
		}},
		Spec: autoscalingv1.HorizontalPodAutoscalerSpec{
			ScaleTargetRef:                 autoscalingv1.CrossVersionObjectReference{Kind: "Deployment", Name: "web", APIVersion: "apps/v1"},
			MinReplicas:                    ptr[int32](1),
			MaxReplicas:                    5,
			TargetCPUUtilizationPercentage: ptr[int32](75),
		},
		Status: autoscalingv1.HorizontalPodAutoscalerStatus{CurrentReplicas: 2, DesiredReplicas: 3, CurrentCPUUtilizationPercentage: ptr[int32](90)},
	}
	before := v1.DeepCopy()
	stored, err := toStorage(mustResource(t, hpaV1GVR), v1)
	if err != nil {
		t.Fatal(err)
	}
	v2 := stored.(*autoscalingv2.HorizontalPodAutoscaler)
	if v2.APIVersion != "autoscaling/v2" || v2.Kind != "HorizontalPodAutoscaler" {
		t.Errorf("stored as %s %s", v2.APIVersion, v2.Kind)
	}
	wantMetrics := []autoscalingv2.MetricSpec{memoryTarget(), cpuTarget(75)}
	if !equality.Semantic.DeepEqual(v2.Spec.Metrics, wantMetrics) {
		t.Errorf("metrics:\n%s", diff.Diff(wantMetrics, v2.Spec.Metrics))
	}
	if len(v2.Status.CurrentMetrics) != 1 || *v2.Status.CurrentMetrics[0].Resource.Current.AverageUtilization != 90 {
		t.Errorf("current metrics = %+v", v2.Status.CurrentMetrics)
	}
	if !maps.Equal(v2.Annotations, map[string]string{"keep": "me"}) {
		t.Errorf("stored annotations = %v, want only the user's", v2.Annotations)
	}
	if !reflect.DeepEqual(before, v1) {
		t.Error("conversion modified its input")
	}

	// Without annotations left, the map goes away rather than staying empty.
	bare := v1.DeepCopy()
	bare.Annotations = map[string]string{hpaMetricsAnnotation: "[]"}
	out, err := hpaToV2(bare)
	if err != nil {
		t.Fatal(err)
	}
	if out.Annotations != nil {
		t.Errorf("annotations = %v, want nil", out.Annotations)
	}

	// v1 -> v2 -> v1 is the identity.
	view, err := hpaToV1(v2)
	if err != nil {
		t.Fatal(err)
	}
	if !equality.Semantic.DeepEqual(view.Spec, v1.Spec) || !equality.Semantic.DeepEqual(view.Status, v1.Status) {
		t.Errorf("v1 -> v2 -> v1:\n%s", diff.Diff(v1, view))
	}
	var got []autoscalingv2.MetricSpec
	if err := json.Unmarshal([]byte(view.Annotations[hpaMetricsAnnotation]), &got); err != nil || !equality.Semantic.DeepEqual(got, []autoscalingv2.MetricSpec{memoryTarget()}) {
		t.Errorf("metrics annotation = %s (%v)", view.Annotations[hpaMetricsAnnotation], err)
	}
}

func TestHPAV1ToV2BadAnnotations(t *testing.T) {
	tests := []struct {
		name    string
		ann     map[string]string
		wantErr bool
	}{
		{"metrics not JSON", map[string]string{hpaMetricsAnnotation: "{"}, true},
		{"metrics of the wrong shape", map[string]string{hpaMetricsAnnotation: `{"a":1}`}, true},
		{"behavior not JSON", map[string]string{hpaBehaviorAnnotation: "nope"}, true},
		// Status annotations are informational: garbage is dropped.
		{"conditions not JSON", map[string]string{hpaConditionsAnnotation: "nope"}, false},
		{"current metrics not JSON", map[string]string{hpaCurrentAnnotation: "nope"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v1 := &autoscalingv1.HorizontalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Name: "h", Annotations: tt.ann}}
			out, err := toStorage(mustResource(t, hpaV1GVR), v1)
			if (err != nil) != tt.wantErr {
				t.Fatalf("toStorage = %v, want error %v", err, tt.wantErr)
			}
			if err == nil && len(out.(*autoscalingv2.HorizontalPodAutoscaler).Annotations) != 0 {
				t.Errorf("alpha annotations kept in storage: %v", out.(*autoscalingv2.HorizontalPodAutoscaler).Annotations)
			}
		})
	}
}

func TestConvertUnknownTypes(t *testing.T) {
	pod := &corev1.Pod{}
	if _, err := toStorage(mustResource(t, eventsGVR), pod); err == nil {
		t.Error("toStorage of a Pod succeeded")
	}
	if _, err := fromStorage(mustResource(t, eventsGVR), pod); err == nil {
		t.Error("fromStorage of a Pod succeeded")
	}
}
