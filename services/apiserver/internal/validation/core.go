package validation

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metavalidation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/diff"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Namespace

func validateNamespace(ns *corev1.Namespace) field.ErrorList {
	all := validateMeta(&ns.ObjectMeta, false, apivalidation.ValidateNamespaceName)
	for i, f := range ns.Spec.Finalizers {
		all = append(all, validateFinalizerName(string(f), specPath.Child("finalizers").Index(i))...)
	}
	return all
}

// validateFinalizerName also accepts the unprefixed "kubernetes" finalizer
// the namespace controller uses.
func validateFinalizerName(name string, fldPath *field.Path) field.ErrorList {
	all := apivalidation.ValidateFinalizerName(name, fldPath)
	standard := []string{string(corev1.FinalizerKubernetes), metav1.FinalizerOrphanDependents, metav1.FinalizerDeleteDependents}
	if !strings.Contains(name, "/") && !slices.Contains(standard, name) {
		all = append(all, field.Invalid(fldPath, name, "name is neither a standard finalizer name nor is it fully qualified"))
	}
	return all
}

func validateNamespaceUpdate(ns, old *corev1.Namespace) field.ErrorList {
	return validateMetaUpdate(&ns.ObjectMeta, &old.ObjectMeta)
}

func validateNamespaceStatusUpdate(ns, old *corev1.Namespace) field.ErrorList {
	all := validateMetaUpdate(&ns.ObjectMeta, &old.ObjectMeta)
	// Kubernetes capitalises "Phase" in this path.
	p := statusPath.Child("Phase")
	if ns.DeletionTimestamp.IsZero() {
		if ns.Status.Phase != corev1.NamespaceActive {
			all = append(all, field.Invalid(p, ns.Status.Phase, "may only be 'Active' if `deletionTimestamp` is empty"))
		}
	} else if ns.Status.Phase != corev1.NamespaceTerminating {
		all = append(all, field.Invalid(p, ns.Status.Phase, "may only be 'Terminating' if `deletionTimestamp` is not empty"))
	}
	return all
}

// Secret and ConfigMap

// secretData merges stringData over data, as conversion to the internal
// type does before Kubernetes validates a Secret.
func secretData(s *corev1.Secret) map[string][]byte {
	if len(s.StringData) == 0 {
		return s.Data
	}
	data := maps.Clone(s.Data)
	if data == nil {
		data = map[string][]byte{}
	}
	for k, v := range s.StringData {
		data[k] = []byte(v)
	}
	return data
}

func validateSecret(s *corev1.Secret) field.ErrorList {
	all := validateMeta(&s.ObjectMeta, true, apivalidation.NameIsDNSSubdomain)
	dataPath := field.NewPath("data")
	data := secretData(s)
	size := 0
	for _, k := range sortedKeys(data) {
		all = append(all, errs(dataPath.Key(k), k, validation.IsConfigMapKey(k))...)
		size += len(data[k])
	}
	if size > corev1.MaxSecretSize {
		all = append(all, field.TooLong(dataPath, "", corev1.MaxSecretSize))
	}
	// Typed secrets promise consumers certain keys.
	switch s.Type {
	case corev1.SecretTypeServiceAccountToken:
		// The token itself is added later by a controller.
		if s.Annotations[corev1.ServiceAccountNameKey] == "" {
			all = append(all, field.Required(metaPath.Child("annotations").Key(corev1.ServiceAccountNameKey), ""))
		}
	case corev1.SecretTypeDockercfg:
		all = append(all, validateJSONKey(data, corev1.DockerConfigKey, dataPath)...)
	case corev1.SecretTypeDockerConfigJson:
		all = append(all, validateJSONKey(data, corev1.DockerConfigJsonKey, dataPath)...)
	case corev1.SecretTypeBasicAuth:
		// Either may be empty, but one must be there.
		_, hasUser := data[corev1.BasicAuthUsernameKey]
		_, hasPassword := data[corev1.BasicAuthPasswordKey]
		if !hasUser && !hasPassword {
			all = append(all, field.Required(dataPath.Key(corev1.BasicAuthUsernameKey), ""),
				field.Required(dataPath.Key(corev1.BasicAuthPasswordKey), ""))
		}
	case corev1.SecretTypeSSHAuth:
		if len(data[corev1.SSHAuthPrivateKey]) == 0 {
			all = append(all, field.Required(dataPath.Key(corev1.SSHAuthPrivateKey), ""))
		}
	case corev1.SecretTypeTLS:
		for _, k := range []string{corev1.TLSCertKey, corev1.TLSPrivateKeyKey} {
			if _, ok := data[k]; !ok {
				all = append(all, field.Required(dataPath.Key(k), ""))
			}
		}
	}
	return all
}

func validateJSONKey(data map[string][]byte, key string, dataPath *field.Path) field.ErrorList {
	raw, ok := data[key]
	if !ok {
		return field.ErrorList{field.Required(dataPath.Key(key), "")}
	}
	if err := json.Unmarshal(raw, &map[string]any{}); err != nil {
		return field.ErrorList{field.Invalid(dataPath.Key(key), "<secret contents redacted>", err.Error())}
	}
	return nil
}

func validateSecretUpdate(s, old *corev1.Secret) field.ErrorList {
	all := validateMetaUpdate(&s.ObjectMeta, &old.ObjectMeta)
	all = append(all, validateImmutable(s.Type, old.Type, field.NewPath("type"))...)
	if old.Immutable != nil && *old.Immutable {
		if s.Immutable == nil || !*s.Immutable {
			all = append(all, field.Forbidden(field.NewPath("immutable"), "field is immutable when `immutable` is set"))
		}
		if !reflect.DeepEqual(secretData(s), secretData(old)) {
			all = append(all, field.Forbidden(field.NewPath("data"), "field is immutable when `immutable` is set"))
		}
	}
	return append(all, validateSecret(s)...)
}

