// Package bench measures drover-dns the way the issue asks: a real
// drover-apiserver process (embedded etcd) loaded with 10,000 Services and
// 50,000 running pods (EndpointSlices for a tenth of the services, which
// are headless), drover-dns as a separate process, and Debian's dnsperf
// sending queries over UDP on loopback — cluster names, then external
// names answered from the forwarding cache (a local upstream server is
// started in this process). It prints QPS, average and p99 latency, and
// the dns process' RSS. Nothing passes or fails on speed.
//
//	go test -run '^$' -bench . -benchtime 1x -timeout 30m ./test/bench/
//
// DROVER_DNS_BENCH_SERVICES and DROVER_DNS_BENCH_PODS scale the load;
// DROVER_DNS_BENCH_SECONDS is the length of each dnsperf run (default 10);
// DROVER_DNS_BENCH_RUNS repeats the runs of each kind (default 1; the
// reported metrics are the last run's);
// DROVER_DNS_BENCH_HEAP_PROFILE names a file for drover-dns' heap profile
// taken once it has synced.
// dnsperf shares the machine's cores with drover-dns: the QPS measured is
// what both together manage.
package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"drover.dev/libs/benchutil"
	"drover.dev/libs/etcdtest"
)

const (
	namespaces = 20
	clients    = 8
	// every headlessEvery-th service is headless, with a slice of
	// endpointsPerSlice pod IPs
	headlessEvery     = 10
	endpointsPerSlice = 5
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func nsName(i int) string { return fmt.Sprintf("bench-%d", i%namespaces) }

// podIP is pod i's address: 10.(64+i/65536).(i/256%256).(i%256).
func podIP(i int) string { return fmt.Sprintf("10.%d.%d.%d", 64+i/65536, i/256%256, i%256) }

func BenchmarkDNS(b *testing.B) {
	if _, err := exec.LookPath("dnsperf"); err != nil {
		b.Skip("dnsperf not found: install Debian's dnsperf (apt-get install -y dnsperf) to run this benchmark")
	}
	nSvc := envInt("DROVER_DNS_BENCH_SERVICES", 10000)
	nPods := envInt("DROVER_DNS_BENCH_PODS", 50000)
	seconds := envInt("DROVER_DNS_BENCH_SECONDS", 10)
	runs := envInt("DROVER_DNS_BENCH_RUNS", 1)
	dir := b.TempDir()
	for _, pkg := range []string{"drover.dev/apiserver", "drover.dev/dns"} {
		if _, err := benchutil.GoBuild(dir, pkg); err != nil {
			b.Fatal(err)
		}
	}
	cs, kubeconfig := startAPI(b, dir)

	start := time.Now()
	load(b, cs, nSvc, nPods)
	b.Logf("loaded %d services, %d pods, %d endpoint slices in %v", nSvc, nPods, nSvc/headlessEvery, time.Since(start).Round(time.Second))

	up := startUpstream(b)
	dnsPort := freeUDPTCPPort(b)
	healthPort := benchutil.FreePort(b)
	start = time.Now()
	cmd := exec.Command(filepath.Join(dir, "drover-dns"), "--kubeconfig="+kubeconfig,
		"--listen=127.0.0.1:"+strconv.Itoa(dnsPort), "--health-addr=127.0.0.1:"+strconv.Itoa(healthPort),
		"--upstream="+up, "--log-level=warn", "--kube-api-qps=-1")
	cmd.Stderr = os.Stderr
	benchutil.StartProcess(b, cmd)
	waitReady(b, fmt.Sprintf("http://127.0.0.1:%d/readyz", healthPort))
	pid := cmd.Process.Pid
	b.Logf("drover-dns ready (informers synced) in %v", time.Since(start).Round(time.Millisecond))
	time.Sleep(5 * time.Second) // let the GC and scavenger settle after the initial list
	rssIdle, _ := benchutil.StatusKB(pid, "VmRSS")
	anon, _ := benchutil.StatusKB(pid, "RssAnon")
	file, _ := benchutil.StatusKB(pid, "RssFile")
	b.Logf("drover-dns idle RSS %.1f MiB = %.1f MiB anonymous (heap, stacks, runtime) + %.1f MiB file (the binary's pages); Go heap in use %s",
		float64(rssIdle)/1024, float64(anon)/1024, float64(file)/1024, heapInUse(fmt.Sprintf("http://127.0.0.1:%d/metrics", healthPort)))
	if path := os.Getenv("DROVER_DNS_BENCH_HEAP_PROFILE"); path != "" {
		saveHeapProfile(b, fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/heap?gc=1", healthPort), path)
	}

	clusterFile := filepath.Join(dir, "cluster.txt")
	writeClusterQueries(b, clusterFile, nSvc, nPods)
	externalFile := filepath.Join(dir, "external.txt")
	writeExternalQueries(b, externalFile, 1000)
	server := []string{"-s", "127.0.0.1", "-p", strconv.Itoa(dnsPort)}

	// Fill the cache: one pass over the external names.
	if _, err := dnsperf(append(server, "-d", externalFile, "-n", "1")...); err != nil {
		b.Fatal(err)
	}
	cpu0, _ := benchutil.CPUSeconds(pid)
	t0 := time.Now()
	for _, run := range []struct{ name, file string }{{"cluster", clusterFile}, {"external-cached", externalFile}} {
		for i := range runs {
			load := []string{"-d", run.file, "-l", strconv.Itoa(seconds), "-c", "4", "-q", "100"}
			out, err := dnsperf(append(server, load...)...)
			if err != nil {
				b.Fatal(err)
			}
			qps, avg, lost := parse(out)
			// A second run with per-query output gives the latency distribution
			// (printing slows dnsperf a little, so QPS comes from the first).
			vout, err := dnsperf(append(append(server, load...), "-v")...)
			if err != nil {
				b.Fatal(err)
			}
			p50, p99, rcodes := percentiles(vout)
			b.Logf("%s run %d: %.0f QPS, avg %.3f ms, p50 %.3f ms, p99 %.3f ms, lost %s, rcodes %v; load average %s",
				run.name, i+1, qps, avg*1000, p50*1000, p99*1000, lost, rcodes, loadAverage())
			b.ReportMetric(qps, run.name+"-qps")
			b.ReportMetric(p99*1000, run.name+"-p99-ms")
		}
	}
	cpu1, _ := benchutil.CPUSeconds(pid)
	rss, _ := benchutil.StatusKB(pid, "VmRSS")
	hwm, _ := benchutil.StatusKB(pid, "VmHWM")
	anon, _ = benchutil.StatusKB(pid, "RssAnon")
	file, _ = benchutil.StatusKB(pid, "RssFile")
	b.Logf("drover-dns RSS: %.1f MiB idle after sync, %.1f MiB after the runs (%.1f anonymous + %.1f file), peak %.1f MiB (during the first sync); CPU %.2f cores while dnsperf ran",
		float64(rssIdle)/1024, float64(rss)/1024, float64(anon)/1024, float64(file)/1024, float64(hwm)/1024, (cpu1-cpu0)/time.Since(t0).Seconds())
	b.ReportMetric(float64(rssIdle)/1024, "rss-idle-MiB")
	b.ReportMetric(float64(rss)/1024, "rss-MiB")
	b.ReportMetric(float64(hwm)/1024, "rss-peak-MiB")
}

// startAPI runs etcd in-process and the apiserver as a child process and
// returns a client and a kubeconfig file for it.
func startAPI(b *testing.B, dir string) (kubernetes.Interface, string) {
	b.Helper()
	etcd := etcdtest.Start(b)
	url, _ := benchutil.StartAPIServer(b, filepath.Join(dir, "drover-apiserver"), etcd.ClientURL)
	cfg := &rest.Config{Host: url, TLSClientConfig: rest.TLSClientConfig{Insecure: true}, QPS: -1, Burst: -1}
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		b.Fatal(err)
	}
	return cs, benchutil.WriteKubeconfig(b, url)
}

// load creates the namespaces, services, running pods (status set with
// UpdateStatus, as a kubelet would) and, for the headless services,
// EndpointSlices (as the EndpointSlice controller would).
func load(b *testing.B, cs kubernetes.Interface, nSvc, nPods int) {
	b.Helper()
	ctx := context.Background()
	for i := range namespaces {
		if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: nsName(i)}}, metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	err := benchutil.Parallel(clients, nSvc, func(i int) error {
		s := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("svc-%d", i), Labels: map[string]string{"app": fmt.Sprintf("app-%d", i)}},
			Spec: corev1.ServiceSpec{
				Selector: map[string]string{"app": fmt.Sprintf("app-%d", i)},
				Ports: []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP},
					{Name: "metrics", Port: 9090, Protocol: corev1.ProtocolTCP}},
			},
		}
		if i%headlessEvery == 0 {
			s.Spec.ClusterIP = corev1.ClusterIPNone
		}
		return retry(func() error {
			_, err := cs.CoreV1().Services(nsName(i)).Create(ctx, s, metav1.CreateOptions{})
			if apierrors.IsAlreadyExists(err) {
				return nil
			}
			return err
		})
	})
	if err != nil {
		b.Fatalf("services: %v", err)
	}
	err = benchutil.Parallel(clients, nPods, func(i int) error {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("pod-%d", i), Labels: map[string]string{"app": fmt.Sprintf("app-%d", i%nSvc)}},
			Spec: corev1.PodSpec{NodeName: fmt.Sprintf("node-%d", i%100), Containers: []corev1.Container{{
				Name: "app", Image: "registry.example/app:1.0", Ports: []corev1.ContainerPort{{ContainerPort: 8080}},
				Env: []corev1.EnvVar{{Name: "MODE", Value: "production"}},
			}}},
		}
		pods := cs.CoreV1().Pods(nsName(i % nSvc))
		return retry(func() error {
			created, err := pods.Create(ctx, p, metav1.CreateOptions{})
			if apierrors.IsAlreadyExists(err) {
				created, err = pods.Get(ctx, p.Name, metav1.GetOptions{})
			}
			if err != nil {
				return err
			}
			created.Status.Phase = corev1.PodRunning
			created.Status.PodIP = podIP(i)
			created.Status.PodIPs = []corev1.PodIP{{IP: podIP(i)}}
			created.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
			_, err = pods.UpdateStatus(ctx, created, metav1.UpdateOptions{})
			return err
		})
	})
	if err != nil {
		b.Fatalf("pods: %v", err)
	}
	err = benchutil.Parallel(clients, nSvc/headlessEvery, func(j int) error {
		i := j * headlessEvery
		sl := &discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Name: fmt.Sprintf("svc-%d-abcde", i), Labels: map[string]string{discoveryv1.LabelServiceName: fmt.Sprintf("svc-%d", i)}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To[int32](8080), Protocol: ptr.To(corev1.ProtocolTCP)}},
		}
		for k := range endpointsPerSlice {
			pod := (i + k*nSvc) % nPods // pods labelled for service i
			sl.Endpoints = append(sl.Endpoints, discoveryv1.Endpoint{
				Addresses:  []string{podIP(pod)},
				Hostname:   ptr.To(fmt.Sprintf("pod-%d", pod)),
				Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)},
				TargetRef:  &corev1.ObjectReference{Kind: "Pod", Name: fmt.Sprintf("pod-%d", pod), Namespace: nsName(i)},
			})
		}
		return retry(func() error {
			_, err := cs.DiscoveryV1().EndpointSlices(nsName(i)).Create(ctx, sl, metav1.CreateOptions{})
			if apierrors.IsAlreadyExists(err) {
				return nil
			}
			return err
		})
	})
	if err != nil {
		b.Fatalf("endpoint slices: %v", err)
	}
}

