package mka

import "github.com/secylab/secylab/macsec"

// XPNSalt is the salt of an XPN SAK (802.1AE-2018 10.7.8, as Wireshark
// packet-mka.c, sonic-wpa-supplicant and MKAdaemon compute it): the key
// server's MI with its first four octets XORed with the KN —
// salt[0]^=KN>>8, salt[1]^=KN, salt[2]^=KN>>24, salt[3]^=KN>>16.
func XPNSalt(ksMI MI, kn uint32) macsec.Salt {
	s := macsec.Salt(ksMI)
	s[0] ^= byte(kn >> 8)
	s[1] ^= byte(kn)
	s[2] ^= byte(kn >> 24)
	s[3] ^= byte(kn >> 16)
	return s
}

// SSCIFor is the SSCI of sci among the SCIs of the participants that share
// a SAK (802.1AE-2018 10.7.8): they are numbered from 1 in descending
// numerical order of SCI, so the greatest SCI gets SSCI 1.
func SSCIFor(sci macsec.SCI, members []macsec.SCI) macsec.SSCI {
	n := macsec.SSCI(1)
	for _, m := range members {
		if m > sci {
			n++
		}
	}
	return n
}
