package main

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/secylab/secylab/dataplane/capture"
	"github.com/secylab/secylab/internal/fingerprint"
	"github.com/secylab/secylab/macsec"
)

// Frame layout: DA, SA, then the EtherType, which is the SecTAG's start in
// a MACsec frame.
const (
	macAddrsLen = 12
	minFrameLen = macAddrsLen + 2
)

const frameProtectExample = `  # Protect a hex frame with GcmAesXpn128, SCI omitted as on ExpressRoute
  # (the SAK in hex in the environment variable SAK):
  secylab frame protect --cipher GcmAesXpn128 --sak-env SAK \
      --ssci 7a30c118 --salt e630e81a48de86a21c66fa6d --an 0 --pn 1 \
      E20106D7CD0DF0761E8DCD3D08000F101112131415161718191A1B1C1D1E1F2021`

const frameValidateExample = `  # Validate a pcap from the wire and keep the delivered cleartext frames:
  secylab frame validate --cipher GcmAesXpn128 --sak-file sak.hex \
      --ssci 7a30c118 --salt e630e81a48de86a21c66fa6d --sci f0761e8dcd3d0001 \
      --in wire.pcap --out clear.pcapng`

const frameDecodeExample = `  # Decode the SecTAGs of a capture as JSON:
  secylab frame decode --json --in wire.pcapng`

const frameExamples = frameProtectExample + "\n\n" + frameValidateExample + "\n\n" + frameDecodeExample

const inputHelp = `Frames are Ethernet frames from DA on, without FCS: hex (arguments or
--hex, one frame each; "-" reads one frame per line from stdin, skipping
blank lines and lines starting with #) or a pcap/pcapng capture (--in,
detected by its magic number). --out writes a capture, pcapng when the name
ends in .pcapng, pcap otherwise, link type Ethernet; it is written whole or
not at all.`

const keyHelp = `The SAK comes from --sak, --sak-file (mode 0600 or stricter) or --sak-env;
it is never printed, only its fingerprint. The XPN suites also need --ssci
(the SSCI of the SecY that sends the frames) and --salt; the other suites
refuse them.`

func newFrameCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "frame",
		Short: "Protect, validate and decode MACsec frames in hex or pcap/pcapng",
		Long: `The SecY engine as a tool: protect cleartext frames, validate and decrypt
protected ones with a verdict per frame, or decode SecTAGs, on hex frames or
pcap/pcapng captures, for all four 802.1AE GCM suites including XPN.`,
		Example: frameExamples,
		Args:    cobra.NoArgs,
	}
	cmd.AddCommand(newFrameProtectCmd(), newFrameValidateCmd(), newFrameDecodeCmd())
	return cmd
}

// frame is one input frame and where it came from, for messages.
type frame struct {
	src  string // e.g. "--hex #2", "argument 1", "stdin line 3", "--in x.pcap record 4"
	ts   time.Time
	data []byte
}

// inputFlags select the frames a command works on.
type inputFlags struct {
	hex  []string
	in   string
	json bool
}

func (f *inputFlags) register(fs *pflag.FlagSet) {
	fs.StringArrayVar(&f.hex, "hex", nil, "a frame in `hex` (repeatable); \"-\" reads hex lines from stdin")
	fs.StringVar(&f.in, "in", "", "read frames from a pcap or pcapng `FILE`")
	fs.BoolVar(&f.json, "json", false, "print one JSON document with a record per frame instead of text")
}

