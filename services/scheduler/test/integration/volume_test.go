package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"drover.dev/scheduler/internal/framework/plugins/volumebinding"
)

func storageClass(t *testing.T, c *cluster, name, provisioner string, topology map[string]string) {
	t.Helper()
	mode := storagev1.VolumeBindingWaitForFirstConsumer
	sc := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Provisioner: provisioner, VolumeBindingMode: &mode}
	for k, v := range topology {
		sc.AllowedTopologies = append(sc.AllowedTopologies, v1.TopologySelectorTerm{MatchLabelExpressions: []v1.TopologySelectorLabelRequirement{{Key: k, Values: []string{v}}}})
	}
	if _, err := c.cs.StorageV1().StorageClasses().Create(context.Background(), sc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func localPV(name, node, class, size string) *v1.PersistentVolume {
	return &v1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v1.PersistentVolumeSpec{
			StorageClassName:       class,
			Capacity:               v1.ResourceList{v1.ResourceStorage: resource.MustParse(size)},
			AccessModes:            []v1.PersistentVolumeAccessMode{v1.ReadWriteOnce},
			PersistentVolumeSource: v1.PersistentVolumeSource{Local: &v1.LocalVolumeSource{Path: "/mnt/disks/" + name}},
			NodeAffinity: &v1.VolumeNodeAffinity{Required: &v1.NodeSelector{NodeSelectorTerms: []v1.NodeSelectorTerm{{
				MatchExpressions: []v1.NodeSelectorRequirement{{Key: v1.LabelHostname, Operator: v1.NodeSelectorOpIn, Values: []string{node}}},
			}}}},
		},
	}
}

