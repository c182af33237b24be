// Package pgroup ends the process groups of the daemons the lab starts
// (BIRD, FRR, charon, pluto): each leads a group of its own, so that a
// signal reaches its helpers too.
package pgroup

import (
	"syscall"
	"time"
)

// KillAfter waits up to grace for done (closed once the group's leader,
// pid, has been reaped), after the caller has asked the daemon to stop;
// then it SIGKILLs the group and waits for done.
func KillAfter(pid int, done <-chan struct{}, grace time.Duration) {
	select {
	case <-done:
	case <-time.After(grace):
		syscall.Kill(-pid, syscall.SIGKILL)
		<-done
	}
}

// Exited reports whether done is closed: the group is gone and pid may be
// another process's now, so nothing may be sent to it.
func Exited(done <-chan struct{}) bool {
	select {
	case <-done:
		return true
	default:
		return false
	}
}
