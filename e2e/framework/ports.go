package framework

import (
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
)

// Ports are drawn below the kernel's ephemeral range (32768-60999 by default) so that an
// outgoing connection cannot take a port between the moment it is checked and the moment
// the daemon binds it.
const (
	portRangeLow  = 20000
	portRangeHigh = 32000
)

var (
	portsMu   sync.Mutex
	portsUsed = map[int]bool{}
)

// FreePort returns a loopback TCP port that is free now and that this process has not
// handed out before.
func FreePort() (int, error) {
	portsMu.Lock()
	defer portsMu.Unlock()
	for range 1000 {
		port := portRangeLow + rand.IntN(portRangeHigh-portRangeLow)
		if portsUsed[port] {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue
		}
		l.Close()
		portsUsed[port] = true
		return port, nil
	}
	return 0, fmt.Errorf("framework: no free port in %d-%d", portRangeLow, portRangeHigh)
}

// MustFreePort is FreePort for tests.
func MustFreePort(t interface {
	Helper()
	Fatal(...any)
}) int {
	t.Helper()
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return port
}