// retry repeats fn on the server errors an overloaded machine gives
// (etcd request timeouts, conflicts), a few times.
func retry(fn func() error) error {
	var err error
	for attempt := range 5 {
		if err = fn(); err == nil || !(apierrors.IsInternalError(err) || apierrors.IsServerTimeout(err) ||
			apierrors.IsTimeout(err) || apierrors.IsConflict(err) || apierrors.IsTooManyRequests(err)) {
			return err
		}
		time.Sleep(time.Duration(attempt+1) * 200 * time.Millisecond)
	}
	return err
}

// writeClusterQueries writes a dnsperf input mixing what pods ask: service
// A (60%), SRV (10%), headless endpoint names (10%), pod A (10%) and
// NXDOMAIN search-path expansions (10%).
func writeClusterQueries(b *testing.B, path string, nSvc, nPods int) {
	b.Helper()
	r := rand.New(rand.NewPCG(1, 2))
	var sb strings.Builder
	for range 100000 {
		i := r.IntN(nSvc)
		svc := fmt.Sprintf("svc-%d.%s.svc.cluster.local", i, nsName(i))
		switch k := r.IntN(10); {
		case k < 6:
			fmt.Fprintf(&sb, "%s A\n", svc)
		case k == 6:
			fmt.Fprintf(&sb, "_http._tcp.%s SRV\n", svc)
		case k == 7:
			h := i - i%headlessEvery
			pod := h % nPods
			fmt.Fprintf(&sb, "pod-%d.svc-%d.%s.svc.cluster.local A\n", pod, h, nsName(h))
		case k == 8:
			p := r.IntN(nPods)
			fmt.Fprintf(&sb, "%s.%s.pod.cluster.local A\n", strings.ReplaceAll(podIP(p), ".", "-"), nsName(p%nSvc))
		default:
			fmt.Fprintf(&sb, "%s.%s.svc.cluster.local A\n", svc, nsName(i))
		}
	}
	if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
		b.Fatal(err)
	}
}

