// Package controllers is the controller-manager's descriptor table: every
// controller's name, default worker count and how to start it.
package controllers

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"time"

	"go.uber.org/zap"
	v1 "k8s.io/api/core/v1"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/tools/record"
)

// ErrDuplicate is returned for a table that names a controller twice.
var ErrDuplicate = errors.New("controllers: duplicate controller name")

// Settings are the tunables of individual controllers.
type Settings struct {
	ClusterCIDR       *net.IPNet
	NodeCIDRMaskSize  int
	AllocateNodeCIDRs bool

	NodeMonitorPeriod                   time.Duration
	NodeMonitorGracePeriod              time.Duration
	NodeStartupGracePeriod              time.Duration
	NodeEvictionRate                    float32
	SecondaryNodeEvictionRate           float32
	LargeClusterSizeThreshold           int
	UnhealthyZoneThreshold              float32
	DefaultNotReadyTolerationSeconds    int64
	DefaultUnreachableTolerationSeconds int64

	TerminatedPodGCThreshold int
	PodGCPeriod              time.Duration
	MaxEndpointsPerSlice     int
}

// Context is what a controller is built from. Informers are started by the
// caller after every enabled controller has been constructed.
type Context struct {
	Client    kubernetes.Interface
	Metadata  metadata.Interface
	Discovery discovery.DiscoveryInterface
	Informers informers.SharedInformerFactory
	Logger    *zap.Logger
	Settings  Settings
	// Events, when set, records Kubernetes Events; otherwise they are dropped.
	Events record.EventBroadcaster
}

// Recorder returns an event recorder naming component as the source.
func (cx *Context) Recorder(component string) record.EventRecorder {
	if cx.Events == nil {
		return &record.FakeRecorder{}
	}
	return cx.Events.NewRecorder(scheme.Scheme, v1.EventSource{Component: component})
}

// Runner is a constructed controller.
type Runner interface {
	Run(ctx context.Context, workers int) error
}

// Descriptor describes one controller.
type Descriptor struct {
	Name string
	// Workers is the default worker count.
	Workers int
	// DisabledByDefault controllers run only when named in --controllers.
	DisabledByDefault bool
	// New constructs the controller, registering its informer handlers; it
	// returns nil when settings turn the controller off.
	New func(cx *Context) (Runner, error)
}

// table lists every controller; Table checks it.
var table = []Descriptor{
	{Name: "replicaset", Workers: 5, New: newReplicaSet},
	{Name: "replicationcontroller", Workers: 5, New: newReplicationController},
	{Name: "deployment", Workers: 5, New: newDeployment},
	{Name: "namespace", Workers: 10, New: newNamespace},
	{Name: "serviceaccount", Workers: 1, New: newServiceAccount},
	{Name: "garbagecollector", Workers: 20, New: newGarbageCollector},
	{Name: "endpoints", Workers: 5, New: newEndpoints},
	{Name: "endpointslice", Workers: 5, New: newEndpointSlice},
	{Name: "nodeipam", Workers: 1, New: newNodeIPAM},
	{Name: "nodelifecycle", Workers: 1, New: newNodeLifecycle},
	{Name: "podgc", Workers: 1, New: newPodGC},
}

// Table returns the descriptors, refusing duplicate names.
func Table() ([]Descriptor, error) { return check(table) }

func check(ds []Descriptor) ([]Descriptor, error) {
	seen := map[string]bool{}
	for _, d := range ds {
		if seen[d.Name] {
			return nil, fmt.Errorf("%w: %q", ErrDuplicate, d.Name)
		}
		seen[d.Name] = true
	}
	return ds, nil
}

// Names returns the known controller names, sorted.
func Names() []string {
	names := make([]string, 0, len(table))
	for _, d := range table {
		names = append(names, d.Name)
	}
	sort.Strings(names)
	return names
}