func validateConfigMap(cm *corev1.ConfigMap) field.ErrorList {
	all := validateMeta(&cm.ObjectMeta, true, apivalidation.NameIsDNSSubdomain)
	size := 0
	for _, k := range sortedKeys(cm.Data) {
		p := field.NewPath("data").Key(k)
		all = append(all, errs(p, k, validation.IsConfigMapKey(k))...)
		if _, dup := cm.BinaryData[k]; dup {
			all = append(all, field.Invalid(p, k, "duplicate of key present in binaryData"))
		}
		size += len(cm.Data[k])
	}
	for _, k := range sortedKeys(cm.BinaryData) {
		all = append(all, errs(field.NewPath("binaryData").Key(k), k, validation.IsConfigMapKey(k))...)
		size += len(cm.BinaryData[k])
	}
	if size > corev1.MaxSecretSize {
		// The empty path stands for the whole object, as in Kubernetes.
		all = append(all, field.TooLong(field.NewPath(""), "", corev1.MaxSecretSize))
	}
	return all
}

func validateConfigMapUpdate(cm, old *corev1.ConfigMap) field.ErrorList {
	all := validateMetaUpdate(&cm.ObjectMeta, &old.ObjectMeta)
	if old.Immutable != nil && *old.Immutable {
		if cm.Immutable == nil || !*cm.Immutable {
			all = append(all, field.Forbidden(field.NewPath("immutable"), "field is immutable when `immutable` is set"))
		}
		if !reflect.DeepEqual(cm.Data, old.Data) {
			all = append(all, field.Forbidden(field.NewPath("data"), "field is immutable when `immutable` is set"))
		}
		if !reflect.DeepEqual(cm.BinaryData, old.BinaryData) {
			all = append(all, field.Forbidden(field.NewPath("binaryData"), "field is immutable when `immutable` is set"))
		}
	}
	return append(all, validateConfigMap(cm)...)
}

// ServiceAccount

func validateServiceAccount(sa *corev1.ServiceAccount) field.ErrorList {
	return validateMeta(&sa.ObjectMeta, true, apivalidation.ValidateServiceAccountName)
}

func validateServiceAccountUpdate(sa, old *corev1.ServiceAccount) field.ErrorList {
	return append(validateMetaUpdate(&sa.ObjectMeta, &old.ObjectMeta), validateServiceAccount(sa)...)
}

// Event

// Limits on event fields from Kubernetes' events validation.
const (
	reportingInstanceLengthLimit = 128
	actionLengthLimit            = 128
	reasonLengthLimit            = 128
	noteLengthLimit              = 1024
)

// validateEvent applies the light rules core/v1 events get: kube-apiserver
// checks no name format for them, only that the namespace fits the involved
// object and, for events with an eventTime, the reporting fields.
func validateEvent(ev *corev1.Event) field.ErrorList {
	all := validateMeta(&ev.ObjectMeta, true, func(string, bool) []string { return nil })
	involvedNS := field.NewPath("involvedObject", "namespace")
	if ev.EventTime.IsZero() {
		if ev.InvolvedObject.Namespace == "" {
			if ev.Namespace != metav1.NamespaceNone && ev.Namespace != metav1.NamespaceDefault {
				all = append(all, field.Invalid(involvedNS, ev.InvolvedObject.Namespace, "does not match event.namespace"))
			}
		} else if ev.Namespace != ev.InvolvedObject.Namespace {
			all = append(all, field.Invalid(involvedNS, ev.InvolvedObject.Namespace, "does not match event.namespace"))
		}
		return all
	}
	if ev.InvolvedObject.Namespace == "" && ev.Namespace != metav1.NamespaceDefault && ev.Namespace != metav1.NamespaceSystem {
		all = append(all, field.Invalid(involvedNS, ev.InvolvedObject.Namespace, "does not match event.namespace"))
	}
	// The v1 field is reportingComponent; Kubernetes names it so in errors.
	rc := field.NewPath("reportingComponent")
	if ev.ReportingController == "" {
		all = append(all, field.Required(rc, ""))
	}
	all = append(all, validateQualifiedName(ev.ReportingController, rc)...)
	for _, f := range []struct {
		name     string
		value    string
		limit    int
		required bool
	}{
		{"reportingInstance", ev.ReportingInstance, reportingInstanceLengthLimit, true},
		{"action", ev.Action, actionLengthLimit, true},
		{"reason", ev.Reason, reasonLengthLimit, true},
		{"message", ev.Message, noteLengthLimit, false},
	} {
		if f.required && f.value == "" {
			all = append(all, field.Required(field.NewPath(f.name), ""))
		}
		if len(f.value) > f.limit {
			all = append(all, field.Invalid(field.NewPath(f.name), "", fmt.Sprintf("can have at most %v characters", f.limit)))
		}
	}
	return all
}

func validateEventUpdate(ev, old *corev1.Event) field.ErrorList {
	return append(validateMetaUpdate(&ev.ObjectMeta, &old.ObjectMeta), validateEvent(ev)...)
}

// Endpoints

func validateEndpoints(ep *corev1.Endpoints) field.ErrorList {
	all := validateMeta(&ep.ObjectMeta, true, apivalidation.NameIsDNSSubdomain)
	return append(all, validateEndpointSubsets(ep.Subsets, field.NewPath("subsets"))...)
}

func validateEndpointsUpdate(ep, old *corev1.Endpoints) field.ErrorList {
	all := validateMetaUpdate(&ep.ObjectMeta, &old.ObjectMeta)
	all = append(all, validateMeta(&ep.ObjectMeta, true, apivalidation.NameIsDNSSubdomain)...)
	// Subsets stored under older rules stay acceptable while unchanged.
	if subsets := validateEndpointSubsets(ep.Subsets, field.NewPath("subsets")); len(subsets) > 0 &&
		!apiequality.Semantic.DeepEqual(ep.Subsets, old.Subsets) {
		all = append(all, subsets...)
	}
	return all
}

