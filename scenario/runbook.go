package scenario

import (
	"cmp"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/secylab/secylab/expressroute"
	"github.com/secylab/secylab/lab"
	"github.com/secylab/secylab/lab/edgeconfig"
	"github.com/secylab/secylab/topology"
)

// Runbook is a passed scenario written as the production procedure: per
// step the Azure-side commands (az and PowerShell) or the router-side
// change, the check to make before going on with what the lab observed,
// and what production's timers change about the wait.
type Runbook struct {
	Scenario string `json:"scenario"`
	// Phase is the phase the procedure follows ("recommended"), "" for
	// every step.
	Phase string `json:"phase,omitempty"`
	// Names are the shell variables the commands use: the user's names
	// where given, placeholders otherwise.
	Names []RunbookName `json:"names"`
	Steps []RunbookStep `json:"steps"`
	Notes []string      `json:"notes,omitempty"`

	stored map[string]bool // key names already put in Key Vault
	timers *ReportTimers
	format string // lab config's format for the router changes, or ""
}

// RunbookName is a shell variable of the runbook and its value.
type RunbookName struct {
	Var   string `json:"var"`
	Value string `json:"value"`
	What  string `json:"what"`
}

// RunbookStep is one step of the procedure.
type RunbookStep struct {
	N     int    `json:"n"`
	Title string `json:"title"`
	Where string `json:"where"` // Azure, router ce1, check, wait
	// Commands by tool: az, PowerShell, router, secylab.
	Commands []RunbookCommand `json:"commands,omitempty"`
	Lab      string           `json:"lab,omitempty"`        // what the lab observed
	Prod     string           `json:"production,omitempty"` // production's timers' effect on the wait
}

// RunbookCommand is one tool's commands for a step.
type RunbookCommand struct {
	Tool string `json:"tool"`
	Text string `json:"text"`
}

// AzureNames are the user's Azure resource names for the runbook; empty
// ones stay placeholders. RouterFormat, one of lab config's formats (junos,
// iosxr, …), puts the router's configuration for each MACsec change into
// the runbook, with production's MKA timers and the keys as placeholders.
type AzureNames struct {
	ResourceGroup, Port, Vault, Circuit string
	RouterFormat                        string
}

// runbookPhase picks the phase the procedure follows: "recommended", or
// else the last phase, or every step.
func runbookPhase(sc *Scenario) string {
	last := ""
	for _, st := range sc.Steps {
		if st.Note == "recommended" {
			return st.Note
		}
		if st.Note != "" {
			last = st.Note
		}
	}
	return last
}

// microsoftSide reports whether node is a Microsoft edge router: its
// changes go through the Azure API.
func microsoftSide(t *topology.Topology, node string) bool {
	n := t.Node(node)
	if n == nil {
		return false
	}
	if n.BGP != nil {
		return n.BGP.Profile == topology.BGPMicrosoftEdge || n.BGP.ASN == expressroute.MicrosoftASN
	}
	return strings.HasPrefix(n.Name, "msee")
}

var secretNameBad = regexp.MustCompile(`[^0-9a-zA-Z-]+`)

