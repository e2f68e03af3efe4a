package validation

import (
	"fmt"
	"math"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metavalidation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/diff"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// updatablePodSpecFields is quoted in the error for a forbidden pod update,
// word for word as kube-apiserver prints it.
var updatablePodSpecFields = []string{
	"`spec.containers[*].image`",
	"`spec.initContainers[*].image`",
	"`spec.activeDeadlineSeconds`",
	"`spec.tolerations` (only additions to existing tolerations)",
	"`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
}

func validatePod(pod *corev1.Pod) field.ErrorList {
	all := validatePodMetaAndSpec(pod)
	// Ephemeral containers only arrive through their own subresource.
	if len(pod.Spec.EphemeralContainers) > 0 {
		all = append(all, field.Forbidden(specPath.Child("ephemeralContainers"), "cannot be set on create"))
	}
	if pod.Spec.NodeName != "" && len(pod.Spec.SchedulingGates) != 0 {
		all = append(all, field.Forbidden(specPath.Child("nodeName"), "cannot be set until all schedulingGates have been cleared"))
	}
	return all
}

// validatePodMetaAndSpec holds the checks a pod gets on both create and
// update, including the few that pods get and pod templates do not.
func validatePodMetaAndSpec(pod *corev1.Pod) field.ErrorList {
	all := validateMeta(&pod.ObjectMeta, true, apivalidation.NameIsDNSSubdomain)
	all = append(all, validatePodSpec(&pod.Spec, &pod.ObjectMeta, specPath)...)
	if serviceAccountName(&pod.Spec) == "" {
		for vi, vol := range pod.Spec.Volumes {
			if vol.Projected == nil {
				continue
			}
			for si, src := range vol.Projected.Sources {
				if src.ServiceAccountToken != nil {
					all = append(all, field.Forbidden(specPath.Child("volumes").Index(vi).Child("projected", "sources").Index(si).Child("serviceAccountToken"),
						"must not be specified when serviceAccountName is not set"))
				}
			}
		}
	}
	if g := pod.Spec.TerminationGracePeriodSeconds; g != nil {
		all = append(all, validateNonnegative(*g, specPath.Child("terminationGracePeriodSeconds"))...)
	}
	for _, list := range []struct {
		name       string
		containers []corev1.Container
	}{{"containers", pod.Spec.Containers}, {"initContainers", pod.Spec.InitContainers}} {
		for i, c := range list.containers {
			if len(c.Image) != len(strings.TrimSpace(c.Image)) {
				all = append(all, field.Invalid(specPath.Child(list.name).Index(i).Child("image"), c.Image, "must not have leading or trailing whitespace"))
			}
		}
	}
	return all
}

// serviceAccountName reads the name the way conversion to the internal type
// does: the deprecated serviceAccount field fills in for an empty one.
func serviceAccountName(spec *corev1.PodSpec) string {
	if spec.ServiceAccountName != "" {
		return spec.ServiceAccountName
	}
	return spec.DeprecatedServiceAccount //nolint:staticcheck // read for compatibility, as conversion does
}

// validatePodTemplateSpec checks a template embedded in a workload.
func validatePodTemplateSpec(t *corev1.PodTemplateSpec, fldPath *field.Path) field.ErrorList {
	all := metavalidation.ValidateLabels(t.Labels, fldPath.Child("labels"))
	all = append(all, apivalidation.ValidateAnnotations(t.Annotations, fldPath.Child("annotations"))...)
	all = append(all, validatePodSpec(&t.Spec, nil, fldPath.Child("spec"))...)
	if len(t.Spec.EphemeralContainers) > 0 {
		all = append(all, field.Forbidden(fldPath.Child("spec", "ephemeralContainers"), "ephemeral containers not allowed in pod template"))
	}
	return all
}

func validatePodSpec(spec *corev1.PodSpec, podMeta *metav1.ObjectMeta, fldPath *field.Path) field.ErrorList {
	var all field.ErrorList
	if spec.TerminationGracePeriodSeconds == nil {
		all = append(all, field.Required(fldPath.Child("terminationGracePeriodSeconds"), ""))
	}
	vols, volErrs := validateVolumes(spec.Volumes, podMeta, fldPath.Child("volumes"))
	all = append(all, volErrs...)
	all = append(all, validateContainers(spec.Containers, vols, fldPath.Child("containers"))...)
	all = append(all, validateInitContainers(spec.InitContainers, spec.Containers, vols, fldPath.Child("initContainers"))...)
	all = append(all, validateEphemeralContainers(spec.EphemeralContainers, spec.Containers, spec.InitContainers, vols, fldPath.Child("ephemeralContainers"))...)
	all = append(all, validateEnum(spec.RestartPolicy, fldPath.Child("restartPolicy"),
		corev1.RestartPolicyAlways, corev1.RestartPolicyOnFailure, corev1.RestartPolicyNever)...)
	all = append(all, validateEnum(spec.DNSPolicy, fldPath.Child("dnsPolicy"),
		corev1.DNSClusterFirstWithHostNet, corev1.DNSClusterFirst, corev1.DNSDefault, corev1.DNSNone)...)
	all = append(all, metavalidation.ValidateLabels(spec.NodeSelector, fldPath.Child("nodeSelector"))...)
	all = append(all, validatePodSecurityContext(spec.SecurityContext, fldPath.Child("securityContext"))...)
	all = append(all, validateAffinity(spec.Affinity, fldPath.Child("affinity"))...)
	all = append(all, validatePodDNSConfig(spec.DNSConfig, spec.DNSPolicy, fldPath.Child("dnsConfig"))...)
	for i, g := range spec.ReadinessGates {
		all = append(all, validateQualifiedName(string(g.ConditionType), fldPath.Child("readinessGates").Index(i).Child("conditionType"))...)
	}
	all = append(all, validateSchedulingGates(spec.SchedulingGates, fldPath.Child("schedulingGates"))...)
	all = append(all, validateTopologySpreadConstraints(spec.TopologySpreadConstraints, fldPath.Child("topologySpreadConstraints"))...)
	if sa := serviceAccountName(spec); sa != "" {
		all = append(all, errs(fldPath.Child("serviceAccountName"), sa, apivalidation.ValidateServiceAccountName(sa, false))...)
	}
	if spec.NodeName != "" {
		all = append(all, errs(fldPath.Child("nodeName"), spec.NodeName, apivalidation.NameIsDNSSubdomain(spec.NodeName, false))...)
	}
	if d := spec.ActiveDeadlineSeconds; d != nil && (*d < 1 || *d > math.MaxInt32) {
		all = append(all, field.Invalid(fldPath.Child("activeDeadlineSeconds"), *d, validation.InclusiveRangeError(1, math.MaxInt32)))
	}
	if spec.Hostname != "" {
		all = append(all, validateDNS1123Label(spec.Hostname, fldPath.Child("hostname"))...)
	}
	if spec.Subdomain != "" {
		all = append(all, validateDNS1123Label(spec.Subdomain, fldPath.Child("subdomain"))...)
	}
	if h := spec.HostnameOverride; h != nil {
		if spec.SetHostnameAsFQDN != nil && *spec.SetHostnameAsFQDN {
			all = append(all, field.Forbidden(fldPath.Child("hostnameOverride"), "may not be specified when setHostnameAsFQDN is true"))
		}
		if spec.HostNetwork {
			all = append(all, field.Forbidden(fldPath.Child("hostnameOverride"), "may not be specified when hostNetwork is true"))
		}
		if len(*h) > 64 {
			all = append(all, field.TooLong(fldPath.Child("hostnameOverride"), "", 64))
		}
		all = append(all, validateDNS1123Subdomain(*h, fldPath.Child("hostnameOverride"))...)
	}
	all = append(all, validateTolerations(spec.Tolerations, fldPath.Child("tolerations"))...)
	for i, ha := range spec.HostAliases {
		p := fldPath.Child("hostAliases").Index(i)
		all = append(all, validateIP(ha.IP, p.Child("ip"), nil)...)
		for j, h := range ha.Hostnames {
			all = append(all, validateDNS1123Subdomain(h, p.Child("hostnames").Index(j))...)
		}
	}
	if spec.PriorityClassName != "" {
		all = append(all, errs(fldPath.Child("priorityClassName"), spec.PriorityClassName, apivalidation.NameIsDNSSubdomain(spec.PriorityClassName, false))...)
	}
	if rc := spec.RuntimeClassName; rc != nil {
		all = append(all, errs(fldPath.Child("runtimeClassName"), *rc, apivalidation.NameIsDNSSubdomain(*rc, false))...)
	}
	if pp := spec.PreemptionPolicy; pp != nil {
		all = append(all, validateEnum(*pp, fldPath.Child("preemptionPolicy"), corev1.PreemptLowerPriority, corev1.PreemptNever)...)
	}
	for _, name := range sortedKeys(spec.Overhead) {
		p := fldPath.Child("overhead").Key(string(name))
		all = append(all, validateContainerResourceName(name, p)...)
		all = append(all, validateResourceQuantity(name, spec.Overhead[name], p)...)
	}
	if spec.Resources != nil {
		all = append(all, validateResourceRequirements(spec.Resources, fldPath.Child("resources"))...)
	}
	if spec.OS != nil {
		all = append(all, validateEnum(spec.OS.Name, fldPath.Child("os", "name"), corev1.Linux, corev1.Windows)...)
	}
	return all
}

func validateContainers(containers []corev1.Container, vols map[string]corev1.VolumeSource, fldPath *field.Path) field.ErrorList {
	if len(containers) == 0 {
		return field.ErrorList{field.Required(fldPath, "")}
	}
	var all field.ErrorList
	names := map[string]bool{}
	for i := range containers {
		c := &containers[i]
		p := fldPath.Index(i)
		all = append(all, validateContainerCommon(c, vols, p)...)
		// Collisions with init and ephemeral containers are reported there,
		// so each duplicate is reported once.
		if names[c.Name] {
			all = append(all, field.Duplicate(p.Child("name"), c.Name))
		}
		names[c.Name] = true
		all = append(all, validateLifecycle(c.Lifecycle, p.Child("lifecycle"))...)
		all = append(all, validateProbe(c.LivenessProbe, true, p.Child("livenessProbe"))...)
		all = append(all, validateProbe(c.ReadinessProbe, false, p.Child("readinessProbe"))...)
		all = append(all, validateProbe(c.StartupProbe, true, p.Child("startupProbe"))...)
		all = append(all, validateContainerRestartPolicy(c.RestartPolicy, p.Child("restartPolicy"))...)
	}
	all = append(all, checkHostPortConflicts(containers, fldPath)...)
	return all
}

func validateInitContainers(containers, regular []corev1.Container, vols map[string]corev1.VolumeSource, fldPath *field.Path) field.ErrorList {
	var all field.ErrorList
	names := map[string]bool{}
	for _, c := range regular {
		names[c.Name] = true
	}
	for i := range containers {
		c := &containers[i]
		p := fldPath.Index(i)
		all = append(all, validateContainerCommon(c, vols, p)...)
		if names[c.Name] {
			all = append(all, field.Duplicate(p.Child("name"), c.Name))
		} else if c.Name != "" {
			names[c.Name] = true
		}
		all = append(all, validateContainerRestartPolicy(c.RestartPolicy, p.Child("restartPolicy"))...)
		// Init containers run one at a time, so host ports only clash within one.
		all = append(all, checkHostPortConflicts(containers[i:i+1], fldPath)...)
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			// A sidecar: it keeps running, so it may be probed.
			all = append(all, validateLifecycle(c.Lifecycle, p.Child("lifecycle"))...)
			all = append(all, validateProbe(c.LivenessProbe, true, p.Child("livenessProbe"))...)
			all = append(all, validateProbe(c.ReadinessProbe, false, p.Child("readinessProbe"))...)
			all = append(all, validateProbe(c.StartupProbe, true, p.Child("startupProbe"))...)
			continue
		}
		const msg = "may not be set for init containers without restartPolicy=Always"
		if c.Lifecycle != nil {
			all = append(all, field.Forbidden(p.Child("lifecycle"), msg))
		}
		if c.LivenessProbe != nil {
			all = append(all, field.Forbidden(p.Child("livenessProbe"), msg))
		}
		if c.ReadinessProbe != nil {
			all = append(all, field.Forbidden(p.Child("readinessProbe"), msg))
		}
		if c.StartupProbe != nil {
			all = append(all, field.Forbidden(p.Child("startupProbe"), msg))
		}
	}
	return all
}