func writeExternalQueries(b *testing.B, path string, n int) {
	b.Helper()
	var sb strings.Builder
	for i := range n {
		fmt.Fprintf(&sb, "host-%d.example.net A\n", i)
	}
	if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
		b.Fatal(err)
	}
}

// startUpstream answers A for any name with a long TTL, so that every
// external query of the runs is a cache hit.
func startUpstream(b *testing.B) string {
	b.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		r := new(dns.Msg)
		r.SetReply(req)
		q := req.Question[0]
		if q.Qtype == dns.TypeA {
			r.Answer = append(r.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 3600}, A: net.IPv4(203, 0, 113, 10)})
		}
		_ = w.WriteMsg(r)
	})}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go func() { _ = srv.ActivateAndServe() }()
	<-started
	b.Cleanup(func() { _ = srv.Shutdown() })
	return pc.LocalAddr().String()
}

// freeUDPTCPPort finds a port free for both UDP and TCP on loopback.
func freeUDPTCPPort(b *testing.B) int {
	b.Helper()
	for range 20 {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		port := pc.LocalAddr().(*net.UDPAddr).Port
		ln, err := net.Listen("tcp", pc.LocalAddr().String())
		pc.Close()
		if err == nil {
			ln.Close()
			return port
		}
	}
	b.Fatal("no free port")
	return 0
}

