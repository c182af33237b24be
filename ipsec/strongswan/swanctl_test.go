package strongswan

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// fullConn has every optional key: DPD, mode, ESP proposals, start
// action and a secret for both IDs.
var fullConn = PSKConn{Name: "bench", Local: "10.88.0.1", Remote: "10.88.0.2", Proposals: "aes256-sha256-modp2048", DPDDelay: "0",
	LocalTS: "10.1.0.1/32", RemoteTS: "10.2.0.1/32", Mode: "tunnel", ESPProposals: "aes256gcm16-noesn", StartAction: "start",
	PSK: []byte("not-printed-anywhere"), SecretBothIDs: true}

const fullConf = `connections {
  bench {
    version = 2
    local_addrs = 10.88.0.1
    remote_addrs = 10.88.0.2
    proposals = aes256-sha256-modp2048
    dpd_delay = 0
    local {
      auth = psk
      id = 10.88.0.1
    }
    remote {
      auth = psk
      id = 10.88.0.2
    }
    children {
      net {
        local_ts = 10.1.0.1/32
        remote_ts = 10.2.0.1/32
        mode = tunnel
        esp_proposals = aes256gcm16-noesn
        start_action = start
      }
    }
  }
}
secrets {
  ike-bench {
    id-1 = 10.88.0.1
    id-2 = 10.88.0.2
    secret = "not-printed-anywhere"
  }
}
`

// bareConn is fullConn without the optional keys: charon's defaults, the
// secret the remote's.
var bareConn = PSKConn{Name: fullConn.Name, Local: fullConn.Local, Remote: fullConn.Remote, Proposals: fullConn.Proposals,
	LocalTS: fullConn.LocalTS, RemoteTS: fullConn.RemoteTS, PSK: fullConn.PSK}

// TestPSKConnSwanctl: every key as written; without the optional ones,
// those lines are gone and the secret names the remote only.
func TestPSKConnSwanctl(t *testing.T) {
	assert.Equal(t, fullConf, fullConn.Swanctl())
	var bare strings.Builder
	for line := range strings.Lines(fullConf) {
		switch k, _, _ := strings.Cut(strings.TrimSpace(line), " ="); k {
		case "dpd_delay", "mode", "esp_proposals", "start_action", "id-1":
		case "id-2":
			bare.WriteString("    id = 10.88.0.2\n")
		default:
			bare.WriteString(line)
		}
	}
	assert.Equal(t, bare.String(), bareConn.Swanctl())
}

// TestPSKValue: a key swanctl would misread quoted (binary, a quote, a
// backslash, a 0x or 0s prefix it decodes) is written in hex.
func TestPSKValue(t *testing.T) {
	for psk, want := range map[string]string{
		"swan-lab-psk":  `"swan-lab-psk"`,
		"a b~":          `"a b~"`,
		"\x01\xff\x00A": "0x01ff0041",
		`say "hi"`:      "0x7361792022686922",
		`a\b`:           "0x615c62",
		"0xabcd":        "0x307861626364",
		"0Sabc":         "0x3053616263",
	} {
		assert.Equal(t, want, pskValue([]byte(psk)), "%q", psk)
	}
}
