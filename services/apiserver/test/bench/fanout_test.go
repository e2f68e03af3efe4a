package bench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	clientv3 "go.etcd.io/etcd/client/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"drover.dev/libs/benchutil"
	"drover.dev/libs/bus"
	"drover.dev/libs/etcdtest"
)

// fanoutParams sizes BenchmarkFanout; the environment may shrink it for a
// quick look (DROVER_FANOUT_WATCHERS, _UPDATES, _RATE, _CONNS).
type fanoutParams struct {
	watchers int
	updates  int
	rate     int // updates per second, spread over fanoutPods pods
	conns    int // client connections the watchers are spread over
}

const fanoutPods = 100

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// BenchmarkFanout: 1,000 watchers of the pods of a namespace and 10,000
// pod updates (100 pods, paced at a fixed rate), delivered
//
//   - http-*: as HTTP watches served from the apiserver's cache (fed by its
//     own etcd watch, or by the bus), read by raw HTTP/2 readers so that the
//     client's decoding does not dominate; "1conn" multiplexes all watchers on
//     one connection as client-go does, "Nconn" spreads them;
//   - bus: as 1,000 libs/bus ListWatch watchers (plain NATS subscriptions to
//     the stream's republished changes);
//   - etcd: as 1,000 etcd watches on the pods prefix (no cache at all).
//
// Latency runs from just before the update is sent until a watcher has read
// the event. Reports the apiserver's and nats-server's CPU time and RSS, and
// how many watches etcd serves while the watchers are connected.
//
//	go test -run '^$' -bench 'Fanout$' -benchtime 1x -timeout 60m ./test/bench/
func BenchmarkFanout(b *testing.B) {
	p := fanoutParams{
		watchers: envInt("DROVER_FANOUT_WATCHERS", 1000),
		updates:  envInt("DROVER_FANOUT_UPDATES", 10000),
		// 50 updates/s to 1,000 watchers is 50,000 deliveries/s: what a
		// 2-core machine carries with etcd and the readers on it too
		// (BenchmarkFanoutSweep shows where it saturates).
		rate:  envInt("DROVER_FANOUT_RATE", 50),
		conns: envInt("DROVER_FANOUT_CONNS", 10),
	}
	for _, mode := range []string{"http-etcdfeed-1conn", "http-etcdfeed-Nconn", "http-busfeed-Nconn", "bus", "etcd"} {
		b.Run(mode, func(b *testing.B) {
			conns := p.conns
			if mode == "http-etcdfeed-1conn" {
				conns = 1
			}
			runFanout(b, mode, p, conns)
		})
	}
}

// BenchmarkFanoutSweep: the same 1,000 HTTP watchers of pods (served from
// the cache fed by its own etcd watch, spread over DROVER_FANOUT_CONNS
// connections) under a sweep of update rates, to show up to which rate p99
// delivery stays low and where the apiserver saturates. Each rate step
// sends DROVER_FANOUT_STEP_UPDATES updates (default 2,000) and reports its
// latencies, the apiserver's CPU per delivery and the CPU of this process
// (the watchers' readers and the embedded etcd, which share the machine
// with the apiserver); DROVER_FANOUT_RATES is a comma-separated list of
// rates (default 25,50,100,200). Wall latencies depend on what else runs
// on the machine; CPU per delivery much less.
//
//	go test -run '^$' -bench FanoutSweep -benchtime 1x -timeout 30m ./test/bench/
func BenchmarkFanoutSweep(b *testing.B) {
	p := fanoutParams{
		watchers: envInt("DROVER_FANOUT_WATCHERS", 1000),
		updates:  envInt("DROVER_FANOUT_STEP_UPDATES", 2000),
		conns:    envInt("DROVER_FANOUT_CONNS", 10),
	}
	rates, err := envRates("DROVER_FANOUT_RATES", []int{25, 50, 100, 200})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := startWith(b, etcdtest.StartDurable(b))
	lastRV := createFanoutPods(b, ctx, s)
	var cur atomic.Pointer[latencies]
	cur.Store(newLatencies(p.watchers, 0, 0))
	var delivered, ended atomic.Int64
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	for _, st := range httpWatchers(b, ctx, s, lastRV, p, p.conns, &cur, &delivered, &ended) {
		wg.Go(st)
	}
	pid := s.cmd.Process.Pid
	first := 0
	for _, rate := range rates {
		b.Run(fmt.Sprintf("rate-%d", rate), func(b *testing.B) {
			for range b.N {
				lat := newLatencies(p.watchers, p.updates, first)
				first += p.updates
				cur.Store(lat)
				delivered.Store(0)
				ended0 := ended.Load()
				cpu0, self0 := cpuSeconds(b, pid), selfCPUSeconds(b)
				profDone := cpuProfileFor(b, s, "DROVER_BENCH_CPU_PROFILE", fmt.Sprintf(".rate-%d", rate), 10)
				start := time.Now()
				if err := paceUpdates(ctx, s, rate, lat); err != nil {
					b.Fatal(err)
				}
				writesDone := time.Since(start)
				want := int64(p.watchers * p.updates)
				deadline := time.Now().Add(time.Minute)
				for delivered.Load() < want && time.Now().Before(deadline) {
					time.Sleep(10 * time.Millisecond)
				}
				used := cpuSeconds(b, pid) - cpu0
				b.ReportMetric(selfCPUSeconds(b)-self0, "watchers+etcd-cpu-s")
				profDone()
				all := lat.sorted()
				if len(all) == 0 {
					b.Fatal("no deliveries")
				}
				reportLatency(b, all)
				b.ReportMetric(used*1e6/float64(len(all)), "apiserver-cpu-us/delivery")
				b.ReportMetric(used/time.Since(start).Seconds(), "apiserver-cores")
				b.ReportMetric(float64(want-int64(len(all))), "missed")
				b.ReportMetric(float64(ended.Load()-ended0), "watches-ended")
				b.ReportMetric(float64(p.updates)/writesDone.Seconds(), "updates/s")
			}
		})
	}
}