// frames reads every input frame, so that bad input is refused before
// anything is processed or written.
func (f *inputFlags) frames(stdin io.Reader, args []string) ([]frame, error) {
	if f.in != "" && len(f.hex)+len(args) > 0 {
		return nil, usagef("--in and hex frames exclude each other: give frames one way")
	}
	if f.in != "" {
		return readCapture(f.in)
	}
	if len(f.hex)+len(args) == 0 {
		return nil, usagef("no frames: give hex frames as arguments or with --hex (- for stdin), or a capture with --in")
	}
	var frames []frame
	now := time.Now()
	add := func(src, text string) error {
		b, err := decodeHex(text)
		if err != nil {
			return usagef("%s: %v", src, err)
		}
		// Hex frames have no time stamps: space them 1 µs apart so the
		// capture keeps their order.
		frames = append(frames, frame{src: src, ts: now.Add(time.Duration(len(frames)) * time.Microsecond), data: b})
		return nil
	}
	readStdin := func() error {
		sc := bufio.NewScanner(stdin)
		sc.Buffer(nil, 1<<20)
		for line := 1; sc.Scan(); line++ {
			text := strings.TrimSpace(sc.Text())
			if text == "" || strings.HasPrefix(text, "#") {
				continue
			}
			if err := add(fmt.Sprintf("stdin line %d", line), text); err != nil {
				return err
			}
		}
		if err := sc.Err(); err != nil {
			return usagef("-: reading stdin: %v", err)
		}
		return nil
	}
	type hexArg struct{ src, text string }
	var hexArgs []hexArg
	for i, h := range f.hex {
		hexArgs = append(hexArgs, hexArg{fmt.Sprintf("--hex #%d", i+1), h})
	}
	for i, a := range args {
		hexArgs = append(hexArgs, hexArg{fmt.Sprintf("frame argument %d", i+1), a})
	}
	stdinRead := false
	for _, a := range hexArgs {
		var err error
		switch {
		case a.text != "-":
			err = add(a.src, a.text)
		case stdinRead:
			err = usagef("%s: stdin (-) can be read only once", a.src)
		default:
			stdinRead = true
			err = readStdin()
		}
		if err != nil {
			return nil, err
		}
	}
	if len(frames) == 0 {
		return nil, usagef("no frames on stdin")
	}
	for _, fr := range frames {
		if err := checkFrameLen(fr); err != nil {
			return nil, err
		}
	}
	return frames, nil
}

func readCapture(name string) ([]frame, error) {
	pkts, _, err := capture.ReadFile(name)
	if err != nil {
		return nil, usagef("--in: %v", err)
	}
	if len(pkts) == 0 {
		return nil, usagef("--in %s: no frames: the capture holds no records", name)
	}
	frames := make([]frame, len(pkts))
	for i, p := range pkts {
		src := fmt.Sprintf("--in %s record %d", name, i+1)
		if p.Truncated() {
			return nil, usagef("%s: the capture holds %d of the frame's %d octets (cut at the snap length); whole frames are needed: capture with --full (lab capture, lab run)", src, len(p.Data), p.Length)
		}
		frames[i] = frame{src: src, ts: p.Timestamp, data: p.Data}
		if err := checkFrameLen(frames[i]); err != nil {
			return nil, err
		}
	}
	return frames, nil
}

func checkFrameLen(f frame) error {
	if len(f.data) < minFrameLen {
		return usagef("%s: truncated frame of %d octets: an Ethernet frame has at least %d (DA, SA, EtherType)", f.src, len(f.data), minFrameLen)
	}
	return nil
}

// macsecFrames reads the input frames of validate and decode, refusing a
// MACsec frame too short for its SecTAG and ICV.
func (f *inputFlags) macsecFrames(stdin io.Reader, args []string) ([]frame, error) {
	frames, err := f.frames(stdin, args)
	if err != nil {
		return nil, err
	}
	for _, fr := range frames {
		if err := checkTagLen(fr); err != nil {
			return nil, err
		}
	}
	return frames, nil
}

// checkTagLen refuses a MACsec frame too short to hold its SecTAG and ICV:
// that is a damaged input, not a frame to judge.
func checkTagLen(f frame) error {
	if binary.BigEndian.Uint16(f.data[macAddrsLen:]) != macsec.EtherType {
		return nil
	}
	need := macAddrsLen + 8 + macsec.ICVLen
	if len(f.data) > minFrameLen && f.data[minFrameLen]&macsec.TCISC != 0 {
		need += 8 // the SCI
	}
	if len(f.data) < need {
		return usagef("%s: truncated MACsec frame of %d octets: its SecTAG and ICV need at least %d", f.src, len(f.data), need)
	}
	return nil
}

// checkOut refuses an --out the capture could not be written to before any
// work is done.
func checkOut(name string) error {
	if name == "" {
		return nil
	}
	dir := filepath.Dir(name)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return usagef("--out %s: the directory %s does not exist", name, dir)
	}
	if fi, err := os.Stat(name); err == nil && fi.IsDir() {
		return usagef("--out %s: is a directory; want a capture file name", name)
	}
	return nil
}

func writeOut(name string, frames []frame) error {
	if name == "" {
		return nil
	}
	pkts := make([]capture.Packet, len(frames))
	for i, f := range frames {
		pkts[i] = capture.Packet{Timestamp: f.ts, Data: f.data, Length: len(f.data)}
	}
	if err := capture.WriteFile(name, pkts); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	return nil
}