func validateEndpointSubsets(subsets []corev1.EndpointSubset, fldPath *field.Path) field.ErrorList {
	var all field.ErrorList
	for i := range subsets {
		ss := &subsets[i]
		p := fldPath.Index(i)
		if len(ss.Addresses) == 0 && len(ss.NotReadyAddresses) == 0 {
			all = append(all, field.Required(p, "must specify `addresses` or `notReadyAddresses`"))
		}
		for j := range ss.Addresses {
			all = append(all, validateEndpointAddress(&ss.Addresses[j], p.Child("addresses").Index(j))...)
		}
		for j := range ss.NotReadyAddresses {
			all = append(all, validateEndpointAddress(&ss.NotReadyAddresses[j], p.Child("notReadyAddresses").Index(j))...)
		}
		for j, port := range ss.Ports {
			pp := p.Child("ports").Index(j)
			if len(ss.Ports) > 1 && port.Name == "" {
				all = append(all, field.Required(pp.Child("name"), ""))
			} else if port.Name != "" {
				all = append(all, validateDNS1123Label(port.Name, pp.Child("name"))...)
			}
			all = append(all, errs(pp.Child("port"), port.Port, validation.IsValidPortNum(int(port.Port)))...)
			all = append(all, validateProtocol(port.Protocol, pp.Child("protocol"))...)
			if port.AppProtocol != nil {
				all = append(all, validateQualifiedName(*port.AppProtocol, pp.Child("appProtocol"))...)
			}
		}
	}
	return all
}

func validateEndpointAddress(a *corev1.EndpointAddress, fldPath *field.Path) field.ErrorList {
	all := validateIP(a.IP, fldPath.Child("ip"), nil)
	if a.Hostname != "" {
		all = append(all, validateDNS1123Label(a.Hostname, fldPath.Child("hostname"))...)
	}
	if a.NodeName != nil {
		all = append(all, errs(fldPath.Child("nodeName"), *a.NodeName, apivalidation.NameIsDNSSubdomain(*a.NodeName, false))...)
	}
	if len(all) == 0 {
		all = append(all, validateEndpointIP(a.IP, fldPath.Child("ip"))...)
	}
	return all
}

// Node

func validateNode(node *corev1.Node) field.ErrorList {
	all := validateMeta(&node.ObjectMeta, false, apivalidation.NameIsDNSSubdomain)
	all = append(all, validateNodeSpec(node)...)
	return append(all, validateNodeResources(node)...)
}

// nodePodCIDRs reads the CIDRs the way conversion does: podCIDRs wins, a
// lone podCIDR fills it.
func nodePodCIDRs(node *corev1.Node) []string {
	if len(node.Spec.PodCIDRs) > 0 {
		return node.Spec.PodCIDRs
	}
	if node.Spec.PodCIDR != "" {
		return []string{node.Spec.PodCIDR}
	}
	return nil
}

func validateNodeSpec(node *corev1.Node) field.ErrorList {
	// Kubernetes reports taints under metadata, a historical quirk kept
	// for identical messages.
	all := validateTaints(node.Spec.Taints, metaPath.Child("taints"))
	cidrs := nodePodCIDRs(node)
	p := specPath.Child("podCIDRs")
	for i, c := range cidrs {
		all = append(all, validateCIDR(c, p.Index(i), nil)...)
	}
	if node.Spec.PodCIDR != "" && len(node.Spec.PodCIDRs) > 0 && node.Spec.PodCIDR != node.Spec.PodCIDRs[0] {
		all = append(all, field.Invalid(specPath.Child("podCIDR"), node.Spec.PodCIDR, "must match the first entry of `podCIDRs`"))
	}
	if len(cidrs) > 1 && !isDualStack(cidrs, isIPv6CIDR) {
		all = append(all, field.Invalid(p, cidrs, "may specify no more than one CIDR for each IP family"))
	}
	return all
}

func validateTaints(taints []corev1.Taint, fldPath *field.Path) field.ErrorList {
	var all field.ErrorList
	seen := map[corev1.TaintEffect]map[string]bool{}
	for i, t := range taints {
		p := fldPath.Index(i)
		all = append(all, metavalidation.ValidateLabelName(t.Key, p.Child("key"))...)
		if msgs := validation.IsValidLabelValue(t.Value); len(msgs) != 0 {
			all = append(all, field.Invalid(p.Child("value"), t.Value, strings.Join(msgs, ";")))
		}
		all = append(all, validateTaintEffect(t.Effect, p.Child("effect"))...)
		if seen[t.Effect][t.Key] {
			dup := field.Duplicate(p, t)
			dup.Detail = "taints must be unique by key and effect pair"
			all = append(all, dup)
			continue
		}
		if seen[t.Effect] == nil {
			seen[t.Effect] = map[string]bool{}
		}
		seen[t.Effect][t.Key] = true
	}
	return all
}

func validateNodeResources(node *corev1.Node) field.ErrorList {
	var all field.ErrorList
	for _, k := range sortedKeys(node.Status.Capacity) {
		all = append(all, validateResourceQuantity(k, node.Status.Capacity[k], statusPath.Child("capacity", string(k)))...)
	}
	for _, k := range sortedKeys(node.Status.Allocatable) {
		all = append(all, validateResourceQuantity(k, node.Status.Allocatable[k], statusPath.Child("allocatable", string(k)))...)
	}
	return all
}

