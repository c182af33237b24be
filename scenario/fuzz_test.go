package scenario

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/secylab/secylab/internal/yamlx"
)

// FuzzParse feeds arbitrary files to scenario validation: it never panics,
// and every problem it reports is located, with the file and a line.
func FuzzParse(f *testing.F) {
	files, err := filepath.Glob("builtin/*.yaml")
	if err != nil || len(files) == 0 {
		f.Fatalf("no built-in scenarios: %v", err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("name: x\nsteps: [{wait: 1s}]\n"))
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
