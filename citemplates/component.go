package citemplates

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// InputType is the type of a component input, as GitLab's spec:inputs:type.
type InputType string

// The input types GitLab knows.
const (
	TypeString  InputType = "string"
	TypeNumber  InputType = "number"
	TypeBoolean InputType = "boolean"
	TypeArray   InputType = "array"
)

// Input is one entry of spec:inputs.
type Input struct {
	Name        string
	Type        InputType
	Description string
	// Default is nil when the input is required.
	Default any
	Options []any
	Regex   string
}

// Required reports whether a value must be given.
func (in Input) Required() bool { return in.Default == nil }

// Component is one CI/CD component: templates/<name>.yml or templates/<name>/template.yml.
type Component struct {
	Name   string
	Path   string // inside the ci-templates directory
	Inputs []Input
	// Header and Body are the two YAML documents of the file: the spec, and the configuration.
	Header, Body []byte
}

// interpolation matches GitLab's $[[ inputs.NAME ]] with optional functions after "|".
var interpolation = regexp.MustCompile(`\$\[\[\s*inputs\.([\w-]+)\s*(\|[^\]]*)?\]\]`)

// Components returns the components of the component project in fsys, the ci-templates
// directory, sorted by name.
func Components(fsys fs.FS) ([]*Component, error) {
	var out []*Component
	root := path.Join(ComponentProject, "templates")
	entries, err := fs.ReadDir(fsys, root)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		p := path.Join(root, e.Name())
		name, ok := strings.CutSuffix(e.Name(), ".yml")
		if e.IsDir() {
			name, p, ok = e.Name(), path.Join(p, "template.yml"), true
		}
		if !ok {
			return nil, fmt.Errorf("%s: a component is templates/<name>.yml or templates/<name>/template.yml", p)
		}
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return nil, err
		}
		c, err := ParseComponent(name, p, data)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// ParseComponent splits a component file into its spec header and its configuration and reads
