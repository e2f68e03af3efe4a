// Package volumebinding makes placement follow data: a bound claim's
// PersistentVolume node affinity restricts the nodes, WaitForFirstConsumer
// claims are matched to an available PV on the node (or to a storage
// class whose allowed topologies include it), and the choice is written
// before the pod is bound.
//
// For a static PV the plugin binds both sides itself, as Kubernetes' PV
// controller would (drover has none): the PV's claimRef and phase Bound,
// the claim's volumeName, bind-completed annotation and phase Bound. For
// dynamic provisioning it annotates the claim with the selected node and,
// as kube-scheduler does, waits (bindTimeoutSeconds) until a provisioner
// has bound the claim; a provisioner that gives up removes the annotation
// and the pod is scheduled again.
package volumebinding

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	corelisters "k8s.io/client-go/listers/core/v1"
	storagelisters "k8s.io/client-go/listers/storage/v1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"

	"drover.dev/scheduler/internal/framework"
)

// Name is the plugin's name in configuration.
const Name = "VolumeBinding"

// Reasons, as in Kubernetes.
const (
	ErrReasonBindConflict     = "node(s) didn't find available persistent volumes to bind"
	ErrReasonNodeConflict     = "node(s) didn't match PersistentVolume's node affinity"
	ErrReasonPVNotExist       = "node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)"
	ErrReasonUnboundImmediate = "pod has unbound immediate PersistentVolumeClaims"
	// AnnSelectedNode tells a dynamic provisioner where the consumer runs.
	AnnSelectedNode = "volume.kubernetes.io/selected-node"
	// AnnBindCompleted marks a claim whose binding is complete.
	AnnBindCompleted = "pv.kubernetes.io/bind-completed"
	// AnnBoundByController marks a binding not asked for by the user.
	AnnBoundByController = "pv.kubernetes.io/bound-by-controller"
	noProvisioner        = "kubernetes.io/no-provisioner"
	// DefaultBindTimeoutSeconds is kube-scheduler's default.
	DefaultBindTimeoutSeconds = 600
)

// Args are VolumeBindingArgs.
type Args struct {
	// BindTimeoutSeconds bounds PreBind's wait for a provisioner.
	BindTimeoutSeconds *int64 `json:"bindTimeoutSeconds,omitempty"`
}

// VolumeBinding is the plugin.
type VolumeBinding struct {
	h       framework.Handle
	pvcs    corelisters.PersistentVolumeClaimLister
	pvs     corelisters.PersistentVolumeLister
	classes storagelisters.StorageClassLister

	bindTimeout time.Duration
	// pollInterval is how often PreBind looks at the claims it waits for.
	pollInterval time.Duration

	mu sync.Mutex
	// assumed maps a PV chosen in Reserve to its claim ("ns/name") until
	// the informer shows the PV claimed, or the choice is undone.
	assumed map[string]string
}

var (
	_ framework.PreFilterPlugin   = &VolumeBinding{}
	_ framework.FilterPlugin      = &VolumeBinding{}
	_ framework.ReservePlugin     = &VolumeBinding{}
	_ framework.PreBindPlugin     = &VolumeBinding{}
	_ framework.EnqueueExtensions = &VolumeBinding{}
)

// New builds the plugin.
func New(raw json.RawMessage, h framework.Handle) (framework.Plugin, error) {
	var args Args
	if err := framework.DecodeArgs(raw, &args); err != nil {
		return nil, err
	}
	timeout := int64(DefaultBindTimeoutSeconds)
	if args.BindTimeoutSeconds != nil {
		if *args.BindTimeoutSeconds <= 0 {
			return nil, fmt.Errorf("volumebinding: bindTimeoutSeconds must be positive, not %d", *args.BindTimeoutSeconds)
		}
		timeout = *args.BindTimeoutSeconds
	}
	pl := &VolumeBinding{h: h, assumed: map[string]string{}, bindTimeout: time.Duration(timeout) * time.Second, pollInterval: 100 * time.Millisecond}
	if f := h.SharedInformerFactory(); f != nil {
		pl.pvcs = f.Core().V1().PersistentVolumeClaims().Lister()
		pl.pvs = f.Core().V1().PersistentVolumes().Lister()
		pl.classes = f.Storage().V1().StorageClasses().Lister()
	}
	return pl, nil
}