func validateEphemeralContainers(ephemeral []corev1.EphemeralContainer, containers, initContainers []corev1.Container, vols map[string]corev1.VolumeSource, fldPath *field.Path) field.ErrorList {
	var all field.ErrorList
	names := map[string]bool{}
	for _, c := range containers {
		names[c.Name] = true
	}
	for _, c := range initContainers {
		names[c.Name] = true
	}
	for i := range ephemeral {
		p := fldPath.Index(i)
		// The two structs share every field; Kubernetes converts the same way.
		c := corev1.Container(ephemeral[i].EphemeralContainerCommon)
		all = append(all, validateContainerCommon(&c, vols, p)...)
		if names[c.Name] {
			all = append(all, field.Duplicate(p.Child("name"), c.Name))
		} else {
			names[c.Name] = true
		}
		if t := ephemeral[i].TargetContainerName; t != "" && !slices.ContainsFunc(containers, func(c corev1.Container) bool { return c.Name == t }) &&
			!slices.ContainsFunc(initContainers, func(c corev1.Container) bool { return c.Name == t }) {
			all = append(all, field.NotFound(p.Child("targetContainerName"), t))
		}
		// An ephemeral container is for debugging: nothing may route to it or
		// restart it, and it gets no resources of its own.
		forbidden := []struct {
			name string
			set  bool
		}{
			{"ports", len(c.Ports) > 0},
			{"lifecycle", c.Lifecycle != nil},
			{"livenessProbe", c.LivenessProbe != nil},
			{"readinessProbe", c.ReadinessProbe != nil},
			{"startupProbe", c.StartupProbe != nil},
			{"resources", len(c.Resources.Limits) > 0 || len(c.Resources.Requests) > 0 || len(c.Resources.Claims) > 0},
			{"resizePolicy", len(c.ResizePolicy) > 0},
			{"restartPolicy", c.RestartPolicy != nil},
		}
		for _, f := range forbidden {
			if f.set {
				all = append(all, field.Forbidden(p.Child(f.name), "cannot be set for an Ephemeral Container"))
			}
		}
	}
	return all
}

