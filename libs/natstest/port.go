package natstest

import (
	"net"
	"strconv"
)

func portOf(hostport string) int {
	_, p, err := net.SplitHostPort(hostport)
	if err != nil {
		return -1
	}
	n, _ := strconv.Atoi(p)
	return n
}
