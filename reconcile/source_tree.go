package reconcile

import (
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"sigs.k8s.io/kustomize/api/konfig"
	"sigs.k8s.io/yaml"

	"github.com/tagrelay/tagrelay/internal/errdefs"
)

// A sync reads into memory only the files of its app's path, and the files outside it that the
// path refers to (a Kustomize overlay's ../base, a patch, a Helm chart's file:// dependency, a
// values file): never the whole commit. What it reads is bounded (SourceLimits), so a repository
// that grew a vendored directory or a hostile one fails that one sync, not the process.

// DefaultMaxSourceBytes and DefaultMaxSourceFiles bound what one sync reads from its commit.
const (
	DefaultMaxSourceBytes = 8 << 20
	DefaultMaxSourceFiles = 5000
)

// ErrSourceTooLarge: the app's path (with what it refers to) holds more bytes or files than
// the reconciler reads for one sync. It is an input error: nothing was applied.
var ErrSourceTooLarge = errors.New("source too large")

// SourceLimits bound what one sync reads from its commit. Zero fields take the defaults.
type SourceLimits struct {
	// MaxBytes bounds the bytes of the files read. Default: DefaultMaxSourceBytes (8 MiB).
	MaxBytes int64
	// MaxFiles bounds the number of files read. Default: DefaultMaxSourceFiles (5,000).
	MaxFiles int
}

func (l SourceLimits) withDefaults() SourceLimits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxSourceBytes
	}
	if l.MaxFiles <= 0 {
		l.MaxFiles = DefaultMaxSourceFiles
	}
	return l
}

// maxReferenceRounds bounds how many times references are followed out of the files read
// (overlay → base → its base …).
const maxReferenceRounds = 16

// treeReader reads the files of some directories of one commit's tree, within limits.
type treeReader struct {
	tree   *object.Tree
	limits SourceLimits
	app    string // the app, for messages
	files  map[string][]byte
	roots  map[string]bool // directories and files read (or being read), slash paths, "" = root
	bytes  int64
}

// readSource returns the files of the app's path in commit and of the paths they refer to.
func readSource(commit *object.Commit, app App, limits SourceLimits) (map[string][]byte, error) {
	tree, err := commit.Tree()
	if err != nil {
		return nil, err
	}
	tr := &treeReader{tree: tree, limits: limits.withDefaults(), app: app.Name, files: map[string][]byte{}, roots: map[string]bool{}}
	pending := []string{app.Path}
	for _, v := range app.ValuesFiles {
		pending = append(pending, path.Join(app.Path, v))
	}
	for round := 0; len(pending) > 0 && round < maxReferenceRounds; round++ {
		var read []string
		for _, p := range pending {
			got, err := tr.add(p)
			if err != nil {
				return nil, err
			}
			read = append(read, got...)
		}
		pending = tr.references(read)
	}
	return tr.files, nil
}

// add reads p (a directory, recursively, or a file) unless it lies under what was read; it
// returns the paths of the files it read. A path absent from the tree reads nothing.
func (tr *treeReader) add(p string) ([]string, error) {
	p = strings.Trim(path.Clean("/"+p), "/")
	if tr.covered(p) {
		return nil, nil
	}
	tr.roots[p] = true
	if p != "" {
		entry, err := tr.tree.FindEntry(p)
		if err != nil {
			return nil, nil // not in the commit: render says what is missing
		}
		if entry.Mode != filemode.Dir {
			f, err := tr.tree.File(p)
			if err != nil {
				return nil, nil
			}
			return tr.read(f)
		}
	}
	dir := tr.tree
	if p != "" {
		var err error
		if dir, err = tr.tree.Tree(p); err != nil {
			return nil, err
		}
	}
	var read []string
	err := dir.Files().ForEach(func(f *object.File) error {
		f.Name = path.Join(p, f.Name)
		got, err := tr.read(f)
		read = append(read, got...)
		return err
	})
	return read, err
}

// covered reports whether p lies at or under a path already read.
func (tr *treeReader) covered(p string) bool {
	for q := p; ; q = path.Dir(q) {
		if q == "." {
			q = ""
		}
		if tr.roots[q] {
			return true
		}
		if q == "" {
			return false
		}
	}
}

// read reads one file, counting it against the limits. Blobs that cannot be manifests
// (symlinks, submodules, files over maxFileSize) are skipped, as before.
func (tr *treeReader) read(f *object.File) ([]string, error) {
	if _, done := tr.files[f.Name]; done || f.Mode != filemode.Regular && f.Mode != filemode.Executable || f.Size > maxFileSize {
		return nil, nil
	}
	if len(tr.files) >= tr.limits.MaxFiles {
		return nil, tr.tooLarge(fmt.Sprintf("more than %d files", tr.limits.MaxFiles))
	}
	if tr.bytes+f.Size > tr.limits.MaxBytes {
		return nil, tr.tooLarge(fmt.Sprintf("more than %d bytes (at %s)", tr.limits.MaxBytes, f.Name))
	}
	r, err := f.Reader()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	b, err := io.ReadAll(io.LimitReader(r, f.Size))
	if err != nil {
		return nil, err
	}
	tr.bytes += int64(len(b))
	tr.files[f.Name] = b
	return []string{f.Name}, nil
}

func (tr *treeReader) tooLarge(what string) error {
	return errdefs.WithHint(errdefs.Invalid(fmt.Errorf("%w: app %s: its path and what it refers to hold %s", ErrSourceTooLarge, tr.app, what)),
		"keep large or unrelated files out of the app's path, or raise --max-source-bytes / --max-source-files")
}

// references returns the paths outside what was read that the kustomization files and the
// Helm charts among files refer to: every relative path a kustomization mentions (resources,
// bases, components, patches, generators' files…) and file:// chart dependencies.
func (tr *treeReader) references(files []string) []string {
	seen := map[string]bool{}
	var out []string
	add := func(dir, ref string) {
		if ref == "" || strings.Contains(ref, "://") || strings.HasPrefix(ref, "/") || strings.ContainsAny(ref, "\n{}") {
			return
		}
		p := path.Join(dir, ref)
		if p == ".." || strings.HasPrefix(p, "../") || seen[p] || tr.covered(p) {
			return
		}
		seen[p] = true
		out = append(out, p)
	}
	kustomizations := map[string]bool{}
	for _, n := range konfig.RecognizedKustomizationFileNames() {
		kustomizations[n] = true
	}
	for _, name := range files {
		dir, base := path.Dir(name), path.Base(name)
		switch {
		case kustomizations[base]:
			var doc any
			if yaml.Unmarshal(tr.files[name], &doc) == nil {
				walkStrings(doc, func(s string) {
					_, file, _ := strings.Cut(s, "=") // configMapGenerator files: KEY=PATH
					if file == "" {
						file = s
					}
					add(dir, file)
				})
			}
		case base == "Chart.yaml":
			var chart struct {
				Dependencies []struct{ Repository string } `json:"dependencies"`
			}
			if yaml.Unmarshal(tr.files[name], &chart) == nil {
				for _, d := range chart.Dependencies {
					if p, ok := strings.CutPrefix(d.Repository, "file://"); ok {
						add(dir, p)
					}
				}
			}
		}
	}
	sort.Strings(out)
	return out
}

// walkStrings calls fn with every string in a decoded YAML document.
func walkStrings(v any, fn func(string)) {
	switch v := v.(type) {
	case string:
		fn(v)
	case []any:
		for _, x := range v {
			walkStrings(x, fn)
		}
	case map[string]any:
		for _, x := range v {
			walkStrings(x, fn)
		}
	}
}