// buildRunbook writes the procedure of the run's phase. names fills the
// shell variables.
func buildRunbook(sc *Scenario, rep *Report, names AzureNames) *Runbook {
	t := sc.Topology
	if t == nil {
		return nil
	}
	rb := &Runbook{Scenario: sc.Name, Phase: runbookPhase(sc), stored: map[string]bool{}, timers: rep.Timers, format: names.RouterFormat}
	circuit, port := names.Circuit, names.Port
	rg, vault := names.ResourceGroup, names.Vault
	if a := t.Azure; a != nil {
		// The topology's azure block, unless a name is the lab's own
		// default (secylab, LAB-port, LAB-kv).
		own := func(v, def string) string {
			if v == def {
				return ""
			}
			return v
		}
		rg, port, vault = cmp.Or(rg, own(a.ResourceGroup, "secylab")), cmp.Or(port, own(a.Port, t.Name+"-port")), cmp.Or(vault, own(a.Vault, t.Name+"-kv"))
	}
	if len(t.ExpressRoutePorts) > 0 {
		ep := t.ExpressRoutePorts[0]
		port = cmp.Or(port, ep.Name)
		if circuit == "" && len(ep.Circuits) > 0 {
			circuit = ep.Circuits[0].Name
		}
	}
	rb.Names = []RunbookName{
		{"RG", cmp.Or(rg, "<resource-group>"), "the resource group of the ExpressRoute Direct port"},
		{"PORT", cmp.Or(port, "<expressroute-port>"), "the ExpressRoute Direct port (expressRoutePorts resource)"},
		{"VAULT", cmp.Or(vault, "<key-vault>"), "the Key Vault the port's managed identity reads the CAK/CKN secrets from"},
		{"CIRCUIT", cmp.Or(circuit, "<circuit>"), "an ExpressRoute circuit on the port, for its route tables"},
	}
	lt := rep.Timers
	inPhase := rb.Phase == ""
	stepIdx := map[int]StepResult{}
	for _, s := range rep.Steps {
		stepIdx[s.Index] = s
	}
	for i, st := range sc.Steps {
		if st.Note != "" {
			inPhase = rb.Phase == "" || st.Note == rb.Phase
			continue
		}
		if !inPhase {
			continue
		}
		sr := stepIdx[i+1]
		var rs RunbookStep
		switch {
		case st.Op != nil:
			until := time.Duration(rep.Duration).Seconds()
			for j := i + 1; j < len(sc.Steps); j++ {
				if next, ok := stepIdx[j+1]; ok && sc.Steps[j].Op != nil {
					until = next.Start
					break
				}
			}
			rs = rb.opStep(t, st.Op, rep, sr, until)
		case st.WaitFor != nil:
			rs = rb.waitForStep(t, st.WaitFor, rep, i+1, lt)
		case st.Exec != nil:
			rs = RunbookStep{Title: "On " + st.Exec.Node + ": " + st.Exec.Command + " (the lab's addresses)", Where: "check",
				Commands: []RunbookCommand{{Tool: "router", Text: st.Exec.Command}}, Lab: assertionsOf(rep, i+1)}
		case st.Check != nil:
			rs = RunbookStep{Title: "Check", Where: "check", Lab: assertionsOf(rep, i+1)}
		case st.Wait > 0:
			rs = RunbookStep{Title: "Wait " + secs(st.Wait), Where: "wait",
				Lab:  "the lab waited " + secs(st.Wait) + " for BGP to converge and the probes to settle",
				Prod: "wait until the route tables (step checks) show the change; with production timers allow at least " + secs(max(st.Wait, 5*time.Second))}
		default:
			continue
		}
		rs.N = len(rb.Steps) + 1
		rb.Steps = append(rb.Steps, rs)
	}
	if lt != nil {
		rb.Notes = append(rb.Notes, lt.Lines()...)
	}
	rb.Notes = append(rb.Notes,
		"Key Vault: store each new CKN and CAK as a new version of its secret and pass the versioned secret identifiers; the port's managed identity needs secret get.",
		"A CAK change is not atomic: between the two ends' changes the link passes nothing (no fallback to clear). Change one link at a time, drained, the other carrying the traffic.",
		"Never paste keys into tickets or chat: the commands read them from $CKN and $CAK, generated once per key (openssl rand -hex 32 for a 256-bit cipher, -hex 16 for 128-bit; CKN up to 64 hex).")
	return rb
}

// azLinkIndex is the index of an Azure port link by name (link1 → 0).
func azLinkIndex(link string) string {
	switch link {
	case "link1":
		return "0"
	case "link2":
		return "1"
	}
	return "<index of " + link + ">"
}

