package topology

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// lockLab takes the lab's lock file (flock, released by the kernel if the
// holder dies), so that Create, RecordProcess and Destroy do not interleave
// their read-modify-write of the state file.
func lockLab(dir string) (unlock func(), err error) {
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock lab: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock lab: %w", err)
	}
	return func() { f.Close() }, nil
}

// processStartTime reads field 22 of /proc/<pid>/stat.
func processStartTime(pid int) (uint64, error) {
	start, _, err := processStat(pid)
	return start, err
}

// processStat reads the start time (field 22) and the state (field 3) of
// /proc/<pid>/stat.
func processStat(pid int) (uint64, byte, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, err
	}
	// The command (field 2) may hold spaces and parentheses: skip past the
	// last ')'. Field 3 is then the first one.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	fields := bytes.Fields(data[i+1:])
	if len(fields) < 20 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	start, err := strconv.ParseUint(string(fields[19]), 10, 64)
	return start, fields[0][0], err
}

// alive reports whether p still exists as the same process (not a
// recycled pid).
func (p Process) alive() bool {
	st, _, err := processStat(p.PID)
	return err == nil && st == p.StartTime
}

// Running reports whether p still runs: the same process (not a recycled
// pid), and not a zombie.
func (p Process) Running() bool { return p.alive() && !p.zombie() }

// zombie reports whether p has ended and waits only for its parent to
// reap it.
func (p Process) zombie() bool {
	st, state, err := processStat(p.PID)
	return err == nil && st == p.StartTime && (state == 'Z' || state == 'X')
}

// stop ends p: SIGTERM, then SIGKILL after grace.
func (p Process) stop(grace time.Duration) error {
	if p.PID == os.Getpid() || !p.alive() {
		return nil
	}
	_ = syscall.Kill(p.PID, syscall.SIGTERM)
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) {
		if !p.alive() {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := syscall.Kill(p.PID, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill %s (pid %d): %w", p.Name, p.PID, err)
	}
	for range 100 {
		if !p.alive() {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	if p.zombie() {
		return nil // ended; its parent has not reaped it yet
	}
	return fmt.Errorf("%s (pid %d) did not exit after SIGKILL", p.Name, p.PID)
}

// killNamespaceProcesses SIGKILLs every process inside the named namespace
// (as ip netns pids finds them), since any of them would keep the namespace
// and its devices alive after the unmount.
func killNamespaceProcesses(name string) error {
	var ns unix.Stat_t
	if err := unix.Stat(filepath.Join(NetnsDir, name), &ns); err != nil {
		return nil // gone
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return err
	}
	var errs []error
	self := os.Getpid()
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		var st unix.Stat_t
		if unix.Stat("/proc/"+e.Name()+"/ns/net", &st) != nil || st.Dev != ns.Dev || st.Ino != ns.Ino {
			continue
		}
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			errs = append(errs, fmt.Errorf("kill pid %d in namespace %s: %w", pid, name, err))
		}
	}
	return errors.Join(errs...)
}
