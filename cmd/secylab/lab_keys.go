package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/secylab/secylab/lab"
)

func newLabKeysCmd(o *labOpts) *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "keys LINK... -o FILE",
		Short: "Export a link's MACsec keys (CAK/CKN and SAKs) to a 0600 file, to decrypt captures",
		Long: `Write what a decryptor needs for the links' MACsec to FILE (JSON, mode 0600):
per end the CAK and CKN (Wireshark's EAPOL-MKA "CKN/CAK Info" table), and
per transmit SA its SCI, AN, KN, SSCI and salt (XPN), SAK and the PN range
used so far. secylab frame validate --keys FILE --in capture.pcapng reads
it directly. The SAs are those installed now: a capture older than the
last rekey needs keys exported before it (lab run --export-keys collects
them after every step).

The keys are secret: they are written only to the file named with -o,
never to stdout or a log, and a warning says so on stderr.`,
		Example: `  secylab lab keys link1 -o link1-keys.json
  secylab lab capture link1 --full -o link1.pcapng -c 200
  secylab frame validate --keys link1-keys.json --in link1.pcapng`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if file == "" || file == "-" {
				return usagef("give -o FILE: keys are written only to a 0600 file, never to stdout")
			}
			c, labName, err := o.client()
			if err != nil {
				return err
			}
			kf := &lab.KeysFile{Lab: labName, Exported: time.Now().UTC()}
			for _, link := range args {
				var lk lab.LinkKeys
				if err := c.DoResult(cmd.Context(), &lab.KeysOp{OnLink: lab.OnLink{Link: link}}, &lk); err != nil {
					return labErr(labName, err)
				}
				kf.Add(lk)
			}
			if err := lab.WriteKeysFile(file, kf); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "warning: wrote %d SAs and %d CAK/CKN of lab %s to %s (0600). %s\n",
				len(kf.SAs()), countPSKs(kf), labName, file, lab.KeysWarning)
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "out", "o", "", "write the keys to `FILE` (mode 0600; required)")
	return cmd
}

func countPSKs(kf *lab.KeysFile) int {
	n := 0
	for _, l := range kf.Links {
		n += len(l.PSKs)
	}
	return n
}
