package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/secylab/secylab/dataplane/capture"
)

// secylabBin is the secylab binary TestMain builds, to check exit statuses.
var secylabBin string

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "secylab-cmd-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	secylabBin = filepath.Join(dir, "secylab")
	build := exec.Command(goTool(), "build", "-o", secylabBin, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building secylab:", err)
		return 1
	}
	return m.Run()
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "/usr/local/go/bin/go"
}

// runCLI runs secylab in-process.
func runCLI(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetIn(strings.NewReader(stdin))
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

// runBin runs the secylab binary and returns its exit status.
func runBin(t *testing.T, env []string, args ...string) (stdout, stderr string, status int) {
	t.Helper()
	return runCmd(t, exec.Command(secylabBin, args...), env)
}

// runCmd runs cmd with env added and returns its output and exit status.
func runCmd(t *testing.T, cmd *exec.Cmd, env []string) (stdout, stderr string, status int) {
	t.Helper()
	cmd.Env = append(os.Environ(), env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		status = ee.ExitCode()
	default:
		t.Fatal(err)
	}
	return o.String(), e.String(), status
}

func isUsage(err error) bool {
	var ue *usageError
	return errors.As(err, &ue)
}

type suiteParams struct {
	cipher string // as a user would type it
	sak    string
	xpn    bool
	extra  []string // protect options that vary the SecTAG
}

var suites = []suiteParams{
	{"GCM-AES-128", "071b113b0ca743feccc f3d051f737382", false, []string{"--send-sci"}},
	{"GcmAes256", "691d3ee909d7f54167fd1ca0b5d769081f2bde1aee655fdbab80bd5295ae6be7", false, []string{"--integrity-only"}},
	{"gcm-aes-xpn-128", "071b113b0ca743feccc f3d051f737382", true, nil},
	{"GcmAesXpn256", "691d3ee909d7f54167fd1ca0b5d769081f2bde1aee655fdbab80bd5295ae6be7", true, []string{"--es"}},
}

const (
	testSSCI = "7a30c118"
	testSalt = "e630e81a48de86a21c66fa6d"
)

func (s suiteParams) keyArgs() []string {
	args := []string{"--cipher", s.cipher, "--sak", strings.ReplaceAll(s.sak, " ", "")}
	if s.xpn {
		args = append(args, "--ssci", testSSCI, "--salt", testSalt)
	}
	return args
}

// cleartext frames of several sizes: short-length SecTAGs (SL > 0) and not.
func cleartextFrames() []capture.Packet {
	ts := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	var pkts []capture.Packet
	for i, payload := range []int{2, 20, 46, 100, 1500} {
		f := make([]byte, 14+payload)
		copy(f, []byte{0xe2, 0x01, 0x06, 0xd7, 0xcd, 0x0d, 0xf0, 0x76, 0x1e, 0x8d, 0xcd, 0x3d, 0x08, 0x00})
		for j := 14; j < len(f); j++ {
			f[j] = byte(i + j)
		}
		pkts = append(pkts, capture.Packet{Timestamp: ts.Add(time.Duration(i) * time.Millisecond), Data: f, Length: len(f)})
	}
	return pkts
}

func TestFrameRoundTripAllSuites(t *testing.T) {
	for _, s := range suites {
		t.Run(s.cipher, func(t *testing.T) {
			dir := t.TempDir()
			wireName := "wire.pcap"
			if s.xpn {
				wireName = "wire.pcapng"
			}
			clearFile, wire, back := filepath.Join(dir, "clear.pcap"), filepath.Join(dir, wireName), filepath.Join(dir, "back.pcapng")
			want := cleartextFrames()
			require.NoError(t, capture.WriteFile(clearFile, want))

			args := append([]string{"frame", "protect", "--in", clearFile, "--out", wire, "--pn", "7"}, s.keyArgs()...)
			out, err := runCLI(t, "", append(args, s.extra...)...)
			require.NoError(t, err, out)
			require.Contains(t, out, "#5 PN 0xb AN 0")
			require.NotContains(t, out, strings.ReplaceAll(s.sak, " ", ""), "the SAK must never be printed")

			decoded, err := runCLI(t, "", "frame", "decode", "--in", wire, "--cipher", s.cipher)
			require.NoError(t, err, decoded)
			require.Equal(t, len(want), strings.Count(decoded, "  valid\n"), decoded)

			vargs := append([]string{"frame", "validate", "--in", wire, "--out", back, "--pn", "7", "--replay-window", "0"}, s.keyArgs()...)
			out, err = runCLI(t, "", vargs...)
			require.NoError(t, err, out)
			require.Equal(t, len(want), strings.Count(out, " ok "), out)
			require.Contains(t, out, "InPktsOK=5")

			got, format, err := capture.ReadFile(back)
			require.NoError(t, err)
			require.Equal(t, capture.PCAPNG, format)
			require.Len(t, got, len(want))
			for i := range want {
				require.Equal(t, want[i].Data, got[i].Data, "frame %d", i+1)
				require.True(t, want[i].Timestamp.Equal(got[i].Timestamp))
			}

			// The binary agrees, exit status 0.
			_, stderr, status := runBin(t, nil, vargs...)
			require.Equal(t, 0, status, stderr)
		})
	}
}

type vector struct {
	Name      string `json:"name"`
	Suite     string `json:"cipher_suite"`
	Key       string `json:"key_hex"`
	SSCI      string `json:"ssci_hex"`
	Salt      string `json:"salt_hex"`
	SCI       string `json:"sci_hex"`
	AN        uint8  `json:"an"`
	PN        string `json:"pn"`
	Plain     string `json:"plaintext_frame_hex"`
	Protected string `json:"protected_frame_hex"`
}

func loadVector(t *testing.T, name string) vector {
	t.Helper()
	b, err := os.ReadFile("../../testdata/macsec-vectors.json")
	require.NoError(t, err)
	var vs []vector
	require.NoError(t, json.Unmarshal(b, &vs))
	for _, v := range vs {
		if v.Name == name {
			return v
		}
	}
	t.Fatalf("no vector %s", name)
	return vector{}
}

func TestFrameProtectVectorXPN(t *testing.T) {
	v := loadVector(t, "dpdk/cipher/gcm_128_xpn_54B_cipher")
	t.Setenv("TEST_SAK", v.Key)
	keys := []string{"--cipher", "GcmAesXpn128", "--sak-env", "TEST_SAK", "--ssci", v.SSCI, "--salt", v.Salt,
		"--sci", v.SCI, "--an", fmt.Sprint(v.AN), "--pn", v.PN}

	// The vector has ES=1 and no SCI in the SecTAG.
	out, err := runCLI(t, "", append([]string{"frame", "protect", "--json", "--es", "--hex", v.Plain}, keys...)...)
	require.NoError(t, err, out)
	var rep struct {
		SAKFingerprint string `json:"sak_fingerprint"`
		Frames         []struct {
			Hex    string   `json:"hex"`
			SecTAG *tagInfo `json:"sectag"`
		} `json:"frames"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &rep), out)
	require.Len(t, rep.Frames, 1)
	require.Equal(t, strings.ToLower(v.Protected), rep.Frames[0].Hex)
	require.True(t, rep.Frames[0].SecTAG.ES)
	require.Len(t, rep.SAKFingerprint, 8)
	require.NotContains(t, strings.ToLower(out), strings.ToLower(v.Key))

	// And back: the vector's protected frame validates to its plaintext.
	out, err = runCLI(t, "", append([]string{"frame", "validate", v.Protected}, keys...)...)
	require.NoError(t, err, out)
	require.Contains(t, out, "#1 ok")
	require.Contains(t, out, strings.ToLower(v.Plain))
}

func TestFrameTamperedNotValid(t *testing.T) {
	s := suites[2]
	out, err := runCLI(t, "", append([]string{"frame", "protect", "--json", hex.EncodeToString(cleartextFrames()[3].Data)}, s.keyArgs()...)...)
	require.NoError(t, err, out)
	var rep struct{ Frames []struct{ Hex string } }
	require.NoError(t, json.Unmarshal([]byte(out), &rep))
	good := rep.Frames[0].Hex
	b, _ := hex.DecodeString(good)
	b[40] ^= 0x01 // a bit of the ciphertext
	bad := hex.EncodeToString(b)

	dir := t.TempDir()
	outFile := filepath.Join(dir, "clear.pcap")
	out, err = runCLI(t, "", append([]string{"frame", "validate", "--json", "--out", outFile, "--hex", good, "--hex", bad}, s.keyArgs()...)...)
	require.Error(t, err)
	require.False(t, isUsage(err), "a dropped frame is not a usage error")
	var vrep struct {
		Frames   []validatedFrame
		Counters struct {
			RxSC map[string]uint64 `json:"rx_sc"`
		}
		Delivered, Dropped int
	}
	require.NoError(t, json.Unmarshal([]byte(out), &vrep), out)
	require.Equal(t, "InPktsOK", vrep.Frames[0].Result)
	require.Equal(t, "ok", vrep.Frames[0].Verdict)
	require.Equal(t, "InPktsNotValid", vrep.Frames[1].Result)
	require.False(t, vrep.Frames[1].Delivered)
	require.Equal(t, uint64(1), vrep.Counters.RxSC["InPktsNotValid"])
	require.Equal(t, 1, vrep.Delivered)

	// The delivered frame is written; the tampered one is not.
	got, _, err := capture.ReadFile(outFile)
	require.NoError(t, err)
	require.Len(t, got, 1)

	stdout, stderr, status := runBin(t, nil, append([]string{"frame", "validate", bad}, s.keyArgs()...)...)
	require.Equal(t, 1, status, stderr)
	require.Contains(t, stdout, "#1 InPktsNotValid: ICV check failed")
	require.Contains(t, stdout, "InPktsNotValid=1")
	require.Contains(t, stderr, "1 of 1 frames not delivered")
}

func TestFrameValidateCheckDeliversInvalid(t *testing.T) {
	s := suites[3]
	out, err := runCLI(t, "", append([]string{"frame", "protect", "--json", "--integrity-only", hex.EncodeToString(cleartextFrames()[2].Data)}, s.keyArgs()...)...)
	require.NoError(t, err, out)
	var rep struct{ Frames []struct{ Hex string } }
	require.NoError(t, json.Unmarshal([]byte(out), &rep))
	b, _ := hex.DecodeString(rep.Frames[0].Hex)
	b[30] ^= 0x80 // the payload travels in clear: integrity only
	tampered := hex.EncodeToString(b)

	// validateFrames check delivers an integrity-only frame that fails and
	// counts it; strict drops it.
	stdout, stderr, status := runBin(t, nil, append([]string{"frame", "validate", "--validate", "check", tampered}, s.keyArgs()...)...)
	require.Equal(t, 0, status, stderr)
	require.Contains(t, stdout, "#1 InPktsInvalid: ICV check failed, delivered because validateFrames is check")
	require.Contains(t, stdout, "InPktsInvalid=1")
	stdout, stderr, status = runBin(t, nil, append([]string{"frame", "validate", tampered}, s.keyArgs()...)...)
	require.Equal(t, 1, status, stderr)
	require.Contains(t, stdout, "#1 InPktsNotValid")
}

func TestFrameValidateBadTagReason(t *testing.T) {
	s := suites[0]
	out, err := runCLI(t, "", append([]string{"frame", "protect", "--json", "--pn", "5", hex.EncodeToString(cleartextFrames()[0].Data)}, s.keyArgs()...)...)
	require.NoError(t, err, out)
	var rep struct{ Frames []struct{ Hex string } }
	require.NoError(t, json.Unmarshal([]byte(out), &rep))
	b, _ := hex.DecodeString(rep.Frames[0].Hex)
	b[15]++ // SL no longer matches the secure data

	out, err = runCLI(t, "", append([]string{"frame", "validate", hex.EncodeToString(b)}, s.keyArgs()...)...)
	require.Error(t, err)
	require.Contains(t, out, "#1 InPktsBadTag: SecTAG failed the 802.1AE 9.12 validity checks: SecTAG SL does not match the secure data length")

	out, err = runCLI(t, "", "frame", "decode", hex.EncodeToString(b))
	require.NoError(t, err)
	require.Contains(t, out, "invalid: SecTAG SL does not match")
}

func TestFrameDecode(t *testing.T) {
	v := loadVector(t, "dpdk/cipher/gcm_128_64B_cipher") // SC=1: the SCI is in the tag
	out, err := runCLI(t, "", "frame", "decode", v.Protected, v.Plain)
	require.NoError(t, err, out)
	require.Contains(t, out, "#1 96 octets SecTAG ES=0 SC=1 SCB=0 E=1 C=1 AN=0 SL=0 PN=0x2 SCI=fe2fcd14241b882c  valid")
	require.Contains(t, out, "#2 64 octets not MACsec: EtherType 0x0800")

	out, err = runCLI(t, "", "frame", "decode", "--json", v.Protected)
	require.NoError(t, err)
	var rep struct{ Frames []decodedFrame }
	require.NoError(t, json.Unmarshal([]byte(out), &rep))
	require.Equal(t, "fe2fcd14241b882c", rep.Frames[0].SecTAG.SCI)
	require.True(t, rep.Frames[0].Valid)

	// PN 0 is valid only for XPN.
	b, _ := hex.DecodeString(v.Protected)
	copy(b[16:20], []byte{0, 0, 0, 0})
	out, err = runCLI(t, "", "frame", "decode", hex.EncodeToString(b))
	require.NoError(t, err)
	require.Contains(t, out, "invalid: SecTAG PN is zero")
	out, err = runCLI(t, "", "frame", "decode", "--cipher", "GcmAesXpn128", hex.EncodeToString(b))
	require.NoError(t, err)
	require.Contains(t, out, "  valid")
}

func TestFrameStdin(t *testing.T) {
	s := suites[1]
	frames := cleartextFrames()
	stdin := "# cleartext\n" + hex.EncodeToString(frames[0].Data) + "\n\n" + hex.EncodeToString(frames[1].Data) + "\n"
	out, err := runCLI(t, stdin, append([]string{"frame", "protect", "-"}, s.keyArgs()...)...)
	require.NoError(t, err, out)
	require.Contains(t, out, "#2 PN 0x2")
}

func TestFrameKeyFile(t *testing.T) {
	s := suites[0]
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "sak.hex")
	require.NoError(t, os.WriteFile(keyFile, []byte(strings.ReplaceAll(s.sak, " ", "")+"\n"), 0o644))
	require.NoError(t, os.Chmod(keyFile, 0o644)) // whatever the umask
	args := []string{"frame", "protect", "--cipher", s.cipher, "--sak-file", keyFile, hex.EncodeToString(cleartextFrames()[0].Data)}

	_, err := runCLI(t, "", args...)
	require.True(t, isUsage(err), "%v", err)
	require.ErrorContains(t, err, "--sak-file")
	require.ErrorContains(t, err, "0600 or stricter")
	_, stderr, status := runBin(t, nil, args...)
	require.Equal(t, 2, status)
	require.Contains(t, stderr, "mode 0644")

	require.NoError(t, os.Chmod(keyFile, 0o600))
	out, err := runCLI(t, "", args...)
	require.NoError(t, err, out)
	require.Contains(t, out, "SAK fingerprint")
}

func TestFrameBadInput(t *testing.T) {
	dir := t.TempDir()
	notCapture := filepath.Join(dir, "frames.txt")
	require.NoError(t, os.WriteFile(notCapture, []byte("e20106d7cd0df0761e8dcd3d0800\n"), 0o644))
	cut := filepath.Join(dir, "cut.pcap")
	require.NoError(t, capture.WriteFile(cut, []capture.Packet{{Data: make([]byte, 60), Length: 1514}}))
	looseKey := filepath.Join(dir, "loose.key")
	require.NoError(t, os.WriteFile(looseKey, []byte("071b113b0ca743feccccf3d051f73738\n"), 0o600))
	require.NoError(t, os.Chmod(looseKey, 0o640))
	before := listDir(t, dir)

	cleartext := hex.EncodeToString(cleartextFrames()[1].Data)
	const (
		sak128 = "071b113b0ca743feccccf3d051f73738"
		sak256 = sak128 + sak128
	)
	xpn := []string{"--cipher", "GcmAesXpn128", "--sak", sak128, "--ssci", testSSCI, "--salt", testSalt}
	gcm := []string{"--cipher", "GCM-AES-128", "--sak", sak128}
	tests := []struct {
		name string
		args []string
		want []string // in the message: the flag and the rule
	}{
		{"odd hex frame", append([]string{"protect", "--hex", cleartext[1:]}, gcm...), []string{"--hex #1", "odd number of hex digits"}},
		{"non-hex frame", append([]string{"protect", "--hex", "zz" + cleartext[2:]}, gcm...), []string{"--hex #1", "not a hex digit"}},
		{"odd hex argument", append([]string{"protect", cleartext[1:]}, gcm...), []string{"frame argument 1", "odd number"}},
		{"truncated frame", append([]string{"protect", "--hex", cleartext[:20]}, gcm...), []string{"--hex #1", "truncated", "at least 14"}},
		{"truncated MACsec frame", append([]string{"validate", "--hex", "e20106d7cd0df0761e8dcd3d88e52c00000000"}, gcm...), []string{"--hex #1", "truncated MACsec frame"}},
		{"truncated MACsec frame decode", []string{"decode", "--hex", "e20106d7cd0df0761e8dcd3d88e50c0000000100"}, []string{"--hex #1", "truncated MACsec frame"}},
		{"truncated SCI", []string{"decode", "--hex", "e20106d7cd0df0761e8dcd3d88e52c00000000010203040506070801020304050607080102030405060708"}, []string{"--hex #1", "need at least 44"}},
		{"stdin twice", append([]string{"protect", "-", "--hex", "-"}, gcm...), []string{"frame argument 1", "only once"}},
		{"no frames", gcm, nil},
		{"odd hex SAK", []string{"protect", cleartext, "--cipher", "GCM-AES-128", "--sak", sak128[1:]}, []string{"--sak", "odd number of hex digits"}},
		{"non-hex SAK", []string{"protect", cleartext, "--cipher", "GCM-AES-128", "--sak", "x" + sak128[1:]}, []string{"--sak", "not a hex digit"}},
		{"short SAK", []string{"protect", cleartext, "--cipher", "GCM-AES-256", "--sak", sak128}, []string{"--sak", "16 octets", "GCM-AES-256 needs 32"}},
		{"long SAK", []string{"validate", cleartext, "--cipher", "GCM-AES-128", "--sak", sak256}, []string{"--sak", "GCM-AES-128 needs 16"}},
		{"no SAK", []string{"protect", cleartext, "--cipher", "GCM-AES-128"}, []string{"--sak", "required"}},
		{"two SAKs", []string{"protect", cleartext, "--cipher", "GCM-AES-128", "--sak", sak128, "--sak-env", "HOME"}, []string{"--sak", "exclude"}},
		{"SAK env unset", []string{"protect", cleartext, "--cipher", "GCM-AES-128", "--sak-env", "SECYLAB_TEST_NO_SUCH_VAR"}, []string{"--sak-env", "not set"}},
		{"SAK file too open", []string{"protect", cleartext, "--cipher", "GCM-AES-128", "--sak-file", looseKey}, []string{"--sak-file", "0640", "0600 or stricter"}},
		{"no cipher", []string{"protect", cleartext, "--sak", sak128}, []string{"--cipher", "required"}},
		{"unknown cipher", []string{"protect", cleartext, "--cipher", "GCM-AES-512", "--sak", sak128}, []string{"--cipher", "GCM-AES-XPN-128"}},
		{"XPN without SSCI", []string{"protect", cleartext, "--cipher", "GcmAesXpn128", "--sak", sak128, "--salt", testSalt}, []string{"--ssci", "required", "XPN"}},
		{"XPN without salt", []string{"validate", cleartext, "--cipher", "GcmAesXpn256", "--sak", sak256, "--ssci", testSSCI}, []string{"--salt", "required"}},
		{"SSCI for GCM-AES-128", append([]string{"protect", cleartext, "--ssci", testSSCI}, gcm...), []string{"--ssci", "only the XPN suites"}},
		{"salt for GCM-AES-256", []string{"protect", cleartext, "--cipher", "GcmAes256", "--sak", sak256, "--salt", testSalt}, []string{"--salt", "only the XPN suites"}},
		{"bad SSCI", []string{"protect", cleartext, "--cipher", "GcmAesXpn128", "--sak", sak128, "--salt", testSalt, "--ssci", "123456789"}, []string{"--ssci", "32-bit"}},
		{"short salt", []string{"protect", cleartext, "--cipher", "GcmAesXpn128", "--sak", sak128, "--ssci", testSSCI, "--salt", testSalt[2:]}, []string{"--salt", "24 hex digits"}},
		{"AN 4", append([]string{"protect", cleartext, "--an", "4"}, xpn...), []string{"--an", "0..3"}},
		{"AN 300", append([]string{"validate", cleartext, "--an", "300"}, xpn...), []string{"--an"}},
		{"PN 0", append([]string{"protect", cleartext, "--pn", "0"}, xpn...), []string{"--pn", "1.."}},
		{"PN 0 validate", append([]string{"validate", cleartext, "--pn", "0"}, gcm...), []string{"--pn", "1.."}},
		{"PN above 32 bits", append([]string{"protect", cleartext, "--pn", "0x100000000"}, gcm...), []string{"--pn", "GCM-AES-128", "4294967295"}},
		{"PN above 64 bits", append([]string{"protect", cleartext, "--pn", "0x10000000000000000"}, xpn...), []string{"--pn"}},
		{"PNs run out", append([]string{"protect", cleartext, cleartext, "--pn", "0xffffffff"}, gcm...), []string{"--pn", "2 frames"}},
		{"bad SCI", append([]string{"protect", cleartext, "--sci", "0102"}, gcm...), []string{"--sci", "16 hex digits"}},
		{"ES with port 2", append([]string{"protect", cleartext, "--es", "--sci", "f0761e8dcd3d0002"}, gcm...), []string{"--es", "port 1"}},
		{"ES and SCI", append([]string{"protect", cleartext, "--es", "--send-sci"}, gcm...), []string{"--es", "--send-sci"}},
		{"bad validateFrames", append([]string{"validate", cleartext, "--validate", "lenient"}, gcm...), []string{"--validate", "strict"}},
		{"XPN replay window", append([]string{"validate", cleartext, "--replay-window", "1073741824"}, xpn...), []string{"--replay-window", "2^30"}},
		{"not a capture", append([]string{"protect", "--in", notCapture}, gcm...), []string{"--in", "not a pcap or pcapng file"}},
		{"no such capture", append([]string{"validate", "--in", filepath.Join(dir, "nope.pcap")}, gcm...), []string{"--in", "no such file"}},
		{"cut capture record", append([]string{"validate", "--in", cut}, gcm...), []string{"--in", "record 1", "60 of the frame's 1514"}},
		{"hex and capture", append([]string{"protect", cleartext, "--in", cut}, gcm...), []string{"--in", "exclude"}},
		{"no such out directory", append([]string{"protect", cleartext, "--out", filepath.Join(dir, "no", "x.pcap")}, gcm...), []string{"--out", "does not exist"}},
		{"unknown flag", []string{"protect", "--bogus"}, []string{"--bogus"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"frame"}, tc.args...)
			// Ask for an output capture wherever one is possible: bad input must not leave it.
			if args[1] != "decode" && len(tc.args) > 0 && !strings.HasPrefix(tc.args[0], "-") && !slices.Contains(args, "--out") {
				args = append(args, "--out", filepath.Join(dir, "out.pcap"))
			}
			out, err := runCLI(t, "", args...)
			require.Error(t, err, out)
			require.True(t, isUsage(err), "want a usage error, got %v", err)
			for _, w := range tc.want {
				require.Contains(t, err.Error(), w)
			}

			_, stderr, status := runBin(t, nil, args...)
			require.Equal(t, 2, status, stderr)
			for _, w := range tc.want {
				require.Contains(t, stderr, w)
			}
			require.NotContains(t, stderr, sak128[4:], "an error must not quote the key")
			require.Equal(t, before, listDir(t, dir), "bad input must leave no file behind")
		})
	}
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestFrameHelp(t *testing.T) {
	for _, sub := range []string{"protect", "validate", "decode"} {
		out, err := runCLI(t, "", "frame", sub, "--help")
		require.NoError(t, err)
		ex := out[strings.Index(out, "Examples:"):]
		ex = ex[:strings.Index(ex, "Flags:")]
		require.Contains(t, ex, "secylab frame "+sub+" --", sub) // its own example
		for _, other := range []string{"protect", "validate", "decode"} {
			if other != sub {
				require.NotContains(t, ex, "secylab frame "+other, sub)
			}
		}
		require.Contains(t, out, "Exit status", sub)
		require.Contains(t, out, "--json", sub)
	}
	out, err := runCLI(t, "", "frame", "validate", "--help")
	require.NoError(t, err)
	for _, flag := range []string{"--sak-file", "--sak-env", "--ssci", "--salt", "--sci", "--an", "--pn", "--validate", "--replay-window", "--out"} {
		require.Contains(t, out, flag)
	}
}

func TestLoadKey(t *testing.T) {
	const want = "071b113b0ca743feccccf3d051f73738"
	dir := t.TempDir()
	file := filepath.Join(dir, "k")
	require.NoError(t, os.WriteFile(file, []byte("0x07:1b:11:3b:0c:a7:43:fe:cc:cc:f3:d0:51:f7:37:38\n"), 0o400))
	t.Setenv("TEST_KEY", "  "+strings.ToUpper(want)+"\n")

	for name, in := range map[string][3]string{
		"flag": {want, "", ""},
		"file": {"", file, ""},
		"env":  {"", "", "TEST_KEY"},
	} {
		k, err := loadKey("cak", in[0], in[1], in[2])
		require.NoError(t, err, name)
		require.Equal(t, want, hex.EncodeToString(k), name)
	}

	for name, tc := range map[string]struct {
		hex, file, env, msg string
	}{
		"none":      {msg: "--cak, --cak-file or --cak-env is required"},
		"two":       {hex: want, env: "TEST_KEY", msg: "exclude each other"},
		"no file":   {file: filepath.Join(dir, "nope"), msg: "--cak-file"},
		"directory": {file: dir, msg: "--cak-file"},
		"empty env": {env: "SECYLAB_TEST_UNSET", msg: "--cak-env SECYLAB_TEST_UNSET"},
		"odd":       {hex: want[1:], msg: "--cak: odd number of hex digits (31)"},
		"not hex":   {hex: "g" + want[1:], msg: "--cak: not hex: character 1"},
	} {
		_, err := loadKey("cak", tc.hex, tc.file, tc.env)
		require.True(t, isUsage(err), "%s: %v", name, err)
		require.ErrorContains(t, err, tc.msg, name)
	}
}

// TestFrameProtectTshark checks that Wireshark's dissector reads the
// captures protect writes, with and without the SCI, without complaint.
func TestFrameProtectTshark(t *testing.T) {
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Skip("tshark not installed")
	}
	dir := t.TempDir()
	frames := cleartextFrames()
	for _, tc := range []struct {
		name string
		args []string
		want string // PN, SL, SCI system identifier, port
	}{
		{"sci.pcap", []string{"--send-sci", "--pn", "9"}, "9,22,f0:76:1e:8d:cd:3d,1,,"},
		{"nosci.pcapng", []string{"--pn", "9"}, "9,22,,,,"},
	} {
		out := filepath.Join(dir, tc.name)
		args := append([]string{"frame", "protect", "--out", out, hex.EncodeToString(frames[1].Data)}, suites[0].keyArgs()...)
		stdout, err := runCLI(t, "", append(args, tc.args...)...)
		require.NoError(t, err, stdout)
		got, err := exec.Command(tshark, "-r", out, "-T", "fields", "-E", "separator=,",
			"-e", "macsec.PN", "-e", "macsec.SL", "-e", "macsec.SCI.system_identifier", "-e", "macsec.SCI.port_identifier",
			"-e", "_ws.malformed", "-e", "_ws.expert").Output()
		require.NoError(t, err)
		require.Equal(t, tc.want, strings.TrimSpace(string(got)), tc.name)
	}
}

// TestFrameEmptyOrCutCapture: a capture with no frames, or cut inside a
// record, is bad input (status 2, saying so) for every frame command, like
// hex input with no frames (issue 12, item 10: they exited 0 printing
// nothing).
func TestFrameEmptyOrCutCapture(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"empty.pcap", "empty.pcapng"} {
		require.NoError(t, capture.WriteFile(filepath.Join(dir, name), nil))
	}
	var full bytes.Buffer
	require.NoError(t, capture.Write(&full, capture.PCAP, []capture.Packet{{Data: cleartextFrames()[1].Data, Length: len(cleartextFrames()[1].Data)}}))
	cut := filepath.Join(dir, "cut.pcap")
	require.NoError(t, os.WriteFile(cut, full.Bytes()[:24+16], 0o600)) // the file header and a record header
	for _, cmd := range [][]string{
		{"decode"},
		{"protect", "--cipher", "GCM-AES-128", "--sak", "071b113b0ca743feccccf3d051f73738"},
		{"validate", "--cipher", "GCM-AES-128", "--sak", "071b113b0ca743feccccf3d051f73738"},
	} {
		for file, want := range map[string]string{
			"empty.pcap":   "no frames",
			"empty.pcapng": "no frames",
			"cut.pcap":     "record 1",
		} {
			out, errOut, status := runBin(t, nil, append([]string{"frame"}, append(cmd, "--in", filepath.Join(dir, file))...)...)
			require.Equal(t, 2, status, "%v %s: %s%s", cmd, file, out, errOut)
			require.Contains(t, errOut, want, "%v %s", cmd, file)
			require.Empty(t, out)
		}
	}
}

// FuzzFrameCapture feeds arbitrary files to the frame commands' capture
// reader (--in): it never panics, refuses anything it cannot use as bad
// input (status 2), and what it accepts is at least one whole frame.
func FuzzFrameCapture(f *testing.F) {
	for _, format := range []capture.Format{capture.PCAP, capture.PCAPNG} {
		var b bytes.Buffer
		if err := capture.Write(&b, format, []capture.Packet{{Data: cleartextFrames()[1].Data, Length: len(cleartextFrames()[1].Data)}}); err != nil {
			f.Fatal(err)
		}
		f.Add(b.Bytes())
	}
	f.Add([]byte{})
	file := filepath.Join(f.TempDir(), "in.pcap")
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1024 {
			return // see capture.FuzzReadCapture
		}
		if err := os.WriteFile(file, data, 0o600); err != nil {
			t.Fatal(err)
		}
		frames, err := readCapture(file)
		if err != nil {
			if !isUsage(err) {
				t.Fatalf("refused with status 1, not 2: %v", err)
			}
			return
		}
		if len(frames) == 0 {
			t.Fatal("accepted a capture with no frames")
		}
		for _, fr := range frames {
			if len(fr.data) < minFrameLen {
				t.Fatalf("%s: a %d-octet frame accepted", fr.src, len(fr.data))
			}
		}
	})
}
