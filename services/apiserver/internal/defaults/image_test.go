package defaults

import (
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestDefaultPullPolicy(t *testing.T) {
	sha256 := strings.Repeat("ab", 32)
	tests := []struct {
		image string
		want  corev1.PullPolicy
	}{
		{image: "nginx", want: corev1.PullAlways},
		{image: "nginx:latest", want: corev1.PullAlways},
		{image: "nginx:1.27", want: corev1.PullIfNotPresent},
		{image: "docker.io/library/nginx", want: corev1.PullAlways},
		{image: "index.docker.io/nginx:1", want: corev1.PullIfNotPresent},
		{image: "quay.io/prometheus/node-exporter", want: corev1.PullAlways},
		{image: "registry.example.com:5000/team/app", want: corev1.PullAlways},
		{image: "registry.example.com:5000/team/app:v2", want: corev1.PullIfNotPresent},
		{image: "localhost/app", want: corev1.PullAlways},
		{image: "[::1]:5000/app:dev", want: corev1.PullIfNotPresent},
		{image: "Registry.Example.com/app", want: corev1.PullAlways},
		{image: "my_org/my__app-x.y", want: corev1.PullAlways},

		// A digest pins the image, unless a latest tag says otherwise.
		{image: "nginx@sha256:" + sha256, want: corev1.PullIfNotPresent},
		{image: "nginx:latest@sha256:" + sha256, want: corev1.PullAlways},
		{image: "nginx@sha512:" + strings.Repeat("0f", 64), want: corev1.PullIfNotPresent},

		// References that do not parse are IfNotPresent, whatever their tag.
		{image: "", want: corev1.PullIfNotPresent},
		{image: "Nginx", want: corev1.PullIfNotPresent},
		{image: "docker.io/Library/nginx", want: corev1.PullIfNotPresent},
		{image: "nginx:", want: corev1.PullIfNotPresent},
		{image: "nginx:LATEST", want: corev1.PullIfNotPresent},
		{image: "nginx:latest@sha256:abc", want: corev1.PullIfNotPresent},
		{image: "nginx:latest@sha256:" + strings.ToUpper(sha256), want: corev1.PullIfNotPresent},
		{image: "nginx:latest@md5:" + strings.Repeat("ab", 16), want: corev1.PullIfNotPresent},
		{image: sha256, want: corev1.PullIfNotPresent},
		{image: "my___app", want: corev1.PullIfNotPresent},
		{image: "nginx:" + strings.Repeat("t", 129), want: corev1.PullIfNotPresent},
		// The repository path, library/ included, holds at most 255 characters.
		{image: strings.Repeat("a", 248), want: corev1.PullIfNotPresent},
		{image: strings.Repeat("a", 247), want: corev1.PullAlways},
		{image: "registry.example.com/" + strings.Repeat("a", 255), want: corev1.PullAlways},
	}
	for _, tt := range tests {
		name := tt.image
		if len(name) > 40 {
			name = fmt.Sprintf("%s... (%d chars)", name[:40], len(name))
		}
		t.Run(name, func(t *testing.T) {
			if got := defaultPullPolicy(tt.image); got != tt.want {
				t.Errorf("defaultPullPolicy(%q) = %s, want %s", tt.image, got, tt.want)
			}
		})
	}
}
