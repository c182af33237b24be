// Package kmacsec is the kernel backend of the SecY: it creates a Linux
// macsec device over rtnetlink (IFLA_MACSEC_*, include/uapi/linux/if_link.h)
// and installs the SAs that secylab's MKA participant agrees over the
// macsec generic netlink family (include/uapi/linux/if_macsec.h), with the
// XPN suites' 64-bit PNs, SSCIs and salts (Linux 5.7 and later). Run
// drives a participant on a physical interface: MKPDUs on an AF_PACKET
// socket, the SAs in the kernel's SecY.
package kmacsec
