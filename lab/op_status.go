package lab

import (
	"context"
	"os"
)

func init() { register(false, func() Op { return &StatusOp{} }) }

// StatusOp asks for the lab's state: its ports (of one node, or all),
// tunnels and BGP sessions. Its answer is a *LabStatus.
type StatusOp struct {
	OfNode `json:",inline" yaml:",inline"`
}

func (*StatusOp) Kind() string     { return "status" }
func (*StatusOp) Describe() string { return "status" }

func (o *StatusOp) Apply(_ context.Context, l *Lab) (any, error) {
	st := &LabStatus{Name: l.topo.Name, PID: os.Getpid(), Started: l.started, Warnings: l.topo.Warnings, Tunnels: l.tunnelStatus(), BGP: l.BGPStatus(), Strongswan: l.swanStatus(), Azure: l.azureStatus()}
	if l.topo.Host != "" {
		st.Host = l.topo.Host
		for _, n := range l.topo.Nodes {
			if !n.External() {
				st.Nodes = append(st.Nodes, n.Name)
			}
		}
	}
	for _, p := range l.Ports() {
		if o.Node == "" || o.Node == p.cfg.Node {
			st.Ports = append(st.Ports, p.Status())
		}
	}
	return st, nil
}
