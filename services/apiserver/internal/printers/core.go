package printers

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/sets"
)

// Printers for the core ("") group, except pods (pod.go) and events (event.go).

const (
	// nodeRoleLabelPrefix marks a node role in a label's key: node-role.kubernetes.io/control-plane.
	nodeRoleLabelPrefix = "node-role.kubernetes.io/"
	// nodeRoleLabel carries a node role in its value, the older convention.
	nodeRoleLabel = "kubernetes.io/role"
	// betaStorageClassAnnotation names a volume's or claim's class; it wins over the spec field.
	betaStorageClassAnnotation = "volume.beta.kubernetes.io/storage-class"
)

func core(kind string) schema.GroupKind { return schema.GroupKind{Kind: kind} }

func init() {
	register(core("Namespace"), &kindPrinter{
		columns: []metav1.TableColumnDefinition{nameColumn, column("Status", "The status of the namespace"), ageColumn},
		rows:    rowsOf(namespaceCells),
	})
	register(core("Node"), &kindPrinter{
		columns: []metav1.TableColumnDefinition{
			nameColumn,
			column("Status", "The status of the node"),
			column("Roles", "The roles of the node"),
			ageColumn,
			column("Version", corev1.NodeSystemInfo{}.SwaggerDoc()["kubeletVersion"]),
			wideColumn("Internal-IP", corev1.NodeStatus{}.SwaggerDoc()["addresses"]),
			wideColumn("External-IP", corev1.NodeStatus{}.SwaggerDoc()["addresses"]),
			wideColumn("OS-Image", corev1.NodeSystemInfo{}.SwaggerDoc()["osImage"]),
			wideColumn("Kernel-Version", corev1.NodeSystemInfo{}.SwaggerDoc()["kernelVersion"]),
			wideColumn("Container-Runtime", corev1.NodeSystemInfo{}.SwaggerDoc()["containerRuntimeVersion"]),
		},
		rows: rowsOf(nodeCells),
	})
	serviceSpecDoc := corev1.ServiceSpec{}.SwaggerDoc()
	register(core("Service"), &kindPrinter{
		columns: []metav1.TableColumnDefinition{
			nameColumn,
			column("Type", serviceSpecDoc["type"]),
			column("Cluster-IP", serviceSpecDoc["clusterIP"]),
			column("External-IP", serviceSpecDoc["externalIPs"]),
			column("Port(s)", serviceSpecDoc["ports"]),
			ageColumn,
			wideColumn("Selector", serviceSpecDoc["selector"]),
		},
		rows: rowsOf(serviceCells),
	})
	register(core("Endpoints"), &kindPrinter{
		columns: []metav1.TableColumnDefinition{nameColumn, column("Endpoints", corev1.Endpoints{}.SwaggerDoc()["subsets"]), ageColumn},
		rows:    rowsOf(endpointsCells),
	})
	register(core("ConfigMap"), &kindPrinter{
		columns: []metav1.TableColumnDefinition{nameColumn, column("Data", corev1.ConfigMap{}.SwaggerDoc()["data"]), ageColumn},
		rows:    rowsOf(configMapCells),
	})
	register(core("Secret"), &kindPrinter{
		columns: []metav1.TableColumnDefinition{
			nameColumn,
			column("Type", corev1.Secret{}.SwaggerDoc()["type"]),
			column("Data", corev1.Secret{}.SwaggerDoc()["data"]),
			ageColumn,
		},
		rows: rowsOf(secretCells),
	})
	// Kubernetes 1.37 has no SECRETS column for service accounts any more.
	register(core("ServiceAccount"), &kindPrinter{
		columns: []metav1.TableColumnDefinition{nameColumn, ageColumn},
		rows: rowsOf(func(sa *corev1.ServiceAccount, now time.Time) []any {
			return []any{sa.Name, since(sa.CreationTimestamp, now)}
		}),
	})
	pvSpecDoc := corev1.PersistentVolumeSpec{}.SwaggerDoc()
	pvStatusDoc := corev1.PersistentVolumeStatus{}.SwaggerDoc()
	register(core("PersistentVolume"), &kindPrinter{
		columns: []metav1.TableColumnDefinition{
			nameColumn,
			column("Capacity", pvSpecDoc["capacity"]),
			column("Access Modes", pvSpecDoc["accessModes"]),
			column("Reclaim Policy", pvSpecDoc["persistentVolumeReclaimPolicy"]),
			column("Status", pvStatusDoc["phase"]),
			column("Claim", pvSpecDoc["claimRef"]),
			column("StorageClass", "StorageClass of the pv"),
			column("VolumeAttributesClass", "VolumeAttributesClass of the pv"),
			column("Reason", pvStatusDoc["reason"]),
			ageColumn,
			wideColumn("VolumeMode", pvSpecDoc["volumeMode"]),
		},
		rows: rowsOf(persistentVolumeCells),
	})
	pvcSpecDoc := corev1.PersistentVolumeClaimSpec{}.SwaggerDoc()
	pvcStatusDoc := corev1.PersistentVolumeClaimStatus{}.SwaggerDoc()
	register(core("PersistentVolumeClaim"), &kindPrinter{
		columns: []metav1.TableColumnDefinition{
			nameColumn,
			column("Status", pvcStatusDoc["phase"]),
			column("Volume", pvcSpecDoc["volumeName"]),
			column("Capacity", pvcStatusDoc["capacity"]),
			column("Access Modes", pvcStatusDoc["accessModes"]),
			column("StorageClass", "StorageClass of the pvc"),
			column("VolumeAttributesClass", "VolumeAttributesClass of the pvc"),
			ageColumn,
			wideColumn("VolumeMode", pvcSpecDoc["volumeMode"]),
		},
		rows: rowsOf(persistentVolumeClaimCells),
	})
	rcSpecDoc := corev1.ReplicationControllerSpec{}.SwaggerDoc()
	rcStatusDoc := corev1.ReplicationControllerStatus{}.SwaggerDoc()
	register(core("ReplicationController"), &kindPrinter{
		columns: []metav1.TableColumnDefinition{
			nameColumn,
			typedColumn("Desired", "integer", rcSpecDoc["replicas"]),
			typedColumn("Current", "integer", rcStatusDoc["replicas"]),
			typedColumn("Ready", "integer", rcStatusDoc["readyReplicas"]),
			ageColumn,
			containersColumn,
			imagesColumn,
			wideColumn("Selector", rcSpecDoc["selector"]),
		},
		rows: rowsOf(replicationControllerCells),
	})
	register(core("ResourceQuota"), &kindPrinter{
		columns: []metav1.TableColumnDefinition{
			nameColumn,
			column("Request", "Request represents a minimum amount of cpu/memory that a container may consume."),
			column("Limit", "Limits control the maximum amount of cpu/memory that a container may use independent of contention on the node."),
			ageColumn,
		},
		rows: rowsOf(resourceQuotaCells),
	})
	register(core("PodTemplate"), &kindPrinter{
		columns: []metav1.TableColumnDefinition{
			nameColumn,
			column("Containers", "Names of each container in the template."),
			column("Images", "Images referenced by each container in the template."),
			column("Pod Labels", "The labels for the pod template."),
		},
		rows: rowsOf(func(pt *corev1.PodTemplate, _ time.Time) []any {
			names, images := containerCells(pt.Template.Spec.Containers)
			return []any{pt.Name, names, images, labels.FormatLabels(pt.Template.Labels)}
		}),
	})
	// LimitRange has no printer in Kubernetes and gets the default table.
}