// saFlags configure the one SA a command protects or validates with.
type saFlags struct {
	cipher     string
	sak        *keyFlags
	ssci, salt string
	sci        string
	an         uint8
	pn         uint64
}

func (f *saFlags) register(fs *pflag.FlagSet, sciHelp, pnHelp string) {
	fs.StringVar(&f.cipher, "cipher", "", "cipher `suite`: GCM-AES-128, GCM-AES-256, GCM-AES-XPN-128, GCM-AES-XPN-256 (or GcmAesXpn128, gcm-aes-xpn-128, …)")
	f.sak = newKeyFlags(fs, "sak", "the SAK", "32 (…-128) or 64 (…-256)")
	fs.StringVar(&f.ssci, "ssci", "", "XPN only: the sending SecY's SSCI, 8 `hex` digits")
	fs.StringVar(&f.salt, "salt", "", "XPN only: the SA's salt, 24 `hex` digits")
	fs.StringVar(&f.sci, "sci", "", sciHelp)
	fs.Uint8Var(&f.an, "an", 0, "association number of the SA, `AN` 0..3")
	fs.Uint64Var(&f.pn, "pn", 1, pnHelp)
}

// sa is what saFlags resolve to.
type sa struct {
	suite       macsec.CipherSuite
	key         macsec.Key
	fingerprint string // of the SAK, which is cleared once installed
	sci         macsec.SCI
	sciSet      bool
	an          uint8
}

// header describes the SA without its key.
func (s *sa) header() string {
	h := fmt.Sprintf("%s SAK fingerprint %s SCI %s AN %d", s.suite, s.fingerprint, s.sci, s.an)
	if s.suite.XPN() {
		h += fmt.Sprintf(" SSCI %08x", uint32(s.key.SSCI))
	}
	return h
}

// saReport is the header of the JSON reports of protect and validate.
type saReport struct {
	Command        string `json:"command"`
	Suite          string `json:"suite"`
	SAKFingerprint string `json:"sak_fingerprint"`
	SCI            string `json:"sci"`
	SSCI           string `json:"ssci,omitempty"`
	AN             uint8  `json:"an"`
}

func (s *sa) report(command string) saReport {
	r := saReport{Command: command, Suite: s.suite.String(), SAKFingerprint: s.fingerprint, SCI: s.sci.String(), AN: s.an}
	if s.suite.XPN() {
		r.SSCI = fmt.Sprintf("%08x", uint32(s.key.SSCI))
	}
	return r
}

func parseSuite(name string) (macsec.CipherSuite, error) {
	if name == "" {
		return 0, usagef("--cipher is required: GCM-AES-128, GCM-AES-256, GCM-AES-XPN-128 or GCM-AES-XPN-256")
	}
	s, err := macsec.ParseCipherSuite(name)
	if err != nil {
		return 0, usagef("--cipher: %v", err)
	}
	return s, nil
}

// resolve checks every parameter and loads the key, last, so that no error
// path holds it. The caller clears key.SAK once the SA is installed.
func (f *saFlags) resolve() (*sa, error) {
	suite, err := parseSuite(f.cipher)
	if err != nil {
		return nil, err
	}
	s := &sa{suite: suite, an: f.an}
	if err := f.resolveXPN(s); err != nil {
		return nil, err
	}
	if f.sci != "" {
		if s.sci, err = macsec.ParseSCI(f.sci); err != nil {
			return nil, usagef("--sci: %v", err)
		}
		s.sciSet = true
	}
	if f.an > 3 {
		return nil, usagef("--an %d: the association number is 0..3", f.an)
	}
	if f.pn == 0 || f.pn > suite.MaxPN() {
		return nil, usagef("--pn %d: %s packet numbers are 1..%d (%#x)", f.pn, suite, suite.MaxPN(), suite.MaxPN())
	}
	if s.key.SAK, err = f.sak.load(); err != nil {
		return nil, err
	}
	if n := len(s.key.SAK); n != suite.KeyLen() {
		clear(s.key.SAK)
		return nil, usagef("%s: the SAK has %d octets; %s needs %d (%d hex digits)", f.sak.source(), n, suite, suite.KeyLen(), 2*suite.KeyLen())
	}
	s.fingerprint = fingerprint.Of(fingerprint.SAK, s.key.SAK)
	return s, nil
}