func validateNodeUpdate(node, old *corev1.Node) field.ErrorList {
	all := validateMetaUpdate(&node.ObjectMeta, &old.ObjectMeta)
	all = append(all, validateNodeSpec(node)...)
	all = append(all, validateNodeStatus(node)...)
	// The controller manager may assign CIDRs once; after that they stay.
	if oldCIDRs := nodePodCIDRs(old); len(oldCIDRs) > 0 && !slices.Equal(oldCIDRs, nodePodCIDRs(node)) {
		all = append(all, field.Forbidden(specPath.Child("podCIDRs"), "node updates may not change podCIDR except from \"\" to valid"))
	}
	if old.Spec.ProviderID != "" {
		if node.Spec.ProviderID == "" {
			all = append(all, field.Invalid(specPath.Child("providerID"), nil, "field cannot be cleared once set"))
		} else if node.Spec.ProviderID != old.Spec.ProviderID {
			all = append(all, field.Invalid(specPath.Child("providerID"), nil, "field cannot be modified once set"))
		}
	}
	if node.Spec.DoNotUseExternalID != old.Spec.DoNotUseExternalID {
		all = append(all, field.Forbidden(specPath.Child("externalID"), "may not be updated"))
	}
	return all
}

func validateNodeStatus(node *corev1.Node) field.ErrorList {
	all := validateNodeResources(node)
	seen := map[corev1.NodeAddress]bool{}
	for i, a := range node.Status.Addresses {
		if seen[a] {
			all = append(all, field.Duplicate(statusPath.Child("addresses").Index(i), a))
		}
		seen[a] = true
	}
	return all
}

// validateNodeStatusUpdate is the node update minus spec changes, which the
// status subresource ignores.
func validateNodeStatusUpdate(node, old *corev1.Node) field.ErrorList {
	return append(validateMetaUpdate(&node.ObjectMeta, &old.ObjectMeta), validateNodeStatus(node)...)
}

// Binding

// validateBinding checks a pod binding as the pods/binding subresource does:
// only its target.
func validateBinding(b *corev1.Binding) field.ErrorList {
	var all field.ErrorList
	if b.Target.Kind != "" && b.Target.Kind != "Node" {
		all = append(all, field.NotSupported(field.NewPath("target", "kind"), b.Target.Kind, []string{"Node", "<empty>"}))
	}
	if b.Target.Name == "" {
		all = append(all, field.Required(field.NewPath("target", "name"), ""))
	} else if b.Target.Kind == "" || b.Target.Kind == "Node" {
		all = append(all, errs(field.NewPath("target", "name"), b.Target.Name, apivalidation.NameIsDNSSubdomain(b.Target.Name, false))...)
	}
	return all
}

func validateBindingUpdate(b, _ *corev1.Binding) field.ErrorList {
	return validateBinding(b)
}

// PersistentVolume

var (
	supportedAccessModes = []corev1.PersistentVolumeAccessMode{
		corev1.ReadOnlyMany, corev1.ReadWriteMany, corev1.ReadWriteOnce, corev1.ReadWriteOncePod,
	}
	supportedVolumeModes = []corev1.PersistentVolumeMode{corev1.PersistentVolumeBlock, corev1.PersistentVolumeFilesystem}
	// persistentVolumeSourceFields is volumeSourceFields for PVs.
	persistentVolumeSourceFields = func() []string {
		t := reflect.TypeFor[corev1.PersistentVolumeSource]()
		names := make([]string, t.NumField())
		for i := range names {
			names[i], _, _ = strings.Cut(t.Field(i).Tag.Get("json"), ",")
		}
		return names
	}()
)

func validateAccessModes(modes []corev1.PersistentVolumeAccessMode, fldPath *field.Path) field.ErrorList {
	var all field.ErrorList
	rwop, other := false, false
	for _, m := range modes {
		if !slices.Contains(supportedAccessModes, m) {
			all = append(all, field.NotSupported(fldPath, m, supportedAccessModes))
			continue
		}
		if m == corev1.ReadWriteOncePod {
			rwop = true
		} else {
			other = true
		}
	}
	// ReadWriteOncePod means exactly one pod; any other mode contradicts it.
	if rwop && other {
		all = append(all, field.Forbidden(fldPath, "may not use ReadWriteOncePod with other access modes"))
	}
	return all
}

func validatePersistentVolume(pv *corev1.PersistentVolume) field.ErrorList {
	all := validateMeta(&pv.ObjectMeta, false, apivalidation.NameIsDNSSubdomain)
	spec := &pv.Spec
	if len(spec.AccessModes) == 0 {
		all = append(all, field.Required(specPath.Child("accessModes"), ""))
	}
	all = append(all, validateAccessModes(spec.AccessModes, specPath.Child("accessModes"))...)
	capPath := specPath.Child("capacity")
	if len(spec.Capacity) == 0 {
		all = append(all, field.Required(capPath, ""))
	}
	if _, ok := spec.Capacity[corev1.ResourceStorage]; !ok || len(spec.Capacity) > 1 {
		all = append(all, field.NotSupported(capPath, spec.Capacity, []corev1.ResourceName{corev1.ResourceStorage}))
	}
	for _, r := range sortedKeys(spec.Capacity) {
		all = append(all, validatePositiveQuantity(spec.Capacity[r], capPath.Key(string(r)))...)
	}
	if p := spec.PersistentVolumeReclaimPolicy; p != "" {
		all = append(all, validateEnum(p, specPath.Child("persistentVolumeReclaimPolicy"),
			corev1.PersistentVolumeReclaimDelete, corev1.PersistentVolumeReclaimRecycle, corev1.PersistentVolumeReclaimRetain)...)
	}
	if na := spec.NodeAffinity; na != nil {
		if na.Required == nil {
			all = append(all, field.Required(specPath.Child("nodeAffinity", "required"), "must specify required node constraints"))
		} else {
			all = append(all, validateNodeSelector(na.Required, specPath.Child("nodeAffinity", "required"))...)
		}
	}
	src := reflect.ValueOf(&spec.PersistentVolumeSource).Elem()
	n := 0
	for i, name := range persistentVolumeSourceFields {
		if src.Field(i).IsNil() {
			continue
		}
		if n > 0 {
			all = append(all, field.Forbidden(specPath.Child(name), "may not specify more than 1 volume type"))
		}
		n++
	}
	if n == 0 {
		all = append(all, field.Required(specPath, "must specify a volume type"))
	}
	if spec.HostPath != nil {
		if spec.HostPath.Path == "" {
			all = append(all, field.Required(specPath.Child("hostPath", "path"), ""))
		} else {
			all = append(all, validatePathNoBacksteps(spec.HostPath.Path, specPath.Child("hostPath", "path"))...)
		}
	}
	if spec.Local != nil && spec.Local.Path == "" {
		all = append(all, field.Required(specPath.Child("local", "path"), ""))
	}
	if spec.CSI != nil {
		if spec.CSI.Driver == "" {
			all = append(all, field.Required(specPath.Child("csi", "driver"), ""))
		}
		if spec.CSI.VolumeHandle == "" {
			all = append(all, field.Required(specPath.Child("csi", "volumeHandle"), ""))
		}
	}
	if spec.StorageClassName != "" {
		all = append(all, errs(specPath.Child("storageClassName"), spec.StorageClassName, apivalidation.NameIsDNSSubdomain(spec.StorageClassName, false))...)
	}
	if m := spec.VolumeMode; m != nil && !slices.Contains(supportedVolumeModes, *m) {
		all = append(all, field.NotSupported(specPath.Child("volumeMode"), *m, supportedVolumeModes))
	}
	return all
}

