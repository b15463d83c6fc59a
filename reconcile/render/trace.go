package render

import (
	"fmt"
	"path"
	"regexp"
	"sort"
	"strings"

	"helm.sh/helm/v3/pkg/strvals"
	"sigs.k8s.io/kustomize/api/konfig"
	"sigs.k8s.io/yaml"
)

// OriginKind says what kind of input sets an image's tag.
type OriginKind string

// The kinds of origins.
const (
	// OriginAppVersion is a chart's appVersion (Chart.yaml), the tag of charts whose templates
	// default to it.
	OriginAppVersion OriginKind = "appVersion"
	// OriginValues is a key of a Helm values file (the chart's values.yaml or a values file of
	// the render).
	OriginValues OriginKind = "values"
	// OriginSet is a --set value of the render (Request.Set).
	OriginSet OriginKind = "set"
	// OriginResource is a manifest that writes the image: a plain manifest, a Kustomize resource.
	OriginResource OriginKind = "resource"
	// OriginPatch is a Kustomize patch that writes the image.
	OriginPatch OriginKind = "patch"
	// OriginImages is an entry of a kustomization's images:.
	OriginImages OriginKind = "images"
	// OriginTemplate is a Helm template that writes the image itself, whatever the values say.
	OriginTemplate OriginKind = "template"
)

// Origin is one place in the inputs of a render that sets the tag of an image.
type Origin struct {
	Kind OriginKind `json:"kind"`
	// File is the repository path of the input ("" for a --set value).
	File string `json:"file,omitempty"`
	// Key is where in the file: a dotted values key (image.tag), images[name=NAME].newTag, a
	// line (line 12), or the --set expression.
	Key string `json:"key"`
	// Value is the tag it sets ("" when it sets none; "@sha256:…" for a digest).
	Value string `json:"value"`
}

// String is "FILE KEY (VALUE)".
func (o Origin) String() string {
	where := o.File
	if o.Kind == OriginSet {
		where = "set"
	}
	v := o.Value
	if v == "" {
		v = `""`
	}
	return fmt.Sprintf("%s %s (%s)", where, o.Key, v)
}

// Trace is the answer to "where does this image's tag come from": the inputs of a render that
// set the tag of one repository, in the order the render applies them (a later one wins over
// an earlier one; a template that writes the image itself wins over every value), and the
// containers of the render that run it.
type Trace struct {
	Repository string `json:"repository"`
	// Running are the containers of the render that run the repository.
	Running []Image `json:"running"`
	// Chain are the inputs that set its tag, in the order they apply.
	Chain []Origin `json:"chain"`
	// Effective is the index in Chain of the input the running tag comes from; -1 when no
	// input of the chain sets it.
	Effective int `json:"effective"`
}

// Winner returns the input the running tag comes from, if known.
func (t *Trace) Winner() (Origin, bool) {
	if t.Effective < 0 || t.Effective >= len(t.Chain) {
		return Origin{}, false
	}
	return t.Chain[t.Effective], true
}

// TraceImage follows the inputs of req (values files, --set values, Chart.yaml, templates,
// kustomizations, their resources, patches and images:) for the places that set the tag of
// repo, and matches them with what res runs. res may be nil (nothing runs). It reads req.Files
// only, YAML aliases checked with the default limit: it is meant for a render that succeeded.
func TraceImage(req Request, res *Result, repo string) *Trace {
	t := &Trace{Repository: repo, Effective: -1}
	if res != nil {
		for _, im := range res.Images() {
			if r, _, _ := SplitImage(im.Image); SameRepo(r, repo) {
				t.Running = append(t.Running, im)
			}
		}
	}
	tr := &tracer{req: req, repo: repo, spell: spellings(repo)}
	typ := req.Type
	if typ == TypeAuto {
		typ = Detect(req.Files, req.Path)
	}
	switch typ {
	case TypeHelm:
		tr.helm()
	case TypeKustomize:
		tr.kustomize(req.Path, map[string]bool{})
	default:
		tr.plain()
	}
	t.Chain = tr.chain
	if len(t.Running) > 0 {
		_, tag, digest := SplitImage(t.Running[0].Image)
		want := tag
		if want == "" && digest != "" {
			want = "@" + digest
		}
		for i, o := range t.Chain {
			if o.Value == want || (digest != "" && o.Value == "@"+digest) {
				t.Effective = i
			}
		}
	}
	return t
}

type tracer struct {
	req   Request
	repo  string
	spell []string
	chain []Origin
}

func (tr *tracer) add(o Origin) { tr.chain = append(tr.chain, o) }

// readYAML parses a file into a generic value, nil when it is absent, not YAML, or its aliases
// pass the default limit.
func (tr *tracer) readYAML(name string) any {
	data, ok := tr.req.Files[name]
	if !ok || AliasNodes(data, DefaultMaxAliasNodes) > DefaultMaxAliasNodes {
		return nil
	}
	var v any
	if err := yaml.Unmarshal(data, &v); err != nil {
		return nil
	}
	return v
}