func (f *saFlags) resolveXPN(s *sa) error {
	xpnFlags := []struct{ name, value string }{{"--ssci", f.ssci}, {"--salt", f.salt}}
	for _, x := range xpnFlags {
		switch {
		case !s.suite.XPN() && x.value != "":
			return usagef("%s: only the XPN suites (GCM-AES-XPN-128, GCM-AES-XPN-256) use an SSCI and a salt, not %s", x.name, s.suite)
		case s.suite.XPN() && x.value == "":
			return usagef("%s is required for %s: XPN builds its IV from the SSCI and the salt (--ssci and --salt)", x.name, s.suite)
		}
	}
	if !s.suite.XPN() {
		return nil
	}
	ssci, err := strconv.ParseUint(strings.TrimPrefix(strings.ToLower(f.ssci), "0x"), 16, 32)
	if err != nil {
		return usagef("--ssci %q: want a 32-bit SSCI as 1 to 8 hex digits", f.ssci)
	}
	s.key.SSCI = macsec.SSCI(ssci)
	salt, err := decodeHex(f.salt)
	if err != nil {
		return usagef("--salt: %v", err)
	}
	if len(salt) != len(s.key.Salt) {
		return usagef("--salt: %d octets; the salt is %d octets (%d hex digits)", len(salt), len(s.key.Salt), 2*len(s.key.Salt))
	}
	s.key.Salt = macsec.Salt(salt)
	return nil
}

// tagInfo is a decoded SecTAG for display.
type tagInfo struct {
	V   bool   `json:"v"`
	ES  bool   `json:"es"`
	SC  bool   `json:"sc"`
	SCB bool   `json:"scb"`
	E   bool   `json:"e"`
	C   bool   `json:"c"`
	AN  uint8  `json:"an"`
	SL  uint8  `json:"sl"`
	PN  uint32 `json:"pn"` // the lower 32 bits for the XPN suites
	SCI string `json:"sci,omitempty"`
}

func newTagInfo(t macsec.SecTAG) *tagInfo {
	ti := &tagInfo{
		V: t.TCI&macsec.TCIV != 0, ES: t.TCI&macsec.TCIES != 0, SC: t.TCI&macsec.TCISC != 0,
		SCB: t.TCI&macsec.TCISCB != 0, E: t.TCI&macsec.TCIE != 0, C: t.TCI&macsec.TCIC != 0,
		AN: t.AN, SL: t.SL, PN: t.PN,
	}
	if t.HasSCI() {
		ti.SCI = t.SCI.String()
	}
	return ti
}

func (t *tagInfo) String() string {
	b := func(v bool) int {
		if v {
			return 1
		}
		return 0
	}
	s := fmt.Sprintf("ES=%d SC=%d SCB=%d E=%d C=%d AN=%d SL=%d PN=%#x", b(t.ES), b(t.SC), b(t.SCB), b(t.E), b(t.C), t.AN, t.SL, t.PN)
	if t.V {
		s = "V=1 " + s
	}
	if t.SCI != "" {
		s += " SCI=" + t.SCI
	}
	return s
}

