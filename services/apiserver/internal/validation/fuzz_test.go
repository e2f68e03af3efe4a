package validation

import (
	"encoding/json"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/randfill"
)

// Run a target with, for example:
//
//	go test -run='^$' -fuzz=FuzzValidatePod -fuzztime=20s -fuzzminimizetime=2s ./internal/validation/
//
// A short -fuzzminimizetime matters on a busy machine: minimising each new
// input may otherwise take the whole run.

// fuzzKind decodes two JSON documents into new and old objects of one kind
// and runs every entry point on them. Only panics fail: any error list is a
// fine answer to garbage.
func fuzzKind[T runtime.Object](f *testing.F, seeds ...runtime.Object) {
	for _, s := range seeds {
		b, err := json.Marshal(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, b)
		f.Add(b, []byte(`{}`))
	}
	f.Add([]byte(`{"metadata":{"name":""}}`), []byte(`null`))
	f.Fuzz(func(t *testing.T, data, oldData []byte) {
		if slowToDecode(data) || slowToDecode(oldData) {
			return
		}
		obj := newObject[T]()
		if json.Unmarshal(data, obj) != nil {
			return
		}
		old := newObject[T]()
		if json.Unmarshal(oldData, old) != nil {
			old = obj.DeepCopyObject().(T)
		}
		_ = Validate(obj)
		_ = ValidateUpdate(obj, old)
		_ = ValidateUpdate(old, obj)
		_ = ValidateStatusUpdate(obj, old)
		for _, e := range Validate(obj) {
			_ = e.Error() // printing values must not panic either
		}
	})
}

// hugeExponent matches quantities such as "1e-9999999", which apimachinery's
// Quantity takes seconds to decode. That cost is the decoder's, not
// validation's, and would leave the fuzzer stalled on one input.
var hugeExponent = regexp.MustCompile(`[eE][-+]?0*[0-9]{5,}`)

func slowToDecode(data []byte) bool { return hugeExponent.Match(data) }

// newObject allocates the struct a pointer type T points to.
func newObject[T runtime.Object]() T {
	return reflect.New(reflect.TypeFor[T]().Elem()).Interface().(T)
}

func FuzzValidatePod(f *testing.F) {
	full := validPod()
	full.Spec.Volumes = []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
	full.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "v", MountPath: "/v"}}
	full.Spec.Tolerations = []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpExists}}
	fuzzKind[*corev1.Pod](f, validPod(), full)
}

func FuzzValidateDeployment(f *testing.F) {
	fuzzKind[*appsv1.Deployment](f, validDeployment())
}

func FuzzValidateService(f *testing.F) {
	lb := validService()
	lb.Spec.Type = corev1.ServiceTypeLoadBalancer
	lb.Spec.ClusterIPs = []string{"10.0.0.1", "fd00::1"}
	fuzzKind[*corev1.Service](f, validService(), lb)
}

func FuzzValidateSecret(f *testing.F) {
	fuzzKind[*corev1.Secret](f, &corev1.Secret{ObjectMeta: nsMeta, Type: corev1.SecretTypeTLS,
		Data: map[string][]byte{"tls.crt": []byte("c")}, StringData: map[string]string{"tls.key": "k"}})
}

func FuzzValidateConfigMap(f *testing.F) {
	fuzzKind[*corev1.ConfigMap](f, &corev1.ConfigMap{ObjectMeta: nsMeta, Immutable: ptr(true), Data: map[string]string{"a": "b"}})
}

func FuzzValidateJob(f *testing.F) {
	fuzzKind[*batchv1.Job](f, validJob())
}

