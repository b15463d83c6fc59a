package bump

import (
	"errors"
	"io"
	"io/fs"
	"path"
	"time"

	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// treeFS presents a git tree as a read-only fs.FS, so Plan reads a commit the way it reads a
// checkout, without a worktree. Links are never followed: Stat describes a link itself (as
// Lstat does), and opening one is an error, so a link's text is never read as a file.
type treeFS struct {
	root *object.Tree
}

var (
	_ fs.FS         = treeFS{}
	_ fs.ReadDirFS  = treeFS{}
	_ fs.StatFS     = treeFS{}
	_ fs.ReadLinkFS = treeFS{}
)

// regular reports whether a tree entry is a file whose bytes are its content (not a link, whose
// blob is the target's path, nor a submodule).
func regular(m filemode.FileMode) bool {
	return m == filemode.Regular || m == filemode.Executable || m == filemode.Deprecated
}

func (t treeFS) entry(name string) (*object.TreeEntry, error) {
	if !fs.ValidPath(name) {
		return nil, fs.ErrInvalid
	}
	if name == "." {
		return &object.TreeEntry{Name: ".", Mode: filemode.Dir, Hash: t.root.Hash}, nil
	}
	e, err := t.root.FindEntry(name)
	if err != nil {
		return nil, fs.ErrNotExist
	}
	return e, nil
}

func (t treeFS) Stat(name string) (fs.FileInfo, error) {
	e, err := t.entry(name)
	if err != nil {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: err}
	}
	info := entryInfo{name: path.Base(name), mode: e.Mode}
	if regular(e.Mode) {
		if info.size, err = t.root.Size(name); err != nil { // the object's header: no blob read
			return nil, &fs.PathError{Op: "stat", Path: name, Err: err}
		}
	}
	return info, nil
}

func (t treeFS) Open(name string) (fs.File, error) {
	e, err := t.entry(name)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	if e.Mode == filemode.Dir {
		return &treeDir{info: entryInfo{name: path.Base(name), mode: e.Mode}}, nil
	}
	if !regular(e.Mode) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: errors.New("not a regular file (submodule or symlink)")}
	}
	f, err := t.root.TreeEntryFile(e)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	r, err := f.Reader()
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	return &treeFile{ReadCloser: r, info: entryInfo{name: path.Base(name), mode: e.Mode, size: f.Size}}, nil
}

// Lstat is Stat: no link is ever followed.
func (t treeFS) Lstat(name string) (fs.FileInfo, error) { return t.Stat(name) }

// ReadLink returns a link's target, as git stores it (the blob of the entry).
func (t treeFS) ReadLink(name string) (string, error) {
	e, err := t.entry(name)
	if err == nil && e.Mode != filemode.Symlink {
		err = errors.New("not a symbolic link")
	}
	if err != nil {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: err}
	}
	f, err := t.root.TreeEntryFile(e)
	if err != nil {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: err}
	}
	target, err := f.Contents()
	if err != nil {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: err}
	}
	return target, nil
}

func (t treeFS) ReadDir(name string) ([]fs.DirEntry, error) {
	sub := t.root
	if name != "." {
		var err error
		if sub, err = t.root.Tree(name); err != nil {
			return nil, &fs.PathError{Op: "readdir", Path: name, Err: fs.ErrNotExist}
		}
	}
	out := make([]fs.DirEntry, 0, len(sub.Entries))
	for _, e := range sub.Entries {
		out = append(out, fs.FileInfoToDirEntry(entryInfo{name: e.Name, mode: e.Mode}))
	}
	return out, nil
}

type entryInfo struct {
	name string
	mode filemode.FileMode
	size int64
}

func (i entryInfo) Name() string       { return i.name }
func (i entryInfo) Size() int64        { return i.size }
func (i entryInfo) ModTime() time.Time { return time.Time{} }
func (i entryInfo) IsDir() bool        { return i.mode == filemode.Dir }
func (i entryInfo) Sys() any           { return nil }
func (i entryInfo) Mode() fs.FileMode {
	if i.IsDir() {
		return fs.ModeDir | 0o755
	}
	m, _ := i.mode.ToOSFileMode()
	return m
}

type treeFile struct {
	io.ReadCloser
	info entryInfo
}

func (f *treeFile) Stat() (fs.FileInfo, error) { return f.info, nil }

type treeDir struct{ info entryInfo }

func (d *treeDir) Stat() (fs.FileInfo, error) { return d.info, nil }
func (d *treeDir) Read([]byte) (int, error)   { return 0, errors.New("is a directory") }
func (d *treeDir) Close() error               { return nil }