func validateContainerRestartPolicy(policy *corev1.ContainerRestartPolicy, fldPath *field.Path) field.ErrorList {
	if policy == nil {
		return nil
	}
	return validateEnum(*policy, fldPath, corev1.ContainerRestartPolicyAlways, corev1.ContainerRestartPolicy("OnFailure"), corev1.ContainerRestartPolicy("Never"))
}

// validateContainerCommon holds the checks every kind of container gets.
func validateContainerCommon(c *corev1.Container, vols map[string]corev1.VolumeSource, p *field.Path) field.ErrorList {
	var all field.ErrorList
	if c.Name == "" {
		all = append(all, field.Required(p.Child("name"), ""))
	} else {
		all = append(all, validateDNS1123Label(c.Name, p.Child("name"))...)
	}
	if c.Image == "" {
		all = append(all, field.Required(p.Child("image"), ""))
	}
	all = append(all, validateEnum(c.TerminationMessagePolicy, p.Child("terminationMessagePolicy"),
		corev1.TerminationMessageReadFile, corev1.TerminationMessageFallbackToLogsOnError)...)
	all = append(all, validateContainerPorts(c.Ports, p.Child("ports"))...)
	all = append(all, validateEnv(c.Env, p.Child("env"))...)
	all = append(all, validateEnvFrom(c.EnvFrom, p.Child("envFrom"))...)
	all = append(all, validateVolumeMounts(c, vols, p.Child("volumeMounts"))...)
	all = append(all, validateVolumeDevices(c, vols, p.Child("volumeDevices"))...)
	all = append(all, validateEnum(c.ImagePullPolicy, p.Child("imagePullPolicy"),
		corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever)...)
	all = append(all, validateResourceRequirements(&c.Resources, p.Child("resources"))...)
	all = append(all, validateSecurityContext(c.SecurityContext, p.Child("securityContext"))...)
	return all
}

func validateContainerPorts(ports []corev1.ContainerPort, fldPath *field.Path) field.ErrorList {
	var all field.ErrorList
	names := map[string]bool{}
	for i, port := range ports {
		p := fldPath.Index(i)
		if port.Name != "" {
			if msgs := validation.IsValidPortName(port.Name); len(msgs) != 0 {
				all = append(all, errs(p.Child("name"), port.Name, msgs)...)
			} else if names[port.Name] {
				all = append(all, field.Duplicate(p.Child("name"), port.Name))
			} else {
				names[port.Name] = true
			}
		}
		if port.ContainerPort == 0 {
			all = append(all, field.Required(p.Child("containerPort"), ""))
		} else {
			all = append(all, errs(p.Child("containerPort"), port.ContainerPort, validation.IsValidPortNum(int(port.ContainerPort)))...)
		}
		if port.HostPort != 0 {
			all = append(all, errs(p.Child("hostPort"), port.HostPort, validation.IsValidPortNum(int(port.HostPort)))...)
		}
		all = append(all, validateProtocol(port.Protocol, p.Child("protocol"))...)
		if port.HostIP != "" {
			all = append(all, validateIP(port.HostIP, p.Child("hostIP"), nil)...)
		}
	}
	return all
}

// checkHostPortConflicts reports a host port (with protocol and host IP)
// claimed twice, since the node could not bind it twice.
func checkHostPortConflicts(containers []corev1.Container, fldPath *field.Path) field.ErrorList {
	var all field.ErrorList
	seen := map[string]bool{}
	for ci, c := range containers {
		for pi, port := range c.Ports {
			if port.HostPort == 0 {
				continue
			}
			key := fmt.Sprintf("%s/%s/%d", port.Protocol, port.HostIP, port.HostPort)
			if seen[key] {
				all = append(all, field.Duplicate(fldPath.Index(ci).Child("ports").Index(pi).Child("hostPort"), key))
			}
			seen[key] = true
		}
	}
	return all
}

func validateEnv(vars []corev1.EnvVar, fldPath *field.Path) field.ErrorList {
	var all field.ErrorList
	for i, ev := range vars {
		p := fldPath.Index(i)
		if ev.Name == "" {
			all = append(all, field.Required(p.Child("name"), ""))
		} else {
			// Any printable ASCII but '=' (RelaxedEnvironmentVariableValidation, GA).
			all = append(all, errs(p.Child("name"), ev.Name, validation.IsRelaxedEnvVarName(ev.Name))...)
		}
		all = append(all, validateEnvVarValueFrom(ev, p.Child("valueFrom"))...)
	}
	return all
}

var (
	envFieldPaths = []string{
		"metadata.name", "metadata.namespace", "metadata.uid", "spec.nodeName", "spec.serviceAccountName",
		"status.hostIP", "status.hostIPs", "status.podIP", "status.podIPs",
	}
	volumeFieldPaths = []string{"metadata.annotations", "metadata.labels", "metadata.name", "metadata.namespace", "metadata.uid"}
	resourceFields   = []string{
		"limits.cpu", "limits.ephemeral-storage", "limits.memory",
		"requests.cpu", "requests.ephemeral-storage", "requests.memory",
	}
)