// opStep is a change to the lab in production terms; until is when the
// next change began (the end of the window the lab's traffic is reported
// for).
func (rb *Runbook) opStep(t *topology.Topology, op lab.Op, rep *Report, sr StepResult, until float64) RunbookStep {
	switch o := op.(type) {
	case *lab.MACsecOp:
		return rb.macsecStep(t, o)
	case *lab.DrainOp:
		node := customerEnd(t, o.Link)
		return RunbookStep{Title: "Drain " + o.Link, Where: "router " + node,
			Commands: []RunbookCommand{{Tool: "router", Text: fmt.Sprintf("# on %s, the session(s) to AS %d over %s: on export prepend %s,\n# on import set local preference 90 (the other link keeps 100): the lab's drain.\n# The router's BGP as the lab runs it, to add this to:\nsecylab lab config %s --format %s", node, expressroute.MicrosoftASN, o.Link, asPath(asnOf(t, node)), node, configFormats())}},
			Lab:      trafficAround(rep, sr.Start, until),
			Prod:     "the move waits for BGP to advertise the prepended path: seconds; confirm with the route tables before touching " + o.Link}
	case *lab.UndrainOp:
		node := customerEnd(t, o.Link)
		return RunbookStep{Title: "Undrain " + o.Link, Where: "router " + node,
			Commands: []RunbookCommand{{Tool: "router", Text: fmt.Sprintf("# on %s: remove the prepend and the lower local preference towards %s", node, o.Link)}},
			Lab:      trafficAround(rep, sr.Start, until),
			Prod:     "check that traffic is back on " + o.Link + " (interface counters, route tables) before the next link"}
	case *lab.KeyVaultOp:
		return RunbookStep{Title: "Store the new CKN and CAK in Key Vault", Where: "Azure",
			Commands: []RunbookCommand{
				{Tool: "az", Text: fmt.Sprintf("az keyvault secret set --vault-name \"$VAULT\" -n %s --value \"$CKN\" --query id -o tsv   # new version\naz keyvault secret set --vault-name \"$VAULT\" -n %s --value \"$CAK\" --query id -o tsv", o.CKN, o.CAK)},
				{Tool: "PowerShell", Text: fmt.Sprintf("$ckn = Set-AzKeyVaultSecret -VaultName $VAULT -Name %s -SecretValue (ConvertTo-SecureString $env:CKN -AsPlainText -Force)\n$cak = Set-AzKeyVaultSecret -VaultName $VAULT -Name %s -SecretValue (ConvertTo-SecureString $env:CAK -AsPlainText -Force)", o.CKN, o.CAK)}},
			Lab: "the lab stored " + o.Key.String() + " through Key Vault's API"}
	case *lab.AzureOp:
		azLink := o.Link
		if t.Azure != nil {
			azLink = cmp.Or(t.Azure.AzureLinkOf(o.Link), o.Link)
		}
		var flags []string
		ps := "$port = Get-AzExpressRoutePort -ResourceGroupName $RG -Name $PORT\n"
		idx := azLinkIndex(azLink)
		secret := func(v string) (az, ps string) {
			if strings.HasPrefix(v, "https://") {
				return v, "'" + v + "'"
			}
			return fmt.Sprintf("$(az keyvault secret show --vault-name \"$VAULT\" -n %s --query id -o tsv)", v), fmt.Sprintf("(Get-AzKeyVaultSecret -VaultName $VAULT -Name %s).Id", v)
		}
		if o.AdminState != nil {
			flags = append(flags, "--admin-state "+o.AdminState.String())
			ps += fmt.Sprintf("$port.Links[%s].AdminState = \"%s\"\n", idx, o.AdminState.String())
		}
		if o.CKNSecret != "" {
			a, p := secret(o.CKNSecret)
			flags = append(flags, "--macsec-ckn-secret-identifier \""+a+"\"")
			ps += fmt.Sprintf("$port.Links[%s].MacSecConfig.CknSecretIdentifier = %s\n", idx, p)
		}
		if o.CAKSecret != "" {
			a, p := secret(o.CAKSecret)
			flags = append(flags, "--macsec-cak-secret-identifier \""+a+"\"")
			ps += fmt.Sprintf("$port.Links[%s].MacSecConfig.CakSecretIdentifier = %s\n", idx, p)
		}
		if o.Cipher != "" {
			flags = append(flags, "--macsec-cipher "+o.Cipher)
			ps += fmt.Sprintf("$port.Links[%s].MacSecConfig.Cipher = \"%s\"\n", idx, o.Cipher)
		}
		if o.SCIState != nil {
			flags = append(flags, "--macsec-sci-state "+o.SCIState.String())
			ps += fmt.Sprintf("$port.Links[%s].MacSecConfig.SciState = \"%s\"\n", idx, o.SCIState.String())
		}
		return RunbookStep{Title: "Update " + azLink + " of the port (" + o.Link + " in the lab)", Where: "Azure",
			Commands: []RunbookCommand{
				{Tool: "az", Text: fmt.Sprintf("az network express-route port link update -g \"$RG\" --port-name \"$PORT\" -n %s \\\n  %s", azLink, strings.Join(flags, " \\\n  "))},
				{Tool: "PowerShell", Text: ps + "Set-AzExpressRoutePort -ExpressRoutePort $port"}},
			Lab: "the lab made the change through ARM (GET, edit, PUT of the port), as az does"}
	case *lab.AdminStateOp:
		state := "Disabled"
		if bool(o.State) {
			state = "Enabled"
		}
		return RunbookStep{Title: fmt.Sprintf("Set %s adminState %s", o.Link, state), Where: "Azure",
			Commands: []RunbookCommand{
				{Tool: "az", Text: fmt.Sprintf("az network express-route port link update -g \"$RG\" --port-name \"$PORT\" -n %s --admin-state %s", o.Link, state)},
				{Tool: "PowerShell", Text: fmt.Sprintf("$port = Get-AzExpressRoutePort -ResourceGroupName $RG -Name $PORT\n$port.Links[%s].AdminState = \"%s\"\nSet-AzExpressRoutePort -ExpressRoutePort $port", azLinkIndex(o.Link), state)}}}
	}
	return RunbookStep{Title: op.Describe(), Where: "lab", Lab: "a lab step with no production counterpart in this runbook"}
}

