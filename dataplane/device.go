package dataplane

import "github.com/secylab/secylab/macsec"

// MaxFrame is the largest frame a port carries: a 9000-octet jumbo
// payload, the Ethernet header, an S-tag and a C-tag, and the MACsec
// overhead.
const MaxFrame = 9000 + 14 + MaxTags + macsec.MaxOverhead
