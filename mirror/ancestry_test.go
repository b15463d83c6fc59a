package mirror

import (
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/memory"
)

// commit stores a commit with the given parents and returns its hash.
func commit(t *testing.T, s *memory.Storage, msg string, parents ...plumbing.Hash) plumbing.Hash {
	t.Helper()
	sig := object.Signature{Name: "t", Email: "t@example.com", When: time.Unix(1700000000, 0)}
	c := &object.Commit{Author: sig, Committer: sig, Message: msg, TreeHash: plumbing.ZeroHash, ParentHashes: parents}
	obj := s.NewEncodedObject()
	if err := c.Encode(obj); err != nil {
		t.Fatal(err)
	}
	h, err := s.SetEncodedObject(obj)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestReaches(t *testing.T) {
	t.Parallel()
	s := memory.NewStorage()
	// main: c0 … c99; a merge of c99 and a side branch forked at c10; a divergent branch at c50.
	chain := []plumbing.Hash{commit(t, s, "c0")}
	for i := 1; i < 100; i++ {
		chain = append(chain, commit(t, s, "c", chain[i-1]))
	}
	side := commit(t, s, "side", chain[10])
	merge := commit(t, s, "merge", chain[99], side)
	fork := commit(t, s, "fork", chain[50])

	for _, tc := range []struct {
		name     string
		new, old plumbing.Hash
		want     bool
	}{
		{"one commit on top", chain[99], chain[98], true},
		{"a few commits on top", chain[99], chain[90], true},
		{"through the second parent of a merge", merge, side, true},
		{"beyond the bound: unknown, not an error", chain[99], chain[0], false},
		{"behind", chain[90], chain[99], false},
		{"diverged", fork, chain[60], false},
		{"same commit", chain[5], chain[5], false},
	} {
		got, err := reaches(s, tc.new, tc.old, fastWalk)
		if err != nil || got != tc.want {
			t.Errorf("%s: reaches() = %v, %v; want %v", tc.name, got, err, tc.want)
		}
	}
	if _, err := reaches(s, plumbing.NewHash("1111111111111111111111111111111111111111"), chain[0], fastWalk); err == nil {
		t.Error("reaches() from a missing commit: no error")
	}
}
