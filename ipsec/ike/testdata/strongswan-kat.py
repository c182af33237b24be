#!/usr/bin/env python3
"""Turn the charon logs and capture of strongswan-kat.sh runs into strongswan-kat.json.

For each run: the IKE messages each charon received, hex-dumped at net=4 (the
initiator's log holds the responses, the responder's the requests), the secrets
charon derived, dumped at ike=4 / chd=4 (g^ir, SKEYSEED, SK_*, AUTH, the Child
SA keys), the Child SAs' SPIs from swanctl --list-sas, and the ESP-in-UDP packets
of the pings from the capture (tshark)."""
import json, re, subprocess, sys

HDR = re.compile(r'^\d+\[(\w+)\] (.*?) => (\d+) bytes @ 0x[0-9a-f]+$')
ROW = re.compile(r'^\d+\[\w+\]\s+\d+: (.{1,48})')

def dumps(path):
    out, cur = [], None
    for line in open(path):
        line = line.rstrip('\n')
        m = HDR.match(line)
        if m:
            cur = [m.group(1), m.group(2), int(m.group(3)), '']
            out.append(cur)
            continue
        r = ROW.match(line)
        if r and cur is not None and len(cur[3]) < 2 * cur[2]:
            cur[3] += ''.join(re.findall(r'[0-9A-F]{2}', r.group(1)))
            continue
        cur = None
    for c in out:
        assert len(c[3]) == 2 * c[2], c[:3]
    return out

def one(ds, name, nth=0):
    v = [d[3].lower() for d in ds if d[1] == name]
    return v[nth] if len(v) > nth else ""

runs = []
for spec in sys.argv[1:]:
    name, ike, esp = spec.split(':')
    a, b = dumps(f'{name}/a/charon.log'), dumps(f'{name}/b/charon.log')
    # Datagrams on port 4500 start with the non-ESP marker (RFC 3948 §2.2): strip it.
    strip = lambda h: h[8:] if h.startswith('00000000') else h
    rx = lambda ds: [strip(d[3].lower()) for d in ds if d[0] == 'NET' and d[1] == 'received packet']
    req, resp = rx(b), rx(a)
    sas = open(f'{name}/sas.txt').read()
    spi_in = re.search(r'in\s+([0-9a-f]{8})', sas).group(1)
    spi_out = re.search(r'out\s+([0-9a-f]{8})', sas).group(1)
    esp_pkts = []
    t = subprocess.run(['tshark', '-r', f'{name}/ike.pcapng', '-T', 'fields', '-e', 'ip.src', '-e', 'udp.payload',
                        'udp.port == 4500'], capture_output=True, text=True, check=True).stdout
    for line in t.splitlines():
        src, pl = line.split('\t')
        if pl[:8] != '00000000' and len(pl) > 16:
            esp_pkts.append({'from': 'initiator' if src == '10.99.0.1' else 'responder', 'esp': pl})
    run = {
        'name': name, 'ike_proposals': ike, 'esp_proposals': esp, 'psk': 'kat-test-psk-not-secret',
        'initiator': '10.99.0.1', 'responder': '10.99.0.2',
        'ike_sa_init_request': req[0], 'ike_sa_init_response': resp[0],
        'ike_auth_request': req[1], 'ike_auth_response': resp[1],
        'gir': one(a, 'shared Diffie Hellman secret'), 'skeyseed': one(a, 'SKEYSEED'),
        'sk_d': one(a, 'Sk_d secret'), 'sk_ai': one(a, 'Sk_ai secret'), 'sk_ar': one(a, 'Sk_ar secret'),
        'sk_ei': one(a, 'Sk_ei secret'), 'sk_er': one(a, 'Sk_er secret'),
        'sk_pi': one(a, 'Sk_pi secret'), 'sk_pr': one(a, 'Sk_pr secret'),
        'auth_i': one(a, 'AUTH = prf(prf(secret, keypad), octets)'),
        # each side computes its own AUTH and the one it expects of the peer:
        # the initiator its own first, the responder the initiator's first
        'auth_r': one(b, 'AUTH = prf(prf(secret, keypad), octets)', 1),
        'child_encr_i': one(a, 'encryption initiator key'), 'child_encr_r': one(a, 'encryption responder key'),
        'child_spi_i': spi_in, 'child_spi_r': spi_out,  # the initiator's inbound SPI, the responder's
        'esp': esp_pkts,
    }
    ii = [d for d in a if d[1] == 'integrity initiator key']
    if ii:
        run['child_integ_i'] = one(a, 'integrity initiator key')
        run['child_integ_r'] = one(a, 'integrity responder key')
    runs.append(run)
json.dump(runs, sys.stdout, indent=1)
print()