// parseTag decodes and checks the SecTAG of f, for display.
func parseTag(f []byte, xpn bool) (*tagInfo, error) {
	t, err := macsec.ParseSecTAG(f)
	if err != nil {
		return nil, err
	}
	return newTagInfo(t), t.Check(len(f), xpn)
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// protect

type protectFlags struct {
	inputFlags
	saFlags
	out                        string
	sendSCI, es, integrityOnly bool
}

type protectedFrame struct {
	Index  int      `json:"index"`
	Source string   `json:"source"`
	PN     uint64   `json:"pn"`
	AN     uint8    `json:"an"`
	SecTAG *tagInfo `json:"sectag"`
	InLen  int      `json:"in_len"`
	OutLen int      `json:"out_len"`
	Hex    string   `json:"hex"`
}

func newFrameProtectCmd() *cobra.Command {
	var f protectFlags
	cmd := &cobra.Command{
		Use:   "protect [hex-frame|-]...",
		Short: "Protect cleartext frames with one transmit SA",
		Long: `Protect cleartext Ethernet frames as a SecY with one transmit SA does: each
frame gets a SecTAG and an ICV and, unless --integrity-only, is encrypted.
The frames take consecutive PNs from --pn. A line per frame shows its PN,
AN, SecTAG and length; without --out the protected frame follows in hex.

` + inputHelp + `

` + keyHelp + `

The SCI (--sci, the transmitting SecY's own) defaults to the first frame's
source MAC with port 1. It goes into the SecTAG only with --send-sci; by
default it is omitted, as on ExpressRoute, and the receiver must know it.

Exit status: 0 when every frame was protected; 2 for bad input (flags,
keys, frames; nothing is written); 1 for other errors.`,
		Example: frameProtectExample,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runProtect(cmd, &f, args)
		},
	}
	fs := cmd.Flags()
	f.inputFlags.register(fs)
	f.saFlags.register(fs, "own `SCI`: 16 hex digits or MAC/port (default: first frame's source MAC/1)",
		"`PN` of the first frame, 1..2^32-1 (XPN: 1..2^64-1); decimal or 0x hex")
	fs.StringVar(&f.out, "out", "", "write the protected frames to `FILE` (.pcapng: pcapng, else pcap)")
	fs.BoolVar(&f.sendSCI, "send-sci", false, "include the SCI in the SecTAG (SC=1)")
	fs.BoolVar(&f.es, "es", false, "set ES: the SCI is the source MAC with port 1 (needs such an SCI)")
	fs.BoolVar(&f.integrityOnly, "integrity-only", false, "authenticate without encrypting (E=0, C=0)")
	return cmd
}

func runProtect(cmd *cobra.Command, f *protectFlags, args []string) error {
	frames, err := f.frames(cmd.InOrStdin(), args)
	if err != nil {
		return err
	}
	if err := checkOut(f.out); err != nil {
		return err
	}
	s, err := f.resolve()
	if err != nil {
		return err
	}
	defer clear(s.key.SAK) // on every path; the SecY keeps its own AES key schedule
	if !s.sciSet {
		s.sci = endStationSCI(frames[0].data)
	}
	if f.es && f.sendSCI {
		return usagef("--es and --send-sci exclude each other: a SecTAG with SC=1 has ES=0 (802.1AE 9.5)")
	}
	if f.es && s.sci.Port() != macsec.PortES {
		return usagef("--es: an end station's SCI is MAC SA with port 1; --sci %s has port %d", s.sci, s.sci.Port())
	}
	if last := uint64(len(frames) - 1); last > s.suite.MaxPN()-f.pn {
		return usagef("--pn %#x: %d frames need PNs beyond %s's last PN %#x", f.pn, len(frames), s.suite, s.suite.MaxPN())
	}

	y, err := macsec.New(macsec.Config{
		Suite: s.suite, SCI: s.sci, IncludeSCI: f.sendSCI, EndStation: f.es, IntegrityOnly: f.integrityOnly,
	})
	if err != nil {
		return err
	}
	if err := y.InstallTxSA(f.an, s.key, f.pn); err != nil {
		return err
	}
	clear(s.key.SAK)
	if err := y.SetEncodingSA(f.an); err != nil {
		return err
	}

	w := cmd.OutOrStdout()
	if !f.json {
		fmt.Fprintf(w, "protect: %s\n", s.header())
	}
	records := make([]protectedFrame, len(frames))
	for i, fr := range frames {
		n := len(fr.data)
		buf := make([]byte, macsec.Headroom+n+macsec.ICVLen)
		copy(buf[macsec.Headroom:], fr.data)
		out, err := y.Protect(buf, macsec.Headroom, n)
		if err != nil {
			return fmt.Errorf("%s: %w", fr.src, err)
		}
		tag, _ := parseTag(out, s.suite.XPN())
		r := protectedFrame{
			Index: i + 1, Source: fr.src, PN: f.pn + uint64(i), AN: f.an, SecTAG: tag,
			InLen: n, OutLen: len(out), Hex: hex.EncodeToString(out),
		}
		records[i] = r
		frames[i].data = out
		if !f.json {
			fmt.Fprintf(w, "#%d PN %#x AN %d SecTAG %s  %d → %d octets\n", r.Index, r.PN, r.AN, tag, r.InLen, r.OutLen)
			if f.out == "" {
				fmt.Fprintf(w, "  %s\n", r.Hex)
			}
		}
	}
	if err := writeOut(f.out, frames); err != nil {
		return err
	}
	if f.json {
		return printJSON(w, struct {
			saReport
			Frames []protectedFrame `json:"frames"`
		}{s.report("protect"), records})
	}
	return nil
}