// macsecStep is a MACsec change on one end (Azure or router) or both.
func (rb *Runbook) macsecStep(t *topology.Topology, o *lab.MACsecOp) RunbookStep {
	l := t.Link(o.Link)
	cipher, sci := "GcmAesXpn256", "Disabled"
	if l != nil {
		cipher = l.MACsec.Cipher.AzureName()
		if l.MACsec.IncludeSCI {
			sci = "Enabled"
		}
	}
	if o.Cipher != 0 {
		cipher = o.Cipher.Suite().AzureName()
	}
	if o.SCI != nil {
		sci = map[bool]string{true: "Enabled", false: "Disabled"}[bool(*o.SCI)]
	}
	keyName := ""
	switch {
	case o.Key.Generate != "":
		keyName = o.Key.Generate
	case o.Key.File != "":
		keyName = strings.TrimSuffix(filepath.Base(o.Key.File), filepath.Ext(o.Key.File))
	case o.NewCAK:
		keyName = o.Link + "-new"
	}
	keyName = strings.Trim(secretNameBad.ReplaceAllString(keyName, "-"), "-")
	var cmds []RunbookCommand
	what := "MACsec on " + o.Link
	if keyName != "" {
		what = fmt.Sprintf("the CAK/CKN %q on %s", keyName, o.Link)
	}
	azure := o.Node == "" || microsoftSide(t, o.Node)
	router := o.Node == "" || !microsoftSide(t, o.Node)
	if o.State != nil && !bool(*o.State) {
		return RunbookStep{Title: "Turn MACsec off on " + o.Link, Where: "Azure and router",
			Lab: "not part of a production procedure here: with MACsec off on one end the link passes nothing"}
	}
	if azure {
		var az, ps strings.Builder
		var flags []string
		if keyName != "" && !rb.stored[keyName] {
			fmt.Fprintf(&az, "az keyvault secret set --vault-name \"$VAULT\" -n %s-ckn --value \"$CKN\" --query id -o tsv   # new version\n", keyName)
			fmt.Fprintf(&az, "az keyvault secret set --vault-name \"$VAULT\" -n %s-cak --value \"$CAK\" --query id -o tsv\n", keyName)
			fmt.Fprintf(&ps, "Set-AzKeyVaultSecret -VaultName $VAULT -Name %s-ckn -SecretValue (ConvertTo-SecureString $env:CKN -AsPlainText -Force)\n", keyName)
			fmt.Fprintf(&ps, "Set-AzKeyVaultSecret -VaultName $VAULT -Name %s-cak -SecretValue (ConvertTo-SecureString $env:CAK -AsPlainText -Force)\n", keyName)
			rb.stored[keyName] = true
		}
		if keyName != "" {
			flags = append(flags,
				fmt.Sprintf("--macsec-ckn-secret-identifier \"$(az keyvault secret show --vault-name \"$VAULT\" -n %s-ckn --query id -o tsv)\"", keyName),
				fmt.Sprintf("--macsec-cak-secret-identifier \"$(az keyvault secret show --vault-name \"$VAULT\" -n %s-cak --query id -o tsv)\"", keyName))
		}
		flags = append(flags, "--macsec-cipher "+cipher, "--macsec-sci-state "+sci)
		fmt.Fprintf(&az, "az network express-route port link update -g \"$RG\" --port-name \"$PORT\" -n %s \\\n  %s", o.Link, strings.Join(flags, " \\\n  "))
		idx := azLinkIndex(o.Link)
		ps.WriteString("$port = Get-AzExpressRoutePort -ResourceGroupName $RG -Name $PORT\n")
		if keyName != "" {
			fmt.Fprintf(&ps, "$ckn = Get-AzKeyVaultSecret -VaultName $VAULT -Name %s-ckn\n$cak = Get-AzKeyVaultSecret -VaultName $VAULT -Name %s-cak\n", keyName, keyName)
			fmt.Fprintf(&ps, "$port.Links[%s].MacSecConfig.CknSecretIdentifier = $ckn.Id\n$port.Links[%s].MacSecConfig.CakSecretIdentifier = $cak.Id\n", idx, idx)
		}
		fmt.Fprintf(&ps, "$port.Links[%s].MacSecConfig.Cipher = \"%s\"\n$port.Links[%s].MacSecConfig.SciState = \"%s\"\nSet-AzExpressRoutePort -ExpressRoutePort $port", idx, cipher, idx, sci)
		cmds = append(cmds, RunbookCommand{Tool: "az", Text: az.String()}, RunbookCommand{Tool: "PowerShell", Text: ps.String()})
	}
	if router {
		node := o.Node
		if node == "" {
			node = customerEnd(t, o.Link)
		}
		port := ""
		if l != nil {
			for _, e := range l.Ends {
				if e.Node == node {
					port = e.Port
				}
			}
		}
		cmds = append(cmds, RunbookCommand{Tool: "router", Text: fmt.Sprintf("# on %s, port %s: the same CKN/CAK ($CKN, $CAK), cipher %s, SCI %s;\n# the lab's configuration of the port after this step:\nsecylab lab config %s --format %s", node, port, cipher, strings.ToLower(sci), node, configFormats())})
		if rb.format != "" {
			cmds = append(cmds, RunbookCommand{Tool: rb.format, Text: routerConfig(t, node, o, rb.format)})
		}
	}
	where := "Azure"
	switch {
	case azure && router:
		where = "Azure and router " + customerEnd(t, o.Link)
	case router:
		where = "router " + o.Node
	}
	return RunbookStep{Title: "Set " + what, Where: where, Commands: cmds,
		Lab: "until both ends have the same CAK/CKN, " + o.Link + " passes nothing",
		Prod: fmt.Sprintf("the end not yet changed drops its peer within the MKA lifetime (production %s, lab %s); %s passes nothing until both ends have the new key, so change the second end right after the first (az and Set-AzExpressRoutePort return when the port's update has finished)",
			secs(expressroute.MKALifeTime), labLife(rb.timers), o.Link)}
}

