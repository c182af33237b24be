package conformance

import (
	"bytes"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/secylab/secylab/internal/pgroup"
)

// LibreswanRoot is where .ci/setup-vm unpacks Debian's libreswan package
// (dpkg-deb -x, never installed: it conflicts with strongSwan's). A system
// with libreswan installed has it at / instead.
const LibreswanRoot = "/opt/secylab-vm/libreswan"

// Where libreswan's programs are on a system that has it, as in the guest.
const (
	plutoPath = "/usr/libexec/ipsec/pluto"
	ipsecPath = "/usr/sbin/ipsec"
)

// libreswanFiles are what the guest needs of the package: pluto, the
// addconn it runs at start (auto=add/start), whack, the ipsec front end
// (ipsec initnss, ipsec trafficstatus, ipsec whack) and the updown scripts
// pluto runs when a Child SA comes up.
var libreswanFiles = []string{
	"usr/libexec/ipsec/pluto", "usr/libexec/ipsec/addconn", "usr/libexec/ipsec/whack", "usr/libexec/ipsec/auto",
	"usr/libexec/ipsec/_updown", "usr/libexec/ipsec/_updown.xfrm", "usr/sbin/ipsec",
}

// libreswanRoot is the root that holds libreswan's files: / or LibreswanRoot.
func libreswanRoot() (string, error) {
	for _, root := range []string{"/", LibreswanRoot} {
		if _, err := os.Stat(filepath.Join(root, plutoPath)); err == nil {
			return root, nil
		}
	}
	return "", fmt.Errorf("libreswan's pluto is neither at %s nor under %s (.ci/setup-vm unpacks it there)", plutoPath, LibreswanRoot)
}

// addLibreswan puts libreswan into the guest at its usual paths, with
// certutil (ipsec initnss) and the NSS modules NSS dlopens, which ldd does
// not list: the softoken and freebl, beside libnss3 as NSS looks for them.
// Without libreswan on this system it adds nothing: its cases skip.
func addLibreswan(f *Initramfs) error {
	root, err := libreswanRoot()
	if err != nil {
		return nil
	}
	for _, rel := range libreswanFiles {
		src := filepath.Join(root, rel)
		if isELF(src) {
			err = addProgram(f, rel, src)
		} else {
			err = f.Copy(rel, src) // a shell script: busybox's sh runs it
		}
		if err != nil {
			return fmt.Errorf("libreswan into the guest: %w", err)
		}
	}
	certutil, err := exec.LookPath("certutil")
	if err != nil {
		return fmt.Errorf("libreswan into the guest: certutil is not installed (apt-get install libnss3-tools; .ci/setup-vm does)")
	}
	if err := addProgram(f, "usr/bin/certutil", certutil); err != nil {
		return err
	}
	libs, err := sharedLibs(filepath.Join(root, plutoPath))
	if err != nil {
		return err
	}
	for _, lib := range libs {
		if filepath.Base(lib) != "libnss3.so" {
			continue
		}
		dir := filepath.Dir(lib)
		for _, mod := range []string{"libsoftokn3.so", "libfreeblpriv3.so", "libfreebl3.so"} {
			if err := addProgram(f, strings.TrimPrefix(filepath.Join(dir, mod), "/"), filepath.Join(dir, mod)); err != nil {
				return fmt.Errorf("libreswan into the guest: NSS module: %w", err)
			}
		}
	}
	return addLibgcc(f)
}

// addLibgcc adds libgcc_s, which glibc dlopens when a thread is cancelled
// (charon's and pluto's helper threads at exit).
func addLibgcc(f *Initramfs) error {
	if gcc, _ := filepath.Glob("/lib/*-linux-gnu/libgcc_s.so.1"); len(gcc) > 0 {
		return f.Copy(strings.TrimPrefix(gcc[0], "/"), gcc[0])
	}
	return nil
}

func isELF(file string) bool {
	e, err := elf.Open(file)
	if err == nil {
		e.Close()
	}
	return err == nil
}

