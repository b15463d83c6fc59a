package bump

import (
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// Kind is the kind of file being edited.
type Kind string

// The kinds of files bump edits.
const (
	// KindAuto detects the kind per file: kustomization files by name or kind, Kubernetes
	// manifests by apiVersion/kind, Helm values otherwise.
	KindAuto Kind = "auto"
	// KindKustomize edits the images: entries of a kustomization (newTag, digest).
	KindKustomize Kind = "kustomize"
	// KindHelm edits Helm values: image maps (registry/repository/tag) and image strings.
	KindHelm Kind = "helm"
	// KindManifest edits the image of every container, init container and ephemeral container.
	KindManifest Kind = "manifest"
)

// ParseKind validates a --kind value.
func ParseKind(s string) (Kind, error) {
	switch k := Kind(strings.ToLower(s)); k {
	case "", KindAuto:
		return KindAuto, nil
	case KindKustomize, KindHelm, KindManifest:
		return k, nil
	}
	return "", fmt.Errorf("%w: unknown kind %q (want auto, kustomize, helm or manifest)", ErrInvalidYAML, s)
}

// Change is one value changed in a file.
type Change struct {
	Path  string `json:"path"`
	Line  int    `json:"line"`
	Image string `json:"image"`
	// Field is what changed: "tag" (a tag inside an image string), "newTag", "digest", or the
	// Helm key ("tag", "imageTag", or the target's Key).
	Field string `json:"field"`
	From  string `json:"from"`
	To    string `json:"to"`
}

// edit is one splice on the original bytes and the change it makes.
type edit struct {
	start, end int
	text       string
	change     Change
}

// rewriter edits one file for a set of targets.
type rewriter struct {
	src     *source
	path    string
	targets []target
	edits   []edit
	found   []bool // per target: the image was seen in this file
	err     error  // first error; matching stops reporting after it
}

func (r *rewriter) fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

// pinned fails the rewrite of an image pinned to digest (at line) when the target has no new
// digest: changing its tag alone would deploy the same image.
func (r *rewriter) pinned(line int, image, digest, where string) {
	r.fail(fmt.Errorf("%w: %s:%d: %s is pinned to %s%s; a tag-only bump would not change what runs", ErrPinnedDigest, r.path, line, image, digest, where))
}

// setScalar makes scalar n hold value. A plain scalar that would not read back as a string gets
// double quotes; quoted scalars keep their quotes.
func (r *rewriter) setScalar(n *yaml.Node, value, field string, ti int) {
	r.found[ti] = true
	if n.Kind == yaml.AliasNode && n.Alias != nil && n.Alias.Value == value {
		return
	}
	if n.Kind != yaml.AliasNode && n.Value == value && !(n.Style == 0 && needsQuotes(value)) {
		return
	}
	if n.Kind == yaml.AliasNode || n.Anchor != "" {
		r.fail(fmt.Errorf("%w: %s:%d: %s uses a YAML anchor or alias; edit it where it is defined", ErrUnsupported, r.path, n.Line, field))
		return
	}
	sp, err := r.src.scalarSpan(n)
	if err != nil {
		r.fail(fmt.Errorf("%w: %s:%w", ErrUnsupported, r.path, err))
		return
	}
	text := value
	if sp.quote == 0 && needsQuotes(value) {
		text = `"` + value + `"`
	}
	r.add(sp.start, sp.end, text, Change{Line: n.Line, Image: r.targets[ti].Image, Field: field, From: n.Value, To: value})
}

// setNull gives a value to key k whose value is empty ("tag:" or "tag: ~"), writing after the colon.
func (r *rewriter) setNull(k, v *yaml.Node, value, field string, ti int) {
	r.found[ti] = true
	if v.Value != "" {
		// "~" or "null": an ordinary scalar replacement.
		r.setScalar(v, value, field, ti)
		return
	}
	ksp, err := r.src.scalarSpan(k)
	if err != nil {
		r.fail(fmt.Errorf("%w: %s:%w", ErrUnsupported, r.path, err))
		return
	}
	end := ksp.end
	if ksp.quote != 0 {
		end++
	}
	colon := strings.IndexByte(string(r.src.b[end:min(end+64, len(r.src.b))]), ':')
	if colon < 0 {
		r.fail(fmt.Errorf("%w: %s:%d: no ':' after key %q", ErrUnsupported, r.path, k.Line, k.Value))
		return
	}
	at := end + colon + 1
	text := " " + value
	if needsQuotes(value) {
		text = ` "` + value + `"`
	}
	r.add(at, at, text, Change{Line: k.Line, Image: r.targets[ti].Image, Field: field, From: "", To: value})
}

// setImageString points an image string ("repo", "repo:tag", "repo:tag@digest") at the target's
// tag, and at its digest when the target has one. Only the bytes that differ are replaced.
func (r *rewriter) setImageString(n *yaml.Node, ti int, field string) {
	t := r.targets[ti]
	ref := splitImage(n.Value)
	if _, err := name.ParseReference(n.Value); err != nil {
		r.found[ti] = true
		r.fail(fmt.Errorf("%w: %s:%d: %q is not a valid image reference; fix it by hand", ErrUnsupported, r.path, n.Line, n.Value))
		return
	}
	if ref.digest != "" && t.Digest == "" {
		r.found[ti] = true
		r.pinned(n.Line, t.Image, ref.digest, "")
		return
	}
	value := ref.repo + ":" + t.Tag
	if t.Digest != "" {
		value += "@" + t.Digest
	}
	from := ref.tag
	if ref.digest != "" {
		from += "@" + ref.digest
	}
	r.setScalarMinimal(n, value, ti, Change{Line: n.Line, Image: t.Image, Field: field, From: from, To: strings.TrimPrefix(value, ref.repo+":")})
}

// setScalarMinimal replaces the scalar with value but splices only the differing middle.
func (r *rewriter) setScalarMinimal(n *yaml.Node, value string, ti int, ch Change) {
	r.found[ti] = true
	if n.Value == value {
		return
	}
	sp, err := r.src.scalarSpan(n)
	if err != nil {
		r.fail(fmt.Errorf("%w: %s:%w", ErrUnsupported, r.path, err))
		return
	}
	if sp.quote == 0 && needsQuotes(value) {
		r.add(sp.start, sp.end, `"`+value+`"`, ch)
		return
	}
	old := n.Value
	p := 0
	for p < len(old) && p < len(value) && old[p] == value[p] {
		p++
	}
	s := 0
	for s < len(old)-p && s < len(value)-p && old[len(old)-1-s] == value[len(value)-1-s] {
		s++
	}
	r.add(sp.start+p, sp.end-s, value[p:len(value)-s], ch)
}

// insertKey adds "key: value" as a new sibling of the mapping entry whose value is after: on the
// next line at the same indentation as the mapping's keys (block style), or as ", key: value"
// inside a flow mapping.
func (r *rewriter) insertKey(m, after *yaml.Node, key, value string, ti int) {
	r.found[ti] = true
	sp, err := r.src.scalarSpan(after)
	if err != nil {
		r.fail(fmt.Errorf("%w: %s:%w", ErrUnsupported, r.path, err))
		return
	}
	end := sp.end
	if sp.quote != 0 {
		end++
	}
	if needsQuotes(value) {
		value = `"` + value + `"`
	}
	ch := Change{Line: after.Line + 1, Image: r.targets[ti].Image, Field: key, From: "", To: strings.Trim(value, `"`)}
	if m.Style&yaml.FlowStyle != 0 {
		ch.Line = after.Line
		r.add(end, end, ", "+key+": "+value, ch)
		return
	}
	indent := strings.Repeat(" ", m.Content[0].Column-1)
	at, eol := r.src.lineEnd(end)
	if at == len(r.src.b) && (at == 0 || r.src.b[at-1] != '\n') {
		// Last line without a final newline: keep it without one.
		r.add(at, at, eol+indent+key+": "+value, ch)
		return
	}
	r.add(at, at, indent+key+": "+value+eol, ch)
}

func (r *rewriter) add(start, end int, text string, ch Change) {
	ch.Path = r.path
	r.edits = append(r.edits, edit{start: start, end: end, text: text, change: ch})
}

// apply returns the source with the edits spliced in. Two edits of the same bytes (a value
// matched by two rules) must agree; overlapping different edits are a bug, reported as such.
func (r *rewriter) apply() ([]byte, []Change, error) {
	sort.SliceStable(r.edits, func(i, j int) bool { return r.edits[i].start < r.edits[j].start })
	var out []byte
	var changes []Change
	pos := 0
	for i, e := range r.edits {
		if i > 0 && e.start == r.edits[i-1].start && e.end == r.edits[i-1].end && e.text == r.edits[i-1].text {
			continue
		}
		if e.start < pos {
			return nil, nil, fmt.Errorf("%s: overlapping edits at byte %d", r.path, e.start)
		}
		out = append(out, r.src.b[pos:e.start]...)
		out = append(out, e.text...)
		pos = e.end
		changes = append(changes, e.change)
	}
	out = append(out, r.src.b[pos:]...)
	return out, changes, nil
}

// detectKind decides how to read a file in auto mode.
func detectKind(p string, src *source) Kind {
	switch path.Base(p) {
	case "kustomization.yaml", "kustomization.yml", "Kustomization":
		return KindKustomize
	}
	for _, doc := range src.docs {
		root := docRoot(doc)
		if scalarValue(root, "kind") == "Kustomization" && strings.HasPrefix(scalarValue(root, "apiVersion"), "kustomize.config.k8s.io/") {
			return KindKustomize
		}
		if scalarValue(root, "apiVersion") != "" && scalarValue(root, "kind") != "" {
			return KindManifest
		}
	}
	return KindHelm
}

func docRoot(doc *yaml.Node) *yaml.Node {
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		return doc.Content[0]
	}
	return doc
}
