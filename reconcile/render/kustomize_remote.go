package render

import (
	"bytes"
	"context"
	"fmt"
	"path"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"
)

// The fields of a kustomization whose entries krusty loads (its loader's Load and New calls):
// each entry is a local path, inline YAML, or a remote reference that krusty would fetch.
var (
	// fetchedFields may name remote files and git bases: from an allowed host they are fetched
	// here, within the limits, and replaced by local paths; from any other host refused.
	fetchedFields = map[string]bool{"resources": true, "components": true, "bases": true}
	// pathListFields hold paths or inline YAML: a remote entry is refused.
	pathListFields = map[string]bool{"crds": true, "configurations": true, "patchesStrategicMerge": true}
	// pluginFields list plugin configurations: files (checked like kustomizations when read),
	// directories (kustomizations) or inline YAML.
	pluginFields = map[string]bool{"generators": true, "transformers": true, "validators": true}
	// nestedPathFields hold objects whose path keys (pathKeys) name files.
	nestedPathFields = map[string]bool{"patches": true, "patchesJson6902": true, "replacements": true,
		"configMapGenerator": true, "secretGenerator": true, "openapi": true, "helmCharts": true, "helmGlobals": true}
	// pathKeys are the keys of builtin plugin configurations that name files (PatchTransformer
	// path, ConfigMapGenerator files/envs/env, ReplacementTransformer path, …).
	pathKeys = map[string]bool{"path": true, "files": true, "envs": true, "env": true, "valuesFile": true,
		"additionalValuesFiles": true, "targetFilePath": true, "argsFromFile": true, "chartHome": true}
)

// kustomization checks the references of the kustomization file name (absolute in fs) and
// returns its content with allowed remote references replaced by local copies.
func (rm *remotes) kustomization(ctx context.Context, fs *guardedFS, name string, data []byte) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return data, nil // not a mapping: krusty reports it
	}
	dir := path.Dir(name)
	changed := false
	top := doc.Content[0]
	for i := 0; i+1 < len(top.Content); i += 2 {
		field, value := top.Content[i].Value, top.Content[i+1]
		switch {
		case fetchedFields[field]:
			for _, item := range value.Content {
				local, err := rm.fetch(ctx, fs, name, field, item.Value)
				if err != nil {
					return nil, err
				}
				if local != "" {
					item.Value, item.Style, changed = local, 0, true
				}
			}
		case pathListFields[field], pluginFields[field]:
			for _, item := range value.Content {
				if err := rm.checkEntry(name, dir, field, item, pluginFields[field]); err != nil {
					return nil, err
				}
			}
		case nestedPathFields[field]:
			if err := rm.scanPaths(name, field, value, 0); err != nil {
				return nil, err
			}
		}
	}
	if !changed {
		return data, nil
	}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	if err := enc.Encode(&doc); err != nil {
		return nil, err
	}
	return b.Bytes(), enc.Close()
}

// checkEntry refuses a remote entry of a path list; a plugin field's local file is remembered,
// to be checked when krusty reads it, and its inline YAML is checked now.
func (rm *remotes) checkEntry(file, dir, field string, item *yaml.Node, plugin bool) error {
	if item.Kind != yaml.ScalarNode {
		return nil
	}
	if strings.Contains(item.Value, "\n") {
		if plugin {
			return rm.pluginConfig(kustomizationSource(file), []byte(item.Value))
		}
		return nil // an inline patch: objects, not paths
	}
	if isRemote(item.Value) {
		return errRemoteField(file, field, item.Value, "remote "+field+" are not fetched; vendor it into the repository")
	}
	if plugin {
		rm.configs[path.Join(dir, item.Value)] = true
	}
	return nil
}

// scanPaths refuses remote values of pathKeys below n.
func (rm *remotes) scanPaths(file, field string, n *yaml.Node, depth int) error {
	if depth > 20 {
		return nil
	}
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i].Value, n.Content[i+1]
			if pathKeys[k] {
				if err := rm.checkPaths(file, field+"."+k, v); err != nil {
					return err
				}
				continue
			}
			if err := rm.scanPaths(file, field, v, depth+1); err != nil {
				return err
			}
		}
	case yaml.SequenceNode, yaml.DocumentNode:
		for _, c := range n.Content {
			if err := rm.scanPaths(file, field, c, depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkPaths refuses a remote path (a scalar or a list of them; "KEY=path" for generator files).
func (rm *remotes) checkPaths(file, field string, v *yaml.Node) error {
	values := []*yaml.Node{v}
	if v.Kind == yaml.SequenceNode {
		values = v.Content
	}
	for _, s := range values {
		if s.Kind != yaml.ScalarNode {
			continue
		}
		_, after, _ := strings.Cut(s.Value, "=")
		if isRemote(s.Value) || isRemote(after) {
			return errRemoteField(file, field, s.Value, "remote files are not fetched; vendor it into the repository")
		}
	}
	return nil
}

// isPluginConfig reports whether krusty reads the file as a plugin configuration.
func (rm *remotes) isPluginConfig(name string) bool { return rm.configs[name] }

// pluginConfig refuses a plugin configuration (every document) that names a remote file.
func (rm *remotes) pluginConfig(file string, data []byte) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc yaml.Node
		if err := dec.Decode(&doc); err != nil {
			return nil // the end, or not YAML: krusty reports it
		}
		if err := rm.scanPaths(file, "plugin configuration", &doc, 0); err != nil {
			return err
		}
	}
}

// fetch resolves one entry of a fetched field: "" for a local path (left as is), else the
// local path (relative to the kustomization) of the fetched copy.
func (rm *remotes) fetch(ctx context.Context, fs *guardedFS, file, field, ref string) (string, error) {
	if !isRemote(ref) {
		return "", nil
	}
	if local, ok := rm.fetched[ref]; ok {
		return rel(file, local), nil
	}
	u, err := rm.parseAllowed(ref)
	if err != nil {
		return "", errRemoteField(file, field, ref, err.Error())
	}
	var local string
	if field == "resources" && !isGitReference(u) {
		data, err := rm.fetchHTTP(ctx, u)
		if err != nil {
			return "", rm.fetchError(file, field, ref, err)
		}
		local = path.Join(path.Dir(file), ".tagrelay-remote", shortHash(ref)+".yaml")
		if err := fs.FileSystem.WriteFile(local, data); err != nil {
			return "", err
		}
	} else {
		if local, err = rm.fetchGit(ctx, fs, parseGitSpec(u)); err != nil {
			return "", rm.fetchError(file, field, ref, err)
		}
	}
	rm.fetched[ref] = local
	return rel(file, local), nil
}

func (rm *remotes) fetchError(file, field, ref string, err error) error {
	if _, ok := err.(*LimitError); ok {
		return err
	}
	return fmt.Errorf("%s: %s %s: %w", kustomizationSource(file), field, ref, err)
}

// rel is target relative to the directory of the kustomization file.
func rel(file, target string) string {
	r, err := filepath.Rel(path.Dir(file), target)
	if err != nil {
		return target
	}
	return filepath.ToSlash(r)
}
