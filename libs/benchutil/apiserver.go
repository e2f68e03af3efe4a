package benchutil

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// StartAPIServer runs the drover-apiserver binary bin on etcdURL, on a
// free loopback port, until the benchmark ends, and waits until it serves
// the default namespace. It returns the server's base URL and its process.
func StartAPIServer(tb testing.TB, bin, etcdURL string, extraArgs ...string) (string, *exec.Cmd) {
	tb.Helper()
	port := FreePort(tb)
	args := append([]string{"--etcd-servers=" + etcdURL, "--bind-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(port), "--log-level=error"}, extraArgs...)
	cmd := exec.Command(bin, args...)
	cmd.Stderr = os.Stderr
	StartProcess(tb, cmd)
	url := fmt.Sprintf("https://127.0.0.1:%d", port)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := hc.Get(url + "/api/v1/namespaces/default")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return url, cmd
			}
		}
		if time.Now().After(deadline) {
			tb.Fatal("apiserver not ready")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// WriteKubeconfig writes a kubeconfig for url (TLS unverified, no
// credentials) for daemons run as child processes, and returns its path.
func WriteKubeconfig(tb testing.TB, url string) string {
	tb.Helper()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["bench"] = &clientcmdapi.Cluster{Server: url, InsecureSkipTLSVerify: true}
	kc.AuthInfos["bench"] = &clientcmdapi.AuthInfo{}
	kc.Contexts["bench"] = &clientcmdapi.Context{Cluster: "bench", AuthInfo: "bench"}
	kc.CurrentContext = "bench"
	path := filepath.Join(tb.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		tb.Fatal(err)
	}
	return path
}

// StartProcess starts cmd (a daemon under test) in a process group of its
// own, so that a terminal's signals reach only the benchmark, and stops it
// with SIGTERM when the benchmark ends.
func StartProcess(tb testing.TB, cmd *exec.Cmd) {
	tb.Helper()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	})
}
