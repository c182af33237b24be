package lab

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"time"

	"github.com/secylab/secylab/internal/fingerprint"
	"github.com/secylab/secylab/internal/secret"
)

// The remote control endpoint of a lab spanning hosts: the lab process of
// each half also answers operations over TCP on its host's underlay
// address, so that lab run on one host drives the other half. Both hosts
// hold the same control key file (0600, like the links' key files); from
// it each side derives two Ed25519 key pairs, the endpoint's and the
// client's, and TLS 1.3 runs with each side's certificate pinned to the
// derived public key. So only a holder of the key can connect or answer,
// and what crosses the underlay (key fingerprints, captures, SA keys for
// --export-keys) is encrypted. The key itself never crosses.

// ControlPort is the remote control endpoint's default TCP port.
const ControlPort = 7400

// MinControlKey is the least key material a control key file holds.
const MinControlKey = 32

// ControlKey is a lab's control key.
type ControlKey struct{ k []byte }

// LoadControlKey reads a control key file: a regular file of mode 0600 or
// stricter holding at least 32 octets as hex digits (openssl rand -hex
// 32). Errors name the file and the rule, never the content.
func LoadControlKey(path string) (ControlKey, error) {
	b, err := secret.ReadFile(path)
	if err != nil {
		return ControlKey{}, err
	}
	defer clear(b)
	b = bytes.TrimSpace(b)
	k := make([]byte, hex.DecodedLen(len(b)))
	if _, err := hex.Decode(k, b); err != nil || len(k) < MinControlKey {
		clear(k)
		return ControlKey{}, fmt.Errorf("control key file %s: want at least %d octets as hex digits (openssl rand -hex %d > FILE; chmod 600 FILE)", path, MinControlKey, MinControlKey)
	}
	return ControlKey{k: k}, nil
}

// Fingerprint names the key without revealing it.
func (k ControlKey) Fingerprint() string { return fingerprint.Of("control key", k.k) }

// derive returns info's 32 octets of key material from the control key.
func (k ControlKey) derive(info string) []byte {
	b, err := hkdf.Key(sha256.New, k.k, nil, "secylab "+info, 32)
	if err != nil {
		panic(err) // 32 octets of SHA-256 HKDF cannot fail
	}
	return b
}

// Reader is n octets of key material for info: two hosts with the same
// control key read the same octets. A lab spanning hosts generates its
// generate:NAME keys from it, so both halves make the same CAK/CKN
// without sending it.
func (k ControlKey) Reader(info string, n int) io.Reader {
	b, err := hkdf.Key(sha256.New, k.k, nil, "secylab "+info, n)
	if err != nil {
		panic(err) // n is a key's length, far below HKDF's limit
	}
	return bytes.NewReader(b)
}

func (k ControlKey) certificate(role string) (tls.Certificate, ed25519.PublicKey, error) {
	priv := ed25519.NewKeyFromSeed(k.derive("control " + role))
	pub := priv.Public().(ed25519.PublicKey)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Unix(0, 0), NotAfter: time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)}
	der, err := x509.CreateCertificate(nil, tmpl, tmpl, pub, priv)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: priv}, pub, nil
}

// pinned accepts exactly one certificate: want's public key.
func pinned(want ed25519.PublicKey, who string) func([][]byte, [][]*x509.Certificate) error {
	return func(raw [][]byte, _ [][]*x509.Certificate) error {
		if len(raw) != 1 {
			return fmt.Errorf("the %s sent %d certificates, want 1", who, len(raw))
		}
		c, err := x509.ParseCertificate(raw[0])
		if err != nil {
			return err
		}
		if pub, ok := c.PublicKey.(ed25519.PublicKey); !ok || !pub.Equal(want) {
			return fmt.Errorf("the %s does not hold this lab's control key", who)
		}
		return nil
	}
}

// tlsConfig is the endpoint's (server) or the client's TLS configuration.
func (k ControlKey) tlsConfig(server bool) (*tls.Config, error) {
	me, peer := "client", "endpoint"
	if server {
		me, peer = peer, me
	}
	cert, _, err := k.certificate(me)
	if err != nil {
		return nil, err
	}
	_, want, err := k.certificate(peer)
	if err != nil {
		return nil, err
	}
	c := &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert},
		VerifyPeerCertificate: pinned(want, peer), ServerName: "secylab-lab"}
	if server {
		c.ClientAuth = tls.RequireAnyClientCert
	} else {
		c.InsecureSkipVerify = true // no CA: VerifyPeerCertificate pins the key
		// lab run asks a far half for its status ten times a second, a
		// connection each: resumed sessions skip the signatures.
		c.ClientSessionCache = tls.NewLRUClientSessionCache(4)
	}
	return c, nil
}

// ListenRemote opens the remote control endpoint on the TCP address addr
// (host:port): before the lab runs, so that lab up fails on a port in use.
func ListenRemote(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("remote control endpoint: %w", err)
	}
	return ln, nil
}

// ServeRemote answers control requests on ln over TLS with the control key
// until ctx ends.
func ServeRemote(ctx context.Context, l *Lab, ln net.Listener, key ControlKey) error {
	cfg, err := key.tlsConfig(true)
	if err != nil {
		ln.Close()
		return err
	}
	go func() { <-ctx.Done(); ln.Close() }()
	return accept(ctx, ln, func(c net.Conn) {
		tc := tls.Server(c, cfg)
		hctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			l.cfg.Logger.Warn("remote control: refused a connection", "from", c.RemoteAddr().String(), "err", err)
			c.Close()
			return
		}
		l.serveConn(ctx, tc)
	})
}

// DialRemote returns a client for the half of a lab whose remote control
// endpoint is at addr (host:port), authenticated with key.
func DialRemote(addr string, key ControlKey) (*Client, error) {
	cfg, err := key.tlsConfig(false)
	if err != nil {
		return nil, err
	}
	return &Client{Lab: addr, Socket: addr, remote: func(ctx context.Context) (net.Conn, error) {
		d := tls.Dialer{NetDialer: &net.Dialer{Timeout: 2 * time.Second}, Config: cfg}
		c, err := d.DialContext(ctx, "tcp", addr)
		var rec tls.RecordHeaderError
		if errors.As(err, &rec) {
			return nil, fmt.Errorf("%s is not a secylab control endpoint: %w", addr, err)
		}
		return c, err
	}}, nil
}
