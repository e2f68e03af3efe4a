package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// BenchmarkIdleRenewalsHeap: what the apiserver holds on to while a quiet
// cluster goes on renewing leases. A one-node cluster renews about 1.6
// leases a second (three leader leases every 2 s, the node's every 10 s),
// so 10,000 renewals (DROVER_BENCH_RENEWALS) are about two idle hours.
// The renewals are sent as fast as the apiserver takes them, then the
// cluster is quiet for longer than the watch cache's history window and
// renews a few more. Reports the live heap after a collection before and
// after, and RSS.
//
//	go test -run '^$' -bench IdleRenewalsHeap -benchtime 1x ./test/bench/
func BenchmarkIdleRenewalsHeap(b *testing.B) {
	renewals := envInt("DROVER_BENCH_RENEWALS", 10000)
	s := start(b)
	ctx := context.Background()
	leases := s.cs.CoordinationV1().Leases("kube-system")
	const holders = 4
	for i := range holders {
		l := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("holder-%d", i)}}
		l.Spec.HolderIdentity = &l.Name
		if _, err := leases.Create(ctx, l, metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	before := liveHeapMB(b, s)
	pid := s.cmd.Process.Pid
	rssBefore := float64(procStatusKB(b, pid, "VmRSS")) / 1024
	renew := func(n int) error {
		_, err := parallel(n, func(i int) error {
			name := fmt.Sprintf("holder-%d", i%holders)
			for { // clients renewing the same lease conflict: read again

				l, err := leases.Get(ctx, name, metav1.GetOptions{})
				if err != nil {
					return err
				}
				now := metav1.NewMicroTime(time.Now())
				l.Spec.RenewTime = &now
				if _, err = leases.Update(ctx, l, metav1.UpdateOptions{}); err == nil {
					return nil
				}
			}
		})
		return err
	}
	for b.Loop() {
		if err := renew(renewals); err != nil {
			b.Fatal(err)
		}
		// Then a quiet spell longer than the watch cache's history window
		// (75 s), and the renewals of a few seconds.
		time.Sleep(80 * time.Second)
		if err := renew(holders * 2); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(before, "live-heap-before-MB")
	b.ReportMetric(liveHeapMB(b, s), "live-heap-after-MB")
	b.ReportMetric(rssBefore, "RSS-before-MB")
	b.ReportMetric(float64(procStatusKB(b, pid, "VmRSS"))/1024, "RSS-after-MB")
}

// liveHeapMB is the apiserver's heap in use right after a collection, from
// the runtime statistics its heap profile ends with.
func liveHeapMB(b *testing.B, s *server) float64 {
	prof, err := s.cs.CoreV1().RESTClient().Get().AbsPath("/debug/pprof/heap").Param("gc", "1").Param("debug", "1").DoRaw(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(prof))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "# HeapAlloc = "); ok {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return float64(n) / (1 << 20)
		}
	}
	b.Fatal("no HeapAlloc in the heap profile")
	return 0
}
