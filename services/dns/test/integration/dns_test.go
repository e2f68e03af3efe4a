// Package integration runs drover-dns in-process against a real in-process
// drover-apiserver (embedded etcd), fed by the apiserver's watch or by the
// NATS event bus, and queries it over UDP and TCP with miekg/dns. There is
// no controller-manager: the tests write EndpointSlices themselves.
package integration

import (
	"context"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	apioptions "drover.dev/apiserver/app/options"
	apitesting "drover.dev/apiserver/app/testing"
	"drover.dev/dns/app"
	"drover.dev/dns/app/config"
	"drover.dev/dns/app/options"
	dnstesting "drover.dev/dns/app/testing"
	"drover.dev/libs/componenttest"
	"drover.dev/libs/natstest"
)

const ns = "apps"

// upstream is a real DNS server on loopback answering example.org.
func upstream(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		r := new(dns.Msg)
		r.SetReply(req)
		if q := req.Question[0]; strings.EqualFold(q.Name, "example.org.") && q.Qtype == dns.TypeA {
			r.Answer = append(r.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 300}, A: net.IPv4(198, 51, 100, 7)})
		} else {
			r.Rcode = dns.RcodeNameError
		}
		_ = w.WriteMsg(r)
	})}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go func() { _ = srv.ActivateAndServe() }()
	<-started
	t.Cleanup(func() { _ = srv.Shutdown() })
	return pc.LocalAddr().String()
}

type env struct {
	cs  kubernetes.Interface
	dns string
	srv *dnstesting.TestServer
}

// start runs etcd, the apiserver (publishing to NATS for the bus source)
// and drover-dns.
func start(t *testing.T, source string) *env {
	t.Helper()
	var natsURL string
	var customize func(*apioptions.Options)
	if source == "bus" {
		natsURL = natstest.Start(t).ClientURL()
		customize = func(o *apioptions.Options) { o.NATSURL = natsURL }
	}
	api := apitesting.StartTestServer(t, "", customize)
	cs, err := kubernetes.NewForConfig(api.Config)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	up := upstream(t)
	d := dnstesting.StartTestServer(t, api.Config, func(o *options.Options) {
		o.Upstreams = []string{up}
		o.Watch.NATSURL = natsURL
	})
	return &env{cs: cs, dns: d.DNSAddr, srv: d}
}

// answer is a query's result in a comparable form.
type answer struct {
	rcode int
	rrs   []string // "TYPE data", sorted
}

func (e *env) query(t *testing.T, proto, name string, qtype uint16) answer {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	c := &dns.Client{Net: proto, Timeout: 2 * time.Second}
	r, _, err := c.Exchange(m, e.dns)
	if err != nil {
		t.Fatalf("%s %s over %s: %v", name, dns.TypeToString[qtype], proto, err)
	}
	a := answer{rcode: r.Rcode}
	for _, rr := range r.Answer {
		f := strings.Fields(rr.String())
		a.rrs = append(a.rrs, f[3]+" "+strings.Join(f[4:], " "))
	}
	slices.Sort(a.rrs)
	return a
}

