package lab

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"time"

	"github.com/secylab/secylab/topology"
)

func init() { register(false, func() Op { return &ExecOp{} }) }

// ExecOp runs a shell command in a node of this half, as lab exec does
// (on a bird or frr node so that birdc and vtysh reach its daemon), and
// answers its output and exit status: how lab run carries out a scenario's
// exec step on a node of the far half of a lab spanning hosts.
type ExecOp struct {
	Node    string        `json:"node"`
	Command string        `json:"command"`
	Timeout time.Duration `json:"timeout,omitempty"` // 0: 30 s
}

// ExecResult is a command's combined output (its last 8 KiB) and exit
// status; Error says why it did not run or was stopped.
type ExecResult struct {
	Output   string `json:"output"`
	ExitCode int    `json:"exitCode"`
	Error    string `json:"error,omitempty"`
}

func (*ExecOp) Kind() string       { return "exec" }
func (o *ExecOp) Describe() string { return "on " + o.Node + ": " + o.Command }

func (o *ExecOp) Check(t *topology.Topology) error {
	c := &opCheck{t: t}
	c.node("node", o.Node)
	if n := t.Node(o.Node); n != nil && n.External() {
		c.errorf("node", "%s is an external device: the lab does not run it", o.Node)
	}
	if o.Command == "" {
		c.errorf("command", "missing: the command to run")
	}
	return c.err()
}

func (o *ExecOp) Apply(ctx context.Context, l *Lab) (any, error) {
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	argv := []string{"sh", "-c", o.Command}
	if r := l.router(o.Node); r != nil {
		argv = r.status(false).ExecArgv(argv)
	}
	cmd := exec.CommandContext(cctx, "ip", append([]string{"netns", "exec", topology.NamespaceName(l.topo.Name, o.Node)}, argv...)...)
	out, err := cmd.CombinedOutput()
	if len(out) > 8<<10 {
		out = out[len(out)-8<<10:]
	}
	res := &ExecResult{Output: string(out)}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		res.ExitCode = ee.ExitCode()
		if cctx.Err() != nil {
			res.Error = fmt.Sprintf("stopped after %v", timeout)
		}
	case err != nil:
		return nil, err
	}
	return res, nil
}