func namespaceCells(ns *corev1.Namespace, now time.Time) []any {
	phase := ns.Status.Phase
	if phase == "" {
		phase = corev1.NamespaceActive
	}
	return []any{ns.Name, string(phase), since(ns.CreationTimestamp, now)}
}

func nodeCells(node *corev1.Node, now time.Time) []any {
	// Only the Ready condition makes the status; the others have their own columns in describe.
	var status []string
	for _, c := range node.Status.Conditions {
		if c.Type != corev1.NodeReady {
			continue
		}
		if c.Status == corev1.ConditionTrue {
			status = []string{"Ready"}
		} else {
			status = []string{"NotReady"}
		}
	}
	if len(status) == 0 {
		status = []string{"Unknown"}
	}
	if node.Spec.Unschedulable {
		status = append(status, "SchedulingDisabled")
	}

	roles := strings.Join(nodeRoles(node), ",")
	info := node.Status.NodeInfo
	kernel := orUnknown(info.KernelVersion)
	if info.Architecture != "" {
		kernel += " (" + info.Architecture + ")"
	}
	return []any{
		node.Name,
		strings.Join(status, ","),
		orNone(roles),
		since(node.CreationTimestamp, now),
		info.KubeletVersion,
		nodeAddress(node, corev1.NodeInternalIP),
		nodeAddress(node, corev1.NodeExternalIP),
		orUnknown(info.OSImage),
		kernel,
		orUnknown(info.ContainerRuntimeVersion),
	}
}

// nodeRoles lists a node's roles, sorted, from node-role.kubernetes.io/<role>
// label keys and the value of the kubernetes.io/role label.
func nodeRoles(node *corev1.Node) []string {
	roles := sets.New[string]()
	for k, v := range node.Labels {
		if role, ok := strings.CutPrefix(k, nodeRoleLabelPrefix); ok {
			if role != "" {
				roles.Insert(role)
			}
		} else if k == nodeRoleLabel && v != "" {
			roles.Insert(v)
		}
	}
	return sets.List(roles)
}