func validateEnvVarValueFrom(ev corev1.EnvVar, fldPath *field.Path) field.ErrorList {
	from := ev.ValueFrom
	if from == nil {
		return nil
	}
	var all field.ErrorList
	n := 0
	if from.FieldRef != nil {
		n++
		all = append(all, validateObjectFieldSelector(from.FieldRef, envFieldPaths, fldPath.Child("fieldRef"))...)
	}
	if from.ResourceFieldRef != nil {
		n++
		all = append(all, validateResourceFieldSelector(from.ResourceFieldRef, false, fldPath.Child("resourceFieldRef"))...)
	}
	if s := from.ConfigMapKeyRef; s != nil {
		n++
		all = append(all, validateKeySelector(s.Name, s.Key, fldPath.Child("configMapKeyRef"))...)
	}
	if s := from.SecretKeyRef; s != nil {
		n++
		all = append(all, validateKeySelector(s.Name, s.Key, fldPath.Child("secretKeyRef"))...)
	}
	if s := from.FileKeyRef; s != nil {
		n++
		if s.VolumeName == "" {
			all = append(all, field.Required(fldPath.Child("fileKeyRef", "volumeName"), ""))
		}
		if s.Path == "" {
			all = append(all, field.Required(fldPath.Child("fileKeyRef", "path"), ""))
		}
		if s.Key == "" {
			all = append(all, field.Required(fldPath.Child("fileKeyRef", "key"), ""))
		}
	}
	switch {
	case n == 0:
		all = append(all, field.Invalid(fldPath, "", "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef`, `secretKeyRef` or `fileKeyRef`"))
	case ev.Value != "":
		all = append(all, field.Invalid(fldPath, "", "may not be specified when `value` is not empty"))
	case n > 1:
		all = append(all, field.Invalid(fldPath, "", "may not have more than one field specified at a time"))
	}
	return all
}

func validateKeySelector(name, key string, fldPath *field.Path) field.ErrorList {
	all := errs(fldPath.Child("name"), name, apivalidation.NameIsDNSSubdomain(name, false))
	if key == "" {
		return append(all, field.Required(fldPath.Child("key"), ""))
	}
	return append(all, errs(fldPath.Child("key"), key, validation.IsConfigMapKey(key))...)
}

// validateObjectFieldSelector checks a downward API field path; labels and
// annotations may be subscripted with a key.
func validateObjectFieldSelector(fs *corev1.ObjectFieldSelector, supported []string, fldPath *field.Path) field.ErrorList {
	if fs.APIVersion == "" {
		return field.ErrorList{field.Required(fldPath.Child("apiVersion"), "")}
	}
	if fs.FieldPath == "" {
		return field.ErrorList{field.Required(fldPath.Child("fieldPath"), "")}
	}
	if path, key, ok := splitSubscript(fs.FieldPath); ok {
		switch path {
		case "metadata.annotations":
			return validateQualifiedName(strings.ToLower(key), fldPath)
		case "metadata.labels":
			return validateQualifiedName(key, fldPath)
		default:
			return field.ErrorList{field.Invalid(fldPath, path, "does not support subscript")}
		}
	}
	if !slices.Contains(supported, fs.FieldPath) {
		return field.ErrorList{field.NotSupported(fldPath.Child("fieldPath"), fs.FieldPath, supported)}
	}
	return nil
}

// splitSubscript splits "metadata.labels['key']" into its path and key.
func splitSubscript(fieldPath string) (path, key string, ok bool) {
	if !strings.HasSuffix(fieldPath, "']") {
		return fieldPath, "", false
	}
	path, key, ok = strings.Cut(strings.TrimSuffix(fieldPath, "']"), "['")
	return path, key, ok
}

func validateResourceFieldSelector(fs *corev1.ResourceFieldSelector, inVolume bool, fldPath *field.Path) field.ErrorList {
	var all field.ErrorList
	switch {
	case inVolume && fs.ContainerName == "":
		all = append(all, field.Required(fldPath.Child("containerName"), ""))
	case fs.Resource == "":
		all = append(all, field.Required(fldPath.Child("resource"), ""))
	case !slices.Contains(resourceFields, fs.Resource) &&
		!strings.HasPrefix(fs.Resource, "requests.hugepages-") && !strings.HasPrefix(fs.Resource, "limits.hugepages-"):
		all = append(all, field.NotSupported(fldPath.Child("resource"), fs.Resource, resourceFields))
	}
	if fs.Divisor.Sign() < 0 {
		all = append(all, field.Invalid(fldPath.Child("divisor"), fs.Divisor.String(), isNegativeErrorMsg))
	}
	return all
}

func validateEnvFrom(vars []corev1.EnvFromSource, fldPath *field.Path) field.ErrorList {
	var all field.ErrorList
	for i, ev := range vars {
		p := fldPath.Index(i)
		if ev.Prefix != "" {
			all = append(all, errs(p.Child("prefix"), ev.Prefix, validation.IsRelaxedEnvVarName(ev.Prefix))...)
		}
		n := 0
		if ev.ConfigMapRef != nil {
			n++
			all = append(all, validateEnvSourceName(ev.ConfigMapRef.Name, p.Child("configMapRef"))...)
		}
		if ev.SecretRef != nil {
			n++
			all = append(all, validateEnvSourceName(ev.SecretRef.Name, p.Child("secretRef"))...)
		}
		switch {
		case n == 0:
			all = append(all, field.Invalid(fldPath, "", "must specify one of: `configMapRef` or `secretRef`"))
		case n > 1:
			all = append(all, field.Invalid(fldPath, "", "may not have more than one field specified at a time"))
		}
	}
	return all
}

func validateEnvSourceName(name string, fldPath *field.Path) field.ErrorList {
	if name == "" {
		return field.ErrorList{field.Required(fldPath.Child("name"), "")}
	}
	return errs(fldPath.Child("name"), name, apivalidation.NameIsDNSSubdomain(name, false))
}

// validateProbe checks one probe; liveness and startup probes must succeed
// once to count, so their successThreshold is fixed at 1.
func validateProbe(probe *corev1.Probe, mustSucceedOnce bool, fldPath *field.Path) field.ErrorList {
	if probe == nil {
		return nil
	}
	h := &probe.ProbeHandler
	all := validateHandler(h.Exec, h.HTTPGet, h.TCPSocket, h.GRPC, nil, fldPath)
	all = append(all, validateNonnegative(int64(probe.InitialDelaySeconds), fldPath.Child("initialDelaySeconds"))...)
	all = append(all, validateNonnegative(int64(probe.TimeoutSeconds), fldPath.Child("timeoutSeconds"))...)
	all = append(all, validateNonnegative(int64(probe.PeriodSeconds), fldPath.Child("periodSeconds"))...)
	all = append(all, validateNonnegative(int64(probe.SuccessThreshold), fldPath.Child("successThreshold"))...)
	all = append(all, validateNonnegative(int64(probe.FailureThreshold), fldPath.Child("failureThreshold"))...)
	if mustSucceedOnce && probe.SuccessThreshold != 1 {
		all = append(all, field.Invalid(fldPath.Child("successThreshold"), probe.SuccessThreshold, "must be 1"))
	}
	if g := probe.TerminationGracePeriodSeconds; g != nil && *g <= 0 {
		all = append(all, field.Invalid(fldPath.Child("terminationGracePeriodSeconds"), *g, "must be greater than 0"))
	}
	return all
}

