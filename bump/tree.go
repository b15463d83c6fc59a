package bump

import (
	"fmt"
	"path"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// storeBlob writes content as a blob object.
func storeBlob(s storer.EncodedObjectStorer, content []byte) (plumbing.Hash, error) {
	obj := s.NewEncodedObject()
	obj.SetType(plumbing.BlobObject)
	obj.SetSize(int64(len(content)))
	w, err := obj.Writer()
	if err != nil {
		return plumbing.ZeroHash, err
	}
	if _, err := w.Write(content); err != nil {
		return plumbing.ZeroHash, err
	}
	if err := w.Close(); err != nil {
		return plumbing.ZeroHash, err
	}
	return s.SetEncodedObject(obj)
}

type encoder interface {
	Encode(plumbing.EncodedObject) error
}

func storeObject(s storer.EncodedObjectStorer, o encoder) (plumbing.Hash, error) {
	obj := s.NewEncodedObject()
	if err := o.Encode(obj); err != nil {
		return plumbing.ZeroHash, err
	}
	return s.SetEncodedObject(obj)
}

// rewriteTree returns the hash of a tree equal to base except that the files (slash paths, all
// existing regular files) hold new content. Only the blobs and the trees on their paths are new
// objects; every other entry is reused by hash.
func rewriteTree(s storer.EncodedObjectStorer, base *object.Tree, files map[string][]byte) (plumbing.Hash, error) {
	direct := map[string][]byte{}
	nested := map[string]map[string][]byte{}
	for p, content := range files {
		dir, rest, ok := strings.Cut(p, "/")
		if !ok {
			direct[p] = content
			continue
		}
		if nested[dir] == nil {
			nested[dir] = map[string][]byte{}
		}
		nested[dir][rest] = content
	}
	entries := make([]object.TreeEntry, len(base.Entries))
	copy(entries, base.Entries)
	for i, e := range entries {
		switch {
		case direct[e.Name] != nil:
			if !regular(e.Mode) {
				return plumbing.ZeroHash, fmt.Errorf("%s is not a regular file", e.Name)
			}
			h, err := storeBlob(s, direct[e.Name])
			if err != nil {
				return plumbing.ZeroHash, err
			}
			entries[i].Hash = h
			delete(direct, e.Name)
		case nested[e.Name] != nil:
			if e.Mode != filemode.Dir {
				return plumbing.ZeroHash, fmt.Errorf("%s is not a directory", e.Name)
			}
			sub, err := object.GetTree(s, e.Hash)
			if err != nil {
				return plumbing.ZeroHash, err
			}
			h, err := rewriteTree(s, sub, nested[e.Name])
			if err != nil {
				return plumbing.ZeroHash, fmt.Errorf("%s/%w", e.Name, err)
			}
			entries[i].Hash = h
			delete(nested, e.Name)
		}
	}
	for p := range direct {
		return plumbing.ZeroHash, fmt.Errorf("%s: not in the tree", p)
	}
	for p := range nested {
		return plumbing.ZeroHash, fmt.Errorf("%s: not in the tree", path.Clean(p))
	}
	return storeObject(s, &object.Tree{Entries: entries})
}
