package dataplane

// MaxFrame is the largest frame a port carries: a 9000-octet jumbo
// payload, Ethernet and VLAN headers and the MACsec overhead.
const MaxFrame = 9000 + 18 + 32