// validate

type validateFlags struct {
	inputFlags
	saFlags
	out          string
	validate     string
	replayWindow uint32
	keys         string
}

type validatedFrame struct {
	Index     int      `json:"index"`
	Source    string   `json:"source"`
	InLen     int      `json:"in_len"`
	SecTAG    *tagInfo `json:"sectag,omitempty"`
	Result    string   `json:"result"` // the counter, e.g. InPktsOK
	Delivered bool     `json:"delivered"`
	Verdict   string   `json:"verdict"`             // "ok" or what happened
	TagError  string   `json:"tag_error,omitempty"` // the 9.12 check that failed, for InPktsBadTag
	OutLen    int      `json:"out_len,omitempty"`
	Hex       string   `json:"hex,omitempty"`
}

// counterList is the non-zero counters of a SecY, SC or SA.
type counterList []macsec.Counter

func (l counterList) MarshalJSON() ([]byte, error) {
	m := make(map[string]uint64, len(l))
	for _, c := range l {
		m[c.Name] = c.Value
	}
	return json.Marshal(m)
}

func (l counterList) String() string {
	parts := make([]string, len(l))
	for i, c := range l {
		parts[i] = fmt.Sprintf("%s=%d", c.Name, c.Value)
	}
	return strings.Join(parts, " ")
}

// nonZero keeps the non-zero counters of a list.
func nonZero(all []macsec.Counter) counterList {
	var l counterList
	for _, c := range all {
		if c.Value != 0 {
			l = append(l, c)
		}
	}
	return l
}

type validateCounters struct {
	SecY counterList `json:"secy"`
	RxSC counterList `json:"rx_sc"`
	RxSA counterList `json:"rx_sa"`
}

func newFrameValidateCmd() *cobra.Command {
	var f validateFlags
	cmd := &cobra.Command{
		Use:   "validate [hex-frame|-]...",
		Short: "Validate and decrypt protected frames, with a verdict per frame",
		Long: `Validate and decrypt frames received on the uncontrolled port as a SecY with
one receive SC and one receive SA does, in Linux's receive order. A line per
frame gives the verdict: ok, or the counter and reason of the drop (for
InPktsBadTag also the 802.1AE 9.12 check that failed). The delivered
cleartext frames go to --out; without --out they follow their line in hex.
The non-zero SecY, SC and SA counters come last, under their names.

` + inputHelp + `

` + keyHelp + `

--sci is the peer's SCI, which the IV uses for the non-XPN suites. It
defaults to the SCI in the first MACsec frame's SecTAG, or else that frame's
source MAC with port 1 (what protect uses by default). --pn is the lowest
acceptable PN; for the XPN suites it also gives the upper 32 bits of the
PNs expected. --replay-window turns replay protection on.

--keys FILE takes every SA from a keys file (secylab lab keys, lab run
--export-keys) instead: each MACsec frame is validated with the SA its
sender used (its SCI, or source MAC with port 1, and its AN), MKA frames
are skipped and counted, other frames are reported as in clear. A lab
capture needs whole frames for it (lab capture --full, lab run --full).

Exit status: 0 when every frame was delivered; 1 when any was not (dropped,
or a KaY frame); 2 for bad input (flags, keys, frames; nothing is written).`,
		Example: frameValidateExample,
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.keys != "" {
				return runValidateKeys(cmd, &f, args)
			}
			return runValidate(cmd, &f, args)
		},
	}
	fs := cmd.Flags()
	f.inputFlags.register(fs)
	f.saFlags.register(fs, "the peer's `SCI`: 16 hex digits or MAC/port (default: from the first MACsec frame)",
		"lowest acceptable `PN`, 1..2^32-1 (XPN: 1..2^64-1); decimal or 0x hex")
	fs.StringVar(&f.out, "out", "", "write the delivered cleartext frames to `FILE` (.pcapng: pcapng, else pcap)")
	fs.StringVar(&f.validate, "validate", "strict", "validateFrames: `strict`, check or disabled")
	fs.Uint32Var(&f.replayWindow, "replay-window", 0, "turn replay protection on with a window of `N` PNs (XPN: below 2^30)")
	fs.StringVar(&f.keys, "keys", "", "take the SAs from a keys `FILE` (secylab lab keys -o; 0600) instead of --cipher/--sak…")
	return cmd
}

