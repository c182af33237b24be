package topology

import (
	"fmt"

	"github.com/secylab/secylab/internal/secret"
	"github.com/secylab/secylab/macsec"
)

// keys checks every key file a link's MACsec settings name, by the rule
// every reader of a key applies (secret.LoadKey: a regular file
// of mode 0600, Azure's CKN and CAK rule for the end's cipher), so that a
// bad key is refused at its secret field before anything is built. A CAK
// that Azure pads is accepted with a warning at that field. path is the
// link's macsec field.
func (c *checker) keys(t *Topology, path string, l *Link) {
	type use struct {
		field, file string
		suite       macsec.CipherSuite
		ends        []Endpoint
	}
	var uses []*use
	perField := map[string]map[macsec.CipherSuite]bool{}
	for _, e := range l.Ends {
		if e.Secret.Generate || e.Secret.Path == "" {
			continue
		}
		field := path + ".secret"
		if e.OwnSecret {
			field = path + ".overrides." + e.String() + ".secret"
		}
		if perField[field] == nil {
			perField[field] = map[macsec.CipherSuite]bool{}
		}
		perField[field][e.Cipher] = true
		found := false
		for _, u := range uses {
			if u.field == field && u.suite == e.Cipher {
				u.ends, found = append(u.ends, e), true
			}
		}
		if !found {
			uses = append(uses, &use{field: field, file: e.Secret.Path, suite: e.Cipher, ends: []Endpoint{e}})
		}
	}
	for _, u := range uses {
		// Name the end when the ends read one secret for different ciphers.
		who := ""
		if len(perField[u.field]) > 1 {
			who = fmt.Sprintf("%s (%s): ", u.ends[0], u.suite.AzureName())
		}
		if u.suite == 0 {
			// No cipher (MACsec off): the file rule, the key rule when one is given.
			data, err := secret.ReadFile(u.file)
			clear(data)
			if err != nil {
				c.Errorf(u.field, "%s%v", who, err)
			}
			continue
		}
		k, err := secret.LoadKey(u.file, u.suite)
		if err != nil {
			c.Errorf(u.field, "%s%v", who, err)
			continue
		}
		if n := k.Notice(); n != "" {
			t.Warnings = append(t.Warnings, c.Notef(u.field, "%skey file %s: %s", who, u.file, n))
		}
		k.Zero()
	}
}
