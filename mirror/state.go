package mirror

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
)

// stateFile lives in the cache and records, per destination, which refs this tool mirrored from
// the source and at which object. Prune deletes only those refs, and only while the destination
// still holds the recorded object: a ref the destination created or changed is never deleted.
const stateFile = "tagrelay-mirror.json"

type state struct {
	Version      int                   `json:"version"`
	Source       string                `json:"source"`
	Destinations map[string]*destState `json:"destinations"`
}

type destState struct {
	Refs map[string]string `json:"refs"`
	// LFS maps a ref to the commit whose LFS objects, with those of all its ancestors, were found
	// on or copied to the destination: the next scan starts from there.
	LFS     map[string]string `json:"lfs,omitempty"`
	Updated time.Time         `json:"updated"`
}

func readState(cacheDir string) (*state, error) {
	s := &state{Version: 1, Destinations: map[string]*destState{}}
	b, err := os.ReadFile(filepath.Join(cacheDir, stateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading mirror state: %w", err)
	}
	if err := json.Unmarshal(b, s); err != nil {
		return nil, fmt.Errorf("reading mirror state %s: %w (delete the file to start over; prune will then skip refs until they are mirrored again)", filepath.Join(cacheDir, stateFile), err)
	}
	if s.Destinations == nil {
		s.Destinations = map[string]*destState{}
	}
	return s, nil
}

// known returns the refs mirrored to dest.
func (s *state) known(dest string) map[string]string {
	if d := s.Destinations[dest]; d != nil && d.Refs != nil {
		return d.Refs
	}
	return map[string]string{}
}

// dest returns the state of dest, created when missing.
func (s *state) dest(dest string) *destState {
	d := s.Destinations[dest]
	if d == nil {
		d = &destState{}
		s.Destinations[dest] = d
	}
	if d.Refs == nil {
		d.Refs = map[string]string{}
	}
	if d.LFS == nil {
		d.LFS = map[string]string{}
	}
	return d
}

// lfsCovers reports whether the LFS objects of every wanted ref are known to be on dest.
func (s *state) lfsCovers(dest string, wanted map[string]plumbing.Hash) bool {
	d := s.Destinations[dest]
	if d == nil {
		return len(wanted) == 0
	}
	for ref, h := range wanted {
		if d.LFS[ref] != h.String() {
			return false
		}
	}
	return true
}

// record applies a plan to the refs mirrored to dest: every change that needed no push, and the
// pushed ones that applied lists (a push that failed for some refs records the others).
func (s *state) record(dest string, changes []Change, applied map[string]bool) {
	d := s.dest(dest)
	for _, c := range changes {
		if c.pending() && !applied[c.Ref] {
			continue
		}
		switch c.Action {
		case ActionCreate, ActionUpdate, ActionForce, ActionUnchanged:
			d.Refs[c.Ref] = c.New
		case ActionDelete, ActionGone:
			delete(d.Refs, c.Ref)
			delete(d.LFS, c.Ref)
		}
	}
	d.Updated = time.Now().UTC()
}

func (s *state) write(cacheDir string) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(cacheDir, ".state-*")
	if err != nil {
		return fmt.Errorf("writing mirror state: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("writing mirror state: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing mirror state: %w", err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(cacheDir, stateFile)); err != nil {
		return fmt.Errorf("writing mirror state: %w", err)
	}
	return nil
}
