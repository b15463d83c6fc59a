package bump

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/aymanbagabas/go-udiff"

	"github.com/tagrelay/tagrelay/internal/errdefs"
)

// File is one file the plan changes.
type File struct {
	Path    string   `json:"path"`
	Kind    Kind     `json:"kind"`
	Changes []Change `json:"changes"`
	// Patch is the unified diff, filled in for dry runs.
	Patch string `json:"diff,omitempty"`
	Old   []byte `json:"-"`
	New   []byte `json:"-"`
}

// Diff returns the unified diff of the file's change.
func (f *File) Diff() string {
	return udiff.Unified("a/"+f.Path, "b/"+f.Path, string(f.Old), string(f.New))
}

// Result is what a bump changes (or would change).
type Result struct {
	// Files are the changed files, in path order.
	Files []*File `json:"files"`
	// Unchanged lists the targets found but already at their tag.
	Unchanged []string `json:"unchanged,omitempty"`
	// Scanned is the number of files read.
	Scanned int `json:"scanned"`
}

// Changes returns every change of every file.
func (r *Result) Changes() []Change {
	var all []Change
	for _, f := range r.Files {
		all = append(all, f.Changes...)
	}
	return all
}

// Diff returns the unified diff of all files and records each file's in its Patch.
func (r *Result) Diff() string {
	var b strings.Builder
	for _, f := range r.Files {
		f.Patch = f.Diff()
		b.WriteString(f.Patch)
	}
	return b.String()
}

// Plan computes the edit of paths (files, or directories whose YAML files are all considered)
// inside fsys for targets. It reads and changes nothing outside memory. Symbolic links are never
// followed: a path that is or goes through one is ErrSymlink, and a directory walk passes them by.
//
// It returns ErrNoTarget without targets, ErrImageNotFound when a target appears in none of the
// files, ErrUnchanged (with the result) when every target is already current, ErrInvalidYAML for a
// file that does not parse, ErrPinnedDigest when a pinned digest would be left stale, ErrSymlink
// and ErrOutsideTree for paths that are not plain files and directories inside fsys.
func Plan(fsys fs.FS, paths []string, targets []Target, kind Kind) (*Result, error) {
	prepared, err := prepareAll(targets)
	if err != nil {
		return nil, err
	}
	files, dirMode, err := collect(fsys, paths)
	if err != nil {
		return nil, err
	}
	res := &Result{}
	found := make([]bool, len(targets))
	for _, p := range files {
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", p, err)
		}
		if dirMode[p] && !screen(b, prepared) {
			continue
		}
		res.Scanned++
		f, fileFound, err := rewriteVerified(p, b, kind, prepared)
		if err != nil {
			if dirMode[p] && errors.Is(err, ErrInvalidYAML) && bytes.Contains(b, []byte("{{")) {
				continue // a Helm or Go template below the directory, not YAML
			}
			return nil, err
		}
		for i, ok := range fileFound {
			found[i] = found[i] || ok
		}
		if f != nil {
			res.Files = append(res.Files, f)
		}
	}
	if err := notFound(targets, found, paths, res.Scanned); err != nil {
		return nil, err
	}
	changed := map[string]bool{}
	for _, c := range res.Changes() {
		changed[c.Image] = true
	}
	for _, t := range targets {
		if !changed[t.Image] {
			res.Unchanged = append(res.Unchanged, t.String())
		}
	}
	if len(res.Files) == 0 {
		return res, fmt.Errorf("%w: %s in %s; nothing was written", ErrUnchanged, strings.Join(res.Unchanged, ", "), strings.Join(paths, ", "))
	}
	return res, nil
}

func notFound(targets []Target, found []bool, paths []string, scanned int) error {
	var missing []string
	for i, ok := range found {
		if !ok {
			missing = append(missing, targets[i].Image)
			if targets[i].Key != "" {
				missing[len(missing)-1] += " (at key " + targets[i].Key + ")"
			}
		}
	}
	if len(missing) == 0 {
		return nil
	}
	where := strings.Join(paths, ", ")
	if scanned != 1 {
		where = fmt.Sprintf("%s (%d files read)", where, scanned)
	}
	return fmt.Errorf("%w: %s in %s; nothing was written", ErrImageNotFound, strings.Join(missing, ", "), where)
}

// screen is the cheap check applied to files found by walking a directory: a file that refers to
// an image contains the last segment of its repository.
func screen(b []byte, targets []target) bool {
	for i := range targets {
		if targets[i].Key != "" || bytes.Contains(b, []byte(targets[i].lastSegment())) {
			return true
		}
	}
	return false
}