func runValidate(cmd *cobra.Command, f *validateFlags, args []string) error {
	frames, err := f.macsecFrames(cmd.InOrStdin(), args)
	if err != nil {
		return err
	}
	if err := checkOut(f.out); err != nil {
		return err
	}
	s, err := f.resolve()
	if err != nil {
		return err
	}
	defer clear(s.key.SAK) // on every path; the SecY keeps its own AES key schedule
	vf, err := macsec.ParseValidateFrames(strings.ToLower(f.validate))
	if err != nil {
		return usagef("--validate: %v", err)
	}
	replay := cmd.Flags().Changed("replay-window")
	if replay && s.suite.XPN() && f.replayWindow > macsec.MaxXPNReplayWindow {
		return usagef("--replay-window %d: an XPN suite needs a window below 2^30 (at most %d)", f.replayWindow, macsec.MaxXPNReplayWindow)
	}
	if !s.sciSet {
		s.sci = peerSCI(frames)
	}

	y, err := macsec.New(macsec.Config{Suite: s.suite, ValidateFrames: vf, ReplayProtect: replay, ReplayWindow: f.replayWindow})
	if err != nil {
		return err
	}
	if err := y.AddRxSC(s.sci); err != nil {
		return err
	}
	if err := y.InstallRxSA(s.sci, f.an, s.key, f.pn); err != nil {
		return err
	}
	clear(s.key.SAK)

	w := cmd.OutOrStdout()
	if !f.json {
		fmt.Fprintf(w, "validate: %s lowest PN %#x validateFrames %s", s.header(), f.pn, vf)
		if replay {
			fmt.Fprintf(w, " replay window %d", f.replayWindow)
		}
		fmt.Fprintln(w)
	}
	var (
		records   = make([]validatedFrame, len(frames))
		delivered []frame
	)
	for i, fr := range frames {
		tag, tagErr := parseTag(fr.data, s.suite.XPN()) // before Validate changes the frame in place
		buf := append([]byte(nil), fr.data...)
		out, res := y.Validate(buf, 0, len(buf))
		r := validatedFrame{
			Index: i + 1, Source: fr.src, InLen: len(fr.data), SecTAG: tag,
			Result: res.Counter(), Delivered: res.Delivered(), Verdict: res.String(),
		}
		if res == macsec.KaY {
			r.Result = "KaY"
		}
		if res == macsec.OK {
			r.Verdict = "ok"
		}
		if res == macsec.BadTag && tagErr != nil {
			r.TagError = tagErr.Error()
			r.Verdict += ": " + r.TagError
		}
		if res.Delivered() {
			r.OutLen, r.Hex = len(out), hex.EncodeToString(out)
			delivered = append(delivered, frame{src: fr.src, ts: fr.ts, data: out})
		}
		records[i] = r
		if !f.json {
			fmt.Fprintf(w, "#%d %s", r.Index, r.Verdict)
			if tag != nil {
				fmt.Fprintf(w, "  [AN %d PN %#x]", tag.AN, tag.PN)
			}
			if r.Delivered {
				fmt.Fprintf(w, "  %d → %d octets", r.InLen, r.OutLen)
			}
			fmt.Fprintln(w)
			if r.Delivered && f.out == "" {
				fmt.Fprintf(w, "  %s\n", r.Hex)
			}
		}
	}
	if err := writeOut(f.out, delivered); err != nil {
		return err
	}

	st := y.Status()
	c := validateCounters{SecY: nonZero(st.Stats.Counters())}
	if sc, ok := st.RxSC(s.sci); ok {
		c.RxSC = nonZero(sc.Stats.Counters())
		for _, sa := range sc.SAs {
			c.RxSA = nonZero(sa.Stats.Counters())
		}
	}
	if f.json {
		err = printJSON(w, struct {
			saReport
			Frames    []validatedFrame `json:"frames"`
			Delivered int              `json:"delivered"`
			Dropped   int              `json:"dropped"`
			Counters  validateCounters `json:"counters"`
		}{s.report("validate"), records, len(delivered), len(frames) - len(delivered), c})
		if err != nil {
			return err
		}
	} else {
		fmt.Fprintf(w, "delivered %d of %d frames\n", len(delivered), len(frames))
		for _, l := range []struct {
			what string
			c    counterList
		}{{"SecY", c.SecY}, {"RX SC " + s.sci.String(), c.RxSC}, {fmt.Sprintf("RX SA %d", f.an), c.RxSA}} {
			if len(l.c) > 0 {
				fmt.Fprintf(w, "%s: %s\n", l.what, l.c)
			}
		}
	}
	if dropped := len(frames) - len(delivered); dropped > 0 {
		return fmt.Errorf("%d of %d frames not delivered", dropped, len(frames))
	}
	return nil
}

