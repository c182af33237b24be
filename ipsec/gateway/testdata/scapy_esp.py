"""Decrypt the ESP-in-UDP packets of a capture with scapy, an independent
ESP implementation that checks ESN ICVs (tshark 4.0 cannot).

usage: scapy_esp.py CAPTURE SPI:KEYMAT_HEX:INITIAL_SN ...
prints, per ESP packet: spi seq-low ok inner-hex   (ok is 1 or 0)
"""
import sys
from scapy.all import rdpcap, IP, UDP, Raw
from scapy.layers.ipsec import SecurityAssociation, ESP

sas = {}
for arg in sys.argv[2:]:
    spi, key, initial = arg.split(":")
    sas[int(spi, 16)] = [bytes.fromhex(key), int(initial)]

for pkt in rdpcap(sys.argv[1]):
    if IP not in pkt or UDP not in pkt or pkt[UDP].dport != 4500:
        continue
    esp = bytes(pkt[UDP].payload)
    spi = int.from_bytes(esp[:4], "big")
    seql = int.from_bytes(esp[4:8], "big")
    key, top = sas[spi]
    # RFC 4303 Appendix A2, case A, for packets in order: the epoch moves
    # when the low half wraps.
    th, tl = top >> 32, top & 0xFFFFFFFF
    high = th + 1 if seql < tl and tl - seql > 0x80000000 else th
    sas[spi][1] = max(top, high << 32 | seql)
    sa = SecurityAssociation(ESP, spi=spi, crypt_algo="AES-GCM", crypt_key=key,
                             esn_en=True, esn=high)
    try:
        outer = IP(bytes(IP(src=pkt[IP].src, dst=pkt[IP].dst, proto=50) / Raw(esp)))
        inner = sa.decrypt(outer)
        # scapy keeps an outer header with protocol 4 in front of the inner packet.
        if IP in inner and inner[IP].proto in (4, 41):
            inner = inner[IP].payload
        print("%x %d 1 %s" % (spi, seql, bytes(inner).hex()))
    except Exception as e:  # IPSecIntegrityError and friends
        print("%x %d 0 %s" % (spi, seql, type(e).__name__))