func validateLifecycle(l *corev1.Lifecycle, fldPath *field.Path) field.ErrorList {
	if l == nil {
		return nil
	}
	var all field.ErrorList
	if h := l.PostStart; h != nil {
		all = append(all, validateHandler(h.Exec, h.HTTPGet, h.TCPSocket, nil, h.Sleep, fldPath.Child("postStart"))...)
	}
	if h := l.PreStop; h != nil {
		all = append(all, validateHandler(h.Exec, h.HTTPGet, h.TCPSocket, nil, h.Sleep, fldPath.Child("preStop"))...)
	}
	return all
}

// validateHandler requires exactly one action of a probe or lifecycle hook.
func validateHandler(exec *corev1.ExecAction, http *corev1.HTTPGetAction, tcp *corev1.TCPSocketAction, grpc *corev1.GRPCAction, sleep *corev1.SleepAction, fldPath *field.Path) field.ErrorList {
	var all field.ErrorList
	n := 0
	one := func(name string, set bool, check func() field.ErrorList) {
		if !set {
			return
		}
		if n > 0 {
			all = append(all, field.Forbidden(fldPath.Child(name), "may not specify more than 1 handler type"))
			return
		}
		n++
		all = append(all, check()...)
	}
	one("exec", exec != nil, func() field.ErrorList {
		if len(exec.Command) == 0 {
			return field.ErrorList{field.Required(fldPath.Child("exec", "command"), "")}
		}
		return nil
	})
	one("httpGet", http != nil, func() field.ErrorList {
		p := fldPath.Child("httpGet")
		var e field.ErrorList
		if http.Path == "" {
			e = append(e, field.Required(p.Child("path"), ""))
		}
		e = append(e, validatePortNumOrName(http.Port, p.Child("port"))...)
		if http.Scheme != corev1.URISchemeHTTP && http.Scheme != corev1.URISchemeHTTPS {
			e = append(e, notSupported(p.Child("scheme"), http.Scheme, corev1.URISchemeHTTP, corev1.URISchemeHTTPS))
		}
		for _, h := range http.HTTPHeaders {
			e = append(e, errs(p.Child("httpHeaders"), h.Name, validation.IsHTTPHeaderName(h.Name))...)
		}
		return e
	})
	one("tcpSocket", tcp != nil, func() field.ErrorList {
		return validatePortNumOrName(tcp.Port, fldPath.Child("tcpSocket", "port"))
	})
	one("grpc", grpc != nil, func() field.ErrorList {
		return errs(fldPath.Child("grpc", "port"), grpc.Port, validation.IsValidPortNum(int(grpc.Port)))
	})
	one("sleep", sleep != nil, func() field.ErrorList {
		return validateNonnegative(sleep.Seconds, fldPath.Child("sleep", "seconds"))
	})
	if n == 0 {
		all = append(all, field.Required(fldPath, "must specify a handler type"))
	}
	return all
}

func validateSecurityContext(sc *corev1.SecurityContext, fldPath *field.Path) field.ErrorList {
	if sc == nil {
		return nil
	}
	var all field.ErrorList
	if sc.RunAsUser != nil {
		all = append(all, errs(fldPath.Child("runAsUser"), *sc.RunAsUser, validation.IsValidUserID(*sc.RunAsUser))...)
	}
	if sc.RunAsGroup != nil {
		all = append(all, errs(fldPath.Child("runAsGroup"), *sc.RunAsGroup, validation.IsValidGroupID(*sc.RunAsGroup))...)
	}
	if sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation {
		if sc.Privileged != nil && *sc.Privileged {
			all = append(all, field.Invalid(fldPath, sc, "cannot set `allowPrivilegeEscalation` to false and `privileged` to true"))
		}
		if sc.Capabilities != nil && slices.Contains(sc.Capabilities.Add, "CAP_SYS_ADMIN") {
			all = append(all, field.Invalid(fldPath, sc, "cannot set `allowPrivilegeEscalation` to false and `capabilities.Add` CAP_SYS_ADMIN"))
		}
	}
	if pm := sc.ProcMount; pm != nil {
		all = append(all, validateEnum(*pm, fldPath.Child("procMount"), corev1.DefaultProcMount, corev1.UnmaskedProcMount)...)
	}
	return all
}

func validatePodSecurityContext(sc *corev1.PodSecurityContext, fldPath *field.Path) field.ErrorList {
	if sc == nil {
		return nil
	}
	var all field.ErrorList
	if sc.RunAsUser != nil {
		all = append(all, errs(fldPath.Child("runAsUser"), *sc.RunAsUser, validation.IsValidUserID(*sc.RunAsUser))...)
	}
	if sc.RunAsGroup != nil {
		all = append(all, errs(fldPath.Child("runAsGroup"), *sc.RunAsGroup, validation.IsValidGroupID(*sc.RunAsGroup))...)
	}
	if sc.FSGroup != nil {
		all = append(all, errs(fldPath.Child("fsGroup"), *sc.FSGroup, validation.IsValidGroupID(*sc.FSGroup))...)
	}
	for i, g := range sc.SupplementalGroups {
		all = append(all, errs(fldPath.Child("supplementalGroups").Index(i), g, validation.IsValidGroupID(g))...)
	}
	if p := sc.FSGroupChangePolicy; p != nil {
		all = append(all, validateEnum(*p, fldPath.Child("fsGroupChangePolicy"), corev1.FSGroupChangeAlways, corev1.FSGroupChangeOnRootMismatch)...)
	}
	for i, s := range sc.Sysctls {
		p := fldPath.Child("sysctls").Index(i)
		if s.Name == "" {
			all = append(all, field.Required(p.Child("name"), ""))
		}
	}
	return all
}

func validateSchedulingGates(gates []corev1.PodSchedulingGate, fldPath *field.Path) field.ErrorList {
	var all field.ErrorList
	seen := map[string]bool{}
	for i, g := range gates {
		p := fldPath.Index(i).Child("name")
		all = append(all, validateQualifiedName(g.Name, p)...)
		if seen[g.Name] {
			all = append(all, field.Duplicate(p, g.Name))
		}
		seen[g.Name] = true
	}
	return all
}