// the inputs. It refuses a file without a header, a header with other keys than spec:inputs, and
// an input whose default does not match its type or options.
func ParseComponent(name, p string, data []byte) (*Component, error) {
	header, body, ok := splitDocuments(data)
	if !ok {
		return nil, fmt.Errorf("%s: no spec header: a component starts with `spec:` and `---`", p)
	}
	var h struct {
		Spec struct {
			Inputs yaml.Node `yaml:"inputs"`
		} `yaml:"spec"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(header))
	dec.KnownFields(true)
	if err := dec.Decode(&h); err != nil {
		return nil, fmt.Errorf("%s: reading the spec header: %w", p, err)
	}
	c := &Component{Name: name, Path: p, Header: header, Body: body}
	in := &h.Spec.Inputs
	for i := 0; i+1 < len(in.Content); i += 2 {
		input, err := parseInput(in.Content[i].Value, in.Content[i+1])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		c.Inputs = append(c.Inputs, input)
	}
	return c, nil
}

// splitDocuments returns the first YAML document and the rest, at the first "---" line.
func splitDocuments(data []byte) (header, body []byte, ok bool) {
	lines := bytes.SplitAfter(data, []byte("\n"))
	for i, l := range lines {
		if strings.TrimRight(string(l), "\r\n ") == "---" {
			return bytes.Join(lines[:i], nil), bytes.Join(lines[i+1:], nil), true
		}
	}
	return nil, nil, false
}

func parseInput(name string, n *yaml.Node) (Input, error) {
	var raw struct {
		Type        InputType `yaml:"type"`
		Description string    `yaml:"description"`
		Default     *any      `yaml:"default"`
		Options     []any     `yaml:"options"`
		Regex       string    `yaml:"regex"`
	}
	if err := n.Decode(&raw); err != nil {
		return Input{}, fmt.Errorf("input %s: %w", name, err)
	}
	in := Input{Name: name, Type: raw.Type, Description: raw.Description, Options: raw.Options, Regex: raw.Regex}
	if in.Type == "" {
		in.Type = TypeString
	}
	if raw.Default != nil {
		in.Default = *raw.Default
		if in.Default == nil {
			in.Default = "" // default: ~ is an optional empty value
		}
		if err := in.check(in.Default); err != nil {
			return Input{}, fmt.Errorf("input %s: default: %w", name, err)
		}
	}
	return in, nil
}

// check validates a value against the input's type, options and regex.
func (in Input) check(v any) error {
	ok := false
	switch in.Type {
	case TypeString:
		_, ok = v.(string)
	case TypeNumber:
		switch v.(type) {
		case int, int64, float64:
			ok = true
		}
	case TypeBoolean:
		_, ok = v.(bool)
	case TypeArray:
		_, ok = v.([]any)
	default:
		return fmt.Errorf("unknown type %q (string, number, boolean or array)", in.Type)
	}
	if !ok {
		return fmt.Errorf("%v is not a %s", v, in.Type)
	}
	if len(in.Options) > 0 {
		found := false
		for _, o := range in.Options {
			if fmt.Sprint(o) == fmt.Sprint(v) {
				found = true
			}
		}
		if !found {
			return fmt.Errorf("%v is not one of the options %v", v, in.Options)
		}
	}
	if in.Regex != "" {
		re, err := regexp.Compile(strings.Trim(in.Regex, "/"))
		if err != nil {
			return fmt.Errorf("regex %s: %w", in.Regex, err)
		}
		if s, _ := v.(string); !re.MatchString(s) {
			return fmt.Errorf("%q does not match %s", s, in.Regex)
		}
	}
	return nil
}

// Used returns the names of the inputs the body interpolates, sorted, and an error for an
// interpolation function (this project's components use none).
func (c *Component) Used() ([]string, error) {
	seen := map[string]bool{}
	for _, m := range interpolation.FindAllSubmatch(c.Body, -1) {
		if len(m[2]) > 0 {
			return nil, fmt.Errorf("%s: interpolation function %q is not supported here", c.Path, m[2])
		}
		seen[string(m[1])] = true
	}
	var out []string
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out, nil
}

// Interpolate returns the configuration with every $[[ inputs.NAME ]] replaced, as GitLab does:
// a scalar that is exactly one interpolation takes the value with its type (an array stays an
// array); inside a longer string the value is written as text. Unknown and missing required
// inputs, and values of the wrong type, are errors.
func (c *Component) Interpolate(values map[string]any) ([]byte, error) {
	byName := map[string]Input{}
	for _, in := range c.Inputs {
		byName[in.Name] = in
	}
	resolved := map[string]any{}
	for k, v := range values {
		in, ok := byName[k]
		if !ok {
			return nil, fmt.Errorf("%s: unknown input %q", c.Path, k)
		}
		if err := in.check(v); err != nil {
			return nil, fmt.Errorf("%s: input %s: %w", c.Path, k, err)
		}
		resolved[k] = v
	}
	var missing []string
	for _, in := range c.Inputs {
		if _, ok := resolved[in.Name]; !ok {
			if in.Required() {
				missing = append(missing, in.Name)
			}
			resolved[in.Name] = in.Default
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%s: required inputs not given: %s", c.Path, strings.Join(missing, ", "))
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(c.Body, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", c.Path, err)
	}
	if err := interpolate(&doc, resolved); err != nil {
		return nil, fmt.Errorf("%s: %w", c.Path, err)
	}
	return yaml.Marshal(&doc)
}

func interpolate(n *yaml.Node, values map[string]any) error {
	if n.Kind == yaml.ScalarNode && strings.Contains(n.Value, "$[[") {
		return interpolateScalar(n, values)
	}
	for _, child := range n.Content {
		if err := interpolate(child, values); err != nil {
			return err
		}
	}
	return nil
}

func interpolateScalar(n *yaml.Node, values map[string]any) error {
	if m := interpolation.FindStringSubmatchIndex(n.Value); m != nil && m[0] == 0 && m[1] == len(n.Value) {
		v, ok := values[n.Value[m[2]:m[3]]]
		if !ok {
			return fmt.Errorf("input %q is used but not declared in spec:inputs", n.Value[m[2]:m[3]])
		}
		var repl yaml.Node
		if err := repl.Encode(v); err != nil {
			return err
		}
		*n = repl
		return nil
	}
	var err error
	n.Value = interpolation.ReplaceAllStringFunc(n.Value, func(s string) string {
		name := interpolation.FindStringSubmatch(s)[1]
		v, ok := values[name]
		if !ok {
			err = errors.Join(err, fmt.Errorf("input %q is used but not declared in spec:inputs", name))
			return s
		}
		switch v := v.(type) {
		case string:
			return v
		case bool:
			return strconv.FormatBool(v)
		default:
			return fmt.Sprint(v)
		}
	})
	n.Tag, n.Style = "!!str", 0
	return err
}
