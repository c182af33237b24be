package scenario

import (
	"flag"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/secylab/secylab/internal/fieldref"
	"github.com/secylab/secylab/lab"
)

var updateDocs = flag.Bool("update-docs", false, "rewrite docs/scenario.md from the types")

// ownSteps are the types of the scenario's own steps (stepKeys).
var ownSteps = map[string]string{"note": "string", "wait": "duration", "waitFor": "rawWaitFor", "exec": "ExecStep", "check": "[]rawAssertion"}

// scenarioNotes describe the fields whose types carry no doc comment and
// give the format of string values; a note for a field that no longer
// exists fails the test.
var scenarioNotes = map[string]fieldref.Note{
	"name":                            {Doc: "The scenario's name: its report directory, and how lab run finds a built-in."},
	"title":                           {Doc: "One line: what the scenario shows."},
	"description":                     {Doc: "What it rehearses and why, for the report."},
	"topology":                        {Type: "built-in name or file", Doc: "The lab: a built-in topology (expressroute-direct), a file relative to the scenario, or one of the scenario's own (builtin/topologies)."},
	"expectInvalid":                   {Doc: "The topology must be refused, with errors containing each of these strings (a validation scenario: no lab is built)."},
	"timers":                          {Doc: "The lab's protocol timers."},
	"timers.mkaHello":                 {Type: "duration", Doc: "MKA hello time (default 1s; production 2s)."},
	"timers.mkaLife":                  {Type: "duration", Doc: "MKA life time (default 3s; production 6s)."},
	"timers.pnThreshold":              {Doc: "The packet number at which MKA rekeys (default: the cipher's; production 0xC0000000, XPN 0xC000000000000000)."},
	"probes":                          {Doc: "Traffic through the lab while the steps run: sequence-numbered UDP both ways (loss, outages, reordering, latency), or a bulk TCP flow."},
	"probes[].name":                   {Doc: "The probe's name, for assertions."},
	"probes[].from":                   {Type: "node address", Doc: "One end: a node and one of its addresses, onprem-host 10.1.0.10."},
	"probes[].to":                     {Type: "node address", Doc: "The other end."},
	"probes[].rate":                   {Doc: "Datagrams per second each way."},
	"probes[].bulk":                   {Doc: "A bulk TCP flow from → to instead of datagrams (its stalls, Mbit/s)."},
	"captures":                        {Doc: "Links whose wire is captured to pcapng (as its first end sees it), and counted for the cleartext assertions."},
	"capture":                         {Doc: "How the captures are bounded."},
	"capture.snapLen":                 {Type: "octets or full", Doc: "Each frame cut at this length (default 100: Ethernet, two VLAN tags, the SecTAG with SCI and 64 octets of secure data)."},
	"capture.fileSize":                {Type: "size", Doc: "Each capture file's cap, 20MB by default; 0: one file, no cap."},
	"capture.files":                   {Doc: "The ring's files (default 4): tcpdump's -W."},
	"capture.accept":                  {Doc: "Losses the scenario accepts: rotated (older files deleted by the ring), notWritten (the writer fell behind)."},
	"setup":                           {Doc: "Steps before the probes and captures start (not measured); the same kinds as steps."},
	"steps":                           {Doc: "What the scenario does, in order: each step is exactly one of the keys below."},
	"steps[].note":                    {Doc: "Starts a phase called so (until the next note): the report shades it and assertions may name it. The next step waits until the probes' datagrams in flight have landed (at most 500 ms), so it drops none sent in the phase before."},
	"steps[].wait":                    {Doc: "Sleeps: 2s."},
	"steps[].waitFor":                 {Doc: "Waits until a condition holds (an assertion: it fails when the timeout passes)."},
	"steps[].waitFor.mka":             {Doc: "MKA on a link: secured on both ends, or on neither."},
	"steps[].waitFor.bgp":             {Doc: "The BGP sessions over a link: Established on both ends, or not."},
	"steps[].waitFor.timeout":         {Type: "duration", Doc: "At most this long (default 30s)."},
	"steps[].exec":                    {Doc: "Runs a shell command in a node's namespace (a daemon's CLI, ping…)."},
	"steps[].check":                   {Doc: "Assertions checked now, as assert[] (MKA and counters; probe and capture assertions belong in assert)."},
	"steps[].waitFor.mka.link":        {Doc: "The link."},
	"steps[].waitFor.mka.secured":     {Doc: "true: secured on both ends; false: on neither."},
	"steps[].waitFor.bgp.link":        {Doc: "The link."},
	"steps[].waitFor.bgp.established": {Doc: "true: Established on both ends; false: on neither."},
	"steps[].exec.node":               {Doc: "The node whose namespace runs it."},
	"steps[].exec.command":            {Doc: "A command for sh -c (30 s at most)."},
	"steps[].exec.expect":             {Doc: "ok: an assertion that it succeeds; fail: that it fails; unset: nothing."},
	"assert[].mka.link":               {Doc: "The link."},
	"assert[].mka.secured":            {Doc: "true: secured on both ends; false: on neither."},
	"assert[].counter.name":           {Doc: "A SecY counter (InPktsNotValid, OutPktsProtected, …, summed over SCs) or an MKA one (RxBadICV, …); secylab validate lists them."},
	"assert[].counter.min":            {Doc: "At least."},
	"assert[].counter.max":            {Doc: "At most."},
	"steps[].azure.adminState":        {Doc: "The link's adminState: Disabled takes it down at the Microsoft edge."},
	"steps[].azure.cakSecret":         {Doc: "As cknSecret, for the CAK."},
	"steps[].azure.sciState":          {Doc: "The link's macSecConfig.sciState."},
	"steps[].keyVault.key":            {Doc: "The CKN/CAK to store: a key file or the lab's generated key NAME."},
	"steps[].adminState.state":        {Doc: "Disabled takes the link down at the Microsoft edge; Enabled brings it back."},
	"steps[].impair.clear":            {Doc: "Removes every impairment (a cut too) before the others apply."},
	"steps[].impair.delay":            {Doc: "Added to every frame: 20ms."},
	"steps[].impair.jitter":           {Doc: "Uniform around delay, never below 0."},
	"steps[].impair.loss":             {Doc: "The share of frames dropped: 1%."},
	"steps[].macsec.cipher":           {Doc: "The end's new cipher."},
	"steps[].macsec.sci":              {Doc: "The end's new sciState."},
	"steps[].route.prefix":            {Doc: "The route's destination."},
	"steps[].route.via":               {Doc: "The new next hop."},
	"steps[].saAdd.src":               {Doc: "The SA's outer source address."},
	"steps[].saAdd.dst":               {Doc: "The SA's outer destination address."},
	"steps[].saAdd.keyFile":           {Doc: "KEYMAT in hex (key || 4-octet salt), mode 0600, read by the lab process."},
	"steps[].saAdd.esn":               {Doc: "64-bit extended sequence numbers."},
	"steps[].saAdd.replayWindow":      {Doc: "The replay window in packets."},
	"steps[].saDelete.dst":            {Doc: "The SA's outer destination address."},
	"assert":                          {Doc: "Assertions checked at the end of the run."},
	"assert[].probe":                  {Doc: "A probe's loss or outage (a bulk flow's stalls), over the run or a phase."},
	"assert[].phase":                  {Doc: "Only the datagrams sent during this phase (a note)."},
	"assert[].maxLoss":                {Doc: "At most this many datagrams lost, both ways."},
	"assert[].maxOutage":              {Type: "duration", Doc: "No outage longer than this."},
	"assert[].minOutage":              {Type: "duration", Doc: "An outage of at least this (the scenario shows one)."},
	"assert[].noCleartext":            {Type: "link", Doc: "The link's wire carried only MACsec and MKA frames."},
	"assert[].noClearPayload":         {Type: "link", Doc: "The link's wire carried no traffic in clear: MACsec, MKA, ARP, IKE (UDP 500, or 4500 behind the non-ESP marker) and ESP in UDP only; a clear ping or any other clear payload fails it."},
	"assert[].mka":                    {Doc: "MKA on a link now: secured or not."},
	"assert[].counter":                {Doc: "A SecY or MKA counter of a port (or of both ends of a link) now, between min and max."},
	"production":                      {Doc: "What production's timers and procedures change, for the report's In production section."},
	"pnExhaustionTable":               {Doc: "Adds the time to exhaust 32- and 64-bit packet numbers at production line rates to the report."},
}