func validatePersistentVolumeUpdate(pv, old *corev1.PersistentVolume) field.ErrorList {
	all := validateMetaUpdate(&pv.ObjectMeta, &old.ObjectMeta)
	all = append(all, validatePersistentVolume(pv)...)
	src, oldSrc := pv.Spec.PersistentVolumeSource, old.Spec.PersistentVolumeSource
	// A CSI volume may gain an expansion secret later.
	if src.CSI != nil && oldSrc.CSI != nil && oldSrc.CSI.ControllerExpandSecretRef == nil {
		csi := *src.CSI
		csi.ControllerExpandSecretRef = nil
		src.CSI = &csi
	}
	if !apiequality.Semantic.DeepEqual(src, oldSrc) {
		all = append(all, field.Forbidden(specPath.Child("persistentvolumesource"),
			fmt.Sprintf("spec.persistentvolumesource is immutable after creation\n%v", diff.Diff(oldSrc, src))))
	}
	// Kubernetes reports this one without the spec prefix.
	return append(all, validateImmutable(pv.Spec.VolumeMode, old.Spec.VolumeMode, field.NewPath("volumeMode"))...)
}

func validatePersistentVolumeStatusUpdate(pv, old *corev1.PersistentVolume) field.ErrorList {
	all := validateMetaUpdate(&pv.ObjectMeta, &old.ObjectMeta)
	if p := pv.Status.Phase; p != "" {
		all = append(all, validateEnum(p, statusPath.Child("phase"), corev1.VolumePending, corev1.VolumeAvailable,
			corev1.VolumeBound, corev1.VolumeReleased, corev1.VolumeFailed)...)
	}
	return all
}

// PersistentVolumeClaim

func validatePersistentVolumeClaim(pvc *corev1.PersistentVolumeClaim) field.ErrorList {
	all := validateMeta(&pvc.ObjectMeta, true, apivalidation.NameIsDNSSubdomain)
	return append(all, validatePersistentVolumeClaimSpec(&pvc.Spec, specPath)...)
}

func validatePersistentVolumeClaimSpec(spec *corev1.PersistentVolumeClaimSpec, fldPath *field.Path) field.ErrorList {
	var all field.ErrorList
	if len(spec.AccessModes) == 0 {
		all = append(all, field.Required(fldPath.Child("accessModes"), "at least 1 access mode is required"))
	}
	all = append(all, metavalidation.ValidateLabelSelector(spec.Selector, metavalidation.LabelSelectorValidationOptions{}, fldPath.Child("selector"))...)
	all = append(all, validateAccessModes(spec.AccessModes, fldPath.Child("accessModes"))...)
	// Kubernetes reports the storage request at resources[storage].
	storagePath := fldPath.Child("resources").Key(string(corev1.ResourceStorage))
	if q, ok := spec.Resources.Requests[corev1.ResourceStorage]; !ok {
		all = append(all, field.Required(storagePath, ""))
	} else {
		all = append(all, validatePositiveQuantity(q, storagePath)...)
	}
	if sc := spec.StorageClassName; sc != nil && *sc != "" {
		all = append(all, errs(fldPath.Child("storageClassName"), *sc, apivalidation.NameIsDNSSubdomain(*sc, false))...)
	}
	if m := spec.VolumeMode; m != nil && !slices.Contains(supportedVolumeModes, *m) {
		all = append(all, field.NotSupported(fldPath.Child("volumeMode"), *m, supportedVolumeModes))
	}
	if ds := spec.DataSource; ds != nil {
		if ds.Name == "" {
			all = append(all, field.Required(fldPath.Child("dataSource", "name"), ""))
		}
		if ds.Kind == "" {
			all = append(all, field.Required(fldPath.Child("dataSource", "kind"), ""))
		}
	}
	if ref := spec.DataSourceRef; ref != nil {
		if ref.Name == "" {
			all = append(all, field.Required(fldPath.Child("dataSourceRef", "name"), ""))
		}
		if ref.Kind == "" {
			all = append(all, field.Required(fldPath.Child("dataSourceRef", "kind"), ""))
		}
	}
	return all
}