// helm: Chart.yaml's appVersion, the chart's values.yaml, the values files in order, the --set
// values, then the templates that write the image themselves.
func (tr *tracer) helm() {
	dir := tr.req.Path
	type source struct {
		file, set string
		vals      map[string]any
	}
	var sources []source
	if m, ok := tr.readYAML(path.Join(dir, "values.yaml")).(map[string]any); ok {
		sources = append(sources, source{file: path.Join(dir, "values.yaml"), vals: m})
	}
	for _, v := range tr.req.ValuesFiles {
		name := path.Join(dir, v)
		if name == path.Join(dir, "values.yaml") {
			continue // the chart's own values given again: counted once
		}
		if m, ok := tr.readYAML(name).(map[string]any); ok {
			sources = append(sources, source{file: name, vals: m})
		}
	}
	for _, s := range tr.req.Set {
		if m, err := strvals.Parse(s); err == nil {
			sources = append(sources, source{set: s, vals: m})
		}
	}
	// The image groups: maps whose repository (with a sibling registry) names the image, in any
	// source; their tag (and digest) keys are then followed through every source.
	groups := map[string]bool{}
	for _, s := range sources {
		walkMaps(s.vals, "", func(p string, m map[string]any) {
			r, _ := m["repository"].(string)
			if r == "" {
				r, _ = m["image"].(string)
			}
			if reg, _ := m["registry"].(string); reg != "" && r != "" {
				r = reg + "/" + r
			}
			if r != "" && tr.matches(r) {
				groups[p] = true
			}
		})
	}
	keys := make([]string, 0, len(groups))
	for g := range groups {
		keys = append(keys, g)
	}
	sort.Strings(keys)
	if meta, ok := tr.readYAML(path.Join(dir, "Chart.yaml")).(map[string]any); ok && len(keys) > 0 {
		if av := scalar(meta["appVersion"]); av != "" {
			tr.add(Origin{Kind: OriginAppVersion, File: path.Join(dir, "Chart.yaml"), Key: "appVersion", Value: av})
		}
	}
	for _, s := range sources {
		kind, file := OriginValues, s.file
		if s.set != "" {
			kind = OriginSet
		}
		for _, g := range keys {
			for _, field := range []string{"tag", "digest"} {
				v, ok := lookup(s.vals, join(g, field))
				if !ok {
					continue
				}
				val := scalar(v)
				if field == "digest" {
					if val == "" {
						continue
					}
					val = "@" + val
				}
				key := join(g, field)
				if kind == OriginSet {
					key = s.set
				}
				tr.add(Origin{Kind: kind, File: file, Key: key, Value: val})
			}
		}
		// A value that holds the whole reference (image: repo:tag).
		walkLeaves(s.vals, "", func(p string, v any) {
			str, ok := v.(string)
			if !ok {
				return
			}
			if tag, ok := tr.refTag(str); ok {
				key := p
				if kind == OriginSet {
					key = s.set
				}
				tr.add(Origin{Kind: kind, File: file, Key: key, Value: tag})
			}
		})
	}
	tr.scanFiles(OriginTemplate, func(name string) bool {
		return under(name, path.Join(dir, "templates")) && !strings.Contains(strings.TrimPrefix(name, dir), "/charts/")
	})
}

// kustomize walks a kustomization: its resources and bases (depth first, in order), its
// components, its patches, then its images:.
func (tr *tracer) kustomize(dir string, seen map[string]bool) {
	if seen[dir] || len(seen) > 100 {
		return
	}
	seen[dir] = true
	var kfile string
	for _, n := range konfig.RecognizedKustomizationFileNames() {
		if _, ok := tr.req.Files[path.Join(dir, n)]; ok {
			kfile = path.Join(dir, n)
			break
		}
	}
	var k struct {
		Resources             []string `json:"resources"`
		Bases                 []string `json:"bases"`
		Components            []string `json:"components"`
		PatchesStrategicMerge []string `json:"patchesStrategicMerge"`
		Patches               []struct {
			Path  string `json:"path"`
			Patch string `json:"patch"`
		} `json:"patches"`
		PatchesJSON6902 []struct {
			Path  string `json:"path"`
			Patch string `json:"patch"`
		} `json:"patchesJson6902"`
		Images []struct {
			Name    string `json:"name"`
			NewName string `json:"newName"`
			NewTag  string `json:"newTag"`
			Digest  string `json:"digest"`
		} `json:"images"`
	}
	data := tr.req.Files[kfile]
	if kfile == "" || AliasNodes(data, DefaultMaxAliasNodes) > DefaultMaxAliasNodes || yaml.Unmarshal(data, &k) != nil {
		return
	}
	for _, r := range append(append(append([]string{}, k.Bases...), k.Resources...), k.Components...) {
		if isRemote(r) {
			continue
		}
		p := path.Join(dir, r)
		if _, ok := tr.req.Files[p]; ok {
			tr.scanFile(OriginResource, p)
			continue
		}
		tr.kustomize(p, seen)
	}
	patch := func(p, inline string) {
		if p != "" {
			tr.scanFile(OriginPatch, path.Join(dir, p))
			return
		}
		tr.scanText(OriginPatch, kfile, "inline patch, ", inline)
	}
	for _, p := range k.PatchesStrategicMerge {
		if _, ok := tr.req.Files[path.Join(dir, p)]; ok {
			patch(p, "")
		} else {
			patch("", p)
		}
	}
	for _, p := range k.Patches {
		patch(p.Path, p.Patch)
	}
	for _, p := range k.PatchesJSON6902 {
		patch(p.Path, p.Patch)
	}
	for _, im := range k.Images {
		if !tr.matches(im.Name) && !(im.NewName != "" && tr.matches(im.NewName)) {
			continue
		}
		if im.NewTag != "" || im.Digest == "" {
			tr.add(Origin{Kind: OriginImages, File: kfile, Key: fmt.Sprintf("images[name=%s].newTag", im.Name), Value: im.NewTag})
		}
		if im.Digest != "" {
			tr.add(Origin{Kind: OriginImages, File: kfile, Key: fmt.Sprintf("images[name=%s].digest", im.Name), Value: "@" + im.Digest})
		}
	}
}

