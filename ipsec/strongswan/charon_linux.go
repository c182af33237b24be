package strongswan

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/secylab/secylab/internal/pgroup"
)

// Charon is Debian's IKE daemon; swanctl its command-line client.
const (
	Charon  = "/usr/lib/ipsec/charon"
	Swanctl = "swanctl"
	plugins = "/usr/lib/ipsec/plugins"
)

// wantedPlugins are the plugins charon loads, those installed of them:
// crypto (what Azure's policies and a user's certificates need), the
// kernel interface, the sockets, vici for swanctl and updown for a
// connection's updown script. Not resolve: it would write the host's
// /etc/resolv.conf. The first plugin loaded that has an algorithm is the
// one charon uses: AES-NI first, the gcm plugin (software GHASH, ten
// times slower) after openssl, as a last resort.
var wantedPlugins = []string{
	"random", "nonce", "aesni", "aes", "sha1", "sha2", "md5", "hmac", "xcbc", "openssl", "gcm", "gmp", "kdf", "drbg",
	"pem", "pkcs1", "pkcs8", "pkcs12", "pubkey", "x509", "constraints", "revocation", "mgf1",
	"kernel-libipsec", "kernel-netlink", "socket-default", "vici", "updown",
}

// swanctlPlugins are those swanctl loads itself: it reads credentials.
var swanctlPlugins = []string{"random", "nonce", "aes", "sha1", "sha2", "md5", "hmac", "openssl", "gmp", "pem", "pkcs1", "pkcs8", "pkcs12", "pubkey", "x509", "constraints", "revocation"}

// Config is one charon.
type Config struct {
	// Namespace is the network namespace charon runs in (ip netns exec).
	Namespace string
	// Dir is the run directory: strongswan.conf and the vici socket.
	Dir string
	// Log is charon's log file.
	Log string
	// Swanctl is the user's swanctl.conf, loaded as written; its directory
	// is swanctl's (SWANCTL_DIR: x509/, private/ and the like beside it).
	Swanctl string
	// Kernel selects kernel xfrm for ESP; false: kernel-libipsec (ESP in
	// charon, on a TUN device, always in UDP 4500).
	Kernel bool
	// Bin is the charon binary; "" is Debian's (Charon).
	Bin string
	// Retransmit, when set, is charon's retransmit_timeout in seconds with
	// 3 tries: a test's refused exchange fails in seconds, not charon's
	// default minutes.
	Retransmit int
}

// Adds says what secylab adds to and overrides in a strongswan node's
// run, for lab up and the docs.
const Adds = "secylab writes strongswan.conf (which plugins charon loads, its vici socket in the node's run directory, " +
	"its log in the lab's directory, everything else charon's defaults) and loads your swanctl.conf as written with swanctl --load-all " +
	"(SWANCTL_DIR its directory); nothing in it is added or overridden"

// Conf is the strongswan.conf secylab writes for c.
func (c Config) Conf() string {
	var load []string
	for _, p := range wantedPlugins {
		if p == "kernel-libipsec" && c.Kernel {
			continue
		}
		if _, err := os.Stat(filepath.Join(plugins, "libstrongswan-"+p+".so")); err == nil {
			load = append(load, p)
		}
	}
	var swanctlLoad []string
	for _, p := range load {
		if slices.Contains(swanctlPlugins, p) {
			swanctlLoad = append(swanctlLoad, p)
		}
	}
	retransmit := ""
	if c.Retransmit > 0 {
		retransmit = fmt.Sprintf("\n  retransmit_timeout = %d\n  retransmit_tries = 3", c.Retransmit)
	}
	return fmt.Sprintf(`# written by secylab: charon of this lab node only
charon {
  load = %[1]s%[5]s
  plugins {
    vici {
      socket = %[2]s
    }
  }
  filelog {
    lab {
      path = %[3]s
      time_format = %%F %%T
      default = 1
      ike = 2
      flush_line = yes
    }
  }
}
swanctl {
  load = %[4]s
  socket = %[2]s
}
`, strings.Join(load, " "), c.URI(), c.Log, strings.Join(swanctlLoad, " "), retransmit)
}

// URI is the vici socket.
func (c Config) URI() string { return "unix://" + filepath.Join(c.Dir, "charon.vici") }

func (c Config) confFile() string { return filepath.Join(c.Dir, "strongswan.conf") }

// Env is what charon and swanctl need to find this run's files instead of
// the system's: strongswan.conf (which names the vici socket swanctl
// connects to) and the swanctl directory.
func (c Config) Env() []string {
	return []string{"STRONGSWAN_CONF=" + c.confFile(), "SWANCTL_DIR=" + filepath.Dir(c.Swanctl)}
}

// ExecArgv wraps argv, run in the node's namespace with `ip netns exec`, so
// that swanctl there talks to this charon: `swanctl --list-sas` as on the
// engineer's own gateway.
func (c Config) ExecArgv(argv []string) []string {
	return append(append([]string{"env"}, c.Env()...), argv...)
}

// Daemon is a running charon.
type Daemon struct {
	Config
	cmd  *exec.Cmd
	done chan struct{}
}

