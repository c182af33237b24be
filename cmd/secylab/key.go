package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/secylab/secylab/expressroute"
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
two lines, CKN=<hex> and CAK=<hex>, and must be readable by its owner only
(mode 0600). The CKN is up to 64 hex digits of even length; the CAK is 32
hex digits for GcmAes128/GcmAesXpn128 and 64 for GcmAes256/GcmAesXpn256.
Keys are never printed: a fingerprint stands in for them.`,
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
			flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
			if force {
				flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
			}
			f, err := os.OpenFile(out, flags, 0o600)
			if errors.Is(err, os.ErrExist) {
				return usagef("--out %s exists: refusing to overwrite a key (use --force)", out)
			}
			if err != nil {
				return err
			}
			if err := errors.Join(f.Chmod(0o600), mka.WritePSK(f, k), f.Close()); err != nil {
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
	check := &cobra.Command{
		Use:   "check FILE --cipher SUITE",
		Short: "Check that a key file is what Azure and MKA accept",
		Long: `Check a CAK/CKN key file: its mode (0600 or stricter), the CKN (even length,
up to 64 hex digits) and the CAK (32 or 64 hex digits by cipher; a shorter CAK
is zero-padded as Azure does, which this command reports). Exit status 0 when
the file is valid, 2 with the rule it breaks otherwise.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			suite, err := cipherFlag(checkCipher)
			if err != nil {
				return err
			}
			k, err := mka.LoadPSKFile(args[0], suite)
			if err != nil {
				return &usageError{fmt.Errorf("%s: %w", args[0], err)}
			}
			defer k.Zero()
			fmt.Fprintf(cmd.OutOrStdout(), "%s: valid for %s (%s): %s\n", args[0], suite.AzureName(), suite, k)
			return nil
		},
	}
	check.Flags().StringVar(&checkCipher, "cipher", "", "cipher suite to check the CAK against")
	cmd.AddCommand(gen, check)
	return cmd
}

func newMKACmd() *cobra.Command {
	cmd := &cobra.Command{Use: "mka", Short: "MKA (IEEE 802.1X key agreement) tools"}
	var cipher, file string
	var show bool
	derive := &cobra.Command{
		Use:   "derive --cipher SUITE --key-file FILE",
		Short: "Derive the ICK and KEK of a CAK/CKN pair, to compare with a router's",
		Long: `Derive the MKA Integrity Check Value Key (ICK) and Key Encrypting Key (KEK)
from a CAK/CKN pair with the 802.1X KDF (AES-CMAC in counter mode), for
troubleshooting MKA against a router: when both sides show the same
fingerprints they hold the same keys. The raw keys are printed only with
--show-secrets.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			suite, err := cipherFlag(cipher)
			if err != nil {
				return err
			}
			if file == "" {
				return usagef("--key-file FILE is required")
			}
			k, err := mka.LoadPSKFile(file, suite)
			if err != nil {
				return &usageError{fmt.Errorf("--key-file %s: %w", filepath.Base(file), err)}
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
			fmt.Fprintf(w, "CKN %s\nCAK fingerprint %s (%d bits)\n", k.CKN, k.CAK.Fingerprint(), k.CAK.Len()*8)
			fmt.Fprintf(w, "ICK fingerprint %s\nKEK fingerprint %s\n", ick.Fingerprint(), kek.Fingerprint())
			if show {
				fmt.Fprintf(w, "ICK %s\nKEK %s\n", hex.EncodeToString(ick.Bytes()), hex.EncodeToString(kek.Bytes()))
			}
			return nil
		},
	}
	derive.Flags().StringVar(&cipher, "cipher", "", "cipher suite of the CAK")
	derive.Flags().StringVar(&file, "key-file", "", "the CAK/CKN key `FILE` (0600)")
	derive.Flags().BoolVar(&show, "show-secrets", false, "also print the raw ICK and KEK in hex")
	cmd.AddCommand(derive)
	return cmd
}
