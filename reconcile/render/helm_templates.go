package render

import (
	"fmt"
	"strings"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/strvals"
)

// templateJob is what Helm's template engine needs: a chart's files (subcharts unpacked,
// dependencies fetched, every file checked), the values files, the release and the
// capabilities. It runs in the renderer's process, or in a worker process (Isolation).
type templateJob struct {
	Name, Namespace string
	Files           []*loader.BufferedFile
	Values          [][]byte
	// Set are --set values, applied after Values.
	Set          []string
	Capabilities *Capabilities
	// MaxMemory bounds the worker's data segment (RLIMIT_DATA); 0 in-process.
	MaxMemory int64
}

// chart loads the chart with its values applied to its dependencies (conditions, tags,
// import-values), as the templates will see it.
func (j *templateJob) chart() (*chart.Chart, map[string]any, error) {
	ch, err := loader.LoadFiles(j.Files)
	if err != nil {
		return nil, nil, fmt.Errorf("loading chart: %w", err)
	}
	vals, err := j.values()
	if err != nil {
		return nil, nil, err
	}
	if err := chartutil.ProcessDependenciesWithMerge(ch, vals); err != nil {
		return nil, nil, err
	}
	return ch, vals, nil
}

// values merges the values files, later files winning (helm -f a.yaml -f b.yaml).
func (j *templateJob) values() (map[string]any, error) {
	vals := map[string]any{}
	for i := len(j.Values) - 1; i >= 0; i-- {
		v, err := chartutil.ReadValues(j.Values[i])
		if err != nil {
			return nil, err
		}
		vals = chartutil.MergeTables(vals, v)
	}
	for _, s := range j.Set {
		if err := strvals.ParseInto(s, vals); err != nil {
			return nil, fmt.Errorf("set %q: %w", s, err)
		}
	}
	return vals, nil
}

// capabilities are Helm's defaults with the cluster's version and API versions.
func (j *templateJob) capabilities() *chartutil.Capabilities {
	caps := chartutil.DefaultCapabilities.Copy()
	c := j.Capabilities
	if c == nil {
		return caps
	}
	if kv, err := chartutil.ParseKubeVersion(c.KubeVersion); c.KubeVersion != "" && err == nil {
		caps.KubeVersion = *kv
	}
	if len(c.APIVersions) > 0 {
		caps.APIVersions = chartutil.VersionSet(c.APIVersions)
	}
	return caps
}

// execute runs the templates with Helm's engine and no cluster client, so lookup returns
// nothing and DNS lookups are off. NOTES.txt is dropped.
func (j *templateJob) execute() (map[string]string, error) {
	ch, vals, err := j.chart()
	if err != nil {
		return nil, err
	}
	caps := j.capabilities()
	if ch.Metadata.KubeVersion != "" && !chartutil.IsCompatibleRange(ch.Metadata.KubeVersion, caps.KubeVersion.String()) {
		return nil, fmt.Errorf("chart requires kubeVersion %s, which is incompatible with Kubernetes %s", ch.Metadata.KubeVersion, caps.KubeVersion.String())
	}
	opts := chartutil.ReleaseOptions{Name: j.Name, Namespace: j.Namespace, Revision: 1, IsInstall: true}
	values, err := chartutil.ToRenderValues(ch, vals, opts, caps)
	if err != nil {
		return nil, err
	}
	rendered, err := engine.Engine{}.Render(ch, values)
	if err != nil {
		return nil, err
	}
	for name := range rendered {
		if strings.HasSuffix(name, "NOTES.txt") {
			delete(rendered, name)
		}
	}
	return rendered, nil
}
