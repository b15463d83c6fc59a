package render

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"path"
	"regexp"
	"sort"
	"strings"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/releaseutil"
)

// helm renders the chart at the path client-side, like `helm template` but with the smallest
// part of the Helm SDK (chart loader, chartutil, engine, releaseutil; no pkg/action, no release
// storage, no registry client): the release is named after the app and goes to its namespace,
// CRDs (crds/) are included, the values files are merged in order, templates get no cluster
// access (lookup returns nothing, no DNS). Hooks are returned apart from the objects.
func (r *run) helm(ctx context.Context) (*Result, error) {
	files, err := r.chartFiles()
	if err != nil {
		return nil, err
	}
	if files, err = r.loadDependencies(ctx, files); err != nil {
		return nil, err
	}
	values, err := r.valuesFiles()
	if err != nil {
		return nil, err
	}
	job := &templateJob{Name: r.req.Name, Namespace: r.req.Namespace, Files: files, Values: values, Set: r.req.Set, Capabilities: r.opts.Capabilities}
	ch, _, err := job.chart()
	if err != nil {
		return nil, err
	}
	var rendered map[string]string
	if r.opts.Isolation != nil {
		rendered, err = r.opts.Isolation.run(ctx, job, r.opts.Limits.MaxBytes)
		if le, ok := err.(*LimitError); ok && le.File != "" {
			le.File = r.repoPath(ch.Name(), le.File)
		}
	} else {
		rendered, err = job.execute()
	}
	if err != nil {
		return nil, err
	}
	rendered = r.repoPaths(ch.Name(), rendered)
	if err := r.checkTemplates(rendered); err != nil {
		return nil, err
	}
	return r.helmObjects(ch, rendered)
}

// chartFiles returns the files of the chart directory relative to it, aliases checked, with
// packaged subcharts (charts/*.tgz) unpacked so that their files are checked too.
func (r *run) chartFiles() ([]*loader.BufferedFile, error) {
	prefix := ""
	if r.req.Path != "" {
		prefix = r.req.Path + "/"
	}
	var files []*loader.BufferedFile
	for name, data := range r.req.Files {
		if rel, ok := strings.CutPrefix(name, prefix); ok {
			files = append(files, &loader.BufferedFile{Name: rel, Data: data})
		}
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Name < files[j].Name })
	files, err := r.unpackSubcharts(files, 0)
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		if err := r.aliases.check(prefix+f.Name, f.Data); err != nil {
			return nil, err
		}
	}
	return files, nil
}

var packagedSubchart = regexp.MustCompile(`(^|/)charts/[^/]+\.tgz$`)

// unpackSubcharts replaces charts/NAME.tgz by the files of charts/NAME/, which the loader reads
// the same way; the unpacked size counts against the byte limit.
func (r *run) unpackSubcharts(files []*loader.BufferedFile, depth int) ([]*loader.BufferedFile, error) {
	var out []*loader.BufferedFile
	unpacked := false
	for _, f := range files {
		if !packagedSubchart.MatchString(f.Name) {
			out = append(out, f)
			continue
		}
		if depth > 5 {
			return nil, fmt.Errorf("%s: subcharts nested more than 5 deep", f.Name)
		}
		inner, err := r.untar(f.Name, f.Data)
		if err != nil {
			return nil, err
		}
		dir := strings.TrimSuffix(f.Name, ".tgz") + "/"
		for _, in := range inner {
			out = append(out, &loader.BufferedFile{Name: dir + in.Name, Data: in.Data})
		}
		unpacked = true
	}
	if unpacked {
		return r.unpackSubcharts(out, depth+1)
	}
	return out, nil
}