func validatePersistentVolumeClaimUpdate(pvc, old *corev1.PersistentVolumeClaim) field.ErrorList {
	all := validateMetaUpdate(&pvc.ObjectMeta, &old.ObjectMeta)
	all = append(all, validatePersistentVolumeClaim(pvc)...)
	spec, oldSpec := pvc.Spec.DeepCopy(), old.Spec.DeepCopy()
	// The binder sets volumeName once.
	if oldSpec.VolumeName == "" {
		oldSpec.VolumeName = spec.VolumeName
	}
	// A bound claim may grow and change attributes class.
	if pvc.Status.Phase == corev1.ClaimBound {
		if spec.Resources.Requests != nil {
			if q, ok := oldSpec.Resources.Requests[corev1.ResourceStorage]; ok {
				spec.Resources.Requests[corev1.ResourceStorage] = q
			} else {
				delete(spec.Resources.Requests, corev1.ResourceStorage)
			}
		}
		spec.VolumeAttributesClassName = oldSpec.VolumeAttributesClassName
	}
	if !apiequality.Semantic.DeepEqual(spec, oldSpec) {
		all = append(all, field.Forbidden(specPath, fmt.Sprintf(
			"spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims\n%v", diff.Diff(oldSpec, spec))))
	}
	newSize, oldSize := pvc.Spec.Resources.Requests[corev1.ResourceStorage], old.Spec.Resources.Requests[corev1.ResourceStorage]
	// Shrinking is allowed back down to what was actually provisioned, to
	// recover from a failed expansion.
	if newSize.Cmp(oldSize) < 0 {
		if statusSize := old.Status.Capacity[corev1.ResourceStorage]; newSize.Cmp(statusSize) <= 0 {
			all = append(all, field.Forbidden(specPath.Child("resources", "requests", "storage"), "field can not be less than status.capacity"))
		}
	}
	return append(all, validateImmutable(pvc.Spec.VolumeMode, old.Spec.VolumeMode, field.NewPath("volumeMode"))...)
}

func validatePersistentVolumeClaimStatusUpdate(pvc, old *corev1.PersistentVolumeClaim) field.ErrorList {
	all := validateMetaUpdate(&pvc.ObjectMeta, &old.ObjectMeta)
	if len(pvc.Spec.AccessModes) == 0 {
		all = append(all, field.Required(field.NewPath("Spec", "accessModes"), "no accessModes specified"))
	}
	for _, r := range sortedKeys(pvc.Status.Capacity) {
		all = append(all, validateNonnegativeQuantity(pvc.Status.Capacity[r], statusPath.Child("capacity").Key(string(r)))...)
	}
	return all
}

// ReplicationController

func validateReplicationController(rc *corev1.ReplicationController) field.ErrorList {
	all := validateMeta(&rc.ObjectMeta, true, apivalidation.NameIsDNSSubdomain)
	return append(all, validateReplicationControllerSpec(&rc.Spec)...)
}

func validateReplicationControllerSpec(spec *corev1.ReplicationControllerSpec) field.ErrorList {
	all := validateNonnegative(int64(spec.MinReadySeconds), specPath.Child("minReadySeconds"))
	selector := labels.Set(spec.Selector).AsSelector()
	if selector.Empty() {
		all = append(all, field.Required(specPath.Child("selector"), ""))
	}
	all = append(all, metavalidation.ValidateLabels(spec.Selector, specPath.Child("selector"))...)
	if spec.Replicas == nil {
		all = append(all, field.Required(specPath.Child("replicas"), ""))
	} else {
		all = append(all, validateNonnegative(int64(*spec.Replicas), specPath.Child("replicas"))...)
	}
	tp := specPath.Child("template")
	if spec.Template == nil {
		return append(all, field.Required(tp, ""))
	}
	if !selector.Empty() && !selector.Matches(labels.Set(spec.Template.Labels)) {
		all = append(all, field.Invalid(tp.Child("metadata", "labels"), spec.Template.Labels, "`selector` does not match template `labels`"))
	}
	return append(all, validateAlwaysRestartingTemplate(spec.Template, "ReplicationController", tp)...)
}

// validateAlwaysRestartingTemplate checks the template of a controller that
// keeps pods running: they must restart always and never time out.
func validateAlwaysRestartingTemplate(t *corev1.PodTemplateSpec, kind string, fldPath *field.Path) field.ErrorList {
	all := validatePodTemplateSpec(t, fldPath)
	if t.Spec.RestartPolicy != corev1.RestartPolicyAlways {
		all = append(all, field.NotSupported(fldPath.Child("spec", "restartPolicy"), t.Spec.RestartPolicy, []string{string(corev1.RestartPolicyAlways)}))
	}
	if t.Spec.ActiveDeadlineSeconds != nil {
		all = append(all, field.Forbidden(fldPath.Child("spec", "activeDeadlineSeconds"), fmt.Sprintf("activeDeadlineSeconds in %s is not Supported", kind)))
	}
	return all
}

func validateReplicationControllerUpdate(rc, old *corev1.ReplicationController) field.ErrorList {
	return append(validateMetaUpdate(&rc.ObjectMeta, &old.ObjectMeta), validateReplicationControllerSpec(&rc.Spec)...)
}

func validateReplicationControllerStatusUpdate(rc, old *corev1.ReplicationController) field.ErrorList {
	all := validateMetaUpdate(&rc.ObjectMeta, &old.ObjectMeta)
	s := rc.Status
	all = append(all, validateCounters(
		counter{"replicas", int64(s.Replicas)}, counter{"fullyLabeledReplicas", int64(s.FullyLabeledReplicas)},
		counter{"readyReplicas", int64(s.ReadyReplicas)}, counter{"availableReplicas", int64(s.AvailableReplicas)},
		counter{"observedGeneration", s.ObservedGeneration})...)
	all = append(all, validateAtMostReplicas(s.Replicas, counter{"fullyLabeledReplicas", int64(s.FullyLabeledReplicas)},
		counter{"readyReplicas", int64(s.ReadyReplicas)}, counter{"availableReplicas", int64(s.AvailableReplicas)})...)
	return append(all, validateAvailableAtMostReady(s.AvailableReplicas, s.ReadyReplicas, "readyReplicas")...)
}

// counter is one numeric status field, named as in its JSON path.
type counter struct {
	name  string
	value int64
}

