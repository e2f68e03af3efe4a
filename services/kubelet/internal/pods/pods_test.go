package pods

import (
	"context"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"drover.dev/kubelet/internal/runtime"
	"drover.dev/kubelet/internal/runtime/hollow"
	"drover.dev/kubelet/internal/status"
)

type harness struct {
	rt  *hollow.Runtime
	m   *Manager
	st  *status.Manager
	pod *v1.Pod
	w   *worker
}

func newHarness(t *testing.T, pod *v1.Pod) *harness {
	t.Helper()
	rt := hollow.New()
	rt.EndInitContainers = false
	if err := rt.SetPodCIDR("10.244.1.0/24"); err != nil {
		t.Fatal(err)
	}
	client := fake.NewClientset(&v1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cfg", Namespace: "default"}, Data: map[string]string{"k": "v"}})
	st := status.New(client, nil)
	m := NewManager(Options{Client: client, Runtime: rt, Images: rt, Status: st, NodeName: "n", HostIP: func() string { return "192.0.2.1" }})
	pod.UID = "uid-1"
	pod.Namespace = "default"
	return &harness{rt: rt, m: m, st: st, pod: pod, w: newWorker(m, pod)}
}

// sync runs one worker step and returns the reported status.
func (h *harness) sync(t *testing.T) v1.PodStatus {
	t.Helper()
	h.w.sync(context.Background())
	s, ok := h.st.Get(h.pod.UID)
	if !ok {
		t.Fatal("no status reported")
	}
	h.pod.Status = s
	h.w.update(h.pod, false)
	return s
}

func (h *harness) container(t *testing.T, name string) *runtime.ContainerStatus {
	t.Helper()
	cs, _ := h.rt.ListContainers(context.Background(), "")
	var latest *runtime.ContainerStatus
	for _, c := range cs {
		if c.Name == name && (latest == nil || c.Attempt >= latest.Attempt) {
			latest = c
		}
	}
	if latest == nil {
		t.Fatalf("no container %s", name)
	}
	return latest
}

func pod(policy v1.RestartPolicy) *v1.Pod {
	return &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p"},
		Spec:       v1.PodSpec{RestartPolicy: policy, Containers: []v1.Container{{Name: "c", Image: "img", Command: []string{"run"}}}},
	}
}

func TestRestartPolicies(t *testing.T) {
	tests := []struct {
		name      string
		policy    v1.RestartPolicy
		exit      int32
		wantPhase v1.PodPhase
		restarts  int32
	}{
		{"always restarts a success", v1.RestartPolicyAlways, 0, v1.PodRunning, 1},
		{"onfailure restarts a failure", v1.RestartPolicyOnFailure, 3, v1.PodRunning, 1},
		{"onfailure keeps a success", v1.RestartPolicyOnFailure, 0, v1.PodSucceeded, 0},
		{"never keeps a failure", v1.RestartPolicyNever, 1, v1.PodFailed, 0},
		{"never keeps a success", v1.RestartPolicyNever, 0, v1.PodSucceeded, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, pod(tt.policy))
			if s := h.sync(t); s.Phase != v1.PodRunning || s.PodIP == "" {
				t.Fatalf("first sync: phase %s ip %q", s.Phase, s.PodIP)
			}
			if err := h.rt.Exit(h.container(t, "c").ID, tt.exit, ""); err != nil {
				t.Fatal(err)
			}
			s := h.sync(t)
			if s.Phase != tt.wantPhase || s.ContainerStatuses[0].RestartCount != tt.restarts {
				t.Fatalf("phase %s restarts %d, want %s %d", s.Phase, s.ContainerStatuses[0].RestartCount, tt.wantPhase, tt.restarts)
			}
			if tt.restarts > 0 {
				last := s.ContainerStatuses[0].LastTerminationState.Terminated
				if last == nil || last.ExitCode != tt.exit {
					t.Fatalf("lastState: %+v", s.ContainerStatuses[0].LastTerminationState)
				}
			} else if term := s.ContainerStatuses[0].State.Terminated; term == nil || term.ExitCode != tt.exit {
				t.Fatalf("state: %+v", s.ContainerStatuses[0].State)
			}
			if tt.wantPhase == v1.PodSucceeded || tt.wantPhase == v1.PodFailed {
				// A finished pod frees its network.
				sbs, _ := h.rt.ListPodSandboxes(context.Background())
				if sbs[0].State != runtime.SandboxNotReady {
					t.Fatalf("sandbox of a finished pod still %s", sbs[0].State)
				}
			}
		})
	}
}

