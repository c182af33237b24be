package topology

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/secylab/secylab/internal/secret"
)

// DefaultStateDir holds one directory per running lab, unless
// $SECYLAB_STATE_DIR names another (see StateDir).
const DefaultStateDir = "/run/secylab"

// StateDirEnv names the environment variable that overrides DefaultStateDir.
const StateDirEnv = "SECYLAB_STATE_DIR"

// StateDir is where labs keep their state: dir if given, else
// $SECYLAB_STATE_DIR, else DefaultStateDir. It is the one definition every
// command and package uses.
func StateDir(dir string) string {
	if dir != "" {
		return dir
	}
	if env := os.Getenv(StateDirEnv); env != "" {
		return env
	}
	return DefaultStateDir
}

const stateFile = "state.json"

// State is what a lab made, written before each object is created (an
// intent log) and updated after, so that Destroy removes exactly that, also
// after a crash in the middle of Create.
type State struct {
	Lab     string    `json:"lab"`
	Source  string    `json:"source,omitempty"`
	Created time.Time `json:"created"`
	// Complete is set when Create finished.
	Complete   bool          `json:"complete"`
	Namespaces []StateObject `json:"namespaces"`
	Links      []StateLink   `json:"links"`
	// Externals are the host interfaces of external ends, with what the
	// lab changed on them.
	Externals []StateExternal `json:"externals,omitempty"`
	// VXLANs are the devices of links to another host (vxlan_linux.go).
	VXLANs    []StateVXLAN `json:"vxlans,omitempty"`
	Processes []Process    `json:"processes"`
	// Owner, when set, is the command the lab belongs to (a lab run without
	// --keep): the lab goes when it ends.
	Owner *Process `json:"owner,omitempty"`
}

// StateObject is one namespace; Done is false while it is being created.
type StateObject struct {
	Name string `json:"name"`
	Done bool   `json:"done"`
}

// StateLink is one veth pair, created directly with its ends in their
// namespaces, so it goes with them.
type StateLink struct {
	Name string       `json:"name"`
	Ends [2]Interface `json:"ends"`
	Done bool         `json:"done"`
}

// Interface is a device in a namespace.
type Interface struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
}

// Process is a process that belongs to a lab. StartTime (clock ticks after
// boot, /proc/<pid>/stat field 22) tells a recycled pid from the original.
type Process struct {
	Name      string `json:"name"`
	PID       int    `json:"pid"`
	StartTime uint64 `json:"startTime"`
}

// LabDir is the state directory of lab.
func LabDir(stateDir, lab string) string { return filepath.Join(StateDir(stateDir), lab) }

// ReadState reads the state of lab; a lab without state gives an error
// wrapping fs.ErrNotExist.
func ReadState(stateDir, lab string) (*State, error) {
	path := filepath.Join(LabDir(stateDir, lab), stateFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("lab %q is not running (no %s): %w", lab, path, fs.ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("lab %s state: %w", lab, err)
	}
	var s State
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("lab %s state %s: %w", lab, path, err)
	}
	return &s, nil
}

// write replaces the state file atomically (mode 0600): a reader or a
// crash sees the old or the new state, never half of one.
func (s *State) write(stateDir string) error {
	dir := LabDir(stateDir, s.Lab)
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	err = secret.WriteFile(filepath.Join(dir, stateFile), func(w io.Writer) error {
		_, err := w.Write(append(data, '\n'))
		return err
	})
	if err != nil {
		return fmt.Errorf("lab %s state: %w", s.Lab, err)
	}
	return nil
}

// labNames lists the labs that have a state directory.
func labNames(stateDir string) ([]string, error) {
	entries, err := os.ReadDir(StateDir(stateDir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("lab states: %w", err)
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() && CheckLabName(e.Name()) == nil {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	return names, nil
}