// plain: every manifest below the path, in path order.
func (tr *tracer) plain() {
	tr.scanFiles(OriginResource, func(name string) bool {
		return under(name, tr.req.Path) && !hidden(strings.TrimPrefix(name, tr.req.Path)) &&
			(strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml") || strings.HasSuffix(name, ".json"))
	})
}

func (tr *tracer) scanFiles(kind OriginKind, keep func(string) bool) {
	var names []string
	for name := range tr.req.Files {
		if keep(name) {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		tr.scanFile(kind, n)
	}
}

func (tr *tracer) scanFile(kind OriginKind, name string) {
	if data, ok := tr.req.Files[name]; ok {
		tr.scanText(kind, name, "", string(data))
	}
}

// scanText adds an origin for every line of text that writes the image with a tag or digest.
func (tr *tracer) scanText(kind OriginKind, file, prefix, text string) {
	re := tr.lineRef()
	for i, line := range strings.Split(text, "\n") {
		for _, m := range re.FindAllStringSubmatch(line, -1) {
			val := m[1]
			if m[2] != "" {
				val = "@" + m[2]
			}
			tr.add(Origin{Kind: kind, File: file, Key: fmt.Sprintf("%sline %d", prefix, i+1), Value: val})
		}
	}
}

// lineRef matches the image written with a tag (group 1) or a digest (group 2).
func (tr *tracer) lineRef() *regexp.Regexp {
	alts := make([]string, len(tr.spell))
	for i, s := range tr.spell {
		alts[i] = regexp.QuoteMeta(s)
	}
	return regexp.MustCompile(`(?:^|[\s"'=\[,])(?:` + strings.Join(alts, "|") + `)(?::([\w][\w.-]{0,127}))?(?:@(sha256:[0-9a-f]{64}))?(?:$|[\s"',\]}#])`)
}

// refTag returns the tag (or "@digest") of s when s is a reference to the image with one.
func (tr *tracer) refTag(s string) (string, bool) {
	r, tag, digest := SplitImage(strings.TrimSpace(s))
	if !tr.matches(r) || (tag == "" && digest == "") {
		return "", false
	}
	if tag == "" {
		return "@" + digest, true
	}
	return tag, true
}

// matches reports whether a repository written in a file names the traced image: the same
// repository, or its path without the registry (a chart that adds the registry itself).
func (tr *tracer) matches(r string) bool {
	if r == "" {
		return false
	}
	if SameRepo(r, tr.repo) {
		return true
	}
	return strings.Contains(r, "/") && strings.HasSuffix(NormalizeRepo(tr.repo), "/"+r)
}

func join(p, k string) string {
	if p == "" {
		return k
	}
	return p + "." + k
}

func scalar(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%f", x), "0"), ".")
	default:
		return fmt.Sprint(x)
	}
}

func lookup(m map[string]any, dotted string) (any, bool) {
	var cur any = m
	for _, k := range strings.Split(dotted, ".") {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = mm[k]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// walkMaps calls fn for every map of v (the root too), depth first in key order.
func walkMaps(v any, p string, fn func(string, map[string]any)) {
	m, ok := v.(map[string]any)
	if !ok {
		return
	}
	fn(p, m)
	for _, k := range sortedKeys(m) {
		walkMaps(m[k], join(p, k), fn)
	}
}

// walkLeaves calls fn for every non-map value of v below the root, in key order.
func walkLeaves(v any, p string, fn func(string, any)) {
	m, ok := v.(map[string]any)
	if !ok {
		if p != "" {
			fn(p, v)
		}
		return
	}
	for _, k := range sortedKeys(m) {
		walkLeaves(m[k], join(p, k), fn)
	}
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
