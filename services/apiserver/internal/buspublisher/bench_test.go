package buspublisher

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"drover.dev/libs/benchutil"
	"drover.dev/libs/bus"
)

// BenchmarkPublishBacklog measures how fast a publisher drains a burst of
// pod changes committed to etcd while it was down (each change also goes to
// its node's subject): the write rate the bus can follow.
func BenchmarkPublishBacklog(b *testing.B) {
	const changes = 5000
	e := setup(b)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	run := func() context.CancelFunc {
		pctx, pcancel := context.WithCancel(ctx)
		p := e.publisher("bench")
		go p.Run(pctx)
		<-p.Publishing()
		return pcancel
	}
	run()() // creates the streams and leaves a resume point
	stream, err := e.js.Stream(ctx, bus.EventsStream)
	if err != nil {
		b.Fatal(err)
	}
	count := func() uint64 {
		info, err := stream.Info(ctx)
		if err != nil {
			b.Fatal(err)
		}
		return info.State.Msgs
	}
	for i := range b.N {
		time.Sleep(100 * time.Millisecond) // the previous publisher has stopped
		before := count()
		err := benchutil.Parallel(32, changes, func(j int) error {
			name := fmt.Sprintf("r%d-p%d", i, j)
			_, err := e.etcd.Put(ctx, "/registry/pods/default/"+name, pod(name, fmt.Sprintf("node-%d", j%100)))
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
		cpu0, _ := benchutil.CPUSeconds(os.Getpid())
		start := time.Now()
		stop := run()
		for count()-before < changes {
			time.Sleep(2 * time.Millisecond)
		}
		elapsed := time.Since(start)
		cpu1, _ := benchutil.CPUSeconds(os.Getpid())
		stop()
		b.ReportMetric(changes/elapsed.Seconds(), "changes/s")
		// etcd, NATS and the publisher all run in this process.
		b.ReportMetric((cpu1-cpu0)*1e6/changes, "cpu-µs/change")
	}
}