// Start writes strongswan.conf into c.Dir, starts charon in c.Namespace
// (with a /run of its own: its pid file clashes with no other charon) and
// loads c.Swanctl. A file swanctl or charon rejects stops charon again and
// returns their message with the file's name.
func Start(c Config) (*Daemon, error) {
	if c.Bin == "" {
		c.Bin = Charon
	}
	if _, err := os.Stat(c.Bin); err != nil {
		return nil, fmt.Errorf("strongSwan's charon is not installed (%s; apt-get install strongswan-charon strongswan-swanctl libcharon-extra-plugins)", c.Bin)
	}
	if _, err := exec.LookPath(Swanctl); err != nil {
		return nil, errors.New("swanctl is not installed (apt-get install strongswan-swanctl)")
	}
	if err := os.MkdirAll(c.Dir, 0o700); err != nil {
		return nil, err
	}
	if err := os.WriteFile(c.confFile(), []byte(c.Conf()), 0o600); err != nil {
		return nil, err
	}
	os.Remove(filepath.Join(c.Dir, "charon.vici"))
	prefix := []string{"ip", "netns", "exec", c.Namespace}
	if c.Namespace == "" {
		prefix = []string{"unshare", "--net", "--mount"}
	}
	log, err := os.OpenFile(c.Log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, err
	}
	defer log.Close()
	// charon gets a /run of its own; a run directory under /run (a lab's
	// directory in the default state directory) is bound back into it.
	script := `mount -t tmpfs -o mode=0755 secylab /run && exec "$0"`
	if d := filepath.Clean(c.Dir); strings.HasPrefix(d, "/run/") {
		script = `m=$(mktemp -d) && mount --bind "$1" "$m" && mount -t tmpfs -o mode=0755 secylab /run && mkdir -p "$1" && mount --move "$m" "$1" && rmdir "$m" && exec "$0"`
	}
	cmd := exec.Command(prefix[0], append(prefix[1:], "sh", "-c", script, c.Bin, c.Dir)...)
	cmd.Env = append(os.Environ(), c.Env()...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("strongswan: start charon in %s: %w", c.Namespace, err)
	}
	d := &Daemon{Config: c, cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); close(d.done) }()
	if err := d.waitSocket(10 * time.Second); err != nil {
		d.Stop()
		return nil, err
	}
	if out, err := d.Ctl("--load-all", "--file", c.Swanctl); err != nil || loadErrors(out, nil) != "" {
		d.Stop()
		return nil, fmt.Errorf("swanctl rejects %s: %s", c.Swanctl, loadErrors(out, err))
	}
	return d, nil
}

// loadErrors keeps swanctl's lines that say what went wrong.
func loadErrors(out string, err error) string {
	var keep []string
	for line := range strings.Lines(out) {
		// Missing credential directories (x509/, private/...) are no error.
		if l := strings.TrimSpace(line); (strings.Contains(l, "fail") || strings.Contains(l, "rror") || strings.Contains(l, "invalid")) &&
			!strings.HasPrefix(l, "opening directory") {
			keep = append(keep, l)
		}
	}
	if len(keep) == 0 && err != nil {
		keep = append(keep, strings.TrimSpace(out), err.Error())
	}
	return strings.Join(keep, "; ")
}

func (d *Daemon) waitSocket(timeout time.Duration) error {
	sock := filepath.Join(d.Dir, "charon.vici")
	deadline := time.Now().Add(timeout)
	for {
		if _, err := os.Stat(sock); err == nil {
			return nil
		}
		select {
		case <-d.done:
			return fmt.Errorf("strongswan: charon in %s exited at start (log %s): %s", d.Namespace, d.Log, tail(d.Log))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("strongswan: charon in %s did not open %s within %v (log %s): %s", d.Namespace, sock, timeout, d.Log, tail(d.Log))
		}
	}
}

func tail(file string) string {
	b, _ := os.ReadFile(file)
	if len(b) > 1500 {
		b = b[len(b)-1500:]
	}
	return strings.TrimSpace(string(b))
}

// Ctl runs swanctl with args against this charon (in its namespace:
// some commands, --initiate, act there) and returns its output.
func (d *Daemon) Ctl(args ...string) (string, error) {
	var cmd *exec.Cmd
	argv := append([]string{Swanctl}, args...)
	if d.Namespace == "" {
		cmd = exec.Command(argv[0], argv[1:]...)
	} else {
		cmd = exec.Command("ip", append([]string{"netns", "exec", d.Namespace}, argv...)...)
	}
	cmd.Env = append(os.Environ(), d.Env()...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// PID is charon's process ID (it leads its process group).
func (d *Daemon) PID() int { return d.cmd.Process.Pid }

// Stop ends charon (SIGTERM: it removes its SAs, routes and TUN device;
// SIGKILL after 3 s).
func (d *Daemon) Stop() {
	if pgroup.Exited(d.done) {
		return
	}
	syscall.Kill(-d.cmd.Process.Pid, syscall.SIGTERM)
	pgroup.KillAfter(d.cmd.Process.Pid, d.done, 3*time.Second)
}

// Check has charon and swanctl themselves check a swanctl.conf: a scratch
// charon in a network and mount namespace of its own loads it, then stops.
func Check(swanctl string) error {
	dir, err := os.MkdirTemp("", "secylab-swanctl-check-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	d, err := Start(Config{Dir: dir, Log: filepath.Join(dir, "charon.log"), Swanctl: swanctl, Kernel: true})
	if err != nil {
		return err
	}
	d.Stop()
	return nil
}

// Files are what a system needs of strongSwan to run Start with kernel
// xfrm: charon, swanctl and the plugins of its load list that are
// installed here (their libraries come with them: ldd finds those).
func Files() ([]string, error) {
	if _, err := os.Stat(Charon); err != nil {
		return nil, err
	}
	sw, err := exec.LookPath(Swanctl)
	if err != nil {
		return nil, err
	}
	files := []string{Charon, sw}
	for _, p := range wantedPlugins {
		f := filepath.Join(plugins, "libstrongswan-"+p+".so")
		if _, err := os.Stat(f); err == nil && p != "kernel-libipsec" {
			files = append(files, f)
		}
	}
	return files, nil
}
