package pgroup

import (
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// TestKillAfter: a group that ignores SIGTERM is SIGKILLed after the
// grace; one that ends in time is not waited for.
func TestKillAfter(t *testing.T) {
	start := func(script string) (*exec.Cmd, chan struct{}) {
		cmd := exec.Command("sh", "-c", script)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		return cmd, done
	}
	stubborn, done := start(`trap '' TERM; sleep 30 & wait`)
	time.Sleep(100 * time.Millisecond) // the trap is set
	syscall.Kill(-stubborn.Process.Pid, syscall.SIGTERM)
	t0 := time.Now()
	KillAfter(stubborn.Process.Pid, done, 200*time.Millisecond)
	if d := time.Since(t0); d < 200*time.Millisecond || !Exited(done) {
		t.Fatalf("returned after %v, exited %v", d, Exited(done))
	}
	polite, done := start(`sleep 30`)
	syscall.Kill(-polite.Process.Pid, syscall.SIGTERM)
	t0 = time.Now()
	KillAfter(polite.Process.Pid, done, 10*time.Second)
	if d := time.Since(t0); d > 5*time.Second {
		t.Fatalf("waited %v for a group that ended at once", d)
	}
	if !Exited(done) {
		t.Fatal("not exited")
	}
}
