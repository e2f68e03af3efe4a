package controllers

import (
	"drover.dev/controller-manager/internal/controller/deployment"
	"drover.dev/controller-manager/internal/controller/endpoints"
	"drover.dev/controller-manager/internal/controller/endpointslice"
	"drover.dev/controller-manager/internal/controller/garbagecollector"
	"drover.dev/controller-manager/internal/controller/namespace"
	"drover.dev/controller-manager/internal/controller/nodeipam"
	"drover.dev/controller-manager/internal/controller/nodelifecycle"
	"drover.dev/controller-manager/internal/controller/podgc"
	"drover.dev/controller-manager/internal/controller/replicaset"
	"drover.dev/controller-manager/internal/controller/replication"
	"drover.dev/controller-manager/internal/controller/serviceaccount"
)

func newReplicaSet(cx *Context) (Runner, error) {
	return replicaset.New(cx.Client, cx.Informers.Apps().V1().ReplicaSets().Informer(), cx.Informers.Core().V1().Pods(), cx.Recorder("replicaset-controller"), cx.Logger), nil
}

func newReplicationController(cx *Context) (Runner, error) {
	return replication.New(cx.Client, cx.Informers.Core().V1().ReplicationControllers(), cx.Informers.Core().V1().Pods(), cx.Recorder("replication-controller"), cx.Logger), nil
}

func newDeployment(cx *Context) (Runner, error) {
	f := cx.Informers
	return deployment.New(cx.Client, f.Apps().V1().Deployments(), f.Apps().V1().ReplicaSets(), f.Core().V1().Pods(), cx.Recorder("deployment-controller"), cx.Logger), nil
}

func newNamespace(cx *Context) (Runner, error) {
	return namespace.New(cx.Client, cx.Metadata, cx.Discovery, cx.Informers.Core().V1().Namespaces(), cx.Logger), nil
}

func newServiceAccount(cx *Context) (Runner, error) {
	f := cx.Informers.Core().V1()
	return serviceaccount.New(cx.Client, f.Namespaces(), f.ServiceAccounts(), cx.Logger), nil
}

func newGarbageCollector(cx *Context) (Runner, error) {
	return garbagecollector.New(cx.Metadata, cx.Discovery, cx.Informers, cx.Logger)
}

func newEndpoints(cx *Context) (Runner, error) {
	f := cx.Informers.Core().V1()
	return endpoints.New(cx.Client, f.Services(), f.Pods(), f.Endpoints(), cx.Logger), nil
}

func newEndpointSlice(cx *Context) (Runner, error) {
	f := cx.Informers
	return endpointslice.New(cx.Client, f.Core().V1().Services(), f.Core().V1().Pods(), f.Core().V1().Nodes(),
		f.Discovery().V1().EndpointSlices(), cx.Settings.MaxEndpointsPerSlice, cx.Logger), nil
}

func newNodeIPAM(cx *Context) (Runner, error) {
	if !cx.Settings.AllocateNodeCIDRs {
		return nil, nil
	}
	return nodeipam.New(cx.Client, cx.Informers.Core().V1().Nodes(), cx.Settings.ClusterCIDR, cx.Settings.NodeCIDRMaskSize, cx.Logger)
}

func newNodeLifecycle(cx *Context) (Runner, error) {
	s := cx.Settings
	f := cx.Informers
	return nodelifecycle.New(cx.Client, f.Core().V1().Nodes(), f.Coordination().V1().Leases(), f.Core().V1().Pods(), nodelifecycle.Settings{
		MonitorPeriod:                       s.NodeMonitorPeriod,
		GracePeriod:                         s.NodeMonitorGracePeriod,
		StartupGracePeriod:                  s.NodeStartupGracePeriod,
		EvictionRate:                        s.NodeEvictionRate,
		SecondaryEvictionRate:               s.SecondaryNodeEvictionRate,
		LargeClusterThreshold:               s.LargeClusterSizeThreshold,
		UnhealthyZoneThreshold:              s.UnhealthyZoneThreshold,
		DefaultNotReadyTolerationSeconds:    s.DefaultNotReadyTolerationSeconds,
		DefaultUnreachableTolerationSeconds: s.DefaultUnreachableTolerationSeconds,
	}, cx.Recorder("node-controller"), cx.Logger)
}

func newPodGC(cx *Context) (Runner, error) {
	f := cx.Informers.Core().V1()
	return podgc.New(cx.Client, f.Pods(), f.Nodes(), cx.Settings.TerminatedPodGCThreshold, cx.Settings.PodGCPeriod, cx.Logger), nil
}