func validateTolerations(tolerations []corev1.Toleration, fldPath *field.Path) field.ErrorList {
	var all field.ErrorList
	for i, t := range tolerations {
		p := fldPath.Index(i)
		if t.Key != "" {
			all = append(all, metavalidation.ValidateLabelName(t.Key, p.Child("key"))...)
		}
		// An empty key with Exists matches every taint; with Equal it is meaningless.
		if t.Key == "" && t.Operator != corev1.TolerationOpExists {
			all = append(all, field.Invalid(p.Child("operator"), t.Operator,
				"operator must be Exists when `key` is empty, which means \"match all values and all keys\""))
		}
		if t.TolerationSeconds != nil && t.Effect != corev1.TaintEffectNoExecute {
			all = append(all, field.Invalid(p.Child("effect"), t.Effect, "effect must be 'NoExecute' when `tolerationSeconds` is set"))
		}
		switch t.Operator {
		case corev1.TolerationOpEqual, "":
			if msgs := validation.IsValidLabelValue(t.Value); len(msgs) != 0 {
				all = append(all, field.Invalid(p.Child("operator"), t.Value, strings.Join(msgs, ";")))
			}
		case corev1.TolerationOpExists:
			if t.Value != "" {
				all = append(all, field.Invalid(p.Child("operator"), t.Value, "value must be empty when `operator` is 'Exists'"))
			}
		default:
			// Lt and Gt sit behind an alpha gate that is off by default.
			all = append(all, notSupported(p.Child("operator"), t.Operator, corev1.TolerationOpEqual, corev1.TolerationOpExists))
		}
		if t.Effect != "" {
			all = append(all, validateTaintEffect(t.Effect, p.Child("effect"))...)
		}
	}
	return all
}

func validateTaintEffect(effect corev1.TaintEffect, fldPath *field.Path) field.ErrorList {
	return validateEnum(effect, fldPath, corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute)
}

func validatePodDNSConfig(cfg *corev1.PodDNSConfig, policy corev1.DNSPolicy, fldPath *field.Path) field.ErrorList {
	var all field.ErrorList
	if policy == corev1.DNSNone {
		if cfg == nil {
			return field.ErrorList{field.Required(fldPath, fmt.Sprintf("must provide `dnsConfig` when `dnsPolicy` is %s", corev1.DNSNone))}
		}
		if len(cfg.Nameservers) == 0 {
			all = append(all, field.Required(fldPath.Child("nameservers"), fmt.Sprintf("must provide at least one DNS nameserver when `dnsPolicy` is %s", corev1.DNSNone)))
		}
	}
	if cfg == nil {
		return all
	}
	const maxNameservers, maxSearches = 3, 32
	if len(cfg.Nameservers) > maxNameservers {
		all = append(all, field.Invalid(fldPath.Child("nameservers"), cfg.Nameservers, fmt.Sprintf("must not have more than %v nameservers", maxNameservers)))
	}
	for i, ns := range cfg.Nameservers {
		all = append(all, validateIP(ns, fldPath.Child("nameservers").Index(i), nil)...)
	}
	if len(cfg.Searches) > maxSearches {
		all = append(all, field.Invalid(fldPath.Child("searches"), cfg.Searches, fmt.Sprintf("must not have more than %v search paths", maxSearches)))
	}
	for i, s := range cfg.Searches {
		if s == "." {
			continue // the root domain, allowed on its own
		}
		all = append(all, validateDNS1123Subdomain(strings.TrimSuffix(s, "."), fldPath.Child("searches").Index(i))...)
	}
	for i, o := range cfg.Options {
		if o.Name == "" {
			all = append(all, field.Required(fldPath.Child("options").Index(i), "Option.Name must not be empty"))
		}
	}
	return all
}

func validateTopologySpreadConstraints(constraints []corev1.TopologySpreadConstraint, fldPath *field.Path) field.ErrorList {
	var all field.ErrorList
	seen := map[string]bool{}
	for i, c := range constraints {
		p := fldPath.Index(i)
		if c.MaxSkew <= 0 {
			all = append(all, field.Invalid(p.Child("maxSkew"), c.MaxSkew, notPositiveErrorMsg))
		}
		if c.TopologyKey == "" {
			all = append(all, field.Required(p.Child("topologyKey"), "can not be empty"))
		} else {
			all = append(all, validateQualifiedName(c.TopologyKey, p.Child("topologyKey"))...)
		}
		all = append(all, validateEnum(c.WhenUnsatisfiable, p.Child("whenUnsatisfiable"), corev1.DoNotSchedule, corev1.ScheduleAnyway)...)
		if c.MinDomains != nil {
			if *c.MinDomains <= 0 {
				all = append(all, field.Invalid(p.Child("minDomains"), *c.MinDomains, notPositiveErrorMsg))
			}
			if c.WhenUnsatisfiable != corev1.DoNotSchedule {
				all = append(all, field.Invalid(p.Child("minDomains"), *c.MinDomains,
					fmt.Sprintf("can only use minDomains if whenUnsatisfiable=%s, not %s", corev1.DoNotSchedule, c.WhenUnsatisfiable)))
			}
		}
		key := fmt.Sprintf("{%v, %v}", c.TopologyKey, c.WhenUnsatisfiable)
		if seen[key] {
			all = append(all, field.Duplicate(p, key))
		}
		seen[key] = true
		if c.NodeAffinityPolicy != nil {
			all = append(all, validateEnum(*c.NodeAffinityPolicy, p.Child("nodeAffinityPolicy"), corev1.NodeInclusionPolicyHonor, corev1.NodeInclusionPolicyIgnore)...)
		}
		if c.NodeTaintsPolicy != nil {
			all = append(all, validateEnum(*c.NodeTaintsPolicy, p.Child("nodeTaintsPolicy"), corev1.NodeInclusionPolicyHonor, corev1.NodeInclusionPolicyIgnore)...)
		}
		all = append(all, metavalidation.ValidateLabelSelector(c.LabelSelector, metavalidation.LabelSelectorValidationOptions{}, p.Child("labelSelector"))...)
		for j, k := range c.MatchLabelKeys {
			all = append(all, metavalidation.ValidateLabelName(k, p.Child("matchLabelKeys").Index(j))...)
		}
	}
	return all
}

