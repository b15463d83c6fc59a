package render_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tagrelay/tagrelay/internal/errdefs"
	"github.com/tagrelay/tagrelay/internal/yamltest"
	"github.com/tagrelay/tagrelay/reconcile/render"
)

// bombConfigMap is a ConfigMap whose data aliases a billion-laughs list 5 deep (66,429 nodes):
// uncaught, krusty spends seconds and a quarter GB on it — survivable, so a broken pre-check
// fails this test instead of the machine.
func bombConfigMap(name string) string {
	return "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: " + name + "}\nlaughs:\n" + yamltest.Laughs("  ", 5)
}

const chartYAML = "apiVersion: v2\nname: c\nversion: 0.1.0\n"

// TestAliasBombs: a bomb wherever a file reaches a parser fails the render, naming the file.
func TestAliasBombs(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		files  map[string]string
		values []string
		file   string
	}{
		{"plain manifest", map[string]string{"ok.yaml": cm("ok"), "bomb.yaml": bombConfigMap("b")}, nil, "bomb.yaml"},
		{"kustomize resource", map[string]string{"kustomization.yaml": "resources: [cm.yaml]\n", "cm.yaml": bombConfigMap("b")}, nil, "cm.yaml"},
		{"kustomize resource in a base", map[string]string{"app/kustomization.yaml": "resources: [../base]\n",
			"base/kustomization.yaml": "resources: [cm.yaml]\n", "base/cm.yaml": bombConfigMap("b")}, nil, "base/cm.yaml"},
		{"kustomize patch file", map[string]string{"kustomization.yaml": "resources: [cm.yaml]\npatches: [{path: patch.yaml}]\n",
			"cm.yaml": cm("b"), "patch.yaml": bombConfigMap("b")}, nil, "patch.yaml"},
		{"kustomize inline patch", map[string]string{"kustomization.yaml": "resources: [cm.yaml]\npatches:\n- patch: |-\n    " +
			strings.ReplaceAll(strings.TrimSpace(bombConfigMap("b")), "\n", "\n    ") + "\n", "cm.yaml": cm("b")}, nil, "kustomization.yaml"},
		{"helm values file", map[string]string{"Chart.yaml": chartYAML, "templates/cm.yaml": cm("x"),
			"prod.yaml": "big:\n" + yamltest.Laughs("  ", 5)}, []string{"prod.yaml"}, "prod.yaml"},
		{"helm chart values.yaml", map[string]string{"Chart.yaml": chartYAML, "templates/cm.yaml": cm("x"),
			"values.yaml": "big:\n" + yamltest.Laughs("  ", 5)}, nil, "values.yaml"},
		{"helm template output", map[string]string{"Chart.yaml": chartYAML, "values.yaml": "n: 9\n",
			"templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\nlaughs:\n  a0: &a0 [{{ range until (int .Values.n) }}x,{{ end }}x]\n" +
				strings.SplitN(yamltest.Laughs("  ", 5), "\n", 2)[1]}, nil, "templates/cm.yaml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := ""
			if strings.HasPrefix(tc.file, "base/") {
				dir = "app"
			}
			req := request("bomb", dir, tc.files)
			req.ValuesFiles = tc.values
			start := time.Now()
			_, err := render.Render(context.Background(), req, render.Options{})
			t.Logf("refused in %s: %v", time.Since(start).Round(time.Millisecond), err)
			var le *render.LimitError
			if !errors.Is(err, render.ErrAliasBomb) || !errors.As(err, &le) || le.File != tc.file || !errors.Is(err, errdefs.ErrInvalid) {
				t.Fatalf("Render() = %v, want ErrAliasBomb naming %s", err, tc.file)
			}
			if !strings.Contains(err.Error(), "its YAML aliases expand to more than 10000 nodes; the limit is 10000") {
				t.Errorf("Render() error %q does not give the count and the limit", err)
			}
		})
	}
}

// TestRenderLimits: the timeout and the caps on bytes and objects.
func TestRenderLimits(t *testing.T) {
	t.Parallel()
	many := ""
	for i := range 20 {
		many += cm(fmt.Sprintf("c%d", i)) + "---\n"
	}
	for _, tc := range []struct {
		name     string
		files    map[string]string
		limits   render.Limits
		sentinel error
		want     string
	}{
		{"a template that loops for minutes", map[string]string{"Chart.yaml": chartYAML,
			"templates/loop.yaml": "{{ range $i := until 100000 }}{{ range $j := until 100000 }}{{ end }}{{ end }}"},
			render.Limits{Timeout: 300 * time.Millisecond}, render.ErrTimeout, "render timed out: still rendering after 300ms"},
		{"a template that writes 2 MiB", map[string]string{"Chart.yaml": chartYAML,
			"templates/big.yaml": "{{ range until 2048 }}# {{ repeat 1021 \"x\" }}\n{{ end }}"},
			render.Limits{MaxBytes: 1 << 20}, render.ErrTooLarge, "rendered output too large: templates/big.yaml: the render reached 2.0 MiB; the limit is 1.0 MiB"},
		{"plain files of 2 MiB", map[string]string{"a.yaml": cm("a") + "data: {x: " + strings.Repeat("x", 2<<20) + "}\n"},
			render.Limits{MaxBytes: 1 << 20}, render.ErrTooLarge, "rendered output too large: a.yaml"},
		{"20 objects", map[string]string{"a.yaml": many}, render.Limits{MaxObjects: 10}, render.ErrTooManyObjects,
			"too many rendered objects: a.yaml: the render reached 20 objects; the limit is 10"},
		{"20 objects of kustomize", map[string]string{"kustomization.yaml": "resources: [a.yaml]\n", "a.yaml": many},
			render.Limits{MaxObjects: 10}, render.ErrTooManyObjects, "too many rendered objects: kustomize build ."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			_, err := render.Render(context.Background(), request("big", "", tc.files), render.Options{Limits: tc.limits})
			t.Logf("stopped after %s: %v", time.Since(start).Round(time.Millisecond), err)
			if !errors.Is(err, tc.sentinel) || !errors.Is(err, errdefs.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Render() = %v, want %v containing %q", err, tc.sentinel, tc.want)
			}
			if errdefs.Hint(err) == "" {
				t.Errorf("Render() error has no hint")
			}
		})
	}
}

// TestHooks: Helm hooks are returned apart from the objects.
func TestHooks(t *testing.T) {
	t.Parallel()
	res, err := render.Render(context.Background(), request("rel", "", map[string]string{"Chart.yaml": chartYAML,
		"templates/cm.yaml":  cm("app"),
		"templates/job.yaml": "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: migrate\n  annotations: {helm.sh/hook: 'pre-install,pre-upgrade', helm.sh/hook-weight: '-5'}\nspec: {}\n",
	}), render.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := names(res); len(got) != 1 || got[0] != "ConfigMap/app@" {
		t.Errorf("objects = %v, want the ConfigMap only", got)
	}
	if len(res.Hooks) != 1 || res.Hooks[0].Object.Object.GetName() != "migrate" || strings.Join(res.Hooks[0].Events, ",") != "pre-install,pre-upgrade" ||
		res.Hooks[0].Weight != -5 || res.Hooks[0].Source != "templates/job.yaml" {
		t.Errorf("hooks = %+v", res.Hooks)
	}
}
