// Package static runs pods from manifest files on the node (static pods,
// --pod-manifest-path) without the apiserver, and mirrors each into the
// apiserver as a mirror pod so that kubectl sees it.
package static

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"go.uber.org/zap"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
)

// Annotations Kubernetes uses for static and mirror pods.
const (
	AnnotationSource = "kubernetes.io/config.source"
	AnnotationHash   = "kubernetes.io/config.hash"
	AnnotationMirror = "kubernetes.io/config.mirror"
	SourceFile       = "file"
)

// IsStatic reports whether pod came from a manifest file.
func IsStatic(pod *v1.Pod) bool { return pod.Annotations[AnnotationSource] == SourceFile }

// IsMirror reports whether pod is the apiserver's copy of a static pod.
func IsMirror(pod *v1.Pod) bool {
	_, ok := pod.Annotations[AnnotationMirror]
	return ok
}

// Handler receives the static pods.
type Handler interface {
	Update(pod *v1.Pod)
	Remove(pod *v1.Pod)
}

// Source watches a manifest directory.
type Source struct {
	Dir      string
	NodeName string
	// Period between scans (Kubernetes: 20 s).
	Period  time.Duration
	Handler Handler
	Logger  *zap.Logger

	current map[string]*v1.Pod // by namespace/name
}

// Run scans until ctx ends.
func (s *Source) Run(ctx context.Context) {
	if s.Period == 0 {
		s.Period = 20 * time.Second
	}
	if s.Logger == nil {
		s.Logger = zap.NewNop()
	}
	s.current = map[string]*v1.Pod{}
	t := time.NewTicker(s.Period)
	defer t.Stop()
	for {
		s.scan()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Pods returns the static pods of the last scan.
func (s *Source) scan() {
	pods, errs := Load(s.Dir, s.NodeName)
	for _, err := range errs {
		s.Logger.Warn("static pod manifest skipped", zap.Error(err))
	}
	seen := map[string]bool{}
	for _, p := range pods {
		key := p.Namespace + "/" + p.Name
		seen[key] = true
		if old, ok := s.current[key]; ok && old.UID == p.UID {
			continue
		}
		if old, ok := s.current[key]; ok {
			s.Handler.Remove(old) // the manifest changed: a new pod replaces it
		}
		s.current[key] = p
		s.Logger.Info("static pod", zap.String("pod", key), zap.String("uid", string(p.UID)))
		s.Handler.Update(p)
	}
	for key, p := range s.current {
		if !seen[key] {
			delete(s.current, key)
			s.Logger.Info("static pod removed", zap.String("pod", key))
			s.Handler.Remove(p)
		}
	}
}

// Load reads every .yaml, .yml and .json manifest of dir into pods named
// <name>-<node>, with a UID that changes with the content.
func Load(dir, node string) ([]*v1.Pod, []error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil
		}
		return nil, []error{err}
	}
	var pods []*v1.Pod
	var errs []error
	for _, e := range entries {
		ext := filepath.Ext(e.Name())
		if e.IsDir() || strings.HasPrefix(e.Name(), ".") || (ext != ".yaml" && ext != ".yml" && ext != ".json") {
			continue
		}
		path := filepath.Join(dir, e.Name())
		data, err := os.ReadFile(path)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		pod, err := decode(data, node)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", path, err))
			continue
		}
		pods = append(pods, pod)
	}
	sort.Slice(pods, func(i, j int) bool { return pods[i].Name < pods[j].Name })
	return pods, errs
}

func decode(data []byte, node string) (*v1.Pod, error) {
	obj, gvk, err := scheme.Codecs.UniversalDeserializer().Decode(data, nil, nil)
	if err != nil {
		return nil, err
	}
	pod, ok := obj.(*v1.Pod)
	if !ok {
		return nil, fmt.Errorf("a manifest must hold a v1 Pod, not %v", gvk)
	}
	if pod.Name == "" {
		return nil, fmt.Errorf("metadata.name is required")
	}
	if len(pod.Spec.Containers) == 0 {
		return nil, fmt.Errorf("spec.containers is required")
	}
	if pod.Namespace == "" {
		pod.Namespace = metav1.NamespaceDefault
	}
	sum := sha256.Sum256(append(append([]byte(node+"\x00"), data...), 0))
	hash := hex.EncodeToString(sum[:16])
	pod.Name = pod.Name + "-" + node
	pod.UID = types.UID(hash)
	pod.Spec.NodeName = node
	if pod.Annotations == nil {
		pod.Annotations = map[string]string{}
	}
	pod.Annotations[AnnotationSource] = SourceFile
	pod.Annotations[AnnotationHash] = hash
	defaults(pod)
	return pod, nil
}

// defaults fills what the apiserver would for a created pod.
func defaults(pod *v1.Pod) {
	s := &pod.Spec
	if s.RestartPolicy == "" {
		s.RestartPolicy = v1.RestartPolicyAlways
	}
	if s.DNSPolicy == "" {
		s.DNSPolicy = v1.DNSClusterFirst
	}
	if s.TerminationGracePeriodSeconds == nil {
		g := int64(v1.DefaultTerminationGracePeriodSeconds)
		s.TerminationGracePeriodSeconds = &g
	}
	for _, list := range [][]v1.Container{s.InitContainers, s.Containers} {
		for i := range list {
			c := &list[i]
			if c.ImagePullPolicy == "" {
				c.ImagePullPolicy = v1.PullIfNotPresent
				if !strings.Contains(c.Image[strings.LastIndex(c.Image, "/")+1:], ":") || strings.HasSuffix(c.Image, ":latest") {
					c.ImagePullPolicy = v1.PullAlways
				}
			}
		}
	}
	// Static pods tolerate every NoExecute taint, as Kubernetes'.
	s.Tolerations = append(s.Tolerations, v1.Toleration{Operator: v1.TolerationOpExists, Effect: v1.TaintEffectNoExecute})
}

// Mirror keeps a mirror pod in the apiserver for each static pod.
type Mirror struct {
	Client kubernetes.Interface
	Node   func() *v1.Node
	Logger *zap.Logger
}

// Ensure creates the mirror of pod, replacing one of another version.
func (m *Mirror) Ensure(ctx context.Context, pod *v1.Pod) error {
	pods := m.Client.CoreV1().Pods(pod.Namespace)
	cur, err := pods.Get(ctx, pod.Name, metav1.GetOptions{})
	switch {
	case err == nil && cur.Annotations[AnnotationMirror] == pod.Annotations[AnnotationHash] && cur.DeletionTimestamp == nil:
		return nil
	case err == nil:
		// Another version (or a non-mirror pod of that name): replace it.
		zero := int64(0)
		if err := pods.Delete(ctx, pod.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &cur.UID}}); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	case !apierrors.IsNotFound(err):
		return err
	}
	mirror := pod.DeepCopy()
	mirror.UID, mirror.ResourceVersion = "", ""
	mirror.Status = v1.PodStatus{}
	mirror.Annotations[AnnotationMirror] = pod.Annotations[AnnotationHash]
	if n := m.Node(); n != nil {
		mirror.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: n.Name, UID: n.UID, Controller: boolPtr(true)}}
	}
	_, err = pods.Create(ctx, mirror, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

// Delete removes the mirror of pod.
func (m *Mirror) Delete(ctx context.Context, pod *v1.Pod) error {
	zero := int64(0)
	err := m.Client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

func boolPtr(b bool) *bool { return &b }