// pluto is a running libreswan in a namespace, with its own files in dir:
// ipsec.conf and ipsec.secrets as Debian ships them (they include
// ipsec.d/*.conf and ipsec.d/*.secrets), the NSS database, the run
// directory with the control socket.
type pluto struct {
	ns, dir string
	cmd     *exec.Cmd
	done    chan struct{}
}

// plutoConf and plutoSecrets are Debian's /etc/ipsec.conf and
// /etc/ipsec.secrets less their comments, for dir/ipsec.d.
const (
	plutoConf    = "config setup\n\ninclude %s/ipsec.d/*.conf\n"
	plutoSecrets = "include %s/ipsec.d/*.secrets\n"
)

func (p *pluto) env() []string {
	return append(os.Environ(), "IPSEC_CONF="+filepath.Join(p.dir, "ipsec.conf"), "IPSEC_RUNDIR="+filepath.Join(p.dir, "run"),
		"IPSEC_NSSDIR="+filepath.Join(p.dir, "nss"))
}

// ipsec runs `ipsec ARGS` in pluto's namespace against this pluto.
func (p *pluto) ipsec(args ...string) (string, error) {
	cmd := exec.Command("ip", append([]string{"netns", "exec", p.ns, ipsecPath}, args...)...)
	cmd.Env = p.env()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("ipsec %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// startPluto makes dir's ipsec.conf, ipsec.secrets and NSS database
// (ipsec initnss) around what dir/ipsec.d holds and starts pluto in ns as
// Debian's ipsec.service does (pluto --config … --nofork: it runs addconn
// --autoall itself, which adds the auto=add conns and starts the
// auto=start ones), its paths pointed into dir and DNSSEC off (no DNS in
// the guest, and the identities are addresses).
func startPluto(ns, dir string) (*pluto, error) {
	p := &pluto{ns: ns, dir: dir, done: make(chan struct{})}
	for _, d := range []string{"nss", "run"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			return nil, err
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "ipsec.conf"), fmt.Appendf(nil, plutoConf, dir), 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "ipsec.secrets"), fmt.Appendf(nil, plutoSecrets, dir), 0o600); err != nil {
		return nil, err
	}
	if _, err := p.ipsec("initnss", "--nssdir", filepath.Join(dir, "nss")); err != nil {
		return nil, err
	}
	log, err := os.Create(p.log())
	if err != nil {
		return nil, err
	}
	defer log.Close()
	p.cmd = exec.Command("ip", "netns", "exec", ns, plutoPath, "--nofork", "--stderrlog", "--no-dnssec",
		"--config", filepath.Join(dir, "ipsec.conf"), "--secretsfile", filepath.Join(dir, "ipsec.secrets"),
		"--ipsecdir", filepath.Join(dir, "ipsec.d"), "--nssdir", filepath.Join(dir, "nss"), "--rundir", filepath.Join(dir, "run"))
	p.cmd.Env = p.env()
	p.cmd.Stdout, p.cmd.Stderr = log, log
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start pluto in %s: %w", ns, err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	// Up once addconn has loaded the conns: whack answers and lists them.
	for deadline := time.Now().Add(20 * time.Second); ; {
		if st, err := p.ipsec("status"); err == nil && strings.Contains(st, "Total IPsec connections: loaded") && !strings.Contains(st, "loaded 0,") {
			return p, nil
		}
		select {
		case <-p.done:
			return nil, fmt.Errorf("pluto in %s exited at start: %s", ns, p.tail(2000))
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("pluto in %s loaded no connection within 20 s: %s", ns, p.tail(2000))
		}
	}
}

func (p *pluto) log() string { return filepath.Join(p.dir, "pluto.log") }

// tail is the end of pluto's log.
func (p *pluto) tail(n int) string {
	b, _ := os.ReadFile(p.log())
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(bytes.TrimSpace(b))
}

// stop shuts pluto down (ipsec whack --shutdown; SIGKILL after 3 s).
func (p *pluto) stop() {
	if pgroup.Exited(p.done) {
		return
	}
	if _, err := p.ipsec("whack", "--shutdown"); err != nil {
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	}
	pgroup.KillAfter(p.cmd.Process.Pid, p.done, 3*time.Second)
}