// untar unpacks a chart archive with Helm's loader (which refuses links and paths out of the
// archive), after measuring its decompressed size against what is left of the byte limit.
func (r *run) untar(name string, data []byte) ([]*loader.BufferedFile, error) {
	gz, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	left := r.opts.Limits.MaxBytes - r.size.bytes
	n, err := io.Copy(io.Discard, io.LimitReader(gz, left+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if err := r.size.addBytes(name, n); err != nil {
		return nil, err
	}
	files, err := loader.LoadArchiveFiles(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return files, nil
}

// loadDependencies adds to the chart's files the dependencies it declares but does not vendor,
// fetched from allowed chart repositories.
func (r *run) loadDependencies(ctx context.Context, files []*loader.BufferedFile) ([]*loader.BufferedFile, error) {
	rm := newRemotes(r)
	for range maxRemoteFetches {
		ch, err := loader.LoadFiles(files)
		if err != nil {
			return nil, fmt.Errorf("loading chart: %w", err)
		}
		missing := missingDependencies(ch)
		if len(missing) == 0 {
			return files, nil
		}
		if err := rm.unvendored(ch, missing); err != nil {
			return nil, err
		}
		fetched, err := rm.chartDependency(ctx, ch, missing[0])
		if err != nil {
			return nil, err
		}
		if fetched, err = r.unpackSubcharts(fetched, 0); err != nil {
			return nil, err
		}
		for _, f := range fetched {
			if err := r.aliases.check(f.Name, f.Data); err != nil {
				return nil, err
			}
		}
		files = append(files, fetched...)
	}
	return nil, fmt.Errorf("more than %d chart dependencies to fetch", maxRemoteFetches)
}

// missingDependencies are the dependencies Chart.yaml declares that charts/ does not hold
// (what `helm dependency build` would download).
func missingDependencies(ch *chart.Chart) []*chart.Dependency {
	have := map[string]bool{}
	for _, d := range ch.Dependencies() {
		have[d.Name()] = true
	}
	var out []*chart.Dependency
	for _, d := range ch.Metadata.Dependencies {
		if !have[d.Name] {
			out = append(out, d)
		}
	}
	return out
}

// valuesFiles returns the values files in order, checked.
func (r *run) valuesFiles() ([][]byte, error) {
	var out [][]byte
	for _, v := range r.req.ValuesFiles {
		name := path.Join(r.req.Path, v)
		data, ok := r.req.Files[name]
		if !ok {
			return nil, fmt.Errorf("values file %s not found", name)
		}
		if err := r.aliases.check(name, data); err != nil {
			return nil, err
		}
		if _, err := chartutil.ReadValues(data); err != nil {
			return nil, fmt.Errorf("values file %s: %w", name, err)
		}
		out = append(out, data)
	}
	return out, nil
}

// repoPaths renames the rendered templates from Helm's names (CHART/templates/x.yaml) to the
// files of the repository they come from (PATH/templates/x.yaml), so messages point at them.
func (r *run) repoPaths(chartName string, rendered map[string]string) map[string]string {
	out := make(map[string]string, len(rendered))
	for name, data := range rendered {
		out[r.repoPath(chartName, name)] = data
	}
	return out
}

func (r *run) repoPath(chartName, name string) string {
	if rest, ok := strings.CutPrefix(name, chartName+"/"); ok {
		return path.Join(r.req.Path, rest)
	}
	return name
}

// checkTemplates counts every template's output against the byte limit and checks its
// aliases before anything parses it.
func (r *run) checkTemplates(rendered map[string]string) error {
	names := make([]string, 0, len(rendered))
	for name := range rendered {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if err := r.size.addBytes(name, int64(len(rendered[name]))); err != nil {
			return err
		}
		if err := r.aliases.check(name, []byte(rendered[name])); err != nil {
			return err
		}
	}
	return nil
}

// helmObjects splits the rendered templates into objects (CRDs first) and hooks.
func (r *run) helmObjects(ch *chart.Chart, rendered map[string]string) (*Result, error) {
	hooks, manifests, err := releaseutil.SortManifests(rendered, nil, releaseutil.InstallOrder)
	if err != nil {
		return nil, err
	}
	res := &Result{}
	for _, crd := range ch.CRDObjects() {
		objs, err := r.decodeChecked(r.repoPath(ch.Name(), crd.Filename), crd.File.Data)
		if err != nil {
			return nil, err
		}
		res.Objects = append(res.Objects, objs...)
	}
	for _, m := range manifests {
		objs, err := decode(m.Name, []byte(m.Content))
		if err != nil {
			return nil, err
		}
		if err := r.size.addObjects(m.Name, len(objs)); err != nil {
			return nil, err
		}
		res.Objects = append(res.Objects, objs...)
	}
	for _, h := range hooks {
		objs, err := decode(h.Path, []byte(h.Manifest))
		if err != nil {
			return nil, err
		}
		if err := r.size.addObjects(h.Path, len(objs)); err != nil {
			return nil, err
		}
		for _, o := range objs {
			hk := Hook{Object: o, Weight: h.Weight}
			for _, e := range h.Events {
				hk.Events = append(hk.Events, string(e))
			}
			for _, p := range h.DeletePolicies {
				hk.DeletePolicies = append(hk.DeletePolicies, string(p))
			}
			res.Hooks = append(res.Hooks, hk)
		}
	}
	res.Bytes = r.size.bytes
	return res, nil
}