// Name implements framework.Plugin.
func (pl *VolumeBinding) Name() string { return Name }

// EventsToRegister implements framework.EnqueueExtensions.
func (pl *VolumeBinding) EventsToRegister() []framework.ClusterEvent {
	return []framework.ClusterEvent{
		{Resource: framework.EventPersistentVolume, ActionType: framework.Add | framework.Update},
		{Resource: framework.EventPersistentVolumeClaim, ActionType: framework.Add | framework.Update},
		{Resource: framework.EventStorageClass, ActionType: framework.Add | framework.Update},
		{Resource: framework.EventNode, ActionType: framework.Add | framework.UpdateNodeLabel},
	}
}

const stateKey framework.StateKey = "PreFilter" + Name

type claimToBind struct {
	pvc   *v1.PersistentVolumeClaim
	class *storagev1.StorageClass
}

type state struct {
	boundPVs []*v1.PersistentVolume
	// missingPV is set when a bound claim's PV does not exist.
	missingPV bool
	unbound   []claimToBind
	// chosen is filled at Reserve: claim -> PV (nil: dynamic provisioning).
	chosen map[*v1.PersistentVolumeClaim]*v1.PersistentVolume
}

func (s *state) Clone() framework.StateData { return s }

func claimNames(pod *v1.Pod) []string {
	var out []string
	for _, v := range pod.Spec.Volumes {
		switch {
		case v.PersistentVolumeClaim != nil:
			out = append(out, v.PersistentVolumeClaim.ClaimName)
		case v.Ephemeral != nil:
			out = append(out, pod.Name+"-"+v.Name)
		}
	}
	return out
}

// PreFilter resolves the pod's claims.
func (pl *VolumeBinding) PreFilter(_ context.Context, cs *framework.CycleState, pod *v1.Pod) (*framework.PreFilterResult, *framework.Status) {
	names := claimNames(pod)
	if len(names) == 0 || pl.pvcs == nil {
		return nil, framework.NewStatus(framework.Skip)
	}
	s := &state{}
	for _, name := range names {
		pvc, err := pl.pvcs.PersistentVolumeClaims(pod.Namespace).Get(name)
		if apierrors.IsNotFound(err) {
			return nil, framework.NewStatus(framework.UnschedulableAndUnresolvable, fmt.Sprintf("persistentvolumeclaim %q not found", name))
		}
		if err != nil {
			return nil, framework.AsStatus(err)
		}
		if pvc.DeletionTimestamp != nil {
			return nil, framework.NewStatus(framework.UnschedulableAndUnresolvable, fmt.Sprintf("persistentvolumeclaim %q is being deleted", name))
		}
		if pvc.Spec.VolumeName != "" {
			pv, err := pl.pvs.Get(pvc.Spec.VolumeName)
			if err != nil {
				s.missingPV = true
				continue
			}
			s.boundPVs = append(s.boundPVs, pv)
			continue
		}
		className := ""
		if pvc.Spec.StorageClassName != nil {
			className = *pvc.Spec.StorageClassName
		}
		var class *storagev1.StorageClass
		if className != "" {
			class, _ = pl.classes.Get(className)
		}
		if class == nil || class.VolumeBindingMode == nil || *class.VolumeBindingMode != storagev1.VolumeBindingWaitForFirstConsumer {
			return nil, framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonUnboundImmediate)
		}
		s.unbound = append(s.unbound, claimToBind{pvc: pvc, class: class})
	}
	cs.Write(stateKey, s)
	return nil, nil
}

// PreFilterExtensions implements framework.PreFilterPlugin.
func (pl *VolumeBinding) PreFilterExtensions() framework.PreFilterExtensions { return nil }

func pvMatchesNode(pv *v1.PersistentVolume, node *v1.Node) bool {
	if pv.Spec.NodeAffinity == nil || pv.Spec.NodeAffinity.Required == nil {
		return true
	}
	sel, err := nodeaffinity.NewNodeSelector(pv.Spec.NodeAffinity.Required)
	if err != nil {
		return false
	}
	return sel.Match(node)
}

func claimKey(pvc *v1.PersistentVolumeClaim) string { return pvc.Namespace + "/" + pvc.Name }