func validateAffinity(a *corev1.Affinity, fldPath *field.Path) field.ErrorList {
	if a == nil {
		return nil
	}
	var all field.ErrorList
	if na := a.NodeAffinity; na != nil {
		p := fldPath.Child("nodeAffinity")
		if na.RequiredDuringSchedulingIgnoredDuringExecution != nil {
			all = append(all, validateNodeSelector(na.RequiredDuringSchedulingIgnoredDuringExecution, p.Child("requiredDuringSchedulingIgnoredDuringExecution"))...)
		}
		for i, t := range na.PreferredDuringSchedulingIgnoredDuringExecution {
			tp := p.Child("preferredDuringSchedulingIgnoredDuringExecution").Index(i)
			all = append(all, validateWeight(t.Weight, tp.Child("weight"))...)
			all = append(all, validateNodeSelectorTerm(t.Preference, tp.Child("preference"))...)
		}
	}
	if pa := a.PodAffinity; pa != nil {
		all = append(all, validatePodAffinityTerms(pa.RequiredDuringSchedulingIgnoredDuringExecution, pa.PreferredDuringSchedulingIgnoredDuringExecution, fldPath.Child("podAffinity"))...)
	}
	if pa := a.PodAntiAffinity; pa != nil {
		all = append(all, validatePodAffinityTerms(pa.RequiredDuringSchedulingIgnoredDuringExecution, pa.PreferredDuringSchedulingIgnoredDuringExecution, fldPath.Child("podAntiAffinity"))...)
	}
	return all
}

func validateWeight(w int32, fldPath *field.Path) field.ErrorList {
	if w <= 0 || w > 100 {
		return field.ErrorList{field.Invalid(fldPath, w, "must be in the range 1-100")}
	}
	return nil
}

func validatePodAffinityTerms(required []corev1.PodAffinityTerm, preferred []corev1.WeightedPodAffinityTerm, fldPath *field.Path) field.ErrorList {
	var all field.ErrorList
	for i, t := range required {
		all = append(all, validatePodAffinityTerm(t, fldPath.Child("requiredDuringSchedulingIgnoredDuringExecution").Index(i))...)
	}
	for i, t := range preferred {
		p := fldPath.Child("preferredDuringSchedulingIgnoredDuringExecution").Index(i)
		all = append(all, validateWeight(t.Weight, p.Child("weight"))...)
		all = append(all, validatePodAffinityTerm(t.PodAffinityTerm, p.Child("podAffinityTerm"))...)
	}
	return all
}

func validatePodAffinityTerm(t corev1.PodAffinityTerm, fldPath *field.Path) field.ErrorList {
	opts := metavalidation.LabelSelectorValidationOptions{}
	all := metavalidation.ValidateLabelSelector(t.LabelSelector, opts, fldPath.Child("labelSelector"))
	all = append(all, metavalidation.ValidateLabelSelector(t.NamespaceSelector, opts, fldPath.Child("namespaceSelector"))...)
	for _, ns := range t.Namespaces {
		all = append(all, errs(fldPath.Child("namespace"), ns, apivalidation.ValidateNamespaceName(ns, false))...)
	}
	if t.TopologyKey == "" {
		all = append(all, field.Required(fldPath.Child("topologyKey"), "can not be empty"))
	} else {
		all = append(all, validateQualifiedName(t.TopologyKey, fldPath.Child("topologyKey"))...)
	}
	return all
}

func validateNodeSelector(ns *corev1.NodeSelector, fldPath *field.Path) field.ErrorList {
	terms := fldPath.Child("nodeSelectorTerms")
	if len(ns.NodeSelectorTerms) == 0 {
		return field.ErrorList{field.Required(terms, "must have at least one node selector term")}
	}
	var all field.ErrorList
	for i, t := range ns.NodeSelectorTerms {
		all = append(all, validateNodeSelectorTerm(t, terms.Index(i))...)
	}
	return all
}

func validateNodeSelectorTerm(t corev1.NodeSelectorTerm, fldPath *field.Path) field.ErrorList {
	var all field.ErrorList
	for i, r := range t.MatchExpressions {
		all = append(all, validateNodeSelectorRequirement(r, fldPath.Child("matchExpressions").Index(i))...)
	}
	for i, r := range t.MatchFields {
		p := fldPath.Child("matchFields").Index(i)
		// Only the node name can be matched by field, and only by listing it.
		if r.Key != metav1.ObjectNameField {
			all = append(all, field.Invalid(p.Child("key"), r.Key, "not a valid field selector key"))
		}
		switch r.Operator {
		case corev1.NodeSelectorOpIn, corev1.NodeSelectorOpNotIn:
			if len(r.Values) != 1 {
				all = append(all, field.Required(p.Child("values"), "must be only one value when `operator` is 'In' or 'NotIn' for node field selector"))
			}
		default:
			all = append(all, field.Invalid(p.Child("operator"), r.Operator, "not a valid selector operator"))
		}
	}
	return all
}

func validateNodeSelectorRequirement(r corev1.NodeSelectorRequirement, fldPath *field.Path) field.ErrorList {
	var all field.ErrorList
	switch r.Operator {
	case corev1.NodeSelectorOpIn, corev1.NodeSelectorOpNotIn:
		if len(r.Values) == 0 {
			all = append(all, field.Required(fldPath.Child("values"), "must be specified when `operator` is 'In' or 'NotIn'"))
		}
	case corev1.NodeSelectorOpExists, corev1.NodeSelectorOpDoesNotExist:
		if len(r.Values) > 0 {
			all = append(all, field.Forbidden(fldPath.Child("values"), "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"))
		}
	case corev1.NodeSelectorOpGt, corev1.NodeSelectorOpLt:
		if len(r.Values) != 1 {
			all = append(all, field.Required(fldPath.Child("values"), "must be specified single value when `operator` is 'Lt' or 'Gt'"))
		}
	default:
		all = append(all, field.Invalid(fldPath.Child("operator"), r.Operator, "not a valid selector operator"))
	}
	all = append(all, metavalidation.ValidateLabelName(r.Key, fldPath.Child("key"))...)
	for i, v := range r.Values {
		all = append(all, errs(fldPath.Child("values").Index(i), v, validation.IsValidLabelValue(v))...)
	}
	return all
}