func (rb *Runbook) waitForStep(t *topology.Topology, w *WaitFor, rep *Report, step int, lt *ReportTimers) RunbookStep {
	got := assertionsOf(rep, step)
	switch {
	case w.IPsec != nil:
		return RunbookStep{Title: "Check: the IKE SA of " + w.IPsec.Tunnel, Where: "check", Lab: got,
			Commands: []RunbookCommand{
				{Tool: "az", Text: fmt.Sprintf("az network vpn-connection show -g \"$RG\" -n %s --query \"{connectionStatus:connectionStatus, ingressBytesTransferred:ingressBytesTransferred, egressBytesTransferred:egressBytesTransferred}\"", w.IPsec.Tunnel)},
				{Tool: "router", Text: "# strongSwan: swanctl --list-sas; libreswan: ipsec trafficstatus"}},
			Prod: "Azure declares a silent peer dead after the connection's dpdTimeoutSeconds (45 s unless set)"}
	case w.MKA != nil && w.MKA.Secured:
		prod := "production MKA hello is 2 s, lifetime 6 s"
		if lt != nil && lt.MKAHello > 0 {
			ratio := float64(lt.MKAHelloProduction) / float64(lt.MKAHello)
			prod = fmt.Sprintf("production MKA hello %s (lab %s): expect about %.0f× the lab's time, and give up after %s (the lab's %s × %.0f)",
				secs(time.Duration(lt.MKAHelloProduction)), secs(time.Duration(lt.MKAHello)), ratio, secs(time.Duration(math.Ceil(float64(w.Timeout)*ratio/float64(time.Second)))*time.Second), secs(w.Timeout), ratio)
		}
		return RunbookStep{Title: "Check: MKA secured on " + w.MKA.Link, Where: "check",
			Commands: []RunbookCommand{
				{Tool: "router", Text: "# the MKA session is secured, both SAs in use, and the key server is agreed:\n# Junos: show security mka sessions; IOS XR / NX-OS: show macsec mka session; EOS: show mac security; Linux: ip macsec show"},
				{Tool: "az", Text: fmt.Sprintf("az network express-route port link show -g \"$RG\" --port-name \"$PORT\" -n %s --query \"{adminState:adminState, macSecConfig:macSecConfig, provisioningState:provisioningState}\"", w.MKA.Link)}},
			Lab: strings.TrimSpace("MKA secured on " + w.MKA.Link + " " + got), Prod: prod}
	case w.MKA != nil:
		return RunbookStep{Title: "Check: MKA down on " + w.MKA.Link, Where: "check", Lab: got,
			Prod: "with a one-sided change production MKA notices after the 6 s lifetime (lab " + labLife(lt) + ")"}
	case w.BGP != nil && w.BGP.Established:
		prod := "BFD (300 ms × 3) brings the session back as soon as frames pass; without BFD a session that dropped waits for BGP's connect retry"
		if lt != nil && lt.BGPHold > 0 {
			prod += fmt.Sprintf("; production hold time %s (lab %s): a short MACsec outage without BFD may not drop the session at all", secs(time.Duration(lt.BGPHoldProduction)), secs(time.Duration(lt.BGPHold)))
		}
		var cmds []RunbookCommand
		peerings := peeringsOn(t, w.BGP.Link)
		for _, pt := range peerings {
			cmds = append(cmds, RunbookCommand{Tool: "az", Text: fmt.Sprintf("az network express-route list-route-tables -g \"$RG\" -n \"$CIRCUIT\" --peering-name %s --path %s -o table", pt, pathOf(w.BGP.Link))})
		}
		for _, pt := range peerings {
			cmds = append(cmds, RunbookCommand{Tool: "PowerShell", Text: fmt.Sprintf("Get-AzExpressRouteCircuitRouteTable -ResourceGroupName $RG -ExpressRouteCircuitName $CIRCUIT -PeeringType %s -DevicePath %s", pt, devicePath(w.BGP.Link))})
		}
		say := "# the session to the Microsoft edge is Established and receives the VNet prefixes"
		if len(peerings) > 1 {
			say = "# each peering's session to the Microsoft edge is Established: private peering receives the VNet prefixes,\n# Microsoft peering Microsoft's public prefixes"
		}
		cmds = append(cmds, RunbookCommand{Tool: "router", Text: say})
		return RunbookStep{Title: "Check: BGP Established over " + w.BGP.Link, Where: "check", Commands: cmds,
			Lab: strings.TrimSpace("BGP Established over " + w.BGP.Link + " " + got), Prod: prod}
	}
	return RunbookStep{Title: "Check: BGP down over " + w.BGP.Link, Where: "check", Lab: got,
		Prod: "with BFD the session drops within 0.9 s; without it only after the hold time (production " + secs(expressroute.HoldTime) + ")"}
}