// FuzzValidateAnyKind reaches the kinds without a target of their own: the
// first byte picks the kind.
func FuzzValidateAnyKind(f *testing.F) {
	types := make([]reflect.Type, 0, len(kinds))
	for t := range kinds {
		types = append(types, t)
	}
	// Map order is random; sort for stable kind numbers across runs.
	slices.SortFunc(types, func(a, b reflect.Type) int { return strings.Compare(a.String(), b.String()) })
	for i := range types {
		f.Add(byte(i), []byte(`{"metadata":{"name":"a","namespace":"b","resourceVersion":"1"},"spec":{}}`))
	}
	f.Fuzz(func(t *testing.T, k byte, data []byte) {
		if slowToDecode(data) {
			return
		}
		typ := types[int(k)%len(types)]
		obj := reflect.New(typ.Elem()).Interface().(runtime.Object)
		if json.Unmarshal(data, obj) != nil {
			return
		}
		old := reflect.New(typ.Elem()).Interface().(runtime.Object)
		_ = Validate(obj)
		_ = ValidateUpdate(obj, old)
		_ = ValidateUpdate(old, obj)
		_ = ValidateUpdate(obj, obj.DeepCopyObject())
		_ = ValidateStatusUpdate(obj, old)
	})
}

// fuzzWords are strings that mean something to validation (enum values,
// addresses, label shapes), so random structs reach past the first check.
var fuzzWords = []string{
	"", "a", "app", "web", "default", "Always", "Never", "OnFailure", "IfNotPresent", "TCP", "UDP", "SCTP", "None",
	"ClusterIP", "NodePort", "LoadBalancer", "ExternalName", "ClientIP", "Cluster", "Local", "File", "NoSchedule",
	"NoExecute", "Exists", "Equal", "In", "NotIn", "Gt", "Lt", "RollingUpdate", "Recreate", "OnDelete", "Parallel",
	"OrderedReady", "Indexed", "NonIndexed", "Utilization", "AverageValue", "Resource", "Pods", "IPv4", "IPv6", "FQDN",
	"10.0.0.1", "fd00::1", "127.0.0.1", "10.0.0.0/8", "None", "*", "*.example.com", "example.com/x", "/", "/a/../b",
	"http", "25%", "150%", "0 * * * *", "@hourly", "v1", "apps/v1", "rbac.authorization.k8s.io", "Role", "ClusterRole",
	"ServiceAccount", "User", "kubernetes", "system-node-critical", "kubernetes.io/tls", "tls.crt", "cpu", "memory",
	"hugepages-2Mi", "example.com/gpu", "metadata.name", "metadata.labels['a']", "Exact", "Prefix", "Namespace",
}

// FuzzValidateFilled fills whole structs of a kind from the fuzz input, which
// reaches nested pointers and odd enum values that random JSON rarely does.
func FuzzValidateFilled(f *testing.F) {
	types := make([]reflect.Type, 0, len(kinds))
	for t := range kinds {
		types = append(types, t)
	}
	slices.SortFunc(types, func(a, b reflect.Type) int { return strings.Compare(a.String(), b.String()) })
	for i := range types {
		f.Add(byte(i), []byte{byte(i), 1, 2, 3, 4, 5, 6, 7, 8, 9})
	}
	f.Fuzz(func(t *testing.T, k byte, data []byte) {
		typ := types[int(k)%len(types)]
		filler := randfill.NewFromGoFuzz(data).NilChance(0.4).NumElements(0, 3).MaxDepth(14).Funcs(
			func(s *string, c randfill.Continue) {
				if c.Bool() {
					*s = fuzzWords[c.Intn(len(fuzzWords))]
				} else {
					*s = c.String(12)
				}
			},
			func(q *resource.Quantity, c randfill.Continue) {
				*q = *resource.NewMilliQuantity(c.Int63n(1<<40)-(1<<20), resource.DecimalSI)
			},
			func(v *intstr.IntOrString, c randfill.Continue) {
				v.Type = intstr.Type(c.Intn(3))
				v.IntVal = c.Int31n(70000) - 10
				c.Fill(&v.StrVal)
			},
			func(r *runtime.RawExtension, c randfill.Continue) {
				r.Raw = []byte(fuzzWords[c.Intn(len(fuzzWords))])
			},
		)
		obj := reflect.New(typ.Elem()).Interface().(runtime.Object)
		filler.Fill(obj)
		old := reflect.New(typ.Elem()).Interface().(runtime.Object)
		filler.Fill(old)
		_ = Validate(obj)
		_ = ValidateUpdate(obj, old)
		_ = ValidateUpdate(obj, obj.DeepCopyObject())
		_ = ValidateStatusUpdate(obj, old)
		for _, e := range Validate(obj) {
			_ = e.Error()
		}
	})
}
