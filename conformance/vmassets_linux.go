package conformance

import (
	"archive/tar"
	"bufio"
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// DefaultVMCache is where .ci/setup-vm puts the kernel package.
const DefaultVMCache = "/var/cache/secylab/vm"

// SetupHint names the step that installs what the VM path needs.
const SetupHint = "run .ci/setup-vm as root (apt-get install qemu-system-x86 busybox-static wpasupplicant; " +
	"apt-get download of Debian's linux-image-*-cloud-amd64 into " + DefaultVMCache + ")"

// ErrVMUnavailable is wrapped by the errors that say the VM path lacks
// something on this machine.
var ErrVMUnavailable = errors.New("the VM path is not available")

func unavailable(format string, a ...any) error {
	return fmt.Errorf("%w: %s; %s", ErrVMUnavailable, fmt.Sprintf(format, a...), SetupHint)
}

// guestModules are the kernel modules the guest loads, in dependency
// order (kernel-interop-vm.md section 4: the 13 verified ones, tun for our
// TAP, the optional AES-NI path).
var guestModules = []string{
	"kernel/net/xfrm/xfrm_algo.ko",
	"kernel/net/xfrm/xfrm_user.ko",
	"kernel/net/ipv4/esp4.ko",
	"kernel/net/ipv6/esp6.ko",
	"kernel/crypto/gf128mul.ko",
	"kernel/crypto/ghash-generic.ko",
	"kernel/crypto/ctr.ko",
	"kernel/crypto/gcm.ko",
	"kernel/crypto/sha512_generic.ko",
	"kernel/crypto/drbg.ko",
	"kernel/crypto/seqiv.ko",
	"kernel/crypto/cryptd.ko",
	"kernel/crypto/crypto_simd.ko",
	"kernel/arch/x86/crypto/ghash-clmulni-intel.ko",
	"kernel/arch/x86/crypto/aesni-intel.ko",
	"kernel/drivers/net/macsec.ko",
	"kernel/drivers/net/veth.ko",
	"kernel/drivers/net/tun.ko",
}

// kernelPackage finds the newest cloud kernel .deb in dir.
func kernelPackage(dir string) (string, error) {
	debs, _ := filepath.Glob(filepath.Join(dir, "linux-image-*-cloud-amd64_*.deb"))
	if len(debs) == 0 {
		return "", unavailable("no linux-image-*-cloud-amd64 .deb in %s", dir)
	}
	slices.Sort(debs)
	return debs[len(debs)-1], nil
}

// guestKernel is what the VM boots, taken from the kernel package.
type guestKernel struct {
	release string
	vmlinuz string            // path of the extracted image
	modules map[string][]byte // by path under /lib/modules/<release>/
}

// extractKernel reads the .deb's data archive (dpkg-deb unpacks it, since
// it may be xz or zstd) and keeps only vmlinuz and the guest's modules: no
// 100 MB unpack, nothing installed.
func extractKernel(deb, dir string, mods []string) (*guestKernel, error) {
	cmd := exec.Command("dpkg-deb", "--fsys-tarfile", deb)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return nil, unavailable("dpkg-deb: %v", err)
	}
	k := &guestKernel{modules: map[string][]byte{}}
	modRe := regexp.MustCompile(`^lib/modules/([^/]+)/(kernel/.*\.ko)$`)
	tr := tar.NewReader(bufio.NewReader(out))
	var terr error
	for {
		h, err := tr.Next()
		if err != nil {
			if err != io.EOF {
				terr = err
			}
			break
		}
		name := strings.TrimPrefix(h.Name, "./")
		if strings.HasPrefix(name, "boot/vmlinuz-") && h.Typeflag == tar.TypeReg {
			k.release = strings.TrimPrefix(name, "boot/vmlinuz-")
			k.vmlinuz = filepath.Join(dir, "vmlinuz")
			f, err := os.Create(k.vmlinuz)
			if err != nil {
				terr = err
				break
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				terr = err
				break
			}
			continue
		}
		if m := modRe.FindStringSubmatch(name); m != nil && slices.Contains(mods, m[2]) {
			b, err := io.ReadAll(tr)
			if err != nil {
				terr = err
				break
			}
			k.modules[m[2]] = b
		}
	}
	io.Copy(io.Discard, out)
	if err := cmd.Wait(); err != nil && terr == nil {
		terr = fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
	}
	if terr != nil {
		return nil, fmt.Errorf("kernel package %s: %w", deb, terr)
	}
	if k.vmlinuz == "" {
		return nil, fmt.Errorf("kernel package %s has no boot/vmlinuz-*", deb)
	}
	for _, m := range mods {
		if k.modules[m] == nil {
			return nil, fmt.Errorf("kernel package %s lacks the module %s", deb, m)
		}
	}
	return k, nil
}

// isStatic reports whether the ELF file has no program interpreter.
func isStatic(file string) (bool, error) {
	f, err := elf.Open(file)
	if err != nil {
		return false, err
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return false, nil
		}
	}
	return true, nil
}

// needsLibs reports whether the ELF file names shared libraries it needs.
func needsLibs(file string) bool {
	f, err := elf.Open(file)
	if err != nil {
		return false
	}
	defer f.Close()
	libs, _ := f.ImportedLibraries()
	return len(libs) > 0
}

var lddLine = regexp.MustCompile(`(?:=>\s*)?(/\S+)\s+\(0x[0-9a-f]+\)`)

// sharedLibs lists the libraries (and the loader) a dynamic executable
// needs, as ldd resolves them on this host.
func sharedLibs(file string) ([]string, error) {
	// A shared object (a plugin) has no interpreter but needs libraries.
	if static, err := isStatic(file); err != nil || static && !needsLibs(file) {
		return nil, err
	}
	out, err := exec.Command("ldd", file).Output()
	if err != nil {
		return nil, fmt.Errorf("ldd %s: %w", file, err)
	}
	var libs []string
	for line := range strings.Lines(string(out)) {
		if m := lddLine.FindStringSubmatch(line); m != nil {
			libs = append(libs, m[1])
		}
	}
	return sortedUnique(libs), nil
}

// addProgram copies an executable to name in the initramfs, with the
// shared libraries it needs at their host paths.
func addProgram(f *Initramfs, name, src string) error {
	if err := f.Copy(name, src); err != nil {
		return err
	}
	libs, err := sharedLibs(src)
	if err != nil {
		return err
	}
	for _, lib := range libs {
		real, err := filepath.EvalSymlinks(lib)
		if err != nil {
			return err
		}
		if err := f.Copy(lib, real); err != nil {
			return err
		}
	}
	return nil
}

// addBusybox installs a static busybox with a link for each applet except
// ip (iproute2's must be the one found).
func addBusybox(f *Initramfs, busybox string) error {
	static, err := isStatic(busybox)
	if err != nil {
		return unavailable("busybox %s: %v", busybox, err)
	}
	if !static {
		return unavailable("%s is not statically linked (want busybox-static)", busybox)
	}
	if err := f.Copy("bin/busybox", busybox); err != nil {
		return err
	}
	out, err := exec.Command(busybox, "--list-full").Output()
	if err != nil {
		return fmt.Errorf("busybox --list-full: %w", err)
	}
	for line := range strings.Lines(string(out)) {
		p := strings.TrimSpace(line)
		if p == "" || path.Base(p) == "ip" || path.Base(p) == "busybox" {
			continue
		}
		rel, _ := filepath.Rel(path.Dir("/"+p), "/bin/busybox")
		f.Symlink(p, rel)
	}
	return nil
}
