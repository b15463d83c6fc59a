package citemplates

import (
	"fmt"
	"io/fs"
	"strings"

	"go.yaml.in/yaml/v3"
)

// LoadGitLab reads the GitLab CI file p of fsys, the ci-templates directory, into plain values
// (aliases resolved), as GitLab sees it before includes.
func LoadGitLab(fsys fs.FS, p string) (map[string]any, error) {
	data, err := fs.ReadFile(fsys, p)
	if err != nil {
		return nil, err
	}
	return ParseGitLab(data)
}

// ParseGitLab decodes one GitLab CI YAML document.
func ParseGitLab(data []byte) (map[string]any, error) {
	var m map[string]any
	if err := yaml.Unmarshal(data, &m); err != nil {
		return nil, err
	}
	return m, nil
}

// Resolve returns job with its `extends` chain merged in as GitLab does: maps are merged
// deeply, the extending job's values win, every other value (lists included) is replaced.
func Resolve(config map[string]any, job string) (map[string]any, error) {
	return resolve(config, job, map[string]bool{})
}

func resolve(config map[string]any, job string, seen map[string]bool) (map[string]any, error) {
	if seen[job] {
		return nil, fmt.Errorf("extends loop at %s", job)
	}
	seen[job] = true
	j, ok := config[job].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("no job %s", job)
	}
	var parents []string
	switch e := j["extends"].(type) {
	case string:
		parents = []string{e}
	case []any:
		for _, p := range e {
			parents = append(parents, fmt.Sprint(p))
		}
	}
	out := map[string]any{}
	for _, p := range parents {
		pj, err := resolve(config, p, seen)
		if err != nil {
			return nil, err
		}
		out = merge(out, pj)
	}
	out = merge(out, j)
	delete(out, "extends")
	return out, nil
}

func merge(base, over map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		bm, ok1 := out[k].(map[string]any)
		om, ok2 := v.(map[string]any)
		if ok1 && ok2 {
			out[k] = merge(bm, om)
			continue
		}
		out[k] = v
	}
	return out
}

// HiddenJobs returns the names of the hidden jobs (".name") of a configuration.
func HiddenJobs(config map[string]any) []string {
	var out []string
	for k, v := range config {
		if _, ok := v.(map[string]any); ok && strings.HasPrefix(k, ".") {
			out = append(out, k)
		}
	}
	return out
}