// nodeAddress is the node's first address of type t, or "<none>".
func nodeAddress(node *corev1.Node, t corev1.NodeAddressType) string {
	for _, a := range node.Status.Addresses {
		if a.Type == t {
			return a.Address
		}
	}
	return "<none>"
}

func orUnknown(s string) string {
	if s == "" {
		return "<unknown>"
	}
	return s
}

func serviceCells(svc *corev1.Service, now time.Time) []any {
	svcType := svc.Spec.Type
	if svcType == "" {
		svcType = corev1.ServiceTypeClusterIP
	}
	// Kubernetes prints the first of the cluster IPs, which it keeps in
	// sync with the singular field; an object with only the singular field
	// set falls back to it.
	clusterIP := orNone(svc.Spec.ClusterIP)
	if len(svc.Spec.ClusterIPs) > 0 {
		clusterIP = svc.Spec.ClusterIPs[0]
	}
	return []any{
		svc.Name,
		string(svcType),
		clusterIP,
		serviceExternalIP(svc, svcType),
		orNone(servicePorts(svc.Spec.Ports)),
		since(svc.CreationTimestamp, now),
		labels.FormatLabels(svc.Spec.Selector),
	}
}

// serviceExternalIP is where a service is reached from outside: its external
// IPs, its load balancer's addresses, or for ExternalName its DNS name.
func serviceExternalIP(svc *corev1.Service, svcType corev1.ServiceType) string {
	switch svcType {
	case corev1.ServiceTypeClusterIP, corev1.ServiceTypeNodePort:
		if len(svc.Spec.ExternalIPs) > 0 {
			return strings.Join(svc.Spec.ExternalIPs, ",")
		}
		return "<none>"
	case corev1.ServiceTypeLoadBalancer:
		addrs := make([]string, 0, len(svc.Status.LoadBalancer.Ingress))
		for _, ing := range svc.Status.LoadBalancer.Ingress {
			addrs = append(addrs, loadBalancerAddress(ing.IP, ing.Hostname))
		}
		lb := joinAddresses(addrs)
		if len(svc.Spec.ExternalIPs) > 0 {
			var all []string
			if lb != "" {
				all = strings.Split(lb, ",")
			}
			return strings.Join(append(all, svc.Spec.ExternalIPs...), ",")
		}
		if lb != "" {
			return lb
		}
		return "<pending>"
	case corev1.ServiceTypeExternalName:
		return svc.Spec.ExternalName
	}
	return "<unknown>"
}

// servicePorts lists ports as port/protocol, or port:nodePort/protocol.
func servicePorts(ports []corev1.ServicePort) string {
	out := make([]string, len(ports))
	for i, p := range ports {
		proto := p.Protocol
		if proto == "" {
			proto = corev1.ProtocolTCP
		}
		if p.NodePort > 0 {
			out[i] = fmt.Sprintf("%d:%d/%s", p.Port, p.NodePort, proto)
		} else {
			out[i] = fmt.Sprintf("%d/%s", p.Port, proto)
		}
	}
	return strings.Join(out, ",")
}

// maxListed is how many entries a list cell shows before "+ N more...".
const maxListed = 3

func endpointsCells(ep *corev1.Endpoints, now time.Time) []any {
	return []any{ep.Name, endpointAddresses(ep), since(ep.CreationTimestamp, now)}
}

// endpointAddresses lists the first endpoints as ip:port (bare IPs for
// subsets without ports), one per address and port.
func endpointAddresses(ep *corev1.Endpoints) string {
	if len(ep.Subsets) == 0 {
		return "<none>"
	}
	var shown []string
	total := 0
	add := func(s string) {
		total++
		if len(shown) < maxListed {
			shown = append(shown, s)
		}
	}
	for _, ss := range ep.Subsets {
		if len(ss.Ports) == 0 {
			// Headless services may have no ports.
			for _, a := range ss.Addresses {
				add(a.IP)
			}
			continue
		}
		for _, p := range ss.Ports {
			for _, a := range ss.Addresses {
				add(net.JoinHostPort(a.IP, strconv.Itoa(int(p.Port))))
			}
		}
	}
	return truncatedList(shown, total, maxListed)
}

func configMapCells(cm *corev1.ConfigMap, now time.Time) []any {
	return []any{cm.Name, int64(len(cm.Data) + len(cm.BinaryData)), since(cm.CreationTimestamp, now)}
}

func secretCells(s *corev1.Secret, now time.Time) []any {
	typ := s.Type
	if typ == "" {
		typ = corev1.SecretTypeOpaque
	}
	return []any{s.Name, string(typ), int64(len(s.Data)), since(s.CreationTimestamp, now)}
}

