package topology

import (
	"os"
	"strings"
	"testing"

	"github.com/secylab/secylab/internal/yamlx"
)

// FuzzParse feeds arbitrary files to topology validation: it never panics,
// and every problem it reports is located, with the file and a line.
func FuzzParse(f *testing.F) {
	f.Add([]byte(base))
	for _, name := range []string{"builtin/expressroute-direct.yaml", "builtin/expressroute-ipsec.yaml"} {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("name: x\nnodes: {a: {kind: router, ports: {p: {}}}}\nlinks: [{endpoints: [a:p, a:p]}]\n"))
	f.Add([]byte("---\n---\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<14 {
			return // YAML's cost grows faster than its length; big files add nothing
		}
		_, err := Parse("fuzz.yaml", data)
		if e := yamlx.Unlocated(err, "fuzz.yaml"); e != nil {
			t.Fatalf("a problem without its file and line: %v", e)
		}
	})
}

// TestYAMLTagRefused: a tag is refused at its line; go-yaml's decoder
// panicked on this one (FuzzParse's seed yaml-tag-panic).
func TestYAMLTagRefused(t *testing.T) {
	_, err := Parse("fuzz.yaml", []byte("name: A\nnodes:\n  A:\n    kind: router\n    ports:\n      A:\n        addresses: !00\n000:000000000"))
	if err == nil || yamlx.Unlocated(err, "fuzz.yaml") != nil {
		t.Fatalf("want a located refusal, got %v", err)
	}
	if want := "fuzz.yaml:7: nodes.A.ports.A.addresses: tag"; !strings.Contains(err.Error(), want) {
		t.Fatalf("%v: want %q", err, want)
	}
}