// leaves are the types the lab's operations take as one value.
var leaves = map[string]string{
	"value.Switch":    "Enabled or Disabled (on, off)",
	"value.Cipher":    "cipher (GcmAes128, GcmAes256, GcmAesXpn128, GcmAesXpn256)",
	"value.KeySource": "key file or generate:NAME",
	"value.Duration":  "duration",
	"value.Loss":      "percentage",
	"value.Rate":      "bit rate",
	"netip.Prefix":    "prefix",
	"netip.Addr":      "address",
}

// TestFieldReference: docs/scenario.md is the reference of every field of
// a scenario file, generated from the types that decode it (rawScenario,
// the scenario's own steps and every lab operation a step may be, with
// their doc comments). It fails when the file is stale: go generate
// ./scenario rewrites it.
func TestFieldReference(t *testing.T) {
	p, err := fieldref.Parse(".")
	require.NoError(t, err)
	lp, err := fieldref.Parse("../lab")
	require.NoError(t, err)
	require.ElementsMatch(t, stepKeys, slices.Collect(mapKeys(ownSteps)), "every step of the scenario's own documented")
	w := &fieldref.Walker{Leaves: leaves}
	w.Special = func(w *fieldref.Walker, _ *fieldref.Package, typeName, path string) bool {
		if typeName != "rawStep" {
			return false
		}
		if path != "steps[]" {
			return true // setup: the same steps
		}
		for _, k := range stepKeys {
			switch typ := ownSteps[k]; typ {
			case "string", "duration":
				w.Add("steps[]."+k, typ, "")
			case "[]rawAssertion":
				w.Add("steps[]."+k, "list of assertions", "") // as assert[]
			default:
				w.Add("steps[]."+k, "object", "")
				w.Type(p, typ, "steps[]."+k)
			}
		}
		for _, k := range lab.Changes() {
			op, _ := lab.NewChange(k)
			doc := ""
			if _, ok := op.(lab.Shorthand); ok {
				doc = "Also written " + k + ": LINK."
			}
			w.Add("steps[]."+k, "object", lp.Doc(reflect.TypeOf(op).Elem().Name())+" "+doc)
			w.Struct(lp, reflect.TypeOf(op), "steps[]."+k)
		}
		return true
	}
	w.Type(p, "rawScenario", "")
	require.NoError(t, w.Apply(scenarioNotes))
	// The operations' common fields.
	for i, r := range w.Rows {
		if r.Doc != "" || !strings.HasPrefix(r.Path, "steps[].") {
			continue
		}
		switch r.Path[strings.LastIndex(r.Path, ".")+1:] {
		case "link":
			w.Rows[i].Doc = "The link (its name in the topology)."
		case "node":
			w.Rows[i].Doc = "The node (its name in the topology)."
		case "tunnel":
			w.Rows[i].Doc = "The tunnel (its name in the topology)."
		}
	}
	doc := "# Scenario file reference\n\n" +
		"Every field of a scenario file (`secylab lab run FILE`), generated from the Go types that decode it " +
		"(`scenario/`, and `lab/`'s operations for the steps that change the lab); `go generate ./scenario` rewrites " +
		"this file and `go test ./scenario` fails when it is stale. `[]` stands for each item of a list. Start from " +
		"a built-in: `secylab lab scenarios --yaml rotate-cak`; check a file without root: `secylab validate FILE`. " +
		"The topology's fields: [topology.md](topology.md).\n\n" + fieldref.Markdown(w.Rows)
	const file = "../docs/scenario.md"
	if *updateDocs {
		require.NoError(t, os.WriteFile(file, []byte(doc), 0o644))
	}
	have, err := os.ReadFile(file)
	require.NoError(t, err)
	fieldref.RequireSame(t, doc, string(have), "docs/scenario.md is stale: run go generate ./scenario")
}

func mapKeys[K comparable, V any](m map[K]V) func(func(K) bool) {
	return func(yield func(K) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}
