package bump

import (
	"fmt"
	"strconv"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// kustomize edits the images: list of a kustomization. Entries match on name; when no entry's
// name matches, on newName (the image actually deployed). An image that is not listed is not
// found: it is never appended, since a name that no resource uses would change nothing.
func (r *rewriter) kustomize(doc *yaml.Node, ti int) {
	_, images := mapValue(docRoot(doc), "images")
	if images == nil || images.Kind != yaml.SequenceNode {
		return
	}
	t := r.targets[ti]
	for _, byKey := range []string{"name", "newName"} {
		matched := false
		for _, e := range images.Content {
			if e.Kind != yaml.MappingNode || !t.matches(scalarValue(e, byKey)) {
				continue
			}
			matched = true
			r.kustomizeEntry(e, ti)
		}
		if matched {
			return
		}
	}
}

func (r *rewriter) kustomizeEntry(e *yaml.Node, ti int) {
	t := r.targets[ti]
	r.found[ti] = true
	dk, dv := mapValue(e, "digest")
	pinned := dv != nil && dv.Value != ""
	if pinned && t.Digest == "" {
		r.pinned(dv.Line, t.Image, dv.Value, " in images:")
		return
	}
	last := e.Content[len(e.Content)-1]
	if k, v := mapValue(e, "newTag"); v != nil {
		if v.Kind == yaml.ScalarNode && v.Value == "" && v.Style == 0 {
			r.setNull(k, v, t.Tag, "newTag", ti)
		} else {
			r.setScalar(v, t.Tag, "newTag", ti)
		}
	} else {
		r.insertKey(e, last, "newTag", t.Tag, ti)
	}
	if t.Digest == "" {
		return
	}
	if dv != nil {
		if dv.Value == "" && dv.Style == 0 {
			r.setNull(dk, dv, t.Digest, "digest", ti)
		} else {
			r.setScalar(dv, t.Digest, "digest", ti)
		}
		return
	}
	r.insertKey(e, last, "digest", t.Digest, ti)
}

// manifest edits the image of every container, init container and ephemeral container in the
// document, whatever the workload kind (pod templates nest at different depths in Deployments,
// CronJobs and custom resources). Helm values embedded in a HelmRelease are edited as Helm values.
func (r *rewriter) manifest(doc *yaml.Node, ti int) {
	root := docRoot(doc)
	walk(root, "", func(n *yaml.Node, key string) {
		if n.Kind != yaml.SequenceNode || (key != "containers" && key != "initContainers" && key != "ephemeralContainers") {
			return
		}
		for _, c := range n.Content {
			if _, img := mapValue(c, "image"); img != nil && img.Kind == yaml.ScalarNode && r.targets[ti].matches(splitImage(img.Value).repo) {
				r.setImageString(img, ti, "tag")
			}
		}
	})
	if scalarValue(root, "kind") == "HelmRelease" {
		_, spec := mapValue(root, "spec")
		if _, values := mapValue(spec, "values"); values != nil {
			r.helm(values, ti)
		}
	}
}

// tagKeys are the keys that hold the tag in a Helm image map, in order of preference.
var tagKeys = []string{"tag", "imageTag"}

// helm edits Helm values: maps whose repository (joined with a sibling registry), or image/name
// when a tag key sits beside it, is the target get their tag set; image strings ("repo:tag")
// under keys named image or *Image get their tag part set.
func (r *rewriter) helm(root *yaml.Node, ti int) {
	t := r.targets[ti]
	walk(root, "", func(m *yaml.Node, _ string) {
		if m.Kind != yaml.MappingNode {
			return
		}
		consumed := r.helmMap(m, ti)
		for i := 0; i+1 < len(m.Content); i += 2 {
			k, v := m.Content[i], m.Content[i+1]
			if v.Kind != yaml.ScalarNode || consumed == k.Value || !strings.HasSuffix(strings.ToLower(k.Value), "image") {
				continue
			}
			if t.matches(splitImage(v.Value).repo) {
				r.setImageString(v, ti, k.Value)
			}
		}
	})
}

// helmMap handles one image map and returns the key holding its repository when it matched.
func (r *rewriter) helmMap(m *yaml.Node, ti int) string {
	t := r.targets[ti]
	repoKey := ""
	repo := ""
	var tagK, tagV *yaml.Node
	tagField := ""
	for _, k := range tagKeys {
		if tagK, tagV = mapValue(m, k); tagV != nil {
			tagField = k
			break
		}
	}
	switch {
	case scalarValue(m, "repository") != "":
		repoKey, repo = "repository", scalarValue(m, "repository")
		if reg := scalarValue(m, "registry"); reg != "" {
			repo = strings.TrimSuffix(reg, "/") + "/" + repo
		}
	case tagV != nil && scalarValue(m, "image") != "":
		repoKey, repo = "image", splitImage(scalarValue(m, "image")).repo
	case tagV != nil && scalarValue(m, "name") != "":
		repoKey, repo = "name", scalarValue(m, "name")
	default:
		return ""
	}
	if !t.matches(repo) {
		return ""
	}
	r.found[ti] = true
	dk, dv := mapValue(m, "digest")
	if dv != nil && dv.Kind == yaml.ScalarNode && dv.Value != "" && t.Digest == "" {
		r.pinned(dv.Line, t.Image, dv.Value, "")
		return repoKey
	}
	switch {
	case tagV == nil:
		_, rv := mapValue(m, repoKey)
		r.insertKey(m, rv, "tag", t.Tag, ti)
	case tagV.Kind != yaml.ScalarNode && tagV.Kind != yaml.AliasNode:
		r.fail(fmt.Errorf("%w: %s:%d: %s is not a scalar", ErrUnsupported, r.path, tagV.Line, tagField))
	case tagV.Value == "" && tagV.Style == 0:
		r.setNull(tagK, tagV, t.Tag, tagField, ti)
	default:
		r.setScalar(tagV, t.Tag, tagField, ti)
	}
	if t.Digest != "" && dv != nil && dv.Kind == yaml.ScalarNode {
		if dv.Value == "" && dv.Style == 0 {
			r.setNull(dk, dv, t.Digest, "digest", ti)
		} else {
			r.setScalar(dv, t.Digest, "digest", ti)
		}
	}
	return repoKey
}

// key edits the one node at a dotted path. A node holding an image string ("repo:tag") gets its
// tag part set, after checking the repository is the target's; a node holding a bare tag is
// replaced. "\." escapes a dot inside a key; a number indexes a sequence.
func (r *rewriter) key(doc *yaml.Node, ti int) {
	t := r.targets[ti]
	n := docRoot(doc)
	var parent, keyNode *yaml.Node
	for _, part := range splitKey(t.Key) {
		parent = n
		switch n.Kind {
		case yaml.MappingNode:
			keyNode, n = mapValue(n, part)
		case yaml.SequenceNode:
			i, err := strconv.Atoi(part)
			if err != nil || i < 0 || i >= len(n.Content) {
				return
			}
			keyNode, n = nil, n.Content[i]
		default:
			return
		}
		if n == nil {
			return
		}
	}
	if n.Kind != yaml.ScalarNode {
		r.found[ti] = true
		r.fail(fmt.Errorf("%w: %s:%d: key %s holds a %s, not a tag or image", ErrUnsupported, r.path, n.Line, t.Key, kindName(n.Kind)))
		return
	}
	if ref := splitImage(n.Value); n.Value == t.Image || strings.ContainsAny(n.Value, ":/@") {
		if !t.matches(ref.repo) {
			r.found[ti] = true
			r.fail(fmt.Errorf("%w: %s:%d: key %s holds image %s, not %s", ErrImageNotFound, r.path, n.Line, t.Key, ref.repo, t.Image))
			return
		}
		r.setImageString(n, ti, t.Key)
		return
	}
	if _, dv := mapValue(parent, "digest"); dv != nil && dv.Kind == yaml.ScalarNode && dv.Value != "" {
		if t.Digest == "" {
			r.found[ti] = true
			r.pinned(dv.Line, t.Image, dv.Value, "")
			return
		}
		r.setScalar(dv, t.Digest, "digest", ti)
	}
	if n.Value == "" && n.Style == 0 && keyNode != nil {
		r.setNull(keyNode, n, t.Tag, t.Key, ti)
		return
	}
	r.setScalar(n, t.Tag, t.Key, ti)
}

func splitKey(k string) []string {
	var parts []string
	var cur strings.Builder
	for i := 0; i < len(k); i++ {
		switch {
		case k[i] == '\\' && i+1 < len(k) && k[i+1] == '.':
			cur.WriteByte('.')
			i++
		case k[i] == '.':
			parts = append(parts, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(k[i])
		}
	}
	return append(parts, cur.String())
}

func kindName(k yaml.Kind) string {
	switch k {
	case yaml.MappingNode:
		return "map"
	case yaml.SequenceNode:
		return "list"
	case yaml.AliasNode:
		return "alias"
	}
	return "node"
}