// collect expands paths into files. Files named explicitly are always read; below a directory,
// YAML files (*.yaml, *.yml, Kustomization) are, except in hidden directories (.git). Links are
// refused when named and passed by in a walk, as is anything else that is not a regular file.
func collect(fsys fs.FS, paths []string) (files []string, dirMode map[string]bool, err error) {
	dirMode = map[string]bool{}
	seen := map[string]bool{}
	for _, p := range paths {
		p = path.Clean(strings.TrimPrefix(p, "./"))
		st, err := lstatPath(fsys, p)
		if err != nil {
			return nil, nil, err
		}
		if !st.IsDir() {
			if !seen[p] {
				files = append(files, p)
				seen[p] = true
			}
			continue
		}
		err = fs.WalkDir(fsys, p, func(q string, d fs.DirEntry, err error) error {
			switch {
			case err != nil:
				return err
			case d.IsDir():
				if q != p && strings.HasPrefix(d.Name(), ".") {
					return fs.SkipDir
				}
			case d.Type().IsRegular() && isYAMLName(d.Name()) && !seen[q]:
				files = append(files, q)
				seen[q] = true
				dirMode[q] = true
			}
			return nil
		})
		if err != nil {
			return nil, nil, fmt.Errorf("walking %s: %w", p, err)
		}
	}
	sort.Strings(files)
	return files, dirMode, nil
}

// lstatPath describes p, a regular file or a directory inside fsys, checking each of its
// directories on the way: none may be a symbolic link.
func lstatPath(fsys fs.FS, p string) (fs.FileInfo, error) {
	if !fs.ValidPath(p) {
		return nil, fmt.Errorf("%w: %s", ErrOutsideTree, p)
	}
	var st fs.FileInfo
	for i := 0; i <= len(p); i++ {
		if i < len(p) && p[i] != '/' {
			continue
		}
		var err error
		switch st, err = fs.Lstat(fsys, p[:i]); {
		case errors.Is(err, fs.ErrNotExist):
			return nil, errdefs.Invalid(fmt.Errorf("%s: no such file or directory", p))
		case err != nil:
			return nil, fmt.Errorf("reading %s: %w", p, err)
		case st.Mode()&fs.ModeSymlink != 0:
			where := p[:i]
			if where != p {
				where += " (on the way to " + p + ")"
			}
			return nil, fmt.Errorf("%s is a %w; bump edits regular files only and never follows a link", where, ErrSymlink)
		case !st.IsDir() && i < len(p):
			return nil, errdefs.Invalid(fmt.Errorf("%s: %s is not a directory", p, p[:i]))
		case !st.IsDir() && !st.Mode().IsRegular():
			return nil, errdefs.Invalid(fmt.Errorf("%s: not a regular file (%s)", p, st.Mode().Type()))
		}
	}
	return st, nil
}

func isYAMLName(n string) bool {
	return strings.HasSuffix(n, ".yaml") || strings.HasSuffix(n, ".yml") || n == "Kustomization"
}

// Rewrite edits one file's bytes for targets. It returns the changed file (nil when nothing
// changes) and, per target, whether the image was found in the file. The output is verified
// before it is returned: it parses, and rewriting it again changes nothing.
func Rewrite(p string, b []byte, kind Kind, targets []Target) (*File, []bool, error) {
	prepared, err := prepareAll(targets)
	if err != nil {
		return nil, nil, err
	}
	return rewriteVerified(p, b, kind, prepared)
}

func rewriteVerified(p string, b []byte, kind Kind, targets []target) (*File, []bool, error) {
	r, err := rewrite(p, b, kind, targets)
	if err != nil || len(r.changes) == 0 {
		return nil, r.found, err
	}
	// Verify: the new bytes parse and are a fixed point.
	if again, err := rewrite(p, r.out, r.kind, targets); err != nil || len(again.changes) != 0 {
		return nil, r.found, fmt.Errorf("%s: internal error: the rewritten file does not verify (%v, %d more changes); nothing was written", p, err, len(again.changes))
	}
	return &File{Path: p, Kind: r.kind, Changes: r.changes, Old: b, New: r.out}, r.found, nil
}

// rewritten is one pass of the rewriter over a file.
type rewritten struct {
	out     []byte   // the new bytes
	changes []Change // what changed, in file order
	kind    Kind     // the kind the file was read as (detected in auto mode)
	found   []bool   // per target: the image was seen in the file
}

func rewrite(p string, b []byte, kind Kind, targets []target) (rewritten, error) {
	r, kind, err := match(p, b, kind, targets)
	res := rewritten{kind: kind}
	if r != nil {
		res.found = r.found
	}
	if err != nil {
		return res, err
	}
	res.out, res.changes, err = r.apply()
	return res, err
}

// match parses b and collects the edits for targets without applying them.
func match(p string, b []byte, kind Kind, targets []target) (*rewriter, Kind, error) {
	src, err := parseSource(b)
	if err != nil {
		return nil, kind, fmt.Errorf("%w: %s: %v", ErrInvalidYAML, p, strings.TrimPrefix(err.Error(), "parsing YAML: yaml: "))
	}
	if kind == KindAuto || kind == "" {
		kind = detectKind(p, src)
	}
	r := &rewriter{src: src, path: p, targets: targets, found: make([]bool, len(targets))}
	for ti, t := range targets {
		for _, doc := range src.docs {
			switch {
			case t.Key != "":
				r.key(doc, ti)
			case kind == KindKustomize:
				r.kustomize(doc, ti)
			case kind == KindManifest:
				r.manifest(doc, ti)
			default:
				r.helm(docRoot(doc), ti)
			}
		}
	}
	return r, kind, r.err
}