func (c *cluster) claim(t *testing.T, name, class string) *v1.PersistentVolumeClaim {
	t.Helper()
	pvc := &v1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v1.PersistentVolumeClaimSpec{
			StorageClassName: &class,
			AccessModes:      []v1.PersistentVolumeAccessMode{v1.ReadWriteOnce},
			Resources:        v1.VolumeResourceRequirements{Requests: v1.ResourceList{v1.ResourceStorage: resource.MustParse("1Gi")}},
		},
	}
	out, err := c.cs.CoreV1().PersistentVolumeClaims(c.ns).Create(context.Background(), pvc, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func withClaim(name string) func(*v1.Pod) {
	return func(p *v1.Pod) {
		p.Spec.Volumes = []v1.Volume{{Name: "data", VolumeSource: v1.VolumeSource{PersistentVolumeClaim: &v1.PersistentVolumeClaimVolumeSource{ClaimName: name}}}}
	}
}

// TestWaitForFirstConsumerStaticPV: the pod goes to the only node with a
// free local PV big enough, and the scheduler binds PV and claim (there is
// no PV controller): claimRef, volumeName, bind-completed, both Bound. A
// second pod whose claim could only use the same PV stays pending.
func TestWaitForFirstConsumerStaticPV(t *testing.T) {
	c := startCluster(t)
	for _, n := range []string{"n1", "n2", "n3"} {
		c.addNode(t, hollowNode{name: n})
	}
	storageClass(t, c, "local", "kubernetes.io/no-provisioner", nil)
	ctx := context.Background()
	for _, pv := range []*v1.PersistentVolume{localPV("small-n1", "n1", "local", "500Mi"), localPV("pv-n2", "n2", "local", "10Gi")} {
		if _, err := c.cs.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	claim := c.claim(t, "data", "local")
	c.startScheduler(t, nil)

	c.createPod(t, newPod("db", withClaim("data")))
	if node := c.waitScheduled(t, "db"); node != "n2" {
		t.Fatalf("pod on %s, want n2 (the only node with a fitting PV)", node)
	}
	pv, err := c.cs.CoreV1().PersistentVolumes().Get(ctx, "pv-n2", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ref := pv.Spec.ClaimRef; ref == nil || ref.Name != "data" || ref.Namespace != c.ns || ref.UID != claim.UID {
		t.Errorf("pv claimRef %+v, want %s/data uid %s", pv.Spec.ClaimRef, c.ns, claim.UID)
	}
	if pv.Status.Phase != v1.VolumeBound {
		t.Errorf("pv phase %q", pv.Status.Phase)
	}
	pvc, err := c.cs.CoreV1().PersistentVolumeClaims(c.ns).Get(ctx, "data", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if pvc.Spec.VolumeName != "pv-n2" || pvc.Annotations[volumebinding.AnnBindCompleted] != "yes" || pvc.Status.Phase != v1.ClaimBound {
		t.Errorf("claim volumeName %q annotations %v phase %q", pvc.Spec.VolumeName, pvc.Annotations, pvc.Status.Phase)
	}
	if got := pvc.Status.Capacity[v1.ResourceStorage]; got.String() != "10Gi" {
		t.Errorf("claim capacity %s", got.String())
	}
	small, _ := c.cs.CoreV1().PersistentVolumes().Get(ctx, "small-n1", metav1.GetOptions{})
	if small.Spec.ClaimRef != nil {
		t.Errorf("the too-small PV was claimed: %+v", small.Spec.ClaimRef)
	}

	// The only PV left is too small: the next claim's pod cannot go anywhere.
	c.claim(t, "data2", "local")
	c.createPod(t, newPod("db2", withClaim("data2")))
	// The scheduler may see the pod before the claim: it then retries it.
	c.waitUnschedulableWith(t, "db2", "3 node(s) didn't find available persistent volumes to bind")
}

// TestWaitForFirstConsumerProvisioning: without a fitting PV the claim is
// annotated with the node chosen (allowed by the class's topology) and the
// pod waits, unbound, until a provisioner (played by the test) binds the
// claim to a PV on that node.
func TestWaitForFirstConsumerProvisioning(t *testing.T) {
	c := startCluster(t)
	c.addNode(t, hollowNode{name: "a1", labels: map[string]string{v1.LabelTopologyZone: "a"}})
	c.addNode(t, hollowNode{name: "b1", labels: map[string]string{v1.LabelTopologyZone: "b"}})
	storageClass(t, c, "fast", "csi.example.com", map[string]string{v1.LabelTopologyZone: "b"})
	c.claim(t, "cache", "fast")
	c.startScheduler(t, nil)
	c.createPod(t, newPod("web", withClaim("cache")))

	ctx := context.Background()
	var pvc *v1.PersistentVolumeClaim
	eventually(t, 20*time.Second, func() error {
		var err error
		if pvc, err = c.cs.CoreV1().PersistentVolumeClaims(c.ns).Get(ctx, "cache", metav1.GetOptions{}); err != nil {
			return err
		}
		if got := pvc.Annotations[volumebinding.AnnSelectedNode]; got != "b1" {
			return fmt.Errorf("selected node %q, want b1", got)
		}
		return nil
	})
	// Not bound before the claim is: PreBind is waiting for the provisioner.
	if p := c.getPod(t, "web"); p.Spec.NodeName != "" {
		t.Fatalf("pod bound to %s before its claim was provisioned", p.Spec.NodeName)
	}

	pv := localPV("pvc-cache", "b1", "fast", "1Gi")
	pv.Spec.ClaimRef = &v1.ObjectReference{Kind: "PersistentVolumeClaim", Namespace: c.ns, Name: "cache", UID: pvc.UID}
	if _, err := c.cs.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pvc.Spec.VolumeName = "pvc-cache"
	metav1.SetMetaDataAnnotation(&pvc.ObjectMeta, volumebinding.AnnBindCompleted, "yes")
	if _, err := c.cs.CoreV1().PersistentVolumeClaims(c.ns).Update(ctx, pvc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if node := c.waitScheduled(t, "web"); node != "b1" {
		t.Fatalf("pod on %s, want b1", node)
	}
}
