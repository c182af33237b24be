#!/bin/bash
# One IKEv2 exchange between two strongSwan charons (Debian 12's 5.9.8 with
# kernel-libipsec) in two network namespaces, logged at ike=4 chd=4 net=4 so
# that charon prints every message it receives and every key it derives, and
# captured with dumpcap. Run as root; strongswan-kat.py turns the runs into
# strongswan-kat.json. The PSK is a test value.
#
#   cd /tmp/ike-kat && strongswan-kat.sh NAME IKE_PROPOSALS ESP_PROPOSALS
#   (e.g. strongswan-kat.sh cbc-sha256-modp2048 aes256-sha256-modp2048 aes128-sha1-noesn)
#   strongswan-kat.py NAME:IKE:ESP ... > strongswan-kat.json
set -eu
name=$1 ike=$2 esp=$3
d=$PWD/$name; rm -rf $d; mkdir -p $d
A=ikekat-a-$$ B=ikekat-b-$$
cleanup() { for p in $(cat $d/*.pid 2>/dev/null); do kill $p 2>/dev/null || true; done; sleep 0.3; ip netns del $A 2>/dev/null || true; ip netns del $B 2>/dev/null || true; }
trap cleanup EXIT
ip netns add $A; ip netns add $B
ip link add ka$$ netns $A type veth peer name kb$$ netns $B
ip -n $A addr add 10.99.0.1/24 dev ka$$; ip -n $B addr add 10.99.0.2/24 dev kb$$
ip -n $A link set ka$$ up; ip -n $B link set kb$$ up; ip -n $A link set lo up; ip -n $B link set lo up
ip -n $A addr add 172.31.1.1/32 dev lo; ip -n $B addr add 172.31.2.1/32 dev lo
for s in a b; do
  mkdir -p $d/$s
  cat > $d/$s/strongswan.conf <<EOC
charon {
  load = random nonce aes sha1 sha2 hmac gcm openssl kdf pem pkcs1 x509 gmp kernel-libipsec kernel-netlink socket-default vici updown
  port = 500
  port_nat_t = 4500
  plugins {
    vici {
      socket = unix://$d/$s/charon.vici
    }
    kernel-libipsec {
      allow_peer_ts = no
    }
  }
  filelog {
    main {
      path = $d/$s/charon.log
      default = 1
      ike = 4
      chd = 4
      enc = 2
      net = 4
      cfg = 2
      knl = 1
      flush_line = yes
    }
  }
}
EOC
done
mk() { # s local remote lts rts
cat > $d/$1/swanctl.conf <<EOC
connections {
  t {
    version = 2
    local_addrs = $2
    remote_addrs = $3
    proposals = $ike
    local {
      auth = psk
      id = $2
    }
    remote {
      auth = psk
      id = $3
    }
    children {
      net {
        local_ts = $4
        remote_ts = $5
        mode = tunnel
        esp_proposals = $esp
      }
    }
  }
}
secrets {
  ike-1 {
    id-1 = 10.99.0.1
    id-2 = 10.99.0.2
    secret = "kat-test-psk-not-secret"
  }
}
EOC
}
mk a 10.99.0.1 10.99.0.2 172.31.1.1/32 172.31.2.1/32
mk b 10.99.0.2 10.99.0.1 172.31.2.1/32 172.31.1.1/32
ip netns exec $B dumpcap -q -i kb$$ -w $d/ike.pcapng -f 'udp port 500 or udp port 4500' >/dev/null 2>&1 & echo $! > $d/dumpcap.pid
for s in a b; do ns=$A; [ $s = b ] && ns=$B
  ip netns exec $ns unshare -m sh -c "mount -t tmpfs tmpfs /run && STRONGSWAN_CONF=$d/$s/strongswan.conf exec /usr/lib/ipsec/charon" >/dev/null 2>&1 & echo $! > $d/charon-$s.pid
done
for i in $(seq 50); do [ -S $d/a/charon.vici ] && [ -S $d/b/charon.vici ] && break; sleep 0.1; done
ip netns exec $A swanctl --load-all --file $d/a/swanctl.conf --uri unix://$d/a/charon.vici >$d/load-a.log 2>&1
ip netns exec $B swanctl --load-all --file $d/b/swanctl.conf --uri unix://$d/b/charon.vici >$d/load-b.log 2>&1
ip netns exec $A swanctl --initiate --child net --uri unix://$d/a/charon.vici > $d/initiate.log 2>&1 || true
ip netns exec $A ping -c 2 -W 1 -I 172.31.1.1 172.31.2.1 > $d/ping.log 2>&1 || true
ip netns exec $A swanctl --list-sas --uri unix://$d/a/charon.vici > $d/sas.txt
sleep 1