// validatePodUpdate allows only the fields Kubernetes lets a running pod
// change; everything else in spec must stay as it was.
func validatePodUpdate(pod, old *corev1.Pod) field.ErrorList {
	all := validateMetaUpdate(&pod.ObjectMeta, &old.ObjectMeta)
	all = append(all, validatePodMetaAndSpec(pod)...)

	for _, list := range []struct {
		name     string
		new, old []corev1.Container
	}{{"containers", pod.Spec.Containers, old.Spec.Containers}, {"initContainers", pod.Spec.InitContainers, old.Spec.InitContainers}} {
		if len(list.new) != len(list.old) {
			return append(all, field.Forbidden(specPath.Child(list.name), "pod updates may not add or remove containers"))
		}
	}

	if d := pod.Spec.ActiveDeadlineSeconds; d != nil {
		// Only from nil to a value, or down to a smaller one.
		if *d < 0 || *d > math.MaxInt32 {
			return append(all, field.Invalid(specPath.Child("activeDeadlineSeconds"), *d, validation.InclusiveRangeError(0, math.MaxInt32)))
		}
		if o := old.Spec.ActiveDeadlineSeconds; o != nil && *o < *d {
			return append(all, field.Invalid(specPath.Child("activeDeadlineSeconds"), *d, "must be less than or equal to previous value"))
		}
	} else if old.Spec.ActiveDeadlineSeconds != nil {
		all = append(all, field.Invalid(specPath.Child("activeDeadlineSeconds"), pod.Spec.ActiveDeadlineSeconds, "must not update from a positive integer to nil value"))
	}
	all = append(all, validateOnlyAddedTolerations(pod.Spec.Tolerations, old.Spec.Tolerations, specPath.Child("tolerations"))...)
	all = append(all, validateOnlyDeletedSchedulingGates(pod.Spec.SchedulingGates, old.Spec.SchedulingGates, specPath.Child("schedulingGates"))...)

	if apiequality.Semantic.DeepEqual(pod.Spec, old.Spec) {
		return all
	}
	// Copy the mutable fields from old into a copy of the new spec; whatever
	// still differs was changed and may not be.
	munged := pod.Spec.DeepCopy()
	for i := range munged.Containers {
		munged.Containers[i].Image = old.Spec.Containers[i].Image
	}
	for i := range munged.InitContainers {
		munged.InitContainers[i].Image = old.Spec.InitContainers[i].Image
	}
	munged.ActiveDeadlineSeconds = old.Spec.ActiveDeadlineSeconds
	munged.SchedulingGates = old.Spec.SchedulingGates
	munged.Tolerations = old.Spec.Tolerations
	if g, og := munged.TerminationGracePeriodSeconds, old.Spec.TerminationGracePeriodSeconds; og != nil && *og < 0 && g != nil && *g == 1 {
		munged.TerminationGracePeriodSeconds = og
	}
	if len(old.Spec.SchedulingGates) > 0 {
		// A gated pod is not scheduled yet, so its node constraints may
		// narrow; validateNodeSelectorAdditions checks that they only narrow.
		all = append(all, validateNodeSelectorAdditions(munged.NodeSelector, old.Spec.NodeSelector, specPath.Child("nodeSelector"))...)
		munged.NodeSelector = old.Spec.NodeSelector
	}
	if !apiequality.Semantic.DeepEqual(*munged, old.Spec) {
		all = append(all, field.Forbidden(specPath, fmt.Sprintf("pod updates may not change fields other than %s\n%v",
			strings.Join(updatablePodSpecFields, ","), diff.Diff(old.Spec, *munged))))
	}
	return all
}

func validateOnlyAddedTolerations(tolerations, old []corev1.Toleration, fldPath *field.Path) field.ErrorList {
	for _, o := range old {
		found := slices.ContainsFunc(tolerations, func(t corev1.Toleration) bool {
			// tolerationSeconds may change, e.g. to shorten an eviction delay.
			o.TolerationSeconds = t.TolerationSeconds
			return apiequality.Semantic.DeepEqual(o, t)
		})
		if !found {
			return field.ErrorList{field.Forbidden(fldPath, "existing toleration can not be modified except its tolerationSeconds")}
		}
	}
	return validateTolerations(tolerations, fldPath)
}

func validateOnlyDeletedSchedulingGates(gates, old []corev1.PodSchedulingGate, fldPath *field.Path) field.ErrorList {
	var all field.ErrorList
	for i, g := range gates {
		if !slices.ContainsFunc(old, func(o corev1.PodSchedulingGate) bool { return o.Name == g.Name }) {
			all = append(all, field.Forbidden(fldPath.Index(i).Child("name"), fmt.Sprintf("only deletion is allowed, but found new scheduling gate '%s'", g.Name)))
		}
	}
	return all
}

func validateNodeSelectorAdditions(selector, old map[string]string, fldPath *field.Path) field.ErrorList {
	var all field.ErrorList
	for k, v := range old {
		if nv, ok := selector[k]; !ok || nv != v {
			all = append(all, field.Invalid(fldPath.Key(k), selector[k], "only additions to spec.nodeSelector are allowed (no mutations or deletions)"))
		}
	}
	return all
}

func validatePodStatusUpdate(pod, old *corev1.Pod) field.ErrorList {
	all := validateMetaUpdate(&pod.ObjectMeta, &old.ObjectMeta)
	s := &pod.Status
	if s.NominatedNodeName != "" {
		all = append(all, errs(statusPath.Child("nominatedNodeName"), s.NominatedNodeName, apivalidation.NameIsDNSSubdomain(s.NominatedNodeName, false))...)
	}
	all = append(all, validatePodIPs(s.PodIP, s.PodIPs, old.Status.PodIPs, "podIP", "podIPs")...)
	var hostIPs []corev1.PodIP
	for _, h := range s.HostIPs {
		hostIPs = append(hostIPs, corev1.PodIP(h))
	}
	var oldHostIPs []corev1.PodIP
	for _, h := range old.Status.HostIPs {
		oldHostIPs = append(oldHostIPs, corev1.PodIP(h))
	}
	all = append(all, validatePodIPs(s.HostIP, hostIPs, oldHostIPs, "hostIP", "hostIPs")...)
	for i, c := range s.Conditions {
		all = append(all, validateQualifiedName(string(c.Type), statusPath.Child("conditions").Index(i).Child("type"))...)
	}
	return all
}

// validatePodIPs checks the pod or host IP list: valid, at most one per
// family, and the first one equal to the singular field.
func validatePodIPs(single string, ips, old []corev1.PodIP, singleName, listName string) field.ErrorList {
	var all field.ErrorList
	p := statusPath.Child(listName)
	var values, oldValues []string
	for _, ip := range ips {
		values = append(values, ip.IP)
	}
	for _, ip := range old {
		oldValues = append(oldValues, ip.IP)
	}
	if single != "" && len(values) > 0 && values[0] != single {
		all = append(all, field.Invalid(p.Index(0).Child("ip"), values[0], fmt.Sprintf("must be equal to %s", singleName)))
	}
	for i, ip := range values {
		all = append(all, validateIP(ip, p.Index(i), oldValues)...)
	}
	if len(values) > 1 && !isDualStack(values, isIPv6String) {
		all = append(all, field.Invalid(p, ips, "may specify no more than one IP for each IP family"))
	}
	return all
}