// findPV picks the smallest available PV for the claim on the node.
func (pl *VolumeBinding) findPV(c claimToBind, node *v1.Node, taken map[string]bool) *v1.PersistentVolume {
	pvs, err := pl.pvs.List(labels.Everything())
	if err != nil {
		return nil
	}
	want := c.pvc.Spec.Resources.Requests[v1.ResourceStorage]
	var best *v1.PersistentVolume
	pl.mu.Lock()
	defer pl.mu.Unlock()
	for _, pv := range pvs {
		if pv.Spec.StorageClassName != c.class.Name || taken[pv.Name] || pv.DeletionTimestamp != nil {
			continue
		}
		if ref := pv.Spec.ClaimRef; ref != nil {
			// The informer shows the PV claimed: the assumption, if any,
			// is no longer needed.
			delete(pl.assumed, pv.Name)
			if ref.Namespace != c.pvc.Namespace || ref.Name != c.pvc.Name || (ref.UID != "" && ref.UID != c.pvc.UID) {
				continue
			}
		}
		if owner, ok := pl.assumed[pv.Name]; ok && owner != claimKey(c.pvc) {
			continue
		}
		// Pending as well as Available: the apiserver creates PVs Pending
		// and, without a PV controller, nothing moves them on. Released
		// and Failed volumes are not reused.
		if ph := pv.Status.Phase; pv.Spec.ClaimRef == nil && ph != "" && ph != v1.VolumePending && ph != v1.VolumeAvailable {
			continue
		}
		capacity := pv.Spec.Capacity[v1.ResourceStorage]
		if capacity.Cmp(want) < 0 || !accessModesContain(pv.Spec.AccessModes, c.pvc.Spec.AccessModes) {
			continue
		}
		if c.pvc.Spec.Selector != nil {
			sel, err := metav1.LabelSelectorAsSelector(c.pvc.Spec.Selector)
			if err != nil || !sel.Matches(labels.Set(pv.Labels)) {
				continue
			}
		}
		if !pvMatchesNode(pv, node) {
			continue
		}
		if best == nil {
			best = pv
			continue
		}
		bc := best.Spec.Capacity[v1.ResourceStorage]
		if capacity.Cmp(bc) < 0 {
			best = pv
		}
	}
	return best
}