// validateCounters requires status counters to be non-negative.
func validateCounters(counters ...counter) field.ErrorList {
	var all field.ErrorList
	for _, c := range counters {
		all = append(all, validateNonnegative(c.value, statusPath.Child(c.name))...)
	}
	return all
}

// validateAtMostReplicas: no subset of the replicas can outnumber them.
func validateAtMostReplicas(replicas int32, counters ...counter) field.ErrorList {
	var all field.ErrorList
	for _, c := range counters {
		if c.value > int64(replicas) {
			all = append(all, field.Invalid(statusPath.Child(c.name), c.value, "cannot be greater than status.replicas"))
		}
	}
	return all
}

// validateAvailableAtMostReady: available pods are ready pods that stayed
// ready for minReadySeconds. Kubernetes words the bound differently per kind.
func validateAvailableAtMostReady(available, ready int32, readyName string) field.ErrorList {
	if available > ready {
		return field.ErrorList{field.Invalid(statusPath.Child("availableReplicas"), available, "cannot be greater than "+readyName)}
	}
	return nil
}

// ResourceQuota

func validateResourceQuota(q *corev1.ResourceQuota) field.ErrorList {
	all := validateMeta(&q.ObjectMeta, true, apivalidation.NameIsDNSSubdomain)
	all = append(all, validateResourceQuotaSpec(&q.Spec)...)
	return append(all, validateQuotaList(q.Status.Hard, statusPath.Child("hard"))...)
}

func validateQuotaList(list corev1.ResourceList, fldPath *field.Path) field.ErrorList {
	var all field.ErrorList
	for _, k := range sortedKeys(list) {
		p := fldPath.Key(string(k))
		all = append(all, validateQuotaResourceName(k, p)...)
		all = append(all, validateResourceQuantity(k, list[k], p)...)
	}
	return all
}

var (
	standardQuotaScopes = []corev1.ResourceQuotaScope{
		corev1.ResourceQuotaScopeTerminating, corev1.ResourceQuotaScopeNotTerminating,
		corev1.ResourceQuotaScopeBestEffort, corev1.ResourceQuotaScopeNotBestEffort,
		corev1.ResourceQuotaScopePriorityClass, corev1.ResourceQuotaScopeCrossNamespacePodAffinity,
		corev1.ResourceQuotaScopeVolumeAttributesClass,
	}
	conflictingQuotaScopes = [][2]corev1.ResourceQuotaScope{
		{corev1.ResourceQuotaScopeBestEffort, corev1.ResourceQuotaScopeNotBestEffort},
		{corev1.ResourceQuotaScopeTerminating, corev1.ResourceQuotaScopeNotTerminating},
	}
)

func validateResourceQuotaSpec(spec *corev1.ResourceQuotaSpec) field.ErrorList {
	all := validateQuotaList(spec.Hard, specPath.Child("hard"))
	scopes := map[corev1.ResourceQuotaScope]bool{}
	for _, s := range spec.Scopes {
		if !slices.Contains(standardQuotaScopes, s) {
			all = append(all, field.Invalid(specPath.Child("scopes"), spec.Scopes, "unsupported scope"))
		}
		scopes[s] = true
	}
	if sel := spec.ScopeSelector; sel != nil {
		p := specPath.Child("scopeSelector", "matchExpressions")
		for _, req := range sel.MatchExpressions {
			if !slices.Contains(standardQuotaScopes, req.ScopeName) {
				all = append(all, field.Invalid(p.Child("scopeName"), req.ScopeName, "unsupported scope"))
			}
			switch req.Operator {
			case corev1.ScopeSelectorOpIn, corev1.ScopeSelectorOpNotIn:
				if len(req.Values) == 0 {
					all = append(all, field.Required(p.Child("values"), "must be at least one value when `operator` is 'In' or 'NotIn' for scope selector"))
				}
			case corev1.ScopeSelectorOpExists, corev1.ScopeSelectorOpDoesNotExist:
				if len(req.Values) != 0 {
					all = append(all, field.Invalid(p.Child("values"), req.Values, "must be no value when `operator` is 'Exist' or 'DoesNotExist' for scope selector"))
				}
			default:
				all = append(all, field.Invalid(p.Child("operator"), req.Operator, "not a valid selector operator"))
			}
			scopes[req.ScopeName] = true
		}
	}
	for _, pair := range conflictingQuotaScopes {
		if scopes[pair[0]] && scopes[pair[1]] {
			all = append(all, field.Invalid(specPath.Child("scopes"), spec.Scopes, "conflicting scopes"))
		}
	}
	return all
}

func validateResourceQuotaUpdate(q, old *corev1.ResourceQuota) field.ErrorList {
	all := validateMetaUpdate(&q.ObjectMeta, &old.ObjectMeta)
	all = append(all, validateResourceQuotaSpec(&q.Spec)...)
	// Scopes decide which pods a quota counts, so they are fixed.
	return append(all, validateImmutable(q.Spec.Scopes, old.Spec.Scopes, specPath.Child("scopes"))...)
}

func validateResourceQuotaStatusUpdate(q, old *corev1.ResourceQuota) field.ErrorList {
	all := validateMetaUpdate(&q.ObjectMeta, &old.ObjectMeta)
	if q.ResourceVersion == "" {
		all = append(all, field.Required(field.NewPath("resourceVersion"), ""))
	}
	all = append(all, validateQuotaList(q.Status.Hard, statusPath.Child("hard"))...)
	return append(all, validateQuotaList(q.Status.Used, statusPath.Child("used"))...)
}

// LimitRange

func validateLimitRange(lr *corev1.LimitRange) field.ErrorList {
	all := validateMeta(&lr.ObjectMeta, true, apivalidation.NameIsDNSSubdomain)
	types := map[corev1.LimitType]bool{}
	for i := range lr.Spec.Limits {
		all = append(all, validateLimitRangeItem(&lr.Spec.Limits[i], types, specPath.Child("limits").Index(i))...)
	}
	return all
}

