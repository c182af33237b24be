// Command secylab is a link-encryption lab: a userspace IEEE 802.1AE MACsec
// engine, MKA, BGP/BFD and IPsec in network namespaces that stand for an
// Azure ExpressRoute Direct deployment.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/secylab/secylab/lab"
)

func main() {
	lab.ProcessMain() // a lab process started by lab up or lab run serves its lab and exits
	err := newRootCmd().Execute()
	if err == nil {
		return
	}
	var code exitCode
	if errors.As(err, &code) {
		os.Exit(int(code))
	}
	fmt.Fprintln(os.Stderr, "secylab:", err)
	var ue *usageError
	if errors.As(err, &ue) {
		os.Exit(2)
	}
	os.Exit(1)
}
