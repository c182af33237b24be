package scenario

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"github.com/secylab/secylab/lab"
)

// hostCommand is an exec step on the host: sh -c command in the scenario
// file's directory, with the environment that aims Azure's clients at the
// lab's emulator (lab.AzureEnv) and SECYLAB_LAB naming the lab.
func (r *run) hostCommand(ctx context.Context, command string) (*exec.Cmd, error) {
	cmd := exec.CommandContext(ctx, "sh", "-c", command)
	cmd.Env = append(os.Environ(), "SECYLAB_LAB="+r.name)
	if r.opt.StateDir != "" {
		cmd.Env = append(cmd.Env, "SECYLAB_STATE_DIR="+r.opt.StateDir)
	}
	if r.sc.Topology != nil && r.sc.Topology.Azure != nil {
		env, err := lab.AzureEnv(r.opt.StateDir, r.name)
		if err != nil {
			return nil, err
		}
		for k, v := range env {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	if src := r.sc.Source; src != "" && !strings.HasPrefix(src, "builtin/") {
		cmd.Dir = filepath.Dir(src)
	}
	return cmd, nil
}

// azureEvents puts the lab's Azure calls since the last look on the
// timeline: every change (PUT, PATCH, POST, DELETE, an asynchronous
// operation's end) and every refusal, whoever made it — a step, or the
// user's script.
func (r *run) azureEvents() {
	if r.sc.Topology == nil || r.sc.Topology.Azure == nil || r.lab == nil {
		return
	}
	st, err := r.lab.Status()
	if err != nil || st.Azure == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range st.Azure.Calls {
		if c.Seq <= r.azureSeen {
			continue
		}
		r.azureSeen = c.Seq
		if c.Method == "GET" || c.Path == "token" && c.Status < 400 {
			continue
		}
		r.events = append(r.events, Event{T: c.Time.Sub(r.start).Seconds(), Kind: "azure", Text: c.String()})
	}
	sort.SliceStable(r.events, func(i, j int) bool { return r.events[i].T < r.events[j].T })
}