func accessModesContain(have, want []v1.PersistentVolumeAccessMode) bool {
	for _, w := range want {
		found := false
		for _, h := range have {
			if h == w {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func classAllowsNode(class *storagev1.StorageClass, node *v1.Node) bool {
	if class.Provisioner == noProvisioner {
		return false
	}
	if len(class.AllowedTopologies) == 0 {
		return true
	}
	for _, term := range class.AllowedTopologies {
		ok := true
		for _, req := range term.MatchLabelExpressions {
			v, has := node.Labels[req.Key]
			in := false
			for _, want := range req.Values {
				if has && v == want {
					in = true
					break
				}
			}
			if !in {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// choose picks a PV (or dynamic provisioning: nil) for every unbound claim.
func (pl *VolumeBinding) choose(s *state, node *v1.Node) (map[*v1.PersistentVolumeClaim]*v1.PersistentVolume, bool) {
	out := map[*v1.PersistentVolumeClaim]*v1.PersistentVolume{}
	taken := map[string]bool{}
	for _, c := range s.unbound {
		if pv := pl.findPV(c, node, taken); pv != nil {
			taken[pv.Name] = true
			out[c.pvc] = pv
			continue
		}
		if !classAllowsNode(c.class, node) {
			return nil, false
		}
		out[c.pvc] = nil
	}
	return out, true
}

// Filter implements framework.FilterPlugin.
func (pl *VolumeBinding) Filter(_ context.Context, cs *framework.CycleState, _ *v1.Pod, ni *framework.NodeInfo) *framework.Status {
	d, err := cs.Read(stateKey)
	if err != nil {
		return framework.AsStatus(err)
	}
	s := d.(*state)
	if s.missingPV {
		return framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonPVNotExist)
	}
	node := ni.Node()
	for _, pv := range s.boundPVs {
		if !pvMatchesNode(pv, node) {
			return framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonNodeConflict)
		}
	}
	if len(s.unbound) > 0 {
		if _, ok := pl.choose(s, node); !ok {
			return framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonBindConflict)
		}
	}
	return nil
}

// Reserve picks the volumes for the chosen node and holds them.
func (pl *VolumeBinding) Reserve(_ context.Context, cs *framework.CycleState, _ *v1.Pod, nodeName string) *framework.Status {
	d, err := cs.Read(stateKey)
	if err != nil || len(d.(*state).unbound) == 0 {
		return nil
	}
	s := d.(*state)
	ni, err := pl.h.SnapshotSharedLister().Get(nodeName)
	if err != nil {
		return framework.AsStatus(err)
	}
	chosen, ok := pl.choose(s, ni.Node())
	if !ok {
		return framework.NewStatus(framework.Unschedulable, ErrReasonBindConflict)
	}
	s.chosen = chosen
	pl.mu.Lock()
	for pvc, pv := range chosen {
		if pv != nil {
			pl.assumed[pv.Name] = claimKey(pvc)
		}
	}
	pl.mu.Unlock()
	return nil
}

// Unreserve releases the held volumes.
func (pl *VolumeBinding) Unreserve(_ context.Context, cs *framework.CycleState, _ *v1.Pod, _ string) {
	d, err := cs.Read(stateKey)
	if err != nil {
		return
	}
	pl.mu.Lock()
	for _, pv := range d.(*state).chosen {
		if pv != nil {
			delete(pl.assumed, pv.Name)
		}
	}
	pl.mu.Unlock()
}

// PreBind writes the choice: both sides of a static binding, or the
// selected-node annotation on a claim to be provisioned, then waits for
// the provisioned claims to be bound.
func (pl *VolumeBinding) PreBind(ctx context.Context, cs *framework.CycleState, _ *v1.Pod, nodeName string) *framework.Status {
	d, err := cs.Read(stateKey)
	if err != nil {
		return nil
	}
	var provisioned []*v1.PersistentVolumeClaim
	for pvc, pv := range d.(*state).chosen {
		if pv != nil {
			if err := pl.bindStatic(ctx, pvc, pv); err != nil {
				return framework.AsStatus(err)
			}
			continue
		}
		if err := pl.selectNode(ctx, pvc, nodeName); err != nil {
			return framework.AsStatus(err)
		}
		// pvc is the claim as it was before the annotation: the informer
		// showing that version means it has not seen the write yet.
		provisioned = append(provisioned, pvc)
	}
	if len(provisioned) == 0 {
		return nil
	}
	return pl.waitProvisioned(ctx, provisioned, nodeName)
}

// bindStatic binds claim and PV as the PV controller would: PV first (the
// claimRef is what reserves it against other claims), then the claim.
func (pl *VolumeBinding) bindStatic(ctx context.Context, pvc *v1.PersistentVolumeClaim, pv *v1.PersistentVolume) error {
	client := pl.h.ClientSet()
	ref := pv.Spec.ClaimRef
	if ref == nil || ref.UID != pvc.UID {
		upd := pv.DeepCopy()
		upd.Spec.ClaimRef = &v1.ObjectReference{Kind: "PersistentVolumeClaim", APIVersion: "v1", Namespace: pvc.Namespace, Name: pvc.Name, UID: pvc.UID, ResourceVersion: pvc.ResourceVersion}
		metav1.SetMetaDataAnnotation(&upd.ObjectMeta, AnnBoundByController, "yes")
		var err error
		if pv, err = client.CoreV1().PersistentVolumes().Update(ctx, upd, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("volumebinding: bind pv %s: %w", upd.Name, err)
		}
	}
	if pv.Status.Phase != v1.VolumeBound {
		upd := pv.DeepCopy()
		upd.Status.Phase = v1.VolumeBound
		if _, err := client.CoreV1().PersistentVolumes().UpdateStatus(ctx, upd, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("volumebinding: pv %s status: %w", pv.Name, err)
		}
	}
	claim := pvc
	if pvc.Spec.VolumeName != pv.Name || !metav1.HasAnnotation(pvc.ObjectMeta, AnnBindCompleted) {
		upd := pvc.DeepCopy()
		upd.Spec.VolumeName = pv.Name
		metav1.SetMetaDataAnnotation(&upd.ObjectMeta, AnnBindCompleted, "yes")
		metav1.SetMetaDataAnnotation(&upd.ObjectMeta, AnnBoundByController, "yes")
		var err error
		if claim, err = client.CoreV1().PersistentVolumeClaims(pvc.Namespace).Update(ctx, upd, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("volumebinding: bind claim %s: %w", claimKey(pvc), err)
		}
	}
	if claim.Status.Phase != v1.ClaimBound {
		upd := claim.DeepCopy()
		upd.Status.Phase = v1.ClaimBound
		upd.Status.AccessModes = pv.Spec.AccessModes
		upd.Status.Capacity = pv.Spec.Capacity
		if _, err := client.CoreV1().PersistentVolumeClaims(pvc.Namespace).UpdateStatus(ctx, upd, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("volumebinding: claim %s status: %w", claimKey(pvc), err)
		}
	}
	return nil
}

// selectNode asks for a volume to be provisioned for the node.
func (pl *VolumeBinding) selectNode(ctx context.Context, pvc *v1.PersistentVolumeClaim, nodeName string) error {
	if pvc.Annotations[AnnSelectedNode] == nodeName {
		return nil
	}
	upd := pvc.DeepCopy()
	metav1.SetMetaDataAnnotation(&upd.ObjectMeta, AnnSelectedNode, nodeName)
	if _, err := pl.h.ClientSet().CoreV1().PersistentVolumeClaims(pvc.Namespace).Update(ctx, upd, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("volumebinding: annotate claim %s: %w", claimKey(pvc), err)
	}
	return nil
}

// waitProvisioned waits until every claim is bound to a PV that fits the
// node, as kube-scheduler's binder does. A claim whose selected-node
// annotation was removed or changed means the provisioner gave up.
func (pl *VolumeBinding) waitProvisioned(ctx context.Context, claims []*v1.PersistentVolumeClaim, nodeName string) *framework.Status {
	ctx, cancel := context.WithTimeout(ctx, pl.bindTimeout)
	defer cancel()
	tick := time.NewTicker(pl.pollInterval)
	defer tick.Stop()
	seen := make([]bool, len(claims))
	for {
		done, err := pl.provisioned(claims, seen, nodeName)
		if err != nil {
			return framework.AsStatus(err)
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return framework.AsStatus(fmt.Errorf("volumebinding: %w waiting for claims of node %s to be provisioned", ErrBindTimeout, nodeName))
		case <-tick.C:
		}
	}
}

// ErrBindTimeout is returned when provisioning takes longer than bindTimeoutSeconds.
var ErrBindTimeout = errors.New("volumebinding: timed out")

// provisioned reports whether every claim is bound. claims are as they
// were before PreBind annotated them; seen records which annotations the
// informer has shown, since a missing one means "not seen yet" until then.
func (pl *VolumeBinding) provisioned(claims []*v1.PersistentVolumeClaim, seen []bool, nodeName string) (bool, error) {
	node, err := pl.h.SnapshotSharedLister().Get(nodeName)
	if err != nil {
		return false, err
	}
	for i, c := range claims {
		pvc, err := pl.pvcs.PersistentVolumeClaims(c.Namespace).Get(c.Name)
		if err != nil {
			return false, fmt.Errorf("volumebinding: claim %s: %w", claimKey(c), err)
		}
		if pvc.UID != c.UID {
			return false, fmt.Errorf("volumebinding: claim %s was replaced", claimKey(c))
		}
		if pvc.Annotations[AnnSelectedNode] == nodeName {
			seen[i] = true
		} else if !seen[i] && (pvc.ResourceVersion == "" || pvc.ResourceVersion == c.ResourceVersion) {
			return false, nil // our annotation is not in the informer yet
		}
		if pvc.Annotations[AnnSelectedNode] != nodeName {
			return false, fmt.Errorf("volumebinding: provisioning failed for claim %s", claimKey(c))
		}
		if pvc.Spec.VolumeName == "" || !metav1.HasAnnotation(pvc.ObjectMeta, AnnBindCompleted) {
			return false, nil
		}
		pv, err := pl.pvs.Get(pvc.Spec.VolumeName)
		if apierrors.IsNotFound(err) {
			return false, nil // the informer has not seen it yet
		}
		if err != nil {
			return false, err
		}
		if !pvMatchesNode(pv, node.Node()) {
			return false, fmt.Errorf("volumebinding: pv %s does not fit node %s", pv.Name, nodeName)
		}
	}
	return true, nil
}
