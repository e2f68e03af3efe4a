package validation

import (
	"fmt"
	"path"
	"reflect"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metavalidation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

const fileModeErrorMsg = "must be a number between 0 and 0777 (octal), both inclusive"

// volumeSourceFields lists the json names of VolumeSource's members in
// declaration order, found once by reflection so that a source added to
// k8s.io/api is counted without a change here.
var volumeSourceFields = func() []string {
	t := reflect.TypeFor[corev1.VolumeSource]()
	names := make([]string, t.NumField())
	for i := range names {
		names[i], _, _ = strings.Cut(t.Field(i).Tag.Get("json"), ",")
	}
	return names
}()

// validateVolumes returns the valid volumes by name, for mounts to look up,
// with the errors of the others.
func validateVolumes(volumes []corev1.Volume, podMeta *metav1.ObjectMeta, fldPath *field.Path) (map[string]corev1.VolumeSource, field.ErrorList) {
	var all field.ErrorList
	vols := map[string]corev1.VolumeSource{}
	for i := range volumes {
		v := &volumes[i]
		p := fldPath.Index(i)
		el := validateVolumeSource(&v.VolumeSource, v.Name, podMeta, p)
		if v.Name == "" {
			el = append(el, field.Required(p.Child("name"), ""))
		} else {
			el = append(el, validateDNS1123Label(v.Name, p.Child("name"))...)
		}
		if _, dup := vols[v.Name]; dup {
			el = append(el, field.Duplicate(p.Child("name"), v.Name))
		}
		if len(el) == 0 {
			vols[v.Name] = v.VolumeSource
		}
		all = append(all, el...)
	}
	return vols, all
}

// validateVolumeSource requires exactly one source and checks the common
// ones in detail.
func validateVolumeSource(src *corev1.VolumeSource, volName string, podMeta *metav1.ObjectMeta, fldPath *field.Path) field.ErrorList {
	var all field.ErrorList
	v := reflect.ValueOf(src).Elem()
	n := 0
	for i, name := range volumeSourceFields {
		if v.Field(i).IsNil() {
			continue
		}
		if n > 0 {
			all = append(all, field.Forbidden(fldPath.Child(name), "may not specify more than 1 volume type"))
		}
		n++
	}
	if n == 0 {
		return append(all, field.Required(fldPath, "must specify a volume type"))
	}
	if n > 1 {
		return all // which one was meant is unclear, so its contents are not checked
	}
	switch {
	case src.EmptyDir != nil:
		if l := src.EmptyDir.SizeLimit; l != nil && l.Sign() < 0 {
			all = append(all, field.Forbidden(fldPath.Child("emptyDir", "sizeLimit"), "SizeLimit field must be a valid resource quantity"))
		}
	case src.HostPath != nil:
		p := fldPath.Child("hostPath")
		if src.HostPath.Path == "" {
			return append(all, field.Required(p.Child("path"), ""))
		}
		all = append(all, validatePathNoBacksteps(src.HostPath.Path, p.Child("path"))...)
		if t := src.HostPath.Type; t != nil {
			all = append(all, validateHostPathType(*t, p.Child("type"))...)
		}
	case src.Secret != nil:
		p := fldPath.Child("secret")
		if src.Secret.SecretName == "" {
			all = append(all, field.Required(p.Child("secretName"), ""))
		}
		all = append(all, validateFileMode(src.Secret.DefaultMode, p.Child("defaultMode"))...)
		all = append(all, validateKeysToPaths(src.Secret.Items, p.Child("items"))...)
	case src.ConfigMap != nil:
		p := fldPath.Child("configMap")
		if src.ConfigMap.Name == "" {
			all = append(all, field.Required(p.Child("name"), ""))
		}
		all = append(all, validateFileMode(src.ConfigMap.DefaultMode, p.Child("defaultMode"))...)
		all = append(all, validateKeysToPaths(src.ConfigMap.Items, p.Child("items"))...)
	case src.PersistentVolumeClaim != nil:
		if src.PersistentVolumeClaim.ClaimName == "" {
			all = append(all, field.Required(fldPath.Child("persistentVolumeClaim", "claimName"), ""))
		}
	case src.DownwardAPI != nil:
		p := fldPath.Child("downwardAPI")
		all = append(all, validateFileMode(src.DownwardAPI.DefaultMode, p.Child("defaultMode"))...)
		for i, f := range src.DownwardAPI.Items {
			all = append(all, validateDownwardAPIFile(f, p.Child("items").Index(i))...)
		}
	case src.Projected != nil:
		all = append(all, validateProjected(src.Projected, fldPath.Child("projected"))...)
	case src.NFS != nil:
		p := fldPath.Child("nfs")
		if src.NFS.Server == "" {
			all = append(all, field.Required(p.Child("server"), ""))
		}
		if src.NFS.Path == "" {
			all = append(all, field.Required(p.Child("path"), ""))
		} else if !path.IsAbs(src.NFS.Path) {
			all = append(all, field.Invalid(p.Child("path"), src.NFS.Path, "must be an absolute path"))
		}
	case src.CSI != nil:
		if src.CSI.Driver == "" {
			all = append(all, field.Required(fldPath.Child("csi", "driver"), ""))
		}
	case src.Ephemeral != nil:
		p := fldPath.Child("ephemeral")
		if src.Ephemeral.VolumeClaimTemplate == nil {
			all = append(all, field.Required(p.Child("volumeClaimTemplate"), ""))
			break
		}
		tp := p.Child("volumeClaimTemplate")
		all = append(all, validateTemplateMeta(&src.Ephemeral.VolumeClaimTemplate.ObjectMeta, tp.Child("metadata"))...)
		all = append(all, validatePersistentVolumeClaimSpec(&src.Ephemeral.VolumeClaimTemplate.Spec, tp.Child("spec"))...)
		// The claim is named <pod>-<volume>, which must itself be a valid name.
		if podMeta != nil && podMeta.Name != "" && volName != "" {
			claim := podMeta.Name + "-" + volName
			for _, msg := range apivalidation.NameIsDNSSubdomain(claim, false) {
				all = append(all, field.Invalid(fldPath.Child("name"), volName, fmt.Sprintf("PVC name %q: %v", claim, msg)))
			}
		}
	case src.Image != nil:
		if p := src.Image.PullPolicy; p != "" {
			all = append(all, validateEnum(p, fldPath.Child("image", "pullPolicy"), corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever)...)
		}
	}
	return all
}

// validateTemplateMeta allows only labels and annotations in an embedded
// object's metadata; the rest is filled in when the object is made.
func validateTemplateMeta(m *metav1.ObjectMeta, fldPath *field.Path) field.ErrorList {
	all := apivalidation.ValidateAnnotations(m.Annotations, fldPath.Child("annotations"))
	all = append(all, metavalidation.ValidateLabels(m.Labels, fldPath.Child("labels"))...)
	if m.Name != "" || m.GenerateName != "" || m.Namespace != "" || m.UID != "" || m.ResourceVersion != "" ||
		len(m.OwnerReferences) > 0 || len(m.Finalizers) > 0 {
		all = append(all, field.Forbidden(fldPath, "only labels and annotations may be set in a template's metadata"))
	}
	return all
}

func validateHostPathType(t corev1.HostPathType, fldPath *field.Path) field.ErrorList {
	valid := []corev1.HostPathType{
		corev1.HostPathUnset, corev1.HostPathDirectoryOrCreate, corev1.HostPathDirectory, corev1.HostPathFileOrCreate,
		corev1.HostPathFile, corev1.HostPathSocket, corev1.HostPathCharDev, corev1.HostPathBlockDev,
	}
	if !slices.Contains(valid, t) {
		return field.ErrorList{field.NotSupported(fldPath, t, valid)}
	}
	return nil
}

func validateFileMode(mode *int32, fldPath *field.Path) field.ErrorList {
	if mode != nil && (*mode > 0o777 || *mode < 0) {
		return field.ErrorList{field.Invalid(fldPath, *mode, fileModeErrorMsg)}
	}
	return nil
}

func validateKeysToPaths(items []corev1.KeyToPath, fldPath *field.Path) field.ErrorList {
	var all field.ErrorList
	for i, kp := range items {
		p := fldPath.Index(i)
		if kp.Key == "" {
			all = append(all, field.Required(p.Child("key"), ""))
		}
		if kp.Path == "" {
			all = append(all, field.Required(p.Child("path"), ""))
		}
		all = append(all, validateLocalNonReservedPath(kp.Path, p.Child("path"))...)
		all = append(all, validateFileMode(kp.Mode, p.Child("mode"))...)
	}
	return all
}

func validateDownwardAPIFile(f corev1.DownwardAPIVolumeFile, fldPath *field.Path) field.ErrorList {
	var all field.ErrorList
	if f.Path == "" {
		all = append(all, field.Required(fldPath.Child("path"), ""))
	}
	all = append(all, validateLocalNonReservedPath(f.Path, fldPath.Child("path"))...)
	switch {
	case f.FieldRef != nil && f.ResourceFieldRef != nil:
		all = append(all, field.Invalid(fldPath, "resource", "fieldRef and resourceFieldRef can not be specified simultaneously"))
	case f.FieldRef != nil:
		all = append(all, validateObjectFieldSelector(f.FieldRef, volumeFieldPaths, fldPath.Child("fieldRef"))...)
	case f.ResourceFieldRef != nil:
		all = append(all, validateResourceFieldSelector(f.ResourceFieldRef, true, fldPath.Child("resourceFieldRef"))...)
	default:
		all = append(all, field.Required(fldPath, "one of fieldRef and resourceFieldRef is required"))
	}
	return append(all, validateFileMode(f.Mode, fldPath.Child("mode"))...)
}

func validateProjected(pv *corev1.ProjectedVolumeSource, fldPath *field.Path) field.ErrorList {
	all := validateFileMode(pv.DefaultMode, fldPath.Child("defaultMode"))
	for i, s := range pv.Sources {
		p := fldPath.Child("sources").Index(i)
		n := 0
		if s.Secret != nil {
			n++
			if s.Secret.Name == "" {
				all = append(all, field.Required(p.Child("secret", "name"), ""))
			}
			all = append(all, validateKeysToPaths(s.Secret.Items, p.Child("secret", "items"))...)
		}
		if s.ConfigMap != nil {
			n++
			if s.ConfigMap.Name == "" {
				all = append(all, field.Required(p.Child("configMap", "name"), ""))
			}
			all = append(all, validateKeysToPaths(s.ConfigMap.Items, p.Child("configMap", "items"))...)
		}
		if s.DownwardAPI != nil {
			n++
			for j, f := range s.DownwardAPI.Items {
				all = append(all, validateDownwardAPIFile(f, p.Child("downwardAPI", "items").Index(j))...)
			}
		}
		if t := s.ServiceAccountToken; t != nil {
			n++
			tp := p.Child("serviceAccountToken")
			// Shorter tokens would expire before the kubelet refreshes them.
			if t.ExpirationSeconds != nil && *t.ExpirationSeconds < 10*60 {
				all = append(all, field.Invalid(tp.Child("expirationSeconds"), *t.ExpirationSeconds, "may not specify a duration less than 10 minutes"))
			}
			if t.ExpirationSeconds != nil && *t.ExpirationSeconds > 1<<32 {
				all = append(all, field.Invalid(tp.Child("expirationSeconds"), *t.ExpirationSeconds, "may not specify a duration larger than 2^32 seconds"))
			}
			if t.Path == "" {
				all = append(all, field.Required(tp.Child("path"), ""))
			}
		}
		if s.ClusterTrustBundle != nil {
			n++
			if s.ClusterTrustBundle.Path == "" {
				all = append(all, field.Required(p.Child("clusterTrustBundle", "path"), ""))
			}
		}
		if s.PodCertificate != nil {
			n++
		}
		if n > 1 {
			all = append(all, field.Forbidden(p, "may not specify more than 1 volume type per source"))
		}
	}
	return all
}

// validateLocalDescendingPath keeps a path inside the volume: relative and
// without "..".
func validateLocalDescendingPath(p string, fldPath *field.Path) field.ErrorList {
	var all field.ErrorList
	if path.IsAbs(p) || strings.HasPrefix(p, `\`) {
		all = append(all, field.Invalid(fldPath, p, "must be a relative path"))
	}
	return append(all, validatePathNoBacksteps(p, fldPath)...)
}

func validatePathNoBacksteps(p string, fldPath *field.Path) field.ErrorList {
	parts := strings.FieldsFunc(p, func(r rune) bool { return r == '/' || r == '\\' })
	if slices.Contains(parts, "..") {
		return field.ErrorList{field.Invalid(fldPath, p, "must not contain '..'")}
	}
	return nil
}

// validateLocalNonReservedPath also keeps out of the "..data" style names the
// kubelet uses for atomic updates of projected files.
func validateLocalNonReservedPath(p string, fldPath *field.Path) field.ErrorList {
	all := validateLocalDescendingPath(p, fldPath)
	if strings.HasPrefix(p, "..") && !strings.HasPrefix(p, "../") {
		all = append(all, field.Invalid(fldPath, p, "must not start with '..'"))
	}
	return all
}

func validateVolumeMounts(c *corev1.Container, vols map[string]corev1.VolumeSource, fldPath *field.Path) field.ErrorList {
	var all field.ErrorList
	mountPoints := map[string]bool{}
	devicePaths := map[string]bool{}
	deviceNames := map[string]bool{}
	for _, d := range c.VolumeDevices {
		devicePaths[d.DevicePath] = true
		deviceNames[d.Name] = true
	}
	for i, m := range c.VolumeMounts {
		p := fldPath.Index(i)
		if m.Name == "" {
			all = append(all, field.Required(p.Child("name"), ""))
		}
		if _, ok := vols[m.Name]; !ok {
			all = append(all, field.NotFound(p.Child("name"), m.Name))
		}
		if m.MountPath == "" {
			all = append(all, field.Required(p.Child("mountPath"), ""))
		}
		if mountPoints[m.MountPath] {
			all = append(all, field.Invalid(p.Child("mountPath"), m.MountPath, "must be unique"))
		}
		mountPoints[m.MountPath] = true
		if deviceNames[m.Name] {
			all = append(all, field.Invalid(p.Child("name"), m.Name, "must not already exist in volumeDevices"))
		}
		if devicePaths[m.MountPath] {
			all = append(all, field.Invalid(p.Child("mountPath"), m.MountPath, "must not already exist as a path in volumeDevices"))
		}
		// Kubernetes reports these two at the list's path, without the index.
		if m.SubPath != "" {
			all = append(all, validateLocalDescendingPath(m.SubPath, fldPath.Child("subPath"))...)
		}
		if m.SubPathExpr != "" {
			if m.SubPath != "" {
				all = append(all, field.Invalid(p.Child("subPathExpr"), m.SubPathExpr, "subPathExpr and subPath are mutually exclusive"))
			}
			all = append(all, validateLocalDescendingPath(m.SubPathExpr, fldPath.Child("subPathExpr"))...)
		}
		if mp := m.MountPropagation; mp != nil {
			mpPath := fldPath.Child("mountPropagation")
			valid := []corev1.MountPropagationMode{corev1.MountPropagationNone, corev1.MountPropagationHostToContainer, corev1.MountPropagationBidirectional}
			switch {
			case !slices.Contains(valid, *mp):
				all = append(all, field.NotSupported(mpPath, *mp, valid))
			case *mp == corev1.MountPropagationBidirectional &&
				(c.SecurityContext == nil || c.SecurityContext.Privileged == nil || !*c.SecurityContext.Privileged):
				all = append(all, field.Forbidden(mpPath, "Bidirectional mount propagation is available only to privileged containers"))
			}
		}
	}
	return all
}

func validateVolumeDevices(c *corev1.Container, vols map[string]corev1.VolumeSource, fldPath *field.Path) field.ErrorList {
	var all field.ErrorList
	paths := map[string]bool{}
	names := map[string]bool{}
	for i, d := range c.VolumeDevices {
		p := fldPath.Index(i)
		if d.Name == "" {
			all = append(all, field.Required(p.Child("name"), ""))
		}
		if d.DevicePath == "" {
			all = append(all, field.Required(p.Child("devicePath"), ""))
		}
		if paths[d.DevicePath] {
			all = append(all, field.Invalid(p.Child("devicePath"), d.DevicePath, "must be unique"))
		}
		if names[d.Name] {
			all = append(all, field.Invalid(p.Child("name"), d.Name, "must be unique"))
		}
		paths[d.DevicePath], names[d.Name] = true, true
		// Only a claim can be a raw block device.
		src, ok := vols[d.Name]
		switch {
		case !ok:
			all = append(all, field.NotFound(p.Child("name"), d.Name))
		case src.PersistentVolumeClaim == nil && src.Ephemeral == nil:
			all = append(all, field.Invalid(p.Child("name"), d.Name, "can only use volume source type of PersistentVolumeClaim or Ephemeral for block mode"))
		}
	}
	return all
}