// peeringsOn are the peering types whose sessions run over link, in the
// circuit's order: its port's peerings, AzurePrivatePeering when the
// topology names none (sessions on the port itself).
func peeringsOn(t *topology.Topology, link string) []topology.PeeringType {
	var out []topology.PeeringType
	if l := t.Link(link); l != nil {
		if p := t.Node(l.Ends[0].Node).Port(l.Ends[0].Port); p != nil {
			for _, v := range p.VLANs {
				if !slices.Contains(out, v.Peering) {
					out = append(out, v.Peering)
				}
			}
		}
	}
	if len(out) == 0 {
		out = []topology.PeeringType{topology.PrivatePeering}
	}
	return out
}

func labLife(lt *ReportTimers) string {
	if lt == nil {
		return secs(expressroute.LabMKALifeTime)
	}
	return secs(time.Duration(lt.MKALife))
}

// pathOf is the ExpressRoute device path of a link: link1 is primary,
// link2 secondary.
func pathOf(link string) string {
	if link == "link2" {
		return "secondary"
	}
	return "primary"
}

// routerConfig is lab config's export of node's side of the link the op
// changes, in format, with the op's cipher and SCI state, production's MKA
// timers and placeholders for the keys; or why there is none.
func routerConfig(t *topology.Topology, node string, o *lab.MACsecOp, format string) string {
	n, err := lab.EdgeConfig(t, lab.EdgeOptions{Node: node, Link: o.Link}, expressroute.MKAHelloTime, expressroute.MKALifeTime)
	if err != nil {
		return "# no configuration: " + err.Error()
	}
	for i := range n.Links {
		if m := n.Links[i].MACsec; m != nil {
			if o.Cipher != 0 {
				m.Suite = o.Cipher.Suite()
			}
			if o.SCI != nil {
				m.IncludeSCI = bool(*o.SCI)
			}
		}
	}
	var b strings.Builder
	if err := edgeconfig.Render(&b, format, n); err != nil {
		return "# no " + format + " configuration: " + err.Error()
	}
	return strings.TrimRight(b.String(), "\n")
}