func validateLimitRangeItem(limit *corev1.LimitRangeItem, types map[corev1.LimitType]bool, p *field.Path) field.ErrorList {
	var all field.ErrorList
	all = append(all, validateQualifiedName(string(limit.Type), p.Child("type"))...)
	if len(all) == 0 && !strings.Contains(string(limit.Type), "/") &&
		!slices.Contains([]corev1.LimitType{corev1.LimitTypePod, corev1.LimitTypeContainer, corev1.LimitTypePersistentVolumeClaim}, limit.Type) {
		all = append(all, field.Invalid(p.Child("type"), limit.Type, "must be a standard limit type or fully qualified"))
	}
	if types[limit.Type] {
		all = append(all, field.Duplicate(p.Child("type"), limit.Type))
	}
	types[limit.Type] = true

	nameFn := validateResourceName
	if limit.Type == corev1.LimitTypePod || limit.Type == corev1.LimitTypeContainer {
		nameFn = validateContainerResourceName
	}
	lists := []struct {
		name string
		list corev1.ResourceList
	}{{"max", limit.Max}, {"min", limit.Min}, {"default", limit.Default}, {"defaultRequest", limit.DefaultRequest}, {"maxLimitRequestRatio", limit.MaxLimitRequestRatio}}
	for _, l := range lists {
		if limit.Type == corev1.LimitTypePod && (l.name == "default" || l.name == "defaultRequest") {
			if len(l.list) > 0 {
				all = append(all, field.Forbidden(p.Child(l.name), "may not be specified when `type` is 'Pod'"))
			}
			continue
		}
		for _, k := range sortedKeys(l.list) {
			all = append(all, nameFn(k, p.Child(l.name).Key(string(k)))...)
		}
	}
	if limit.Type == corev1.LimitTypePersistentVolumeClaim {
		_, hasMin := limit.Min[corev1.ResourceStorage]
		_, hasMax := limit.Max[corev1.ResourceStorage]
		if !hasMin && !hasMax {
			all = append(all, field.Required(p.Child("limits"), "either minimum or maximum storage value is required, but neither was provided"))
		}
	}

	keys := map[corev1.ResourceName]bool{}
	for _, l := range lists {
		for k := range l.list {
			keys[k] = true
		}
	}
	for _, k := range sortedKeys(keys) {
		minQ, hasMin := limit.Min[k]
		maxQ, hasMax := limit.Max[k]
		def, hasDef := limit.Default[k]
		defReq, hasDefReq := limit.DefaultRequest[k]
		ratio, hasRatio := limit.MaxLimitRequestRatio[k]
		key := string(k)
		if limit.Type == corev1.LimitTypePod {
			hasDef, hasDefReq = false, false
		}
		if hasMin && hasMax && minQ.Cmp(maxQ) > 0 {
			all = append(all, field.Invalid(p.Child("min").Key(key), minQ, fmt.Sprintf("min value %s is greater than max value %s", minQ.String(), maxQ.String())))
		}
		if hasDefReq && hasMin && minQ.Cmp(defReq) > 0 {
			all = append(all, field.Invalid(p.Child("defaultRequest").Key(key), defReq, fmt.Sprintf("min value %s is greater than default request value %s", minQ.String(), defReq.String())))
		}
		if hasDefReq && hasMax && defReq.Cmp(maxQ) > 0 {
			all = append(all, field.Invalid(p.Child("defaultRequest").Key(key), defReq, fmt.Sprintf("default request value %s is greater than max value %s", defReq.String(), maxQ.String())))
		}
		if hasDefReq && hasDef && defReq.Cmp(def) > 0 {
			all = append(all, field.Invalid(p.Child("defaultRequest").Key(key), defReq, fmt.Sprintf("default request value %s is greater than default limit value %s", defReq.String(), def.String())))
		}
		if hasDef && hasMin && minQ.Cmp(def) > 0 {
			all = append(all, field.Invalid(p.Child("default").Key(key), minQ, fmt.Sprintf("min value %s is greater than default value %s", minQ.String(), def.String())))
		}
		if hasDef && hasMax && def.Cmp(maxQ) > 0 {
			all = append(all, field.Invalid(p.Child("default").Key(key), maxQ, fmt.Sprintf("default value %s is greater than max value %s", def.String(), maxQ.String())))
		}
		if hasRatio && ratio.Cmp(*resource.NewQuantity(1, resource.DecimalSI)) < 0 {
			all = append(all, field.Invalid(p.Child("maxLimitRequestRatio").Key(key), ratio, fmt.Sprintf("ratio %s is less than 1", ratio.String())))
		}
		if hasRatio && hasMin && hasMax && minQ.Sign() > 0 {
			// Compare in floats: quantities may be too large for milli-units.
			limitRatio := maxQ.AsApproximateFloat64() / minQ.AsApproximateFloat64()
			if ratio.AsApproximateFloat64() > limitRatio {
				all = append(all, field.Invalid(p.Child("maxLimitRequestRatio").Key(key), ratio, fmt.Sprintf("ratio %s is greater than max/min = %f", ratio.String(), limitRatio)))
			}
		}
		if !isOvercommitAllowed(k) && hasDef && hasDefReq && def.Cmp(defReq) != 0 {
			all = append(all, field.Invalid(p.Child("defaultRequest").Key(key), defReq, fmt.Sprintf("default value %s must equal to defaultRequest value %s in %s", def.String(), defReq.String(), k)))
		}
	}
	return all
}

func validateLimitRangeUpdate(lr, old *corev1.LimitRange) field.ErrorList {
	all := validateMetaUpdate(&lr.ObjectMeta, &old.ObjectMeta)
	types := map[corev1.LimitType]bool{}
	for i := range lr.Spec.Limits {
		all = append(all, validateLimitRangeItem(&lr.Spec.Limits[i], types, specPath.Child("limits").Index(i))...)
	}
	return all
}
