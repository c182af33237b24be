#!/usr/bin/python3
"""Interop helper for secylab's macsec tests: runs scapy's MACsecSA
(scapy.contrib.macsec, Debian python3-scapy 2.5) on frames given by the Go
test, so that an implementation independent of secylab checks its output and
produces frames for it to validate.

Input (stdin), JSON:
  {"jobs": [{"op": "encrypt" | "decrypt",
             "key": hex SAK, "sci": 16 hex digits, "an": 0..3,
             "pn": full packet number (64-bit for XPN),
             "xpn": bool, "ssci": int, "salt": 24 hex digits,
             "send_sci": bool (SC bit), "es": bool (ES bit, encrypt only),
             "encrypt": bool (E=1,C=1, else integrity only),
             "frame": hex}]}
  encrypt: frame is a cleartext Ethernet frame (DA|SA|EtherType|payload);
           the result is the protected frame.
  decrypt: frame is a protected frame; the result is the cleartext frame.
Output (stdout), JSON: {"results": [{"frame": hex} | {"error": text}]}, one
per job, in order. A failed ICV check is an error "InvalidTag".

How scapy's MACsecSA behaves, and what this script does about it:
- encap() copies sa.pn into the SecTAG but never advances it, and decrypt()
  takes the upper 32 bits of an XPN packet number from sa.pn, not from any
  recovery of its own: make_iv() builds (sa.pn & 0xFFFFFFFF00000000) |
  SecTAG.PN. So the script sets sa.pn to each frame's full PN, standing in
  for the receiver's PN recovery (802.1AE-2018 10.6.2).
- decrypt() decides where the SecTAG ends from sa.send_sci, not from the SC
  bit of the frame in hand, and the non-XPN IV uses sa.sci, never the SCI in
  the tag. The script checks that the frame's SC bit matches send_sci before
  decrypting, so a mismatch is reported instead of a misleading InvalidTag.
- encap() always writes ES=0 and SCB=0; for an end-station frame the script
  sets ES in the tag before encrypt() so that it is covered by the ICV.
- encap() and decrypt() require an Ether layer; the frame bytes are parsed
  with Ether() and the script checks that they re-serialise unchanged.
"""
import json
import sys

from scapy.layers.l2 import Ether
from scapy.contrib.macsec import MACsec, MACsecSA


def make_sa(job):
    xpn = bool(job["xpn"])
    return MACsecSA(
        sci=int(job["sci"], 16),
        an=job["an"],
        pn=job["pn"],
        key=bytes.fromhex(job["key"]),
        icvlen=16,
        encrypt=bool(job["encrypt"]),
        send_sci=bool(job["send_sci"]),
        xpn_en=xpn,
        ssci=job.get("ssci", 0) if xpn else None,
        salt=bytes.fromhex(job["salt"]) if xpn else None,
    )


def parse(frame):
    pkt = Ether(frame)
    if bytes(pkt) != frame:
        raise ValueError("scapy does not re-serialise the frame unchanged")
    return pkt


def encrypt(job):
    sa = make_sa(job)
    pkt = sa.encap(parse(bytes.fromhex(job["frame"])))
    if job.get("es"):
        pkt[MACsec].ES = 1
    return bytes(sa.encrypt(pkt))


def decrypt(job):
    sa = make_sa(job)
    pkt = parse(bytes.fromhex(job["frame"]))
    if MACsec not in pkt:
        raise ValueError("not a MACsec frame")
    tag = pkt[MACsec]
    if bool(tag.SC) != sa.send_sci:
        raise ValueError("SC bit %d but send_sci %s" % (tag.SC, sa.send_sci))
    if tag.PN != job["pn"] & 0xFFFFFFFF:
        raise ValueError("SecTAG PN %#x, expected the lower half of %#x" % (tag.PN, job["pn"]))
    if tag.AN != job["an"]:
        raise ValueError("SecTAG AN %d, expected %d" % (tag.AN, job["an"]))
    return bytes(sa.decap(sa.decrypt(pkt)))


def main():
    jobs = json.load(sys.stdin)["jobs"]
    results = []
    for job in jobs:
        try:
            op = {"encrypt": encrypt, "decrypt": decrypt}[job["op"]]
            results.append({"frame": op(job).hex()})
        except Exception as e:  # report per job; the Go side decides
            results.append({"error": type(e).__name__ + (": " + str(e) if str(e) else "")})
    json.dump({"results": results}, sys.stdout)


if __name__ == "__main__":
    main()
