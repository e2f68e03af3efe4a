package nodeports

import (
	"testing"

	v1 "k8s.io/api/core/v1"

	pt "drover.dev/scheduler/internal/framework/plugins/plugintest"
)

func ports(ps ...v1.ContainerPort) func(*v1.Pod) {
	return func(p *v1.Pod) { p.Spec.Containers[0].Ports = ps }
}

func TestFilter(t *testing.T) {
	existing := pt.Pod("old", "n", "", "", ports(
		v1.ContainerPort{HostPort: 80, ContainerPort: 80},
		v1.ContainerPort{HostIP: "10.0.0.1", HostPort: 443, ContainerPort: 443},
		v1.ContainerPort{HostPort: 53, ContainerPort: 53, Protocol: v1.ProtocolUDP},
	))
	tests := []struct {
		name string
		port v1.ContainerPort
		fits bool
	}{
		{"free port", v1.ContainerPort{HostPort: 8080}, true},
		{"same port all addresses", v1.ContainerPort{HostPort: 80}, false},
		{"same port specific address vs wildcard", v1.ContainerPort{HostIP: "10.0.0.2", HostPort: 80}, false},
		{"wildcard vs specific address", v1.ContainerPort{HostPort: 443}, false},
		{"other address same port", v1.ContainerPort{HostIP: "10.0.0.2", HostPort: 443}, true},
		{"other protocol", v1.ContainerPort{HostPort: 53, Protocol: v1.ProtocolTCP}, true},
		{"same protocol", v1.ContainerPort{HostPort: 53, Protocol: v1.ProtocolUDP}, false},
		{"container port only", v1.ContainerPort{ContainerPort: 80}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := pt.New(t, []pt.Plugin{{Name: Name, Factory: New}}, []*v1.Pod{existing}, []*v1.Node{pt.Node("n", "1", "", nil)})
			st := env.Filter(t, pt.Pod("p", "", "", "", ports(tt.port)))["n"]
			if st.IsSuccess() != tt.fits {
				t.Fatalf("got %v, want fits=%v", st, tt.fits)
			}
			if !tt.fits && st.Message() != ErrReason {
				t.Fatalf("reason %q", st.Message())
			}
		})
	}
}
