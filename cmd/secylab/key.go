package main

import (
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/secylab/secylab/expressroute"
	"github.com/secylab/secylab/internal/secret"
	"github.com/secylab/secylab/macsec"
	"github.com/secylab/secylab/macsec/mka"
)

// cipherFlag reads --cipher as a usage error naming the flag.
func cipherFlag(s string) (macsec.CipherSuite, error) {
	if s == "" {
		return 0, usagef("--cipher is required: one of %s", expressroute.Ciphers)
	}
	c, err := macsec.ParseCipherSuite(s)
	if err != nil {
		return 0, usagef("--cipher: %v", err)
	}
	return c, nil
}

func newKeyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "key",
		Short: "Make and check MACsec pre-shared keys (CAK/CKN pairs)",
		Long: `ExpressRoute Direct runs MKA in pre-shared key mode: both ends hold the same
CAK and CKN, kept as two Key Vault secrets. A key file holds the pair as
two lines, CKN=<hex> and CAK=<hex>, and must be a regular file readable by
its owner only (mode 0600).

Azure's rule, applied the same by key check, topology validation, lab up
and lab macsec set: the CKN is an even number of hex digits, 2 to 64; the
CAK is an even number of hex digits, not all zeros, at most 32 for
GcmAes128/GcmAesXpn128 and 64 for GcmAes256/GcmAesXpn256. A shorter CAK is
padded with trailing zeros to the full length, as Azure does ("1234" →
"12340000…"), and a notice says so. Keys are never printed: a fingerprint
stands in for them.`,
	}
	var cipher, out string
	var force bool
	gen := &cobra.Command{
		Use:   "gen --cipher SUITE --out FILE",
		Short: "Write a new random CAK/CKN pair to a 0600 file",
		Example: `  secylab key gen --cipher GcmAesXpn256 --out link1.psk
  # then in Azure: az keyvault secret set --name ckn --value <CKN from the file> ...`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			suite, err := cipherFlag(cipher)
			if err != nil {
				return err
			}
			if out == "" {
				return usagef("--out FILE is required (the key never goes to the terminal)")
			}
			k, err := mka.GeneratePSK(rand.Reader, suite)
			if err != nil {
				return err
			}
			defer k.Zero()
			flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL | syscall.O_NOFOLLOW
			if force {
				flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC | syscall.O_NOFOLLOW
			}
			f, err := os.OpenFile(out, flags, 0o600)
			if errors.Is(err, os.ErrExist) {
				return usagef("--out %s exists: refusing to overwrite a key (use --force)", out)
			}
			if err != nil {
				return usagef("--out %s: %w", out, err)
			}
			if err := errors.Join(f.Chmod(0o600), expressroute.WriteKeyFile(f, k), f.Close()); err != nil {
				os.Remove(out)
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s: %s pair for %s (%s), mode 0600\n", out, k, suite.AzureName(), suite)
			return nil
		},
	}
	gen.Flags().StringVar(&cipher, "cipher", "", "cipher suite the CAK is for: GcmAes128, GcmAes256, GcmAesXpn128, GcmAesXpn256")
	gen.Flags().StringVar(&out, "out", "", "the key `FILE` to write (created with mode 0600)")
	gen.Flags().BoolVar(&force, "force", false, "overwrite an existing file")

	var checkCipher string
	var checkJSON bool
	check := &cobra.Command{
		Use:   "check FILE --cipher SUITE",
		Short: "Check that a key file is what Azure and MKA accept",
		Long: `Check a CAK/CKN key file by Azure's rule (see secylab key --help): a regular
file of mode 0600, the CKN, and the CAK for the cipher; a shorter CAK is
accepted zero-padded, as Azure does, with a notice. Exit status 0 when the
file is valid, 2 with the rule it breaks otherwise. --json prints
{file, valid, cipher, ckn, cakFingerprint, cakBits, cakDigits, padded,
notice, error}.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			suite, err := cipherFlag(checkCipher)
			if err != nil {
				return err
			}
			k, err := secret.LoadKey(args[0], suite)
			defer k.Zero()
			if checkJSON {
				r := keyReport{File: args[0], Valid: err == nil, Cipher: suite.AzureName()}
				if err != nil {
					r.Error = err.Error()
				} else {
					r.fill(k)
				}
				if perr := printJSON(cmd.OutOrStdout(), r); perr != nil {
					return perr
				}
				if err != nil {
					return exitCode(2)
				}
				return nil
			}
			if err != nil {
				return &usageError{err}
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "%s: valid for %s (%s): %s\n", args[0], suite.AzureName(), suite, k)
			if n := k.Notice(); n != "" {
				fmt.Fprintf(w, "notice: %s\n", n)
			}
			return nil
		},
	}
	check.Flags().StringVar(&checkCipher, "cipher", "", "cipher suite to check the CAK against")
	check.Flags().BoolVar(&checkJSON, "json", false, "print the result as JSON")
	cmd.AddCommand(gen, check)
	return cmd
}

// keyReport is what key check and mka derive print with --json: names and
// fingerprints, never a key.
type keyReport struct {
	File           string `json:"file,omitempty"`
	Valid          bool   `json:"valid"`
	Cipher         string `json:"cipher"`
	CKN            string `json:"ckn,omitempty"`
	CAKFingerprint string `json:"cakFingerprint,omitempty"`
	CAKBits        int    `json:"cakBits,omitempty"`
	CAKDigits      int    `json:"cakDigits,omitempty"`
	Padded         bool   `json:"padded"`
	Notice         string `json:"notice,omitempty"`
	ICKFingerprint string `json:"ickFingerprint,omitempty"`
	KEKFingerprint string `json:"kekFingerprint,omitempty"`
	Error          string `json:"error,omitempty"`
}

func (r *keyReport) fill(k expressroute.Key) {
	r.CKN, r.CAKFingerprint, r.CAKBits = k.CKN.String(), k.CAK.Fingerprint(), 8*k.CAK.Len()
	r.CAKDigits, r.Padded, r.Notice = k.CAKDigits, k.Padded(), k.Notice()
}

// loadKeyFlags reads --cipher and the --key-file for it, as usage errors.
func loadKeyFlags(cipher, file string) (expressroute.Key, error) {
	suite, err := cipherFlag(cipher)
	if err != nil {
		return expressroute.Key{}, err
	}
	if file == "" {
		return expressroute.Key{}, usagef("--key-file FILE is required")
	}
	k, err := secret.LoadKey(file, suite)
	if err != nil {
		return expressroute.Key{}, usagef("--key-file: %w", err)
	}
	return k, nil
}

func newMKACmd() *cobra.Command {
	cmd := &cobra.Command{Use: "mka", Short: "MKA (IEEE 802.1X key agreement) tools"}
	var cipher, file string
	var asJSON bool
	derive := &cobra.Command{
		Use:   "derive --cipher SUITE --key-file FILE",
		Short: "Derive the ICK and KEK of a CAK/CKN pair, to compare with a router's",
		Long: `Derive the MKA Integrity Check Value Key (ICK) and Key Encrypting Key (KEK)
from a CAK/CKN pair with the 802.1X KDF (AES-CMAC in counter mode), for
troubleshooting MKA: when two sides show the same fingerprints they hold the
same keys. The key file is read by Azure's rule (see secylab key --help).
Keys are never printed, only their fingerprints; --json prints {cipher, ckn,
cakFingerprint, cakBits, cakDigits, padded, notice, ickFingerprint,
kekFingerprint}. Exit status 2 for a bad key file.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			k, err := loadKeyFlags(cipher, file)
			if err != nil {
				return err
			}
			defer k.Zero()
			ick, err := mka.DeriveICK(k.CAK, k.CKN)
			if err != nil {
				return err
			}
			defer ick.Zero()
			kek, err := mka.DeriveKEK(k.CAK, k.CKN)
			if err != nil {
				return err
			}
			defer kek.Zero()
			w := cmd.OutOrStdout()
			if asJSON {
				r := keyReport{Valid: true, Cipher: k.Suite.AzureName(), ICKFingerprint: ick.Fingerprint(), KEKFingerprint: kek.Fingerprint()}
				r.fill(k)
				return printJSON(w, r)
			}
			fmt.Fprintf(w, "CKN %s\nCAK fingerprint %s (%d bits)\n", k.CKN, k.CAK.Fingerprint(), k.CAK.Len()*8)
			fmt.Fprintf(w, "ICK fingerprint %s\nKEK fingerprint %s\n", ick.Fingerprint(), kek.Fingerprint())
			if n := k.Notice(); n != "" {
				fmt.Fprintf(w, "notice: %s\n", n)
			}
			return nil
		},
	}
	derive.Flags().StringVar(&cipher, "cipher", "", "cipher suite of the CAK")
	derive.Flags().StringVar(&file, "key-file", "", "the CAK/CKN key `FILE` (0600)")
	derive.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	cmd.AddCommand(derive, newMKARunCmd())
	return cmd
}
