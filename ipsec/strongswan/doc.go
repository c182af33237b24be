// Package strongswan runs Debian's strongSwan (charon, driven by swanctl)
// with a user's own swanctl.conf in a lab namespace, as package routers
// runs BIRD and FRR: every path charon and swanctl use (strongswan.conf,
// the vici socket, the pid file, the log) is the run's own, so that several
// labs and a system charon never meet.
//
// secylab writes strongswan.conf (which plugins, where the vici socket and
// the log are); the user's swanctl.conf (connections, secrets, pools) is
// loaded as written. On a kernel with ESP (xfrm accepts an AES-GCM state,
// probed for real) charon installs its SAs there; otherwise the
// kernel-libipsec plugin runs ESP in charon on a TUN device, which in
// strongSwan 5.9.8 always sends ESP in UDP on port 4500.
package strongswan