// loadAverage is the machine's 1-minute load average: dnsperf and
// drover-dns share the cores with whatever else runs.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Fields(string(b))[0]
}

// heapInUse reads go_memstats_heap_inuse_bytes from /metrics.
func heapInUse(url string) string {
	resp, err := http.Get(url)
	if err != nil {
		return "?"
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_memstats_heap_inuse_bytes "); ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				return fmt.Sprintf("%.1f MiB", f/(1<<20))
			}
		}
	}
	return "?"
}

// saveHeapProfile writes drover-dns' heap profile to path.
func saveHeapProfile(b *testing.B, url, path string) {
	resp, err := http.Get(url)
	if err != nil {
		b.Logf("heap profile: %v", err)
		return
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err == nil {
		err = os.WriteFile(path, data, 0o644)
	}
	if err != nil {
		b.Logf("heap profile: %v", err)
	}
}

func waitReady(b *testing.B, url string) {
	b.Helper()
	deadline := time.Now().Add(5 * time.Minute)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			b.Fatal("drover-dns not ready")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func dnsperf(args ...string) (string, error) {
	out, err := exec.Command("dnsperf", args...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("dnsperf %v: %v: %s", args, err, out)
	}
	return string(out), nil
}

var (
	qpsRE  = regexp.MustCompile(`Queries per second:\s+([0-9.]+)`)
	avgRE  = regexp.MustCompile(`Average Latency \(s\):\s+([0-9.]+)`)
	lostRE = regexp.MustCompile(`Queries lost:\s+(\d+ \([0-9.]+%\))`)
)

func parse(out string) (qps, avg float64, lost string) {
	if m := qpsRE.FindStringSubmatch(out); m != nil {
		qps, _ = strconv.ParseFloat(m[1], 64)
	}
	if m := avgRE.FindStringSubmatch(out); m != nil {
		avg, _ = strconv.ParseFloat(m[1], 64)
	}
	if m := lostRE.FindStringSubmatch(out); m != nil {
		lost = m[1]
	}
	return qps, avg, lost
}

// percentiles reads dnsperf -v lines ("> NOERROR name A 0.000123").
func percentiles(out string) (p50, p99 float64, rcodes map[string]int) {
	var lat []float64
	rcodes = map[string]int{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 3 || f[0] != ">" {
			continue
		}
		if v, err := strconv.ParseFloat(f[len(f)-1], 64); err == nil {
			lat = append(lat, v)
			rcodes[f[1]]++
		}
	}
	if len(lat) == 0 {
		return 0, 0, rcodes
	}
	slices.Sort(lat)
	return lat[len(lat)/2], lat[len(lat)*99/100], rcodes
}
