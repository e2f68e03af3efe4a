package pods

import (
	v1 "k8s.io/api/core/v1"

	"drover.dev/kubelet/internal/runtime"
)

// cgroup CPU constants, as Kubernetes converts millicores.
const (
	minShares     = 2
	sharesPerCPU  = 1024
	quotaPeriodUs = 100000
	minQuotaUs    = 1000
)

// resourcesFor turns a container's requests and limits into cgroup limits.
func resourcesFor(c *v1.Container) runtime.Resources {
	var r runtime.Resources
	req := c.Resources.Requests.Cpu().MilliValue()
	if req == 0 {
		// Kubernetes uses the limit as request when only a limit is set.
		req = c.Resources.Limits.Cpu().MilliValue()
	}
	shares := uint64(req * sharesPerCPU / 1000)
	if shares < minShares {
		shares = minShares
	}
	r.CPUShares = shares
	if lim := c.Resources.Limits.Cpu().MilliValue(); lim > 0 {
		q := lim * quotaPeriodUs / 1000
		if q < minQuotaUs {
			q = minQuotaUs
		}
		r.CPUQuota, r.CPUPeriod = q, quotaPeriodUs
	}
	r.MemoryLimit = c.Resources.Limits.Memory().Value()
	r.OOMScoreAdj = oomScoreAdj(c)
	return r
}

// oomScoreAdj follows the QoS classes: Guaranteed -997, BestEffort 1000,
// Burstable in between by memory request.
func oomScoreAdj(c *v1.Container) int {
	req, lim := c.Resources.Requests, c.Resources.Limits
	if len(req) == 0 && len(lim) == 0 {
		return 1000
	}
	guaranteed := !lim.Cpu().IsZero() && !lim.Memory().IsZero() &&
		(req.Cpu().IsZero() || req.Cpu().Cmp(*lim.Cpu()) == 0) &&
		(req.Memory().IsZero() || req.Memory().Cmp(*lim.Memory()) == 0)
	if guaranteed {
		return -997
	}
	return 999
}

// securityFor merges the pod's and the container's securityContext.
func securityFor(pod *v1.Pod, c *v1.Container) runtime.SecurityConfig {
	var s runtime.SecurityConfig
	if psc := pod.Spec.SecurityContext; psc != nil {
		s.RunAsUser, s.RunAsGroup = psc.RunAsUser, psc.RunAsGroup
		s.SupplementalGroups = append(s.SupplementalGroups, psc.SupplementalGroups...)
		if psc.FSGroup != nil {
			s.SupplementalGroups = append(s.SupplementalGroups, *psc.FSGroup)
		}
		if sp := psc.SeccompProfile; sp != nil && sp.Type == v1.SeccompProfileTypeUnconfined {
			s.Unconfined = true
		}
	}
	csc := c.SecurityContext
	if csc == nil {
		return s
	}
	if csc.RunAsUser != nil {
		s.RunAsUser = csc.RunAsUser
	}
	if csc.RunAsGroup != nil {
		s.RunAsGroup = csc.RunAsGroup
	}
	if csc.ReadOnlyRootFilesystem != nil {
		s.ReadOnlyRootFilesystem = *csc.ReadOnlyRootFilesystem
	}
	if csc.Privileged != nil {
		s.Privileged = *csc.Privileged
	}
	if csc.AllowPrivilegeEscalation != nil && !*csc.AllowPrivilegeEscalation {
		s.NoNewPrivileges = true
	}
	if csc.Capabilities != nil {
		for _, c := range csc.Capabilities.Add {
			s.CapAdd = append(s.CapAdd, string(c))
		}
		for _, c := range csc.Capabilities.Drop {
			s.CapDrop = append(s.CapDrop, string(c))
		}
	}
	if sp := csc.SeccompProfile; sp != nil {
		s.Unconfined = sp.Type == v1.SeccompProfileTypeUnconfined
	}
	return s
}