// eventually polls the answer until it is want, for at most a second:
// changes must be visible within one.
func (e *env) eventually(t *testing.T, name string, qtype uint16, want answer) time.Duration {
	t.Helper()
	start := time.Now()
	var got answer
	for time.Since(start) < time.Second {
		got = e.query(t, "udp", name, qtype)
		if got.rcode == want.rcode && slices.Equal(got.rrs, want.rrs) {
			return time.Since(start)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s %s after 1s: got %+v, want %+v", name, dns.TypeToString[qtype], got, want)
	return 0
}

func ok(rrs ...string) answer { return answer{rcode: dns.RcodeSuccess, rrs: rrs} }

var nxdomain = answer{rcode: dns.RcodeNameError}

// TestNotReadyUntilSynced: with no apiserver to list from, drover-dns is
// live and serves, but /readyz fails.
func TestNotReadyUntilSynced(t *testing.T) {
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := dead.Addr().String()
	dead.Close()
	o := options.New()
	o.Listen, o.HealthAddr, o.LogLevel = "127.0.0.1:0", "127.0.0.1:0", "error"
	o.Upstreams = []string{upstream(t)}
	cc, err := (&config.Config{Options: o, RestConfig: &rest.Config{Host: "https://" + addr}}).Complete()
	if err != nil {
		t.Fatal(err)
	}
	var dnsAddr string
	s := componenttest.Start(t, "dns", func(ctx context.Context, ready func(net.Addr)) error {
		return app.Run(ctx, cc, func(l app.Listening) { dnsAddr = l.DNS.String(); ready(l.Health) })
	})
	base := "http://" + s.Addr.String()
	componenttest.WaitOK(t, http.DefaultClient, base+"/healthz", 10*time.Second)
	for range 10 {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatal("/readyz is OK without any list from the apiserver")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Forwarding works meanwhile.
	e := &env{dns: dnsAddr}
	if got := e.query(t, "udp", "example.org.", dns.TypeA); !slices.Equal(got.rrs, []string{"A 198.51.100.7"}) {
		t.Errorf("forwarded while not ready: %+v", got)
	}
}

func TestClusterDNS(t *testing.T) {
	for _, source := range []string{"apiserver", "bus"} {
		t.Run(source, func(t *testing.T) { testClusterDNS(t, source) })
	}
}

func testClusterDNS(t *testing.T, source string) {
	e := start(t, source)
	ctx := context.Background()
	svcs := e.cs.CoreV1().Services(ns)

	web, err := svcs.Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ip := web.Spec.ClusterIP
	if net.ParseIP(ip) == nil {
		t.Fatalf("apiserver gave web no ClusterIP: %q", ip)
	}
	webName := "web." + ns + ".svc.cluster.local."
	took := e.eventually(t, webName, dns.TypeA, ok("A "+ip))
	t.Logf("%s: new Service answered after %v", source, took)

	for _, proto := range []string{"udp", "tcp"} {
		if got := e.query(t, proto, webName, dns.TypeA); !slices.Equal(got.rrs, []string{"A " + ip}) {
			t.Errorf("%s: A over %s: %+v", source, proto, got)
		}
		if got := e.query(t, proto, "_http._tcp."+webName, dns.TypeSRV); !slices.Equal(got.rrs, []string{"SRV 0 100 80 " + webName}) {
			t.Errorf("%s: SRV over %s: %+v", source, proto, got)
		}
		rev, _ := dns.ReverseAddr(ip)
		if got := e.query(t, proto, rev, dns.TypePTR); !slices.Equal(got.rrs, []string{"PTR " + webName}) {
			t.Errorf("%s: PTR over %s: %+v", source, proto, got)
		}
		if got := e.query(t, proto, "example.org.", dns.TypeA); !slices.Equal(got.rrs, []string{"A 198.51.100.7"}) {
			t.Errorf("%s: forwarded over %s: %+v", source, proto, got)
		}
		if got := e.query(t, proto, "dns-version.cluster.local.", dns.TypeTXT); !slices.Equal(got.rrs, []string{`TXT "1.1.0"`}) {
			t.Errorf("%s: dns-version over %s: %+v", source, proto, got)
		}
	}

	// A headless service whose endpoints the test publishes, as the
	// EndpointSlice controller would.
	if _, err := svcs.Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "db"},
		Spec:       corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Ports: []corev1.ServicePort{{Name: "pg", Port: 5432}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	dbName := "db." + ns + ".svc.cluster.local."
	e.eventually(t, dbName, dns.TypeA, ok()) // known, no endpoints yet: NODATA
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "db-1", Labels: map[string]string{discoveryv1.LabelServiceName: "db"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("pg"), Port: ptr.To[int32](5432), Protocol: ptr.To(corev1.ProtocolTCP)}},
		Endpoints: []discoveryv1.Endpoint{
			{Addresses: []string{"10.244.0.10"}, Hostname: ptr.To("db-0"), Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}},
			{Addresses: []string{"10.244.0.11"}, Hostname: ptr.To("db-1"), Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(false)}},
		},
	}
	slices_ := e.cs.DiscoveryV1().EndpointSlices(ns)
	created, err := slices_.Create(ctx, slice, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	took = e.eventually(t, dbName, dns.TypeA, ok("A 10.244.0.10"))
	t.Logf("%s: new EndpointSlice answered after %v", source, took)
	e.eventually(t, "db-0."+dbName, dns.TypeA, ok("A 10.244.0.10"))
	e.eventually(t, "_pg._tcp."+dbName, dns.TypeSRV, ok("SRV 0 100 5432 db-0."+dbName))
	e.eventually(t, "db-1."+dbName, dns.TypeA, nxdomain)

	// The second endpoint becomes ready.
	created.Endpoints[1].Conditions.Ready = ptr.To(true)
	if _, err := slices_.Update(ctx, created, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	took = e.eventually(t, dbName, dns.TypeA, ok("A 10.244.0.10", "A 10.244.0.11"))
	t.Logf("%s: EndpointSlice update answered after %v", source, took)
	e.eventually(t, "db-1."+dbName, dns.TypeA, ok("A 10.244.0.11"))
	e.eventually(t, "11.0.244.10.in-addr.arpa.", dns.TypePTR, ok("PTR db-1."+dbName))

	// ExternalName, then a change of it.
	ext, err := svcs.Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "ext"},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "example.org"},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	extName := "ext." + ns + ".svc.cluster.local."
	e.eventually(t, extName, dns.TypeA, ok("A 198.51.100.7", "CNAME example.org."))
	ext.Spec.ExternalName = webName[:len(webName)-1]
	if _, err := svcs.Update(ctx, ext, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.eventually(t, extName, dns.TypeA, ok("A "+ip, "CNAME "+webName))

	// Pods: verified mode answers only IPs of pods in the namespace.
	pod, err := e.cs.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	podName := "10-244-0-42." + ns + ".pod.cluster.local."
	e.eventually(t, podName, dns.TypeA, nxdomain)
	pod.Status.PodIP = "10.244.0.42"
	pod.Status.PodIPs = []corev1.PodIP{{IP: "10.244.0.42"}}
	pod.Status.Phase = corev1.PodRunning
	if _, err := e.cs.CoreV1().Pods(ns).UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	took = e.eventually(t, podName, dns.TypeA, ok("A 10.244.0.42"))
	t.Logf("%s: pod IP answered after %v", source, took)
	e.eventually(t, "10-244-0-42.default.pod.cluster.local.", dns.TypeA, nxdomain)

	// The queries so far show in /metrics.
	text, err := e.srv.Metrics()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`drover_dns_requests_total{proto="udp",type="A"}`,
		`drover_dns_requests_total{proto="tcp",type="SRV"}`,
		`drover_dns_responses_total{rcode="NXDOMAIN"}`,
		`drover_dns_request_duration_seconds_bucket{source="zone",le="0.001"}`,
		`drover_dns_cache_requests_total{result="hit"}`,
		"drover_dns_zone_services ",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("%s: /metrics lacks %s", source, want)
		}
	}

	// Deletions.
	if err := svcs.Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	took = e.eventually(t, webName, dns.TypeA, nxdomain)
	t.Logf("%s: Service deletion answered after %v", source, took)
	if err := slices_.Delete(ctx, "db-1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.eventually(t, "db-0."+dbName, dns.TypeA, nxdomain)
	if err := e.cs.CoreV1().Pods(ns).Delete(ctx, "p", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
		t.Fatal(err)
	}
	e.eventually(t, podName, dns.TypeA, nxdomain)
}