// endStationSCI is the SCI an end station sends with: its source MAC and
// port 1.
func endStationSCI(frame []byte) macsec.SCI {
	return macsec.NewSCI(frame[6:macAddrsLen], macsec.PortES)
}

// peerSCI guesses the peer's SCI from the first MACsec frame: the SCI in
// its SecTAG, or its source MAC with port 1.
func peerSCI(frames []frame) macsec.SCI {
	for _, f := range frames {
		if t, err := macsec.ParseSecTAG(f.data); err == nil {
			if t.HasSCI() {
				return t.SCI
			}
			return endStationSCI(f.data)
		}
	}
	return endStationSCI(frames[0].data)
}

// decode

type decodeFlags struct {
	inputFlags
	cipher string
}

type decodedFrame struct {
	Index     int      `json:"index"`
	Source    string   `json:"source"`
	Length    int      `json:"length"`
	EtherType string   `json:"ethertype"`
	SecTAG    *tagInfo `json:"sectag,omitempty"`
	Valid     bool     `json:"valid"`
	Verdict   string   `json:"verdict"`
}

func newFrameDecodeCmd() *cobra.Command {
	var f decodeFlags
	cmd := &cobra.Command{
		Use:   "decode [hex-frame|-]...",
		Short: "Print the SecTAG of each frame and its 802.1AE 9.12 validity, without keys",
		Long: `Decode the SecTAG of each frame: the TCI bits ES, SC, SCB, E and C, the AN,
the short length SL, the PN and the SCI when present, and whether the tag
passes the validity checks of 802.1AE-2018 9.12. No key is needed, and
nothing is decrypted.

A PN of 0 is valid only for the XPN suites (it is the lower half of a
64-bit PN there): give --cipher to judge it; without it the 32-bit rule
applies.

` + inputHelp + `

Exit status: 0 when the frames were decoded (valid or not); 2 for bad input.`,
		Example: frameDecodeExample,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDecode(cmd, &f, args)
		},
	}
	fs := cmd.Flags()
	f.inputFlags.register(fs)
	fs.StringVar(&f.cipher, "cipher", "", "cipher `suite`, only to tell whether PN 0 is valid (XPN)")
	return cmd
}

func runDecode(cmd *cobra.Command, f *decodeFlags, args []string) error {
	frames, err := f.macsecFrames(cmd.InOrStdin(), args)
	if err != nil {
		return err
	}
	xpn := false
	if f.cipher != "" {
		suite, err := parseSuite(f.cipher)
		if err != nil {
			return err
		}
		xpn = suite.XPN()
	}

	w := cmd.OutOrStdout()
	records := make([]decodedFrame, len(frames))
	for i, fr := range frames {
		r := decodedFrame{
			Index: i + 1, Source: fr.src, Length: len(fr.data),
			EtherType: fmt.Sprintf("%#04x", binary.BigEndian.Uint16(fr.data[macAddrsLen:])),
		}
		tag, err := parseTag(fr.data, xpn)
		switch {
		case errors.Is(err, macsec.ErrNotMACsec):
			r.Verdict = "not MACsec: EtherType " + r.EtherType
		case err != nil:
			r.SecTAG, r.Verdict = tag, "invalid: "+err.Error()
		default:
			r.SecTAG, r.Valid, r.Verdict = tag, true, "valid"
		}
		records[i] = r
		if !f.json {
			if r.SecTAG != nil {
				fmt.Fprintf(w, "#%d %d octets SecTAG %s  %s\n", r.Index, r.Length, r.SecTAG, r.Verdict)
			} else {
				fmt.Fprintf(w, "#%d %d octets %s\n", r.Index, r.Length, r.Verdict)
			}
		}
	}
	if f.json {
		return printJSON(w, struct {
			Command string         `json:"command"`
			Frames  []decodedFrame `json:"frames"`
		}{"decode", records})
	}
	return nil
}