// envRates parses a comma-separated list of positive rates.
func envRates(name string, def []int) ([]int, error) {
	v := os.Getenv(name)
	if v == "" {
		return def, nil
	}
	var out []int
	for f := range strings.SplitSeq(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%s: %q is not a positive rate", name, f)
		}
		out = append(out, n)
	}
	return out, nil
}

// natsProcess runs nats-server as its own process, so that its CPU and
// memory can be told apart from the apiserver's.
type natsProcess struct {
	cmd *exec.Cmd
	url string
}

var (
	natsBuildOnce sync.Once
	natsBin       string
	natsBuildErr  error
)

func startNATS(b *testing.B) *natsProcess {
	natsBuildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "drover-bench-nats")
		buildDirs = append(buildDirs, dir)
		if err != nil {
			natsBuildErr = err
			return
		}
		natsBin, natsBuildErr = benchutil.GoBuild(dir, "github.com/nats-io/nats-server/v2")
	})
	if natsBuildErr != nil {
		b.Fatal(natsBuildErr)
	}
	port := benchutil.FreePort(b)
	cmd := exec.Command(natsBin, "-a", "127.0.0.1", "-p", strconv.Itoa(port), "-js", "-sd", b.TempDir())
	benchutil.StartProcess(b, cmd)
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	deadline := time.Now().Add(30 * time.Second)
	for {
		nc, err := nats.Connect(url)
		if err == nil {
			nc.Close()
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("nats-server not ready: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return &natsProcess{cmd: cmd, url: url}
}

// latencies collects delivery latencies in microseconds, one slot per
// watcher and update, so that readers never contend. Updates are numbered
// from first on (a sweep reuses its watchers for several steps).
type latencies struct {
	first int
	sent  [][]atomic.Int32 // per watcher, per update; -1 until delivered
	t0    []atomic.Int64
}

func newLatencies(watchers, updates, first int) *latencies {
	l := &latencies{first: first, sent: make([][]atomic.Int32, watchers), t0: make([]atomic.Int64, updates)}
	for w := range l.sent {
		l.sent[w] = make([]atomic.Int32, updates)
		for i := range l.sent[w] {
			l.sent[w][i].Store(-1)
		}
	}
	return l
}

// got records that watcher w received update n now; false for a duplicate
// or an update of another step.
func (l *latencies) got(w, n int, now time.Time) bool {
	n -= l.first
	if n < 0 || n >= len(l.t0) || l.sent[w][n].Load() >= 0 {
		return false
	}
	l.sent[w][n].Store(int32(now.UnixMicro() - l.t0[n].Load()))
	return true
}

// sorted returns every recorded latency in ascending order.
func (l *latencies) sorted() []int32 {
	var all []int32
	for w := range l.sent {
		for i := range l.sent[w] {
			if us := l.sent[w][i].Load(); us >= 0 {
				all = append(all, us)
			}
		}
	}
	slices.Sort(all)
	return all
}

// reportLatency reports p50, p99 and max of the sorted latencies.
func reportLatency(b *testing.B, all []int32) {
	ms := func(q float64) float64 { return float64(all[min(int(q*float64(len(all))), len(all)-1)]) / 1000 }
	b.ReportMetric(ms(0.50), "ms-p50")
	b.ReportMetric(ms(0.99), "ms-p99")
	b.ReportMetric(ms(1), "ms-max")
	b.ReportMetric(float64(len(all)), "deliveries")
}

var annotationN = []byte(`"annotations":{"n":"`)

// updateOf finds the update number a pod's JSON carries, -1 if none.
func updateOf(obj []byte) int {
	i := bytes.Index(obj, annotationN)
	if i < 0 {
		return -1
	}
	obj = obj[i+len(annotationN):]
	end := bytes.IndexByte(obj, '"')
	if end < 0 {
		return -1
	}
	n, err := strconv.Atoi(string(obj[:end]))
	if err != nil {
		return -1
	}
	return n
}

func runFanout(b *testing.B, mode string, p fanoutParams, conns int) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	etcd := etcdtest.StartDurable(b)
	var args []string
	var np *natsProcess
	if mode == "bus" || mode == "http-busfeed-Nconn" {
		np = startNATS(b)
		args = append(args, "--nats-url="+np.url)
		if mode == "http-busfeed-Nconn" {
			args = append(args, "--watch-cache-source=bus")
		} else {
			args = append(args, "--watch-cache-source=etcd")
		}
	}
	s := startWith(b, etcd, args...)
	lastRV := createFanoutPods(b, ctx, s)
	watchesBefore := etcdWatches(b)

	var cur atomic.Pointer[latencies]
	lat := newLatencies(p.watchers, p.updates, 0)
	cur.Store(lat)
	var delivered, ended atomic.Int64
	var wg sync.WaitGroup
	var starts []func() // each starts one watcher's reader
	switch mode {
	case "bus":
		starts = busWatchers(b, ctx, np.url, lastRV, p, conns, &cur, &delivered, &ended)
	case "etcd":
		starts = etcdWatchers(b, ctx, etcd.ClientURL, lastRV, p, conns, &cur, &delivered, &ended)
	default:
		starts = httpWatchers(b, ctx, s, lastRV, p, conns, &cur, &delivered, &ended)
	}
	for _, st := range starts {
		wg.Go(st)
	}
	watchesDuring := etcdWatches(b)

	pids := map[string]int{"apiserver": s.cmd.Process.Pid}
	if np != nil {
		pids["nats"] = np.cmd.Process.Pid
	}
	cpu0 := map[string]float64{}
	for name, pid := range pids {
		cpu0[name] = cpuSeconds(b, pid)
	}
	self0 := selfCPUSeconds(b)
	profDone := cpuProfileFor(b, s, "DROVER_BENCH_CPU_PROFILE", "", 10)
	b.ResetTimer()
	start := time.Now()
	writeErr := paceUpdates(ctx, s, p.rate, lat)
	if writeErr != nil {
		b.Fatal(writeErr)
	}
	writesDone := time.Since(start)
	want := int64(p.watchers * p.updates)
	deadline := time.Now().Add(2 * time.Minute)
	for delivered.Load() < want && ended.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	b.StopTimer()
	profDone()
	b.ReportMetric(selfCPUSeconds(b)-self0, "watchers+etcd-cpu-s")
	used := map[string]float64{}
	for name, pid := range pids {
		used[name] = cpuSeconds(b, pid) - cpu0[name]
		b.ReportMetric(used[name], name+"-cpu-s")
		b.ReportMetric(float64(procStatusKB(b, pid, "VmRSS"))/1024, name+"-RSS-MB")
		b.ReportMetric(float64(procStatusKB(b, pid, "VmHWM"))/1024, name+"-peak-RSS-MB")
	}
	if path := os.Getenv("DROVER_BENCH_HEAP_PROFILE"); path != "" {
		// What the apiserver holds with the watchers connected.
		prof, err := s.cs.CoreV1().RESTClient().Get().AbsPath("/debug/pprof/heap").DoRaw(context.Background())
		if err == nil {
			err = os.WriteFile(path, prof, 0o644)
		}
		if err != nil {
			b.Error(err)
		}
	}
	cancel()
	wg.Wait()

	all := lat.sorted()
	if len(all) == 0 {
		b.Fatal("no deliveries")
	}
	reportLatency(b, all)
	b.ReportMetric(used["apiserver"]*1e6/float64(len(all)), "apiserver-cpu-us/delivery")
	b.ReportMetric(float64(want-int64(len(all))), "missed")
	b.ReportMetric(float64(ended.Load()), "watches-ended")
	b.ReportMetric(float64(p.updates)/writesDone.Seconds(), "updates/s")
	b.ReportMetric(watchesBefore, "etcd-watches-0-watchers")
	b.ReportMetric(watchesDuring, "etcd-watches-N-watchers")
}

// paceUpdates patches the pods round-robin at rate per second, one update
// per slot of lat, stamping each update's number in an annotation. Enough
// clients run at once (rate/2, at least 8) that a durable etcd's commit
// latency on a loaded machine (up to ~0.5 s seen) does not cap the rate.
func paceUpdates(ctx context.Context, s *server, rate int, lat *latencies) error {
	jobs := make(chan int)
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for range max(8, rate/2) {
		wg.Go(func() {
			for i := range jobs {
				n := lat.first + i
				lat.t0[i].Store(time.Now().UnixMicro())
				_, err := s.cs.CoreV1().Pods("default").Patch(ctx, fmt.Sprintf("fan-%d", n%fanoutPods), "application/merge-patch+json",
					[]byte(fmt.Sprintf(`{"metadata":{"annotations":{"n":"%d"}}}`, n)), metav1.PatchOptions{})
				if err != nil {
					firstErr.CompareAndSwap(nil, err)
				}
			}
		})
	}
	start := time.Now()
	interval := time.Second / time.Duration(rate)
	for i := range lat.t0 {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	if err, ok := firstErr.Load().(error); ok {
		return err
	}
	return nil
}

// httpWatchers opens the HTTP watches (all before returning, so that none
// misses the first update) and returns their readers.
func httpWatchers(b *testing.B, ctx context.Context, s *server, rv string, p fanoutParams, conns int, lat *atomic.Pointer[latencies], delivered, ended *atomic.Int64) []func() {
	clients := make([]*http.Client, conns)
	for i := range clients {
		clients[i] = &http.Client{Transport: &http.Transport{
			TLSClientConfig:   &tls.Config{InsecureSkipVerify: true},
			ForceAttemptHTTP2: true,
		}}
	}
	url := s.config.Host + "/api/v1/namespaces/default/pods?watch=true&timeoutSeconds=3600&resourceVersion=" + rv
	bodies := make([]io.ReadCloser, p.watchers)
	err := benchutil.Parallel(16, p.watchers, func(w int) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := clients[w%conns].Do(req)
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			resp.Body.Close()
			return fmt.Errorf("watch: %s", resp.Status)
		}
		if resp.ProtoMajor != 2 {
			resp.Body.Close()
			return fmt.Errorf("watch over %s, want HTTP/2", resp.Proto)
		}
		bodies[w] = resp.Body
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	starts := make([]func(), p.watchers)
	for w := range starts {
		starts[w] = func() {
			defer bodies[w].Close()
			br := bufio.NewReaderSize(bodies[w], 64<<10)
			for {
				line, err := br.ReadSlice('\n')
				if err != nil {
					if ctx.Err() == nil && !errors.Is(err, context.Canceled) {
						ended.Add(1)
					}
					return
				}
				if lat.Load().got(w, updateOf(line), time.Now()) {
					delivered.Add(1)
				}
			}
		}
	}
	return starts
}

// busWatchers subscribes through libs/bus ListWatch, one NATS subscription
// per watcher, spread over conns connections. Decode only finds the update number: the bus, not JSON
// decoding in this process, is what is measured.
func busWatchers(b *testing.B, ctx context.Context, url, rv string, p fanoutParams, conns int, lat *atomic.Pointer[latencies], delivered, ended *atomic.Int64) []func() {
	lws := make([]*bus.ListWatch, conns)
	for i := range lws {
		nc, err := nats.Connect(url, nats.Name("fanout-bench"))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(nc.Close)
		js, err := jetstream.New(nc)
		if err != nil {
			b.Fatal(err)
		}
		lws[i] = &bus.ListWatch{JS: js, Source: bus.Source{
			Stream:  bus.EventsStream,
			Subject: bus.ResourceSubject("", "pods", "default"),
			Decode: func(raw []byte) (runtime.Object, error) {
				obj := &metav1.PartialObjectMetadata{}
				obj.Annotations = map[string]string{"n": strconv.Itoa(updateOf(raw))}
				return obj, nil
			},
		}}
	}
	starts := make([]func(), p.watchers)
	err := benchutil.Parallel(16, p.watchers, func(w int) error {
		wi, err := lws[w%conns].WatchWithContext(ctx, metav1.ListOptions{ResourceVersion: rv})
		if err != nil {
			return err
		}
		starts[w] = func() {
			defer wi.Stop()
			for ev := range wi.ResultChan() {
				now := time.Now()
				obj, ok := ev.Object.(*metav1.PartialObjectMetadata)
				if !ok {
					continue
				}
				n, _ := strconv.Atoi(obj.Annotations["n"])
				if lat.Load().got(w, n, now) {
					delivered.Add(1)
				}
			}
			if ctx.Err() == nil {
				ended.Add(1)
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return starts
}

// etcdWatchers opens one etcd watch per watcher on the pods prefix, as an
// apiserver without a watch cache would.
func etcdWatchers(b *testing.B, ctx context.Context, url, rv string, p fanoutParams, conns int, lat *atomic.Pointer[latencies], delivered, ended *atomic.Int64) []func() {
	from, err := strconv.ParseInt(rv, 10, 64)
	if err != nil {
		b.Fatal(err)
	}
	clients := make([]*clientv3.Client, conns)
	for i := range clients {
		c, err := clientv3.New(clientv3.Config{Endpoints: []string{url}, DialTimeout: 5 * time.Second})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close() })
		clients[i] = c
	}
	starts := make([]func(), p.watchers)
	for w := range starts {
		wch := clients[w%conns].Watch(ctx, "/registry/pods/default/", clientv3.WithPrefix(), clientv3.WithRev(from+1))
		starts[w] = func() {
			for resp := range wch {
				now := time.Now()
				for _, ev := range resp.Events {
					if lat.Load().got(w, updateOf(ev.Kv.Value), now) {
						delivered.Add(1)
					}
				}
			}
			if ctx.Err() == nil {
				ended.Add(1)
			}
		}
	}
	return starts
}

// etcdWatches is how many watches the in-process etcd serves, from its
// etcd_debugging_mvcc_watcher_total gauge.
func etcdWatches(b *testing.B) float64 {
	mfs, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		b.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "etcd_debugging_mvcc_watcher_total" {
			for _, m := range mf.GetMetric() {
				return m.GetGauge().GetValue()
			}
		}
	}
	b.Fatal("etcd_debugging_mvcc_watcher_total not found")
	return 0
}

// cpuProfileFor records the apiserver's CPU profile for secs seconds into
// the file named by the environment variable env (plus suffix), if set.
func cpuProfileFor(b *testing.B, s *server, env, suffix string, secs int) (done func()) {
	path := os.Getenv(env)
	if path == "" {
		return func() {}
	}
	path += suffix
	ch := make(chan struct{})
	go func() {
		defer close(ch)
		prof, err := s.cs.CoreV1().RESTClient().Get().AbsPath("/debug/pprof/profile").Param("seconds", strconv.Itoa(secs)).DoRaw(context.Background())
		if err == nil {
			err = os.WriteFile(path, prof, 0o644)
		}
		if err != nil {
			b.Error(err)
		}
	}()
	return func() { <-ch }
}

// selfCPUSeconds is this process's CPU time: the watchers' readers, the
// update clients and the embedded etcd.
func selfCPUSeconds(b *testing.B) float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// createFanoutPods creates the pods the watchers follow and returns the
// resourceVersion the watches start from.
func createFanoutPods(b *testing.B, ctx context.Context, s *server) string {
	var lastRV string
	for i := range fanoutPods {
		created, err := s.cs.CoreV1().Pods("default").Create(ctx, pod(fmt.Sprintf("fan-%d", i)), metav1.CreateOptions{})
		if err != nil {
			b.Fatal(err)
		}
		lastRV = created.ResourceVersion
	}
	return lastRV
}