func TestCrashLoopBackOff(t *testing.T) {
	h := newHarness(t, pod(v1.RestartPolicyAlways))
	h.sync(t)
	h.rt.Exit(h.container(t, "c").ID, 1, "")
	h.sync(t) // first crash: restarted at once
	h.rt.Exit(h.container(t, "c").ID, 1, "")
	s := h.sync(t) // second crash within 10 s: back-off
	cs := s.ContainerStatuses[0]
	if cs.State.Waiting == nil || cs.State.Waiting.Reason != ReasonCrashLoopBackOff {
		t.Fatalf("state: %+v", cs.State)
	}
	if cs.LastTerminationState.Terminated == nil || cs.LastTerminationState.Terminated.ExitCode != 1 || cs.RestartCount != 1 {
		t.Fatalf("status: %+v", cs)
	}
	if s.Phase != v1.PodRunning {
		t.Fatalf("phase %s", s.Phase)
	}
	next, _ := h.w.sync(context.Background())
	if next > 10*time.Second || next <= 0 {
		t.Fatalf("next sync in %s", next)
	}
}

func TestInitContainersRunInOrderAndFailurePolicy(t *testing.T) {
	p := pod(v1.RestartPolicyNever)
	p.Spec.InitContainers = []v1.Container{{Name: "i1", Image: "img", Command: []string{"a"}}, {Name: "i2", Image: "img", Command: []string{"b"}}}
	h := newHarness(t, p)
	s := h.sync(t)
	if s.Phase != v1.PodPending || len(s.InitContainerStatuses) != 2 || s.InitContainerStatuses[0].State.Running == nil || s.InitContainerStatuses[1].State.Waiting == nil {
		t.Fatalf("first: %s %+v", s.Phase, s.InitContainerStatuses)
	}
	if w := s.ContainerStatuses[0].State.Waiting; w == nil || w.Reason != ReasonPodInitializing {
		t.Fatalf("app container: %+v", s.ContainerStatuses[0].State)
	}
	h.rt.Exit(h.container(t, "i1").ID, 0, "")
	s = h.sync(t)
	if s.InitContainerStatuses[1].State.Running == nil {
		t.Fatalf("i2 not started after i1: %+v", s.InitContainerStatuses[1])
	}
	h.rt.Exit(h.container(t, "i2").ID, 2, "")
	s = h.sync(t)
	if s.Phase != v1.PodFailed {
		t.Fatalf("init failure with Never: phase %s", s.Phase)
	}
	for _, c := range s.Conditions {
		if c.Type == v1.PodInitialized && c.Status != v1.ConditionFalse {
			t.Fatalf("Initialized %s", c.Status)
		}
	}
}

func TestConfigErrorsAndNeverPull(t *testing.T) {
	p := pod(v1.RestartPolicyAlways)
	p.Spec.Containers[0].Env = []v1.EnvVar{{Name: "X", ValueFrom: &v1.EnvVarSource{ConfigMapKeyRef: &v1.ConfigMapKeySelector{LocalObjectReference: v1.LocalObjectReference{Name: "missing"}, Key: "k"}}}}
	p.Spec.Containers = append(p.Spec.Containers, v1.Container{Name: "never", Image: "absent", ImagePullPolicy: v1.PullNever, Command: []string{"x"}})
	h := newHarness(t, p)
	s := h.sync(t)
	if w := s.ContainerStatuses[0].State.Waiting; w == nil || w.Reason != ReasonConfigError {
		t.Fatalf("config error: %+v", s.ContainerStatuses[0].State)
	}
	if w := s.ContainerStatuses[1].State.Waiting; w == nil || w.Reason != ReasonErrImageNeverPull {
		t.Fatalf("never pull: %+v", s.ContainerStatuses[1].State)
	}
	if s.Phase != v1.PodPending {
		t.Fatalf("phase %s", s.Phase)
	}
}