// configFormats are lab config's formats: "<wpa_supplicant|iproute2|…>".
func configFormats() string { return "<" + strings.Join(edgeconfig.Names(), "|") + ">" }

// asPath is an AS three times: "65001 65001 65001".
func asPath(asn uint32) string { return strings.TrimSpace(strings.Repeat(fmt.Sprintf("%d ", asn), 3)) }

// devicePath is PowerShell's spelling of pathOf.
func devicePath(link string) string {
	if link == "link2" {
		return "Secondary"
	}
	return "Primary"
}

// customerEnd is the end of link that is not Microsoft's.
func customerEnd(t *topology.Topology, link string) string {
	l := t.Link(link)
	if l == nil {
		return "<router>"
	}
	for _, e := range l.Ends {
		if !microsoftSide(t, e.Node) {
			return e.Node
		}
	}
	return l.Ends[0].Node
}

func asnOf(t *topology.Topology, node string) uint32 {
	if n := t.Node(node); n != nil && n.BGP != nil {
		return n.BGP.ASN
	}
	return 0
}

// assertionsOf is what the lab measured for a step's assertions: "after
// 1.2s"; or "".
func assertionsOf(rep *Report, step int) string {
	var parts []string
	for _, a := range rep.Assertions {
		if a.Step == step {
			mark := "in the lab"
			if !a.Passed {
				mark = "FAILED in the lab"
			}
			parts = append(parts, mark+": "+a.Detail)
		}
	}
	return strings.Join(parts, "; ")
}

// trafficAround is the traffic links' shares in the second before t and
// from half a second after t until until: how the change moved the traffic.
func trafficAround(rep *Report, t, until float64) string {
	if len(rep.Traffic) == 0 {
		return "no link traffic sampled"
	}
	var links []string
	for _, lt := range rep.Traffic {
		links = append(links, lt.Link)
	}
	return fmt.Sprintf("data frames (the ports' counters) in the second before: %s; from 0.5 s after it to the next change, %.1f s later: %s",
		trafficText(rep.Traffic, t-1, t, links...), until-t, trafficText(rep.Traffic, t+0.5, until, links...))
}

// WriteText writes the runbook for a terminal or a change ticket.
func (rb *Runbook) WriteText(w io.Writer) {
	if rb == nil {
		return
	}
	phase := "every step"
	if rb.Phase != "" {
		phase = "its " + rb.Phase + " phase"
	}
	fmt.Fprintf(w, "Runbook: %s, from %s as it passed in the lab\n\n", rb.Scenario, phase)
	fmt.Fprintln(w, "Set these first (your names; placeholders in <>), and CKN and CAK for each new key (environment variables):")
	for _, n := range rb.Names {
		fmt.Fprintf(w, "  %s=%s   # %s\n", n.Var, shellQuote(n.Value), n.What)
	}
	fmt.Fprint(w, "  # PowerShell:")
	for _, n := range rb.Names {
		fmt.Fprintf(w, " $%s = '%s';", n.Var, strings.ReplaceAll(n.Value, "'", "''"))
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w)
	for _, s := range rb.Steps {
		fmt.Fprintf(w, "%d. %s  [%s]\n", s.N, s.Title, s.Where)
		for _, c := range s.Commands {
			fmt.Fprintf(w, "   %s:\n", c.Tool)
			for _, l := range strings.Split(c.Text, "\n") {
				fmt.Fprintf(w, "     %s\n", l)
			}
		}
		if s.Lab != "" {
			fmt.Fprintf(w, "   lab: %s\n", s.Lab)
		}
		if s.Prod != "" {
			fmt.Fprintf(w, "   production: %s\n", s.Prod)
		}
		fmt.Fprintln(w)
	}
	for _, n := range rb.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
}

func shellQuote(s string) string {
	if strings.ContainsAny(s, "<> $'\"") {
		return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
	}
	return s
}