func persistentVolumeCells(pv *corev1.PersistentVolume, now time.Time) []any {
	claim := ""
	if ref := pv.Spec.ClaimRef; ref != nil {
		claim = ref.Namespace + "/" + ref.Name
	}
	reclaim := pv.Spec.PersistentVolumeReclaimPolicy
	if reclaim == "" {
		reclaim = corev1.PersistentVolumeReclaimRetain
	}
	phase := string(pv.Status.Phase)
	if phase == "" {
		phase = string(corev1.VolumePending)
	}
	if pv.DeletionTimestamp != nil {
		phase = "Terminating"
	}
	class, ok := pv.Annotations[betaStorageClassAnnotation]
	if !ok {
		class = pv.Spec.StorageClassName
	}
	capacity := pv.Spec.Capacity[corev1.ResourceStorage]
	return []any{
		pv.Name,
		capacity.String(),
		accessModes(pv.Spec.AccessModes),
		string(reclaim),
		phase,
		claim,
		class,
		orUnset(pv.Spec.VolumeAttributesClassName),
		pv.Status.Reason,
		since(pv.CreationTimestamp, now),
		volumeMode(pv.Spec.VolumeMode),
	}
}

func persistentVolumeClaimCells(pvc *corev1.PersistentVolumeClaim, now time.Time) []any {
	phase := string(pvc.Status.Phase)
	if phase == "" {
		phase = string(corev1.ClaimPending)
	}
	if pvc.DeletionTimestamp != nil {
		phase = "Terminating"
	}
	// Capacity and access modes are the bound volume's, so only shown once bound.
	capacity, modes := "", ""
	if pvc.Spec.VolumeName != "" {
		modes = accessModes(pvc.Status.AccessModes)
		q := pvc.Status.Capacity[corev1.ResourceStorage]
		capacity = q.String()
	}
	class, ok := pvc.Annotations[betaStorageClassAnnotation]
	if !ok && pvc.Spec.StorageClassName != nil {
		class = *pvc.Spec.StorageClassName
	}
	return []any{
		pvc.Name,
		phase,
		pvc.Spec.VolumeName,
		capacity,
		modes,
		class,
		orUnset(pvc.Spec.VolumeAttributesClassName),
		since(pvc.CreationTimestamp, now),
		volumeMode(pvc.Spec.VolumeMode),
	}
}

// accessModes abbreviates access modes in a fixed order: RWO,ROX,RWX,RWOP.
func accessModes(modes []corev1.PersistentVolumeAccessMode) string {
	var out []string
	for _, m := range []struct {
		mode  corev1.PersistentVolumeAccessMode
		short string
	}{
		{corev1.ReadWriteOnce, "RWO"},
		{corev1.ReadOnlyMany, "ROX"},
		{corev1.ReadWriteMany, "RWX"},
		{corev1.ReadWriteOncePod, "RWOP"},
	} {
		if slices.Contains(modes, m.mode) {
			out = append(out, m.short)
		}
	}
	return strings.Join(out, ",")
}

// volumeMode defaults to Filesystem, as the API does.
func volumeMode(m *corev1.PersistentVolumeMode) string {
	if m == nil {
		return string(corev1.PersistentVolumeFilesystem)
	}
	return string(*m)
}

func orUnset(s *string) string {
	if s == nil {
		return "<unset>"
	}
	return *s
}

func replicationControllerCells(rc *corev1.ReplicationController, now time.Time) []any {
	var containers []corev1.Container
	selector := rc.Spec.Selector
	if t := rc.Spec.Template; t != nil {
		containers = t.Spec.Containers
		// The API defaults an empty selector to the template's labels.
		if len(selector) == 0 {
			selector = t.Labels
		}
	}
	names, images := containerCells(containers)
	return []any{
		rc.Name,
		int64(replicasOrDefault(rc.Spec.Replicas)),
		int64(rc.Status.Replicas),
		int64(rc.Status.ReadyReplicas),
		since(rc.CreationTimestamp, now),
		names,
		images,
		labels.FormatLabels(selector),
	}
}

// resourceQuotaCells shows each hard limit as "resource: used/hard", with
// limits.* resources in the LIMIT column and the rest under REQUEST.
func resourceQuotaCells(q *corev1.ResourceQuota, now time.Time) []any {
	names := make([]string, 0, len(q.Status.Hard))
	for name := range q.Status.Hard {
		names = append(names, string(name))
	}
	slices.Sort(names)
	var requests, limits []string
	for _, name := range names {
		used := q.Status.Used[corev1.ResourceName(name)]
		hard := q.Status.Hard[corev1.ResourceName(name)]
		entry := fmt.Sprintf("%s: %s/%s", name, used.String(), hard.String())
		if strings.HasPrefix(name, "limits.") {
			limits = append(limits, entry)
		} else {
			requests = append(requests, entry)
		}
	}
	return []any{q.Name, strings.Join(requests, ", "), strings.Join(limits, ", "), since(q.CreationTimestamp, now)}
}