func TestCommandAndEnvResolution(t *testing.T) {
	img := &runtime.Image{Entrypoint: []string{"/ep"}, Cmd: []string{"dflt"}, Env: []string{"PATH=/bin", "A=img"}}
	tests := []struct {
		name    string
		c       v1.Container
		want    []string
		wantEnv map[string]string
	}{
		{"image only", v1.Container{}, []string{"/ep", "dflt"}, nil},
		{"args replace cmd", v1.Container{Args: []string{"x"}}, []string{"/ep", "x"}, nil},
		{"command drops both", v1.Container{Command: []string{"sh"}}, []string{"sh"}, nil},
		{"expansion", v1.Container{Command: []string{"echo", "$(A)", "$$(A)", "$(NOPE)"}, Env: []v1.EnvVar{{Name: "A", Value: "pod"}}},
			[]string{"echo", "pod", "$(A)", "$(NOPE)"}, map[string]string{"A": "pod", "PATH": "/bin"}},
		{"configmap and downward api", v1.Container{Command: []string{"x"}, Env: []v1.EnvVar{
			{Name: "K", ValueFrom: &v1.EnvVarSource{ConfigMapKeyRef: &v1.ConfigMapKeySelector{LocalObjectReference: v1.LocalObjectReference{Name: "cfg"}, Key: "k"}}},
			{Name: "N", ValueFrom: &v1.EnvVarSource{FieldRef: &v1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
			{Name: "IP", ValueFrom: &v1.EnvVarSource{FieldRef: &v1.ObjectFieldSelector{FieldPath: "status.podIP"}}},
			{Name: "REF", Value: "$(K)-$(N)"},
		}}, []string{"x"}, map[string]string{"K": "v", "N": "p", "IP": "10.0.0.5", "REF": "v-p"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, pod(v1.RestartPolicyAlways))
			es := &envSource{client: h.m.o.Client, pod: h.pod, podIP: "10.0.0.5"}
			env, vals, err := es.envFor(context.Background(), &tt.c, img)
			if err != nil {
				t.Fatal(err)
			}
			got := commandFor(&tt.c, img, vals)
			if len(got) != len(tt.want) {
				t.Fatalf("command %q, want %q", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("command %q, want %q", got, tt.want)
				}
			}
			for k, v := range tt.wantEnv {
				if vals[k] != v {
					t.Fatalf("env %s=%q, want %q (env %v)", k, vals[k], v, env)
				}
			}
		})
	}
}

func TestDNSPolicy(t *testing.T) {
	h := newHarness(t, pod(v1.RestartPolicyAlways))
	h.m.o.DNS = DNS{ClusterDNS: []string{"10.96.0.10"}, ClusterDomain: "cluster.local"}
	cfg := h.m.dnsFor(h.pod)
	if cfg.Servers[0] != "10.96.0.10" || cfg.Searches[0] != "default.svc.cluster.local" || cfg.Options[0] != "ndots:5" {
		t.Fatalf("ClusterFirst: %+v", cfg)
	}
	p := h.pod.DeepCopy()
	p.Spec.DNSPolicy = v1.DNSNone
	two := "2"
	p.Spec.DNSConfig = &v1.PodDNSConfig{Nameservers: []string{"1.1.1.1"}, Options: []v1.PodDNSConfigOption{{Name: "ndots", Value: &two}}}
	cfg = h.m.dnsFor(p)
	if len(cfg.Servers) != 1 || cfg.Servers[0] != "1.1.1.1" || len(cfg.Searches) != 0 || cfg.Options[0] != "ndots:2" {
		t.Fatalf("None: %+v", cfg)
	}
}
