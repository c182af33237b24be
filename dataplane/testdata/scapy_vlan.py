#!/usr/bin/python3
"""Interop helper for dataplane's VLAN tests: scapy (Debian python3-scapy)
builds 802.1Q / 802.1ad frames and decrypts secylab's MACsec frames of
tagged traffic.

Input (stdin), JSON list of jobs: {"stag", "ctag", "clear": hex untagged
frame, "wire": hex MACsec frame, "key", "sci", "pn", "ssci", "salt",
"send_sci"} (GCM-AES-XPN-256, AN 0). Output: the same list, each job with
"tagged" (scapy's Ether/[Dot1AD]/Dot1Q frame of the clear frame's payload),
"decrypted" (scapy's decryption of the wire frame) and "vids" (the VLAN IDs
scapy's dissector finds in the decrypted frame, outer first).
"""
import json
import sys

from scapy.layers.l2 import Ether, Dot1Q, Dot1AD
from scapy.contrib.macsec import MACsecSA


def tagged(job):
    clear = Ether(bytes.fromhex(job["clear"]))
    eth = Ether(dst=clear.dst, src=clear.src)
    inner = Dot1Q(vlan=job["ctag"]) / clear.payload
    if job["stag"]:
        return bytes(eth / Dot1AD(vlan=job["stag"]) / inner)
    return bytes(eth / inner)


def decrypt(job):
    sa = MACsecSA(sci=int(job["sci"], 16), an=0, pn=job["pn"], key=bytes.fromhex(job["key"]),
                  icvlen=16, encrypt=True, send_sci=job["send_sci"], xpn_en=True,
                  ssci=job["ssci"], salt=bytes.fromhex(job["salt"]))
    return bytes(sa.decap(sa.decrypt(Ether(bytes.fromhex(job["wire"])))))


def vids(frame):
    pkt, out = Ether(frame), []
    layer = pkt.payload
    while isinstance(layer, (Dot1Q, Dot1AD)):
        out.append(layer.vlan)
        layer = layer.payload
    return out


def main():
    jobs = json.load(sys.stdin)
    for job in jobs:
        job["tagged"] = tagged(job).hex()
        d = decrypt(job)
        job["decrypted"] = d.hex()
        job["vids"] = vids(d)
    json.dump(jobs, sys.stdout)


if __name__ == "__main__":
    main()
