// Package conformance runs secylab against implementations nobody here
// wrote: the Linux kernel's macsec driver and xfrm ESP, and wpa_supplicant's
// MKA. Each case builds throwaway network namespaces, puts secylab's
// userspace engine on one end of a veth and the reference on the other, and
// passes live traffic both ways.
//
// When the running kernel has no MACsec or ESP (as on the machines secylab
// is developed on), the same cases run inside a throwaway VM: Debian's cloud
// kernel under QEMU with TCG, booted from an initramfs built on the fly with
// busybox, iproute2, wpa_supplicant and this very binary, which runs the
// cases on the guest kernel and prints its results on the serial console.
package conformance
