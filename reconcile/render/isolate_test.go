package render_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tagrelay/tagrelay/internal/errdefs"
	"github.com/tagrelay/tagrelay/reconcile/render"
)

// TestIsolation: in a worker process the templates render the same, and a template that loops
// for minutes, writes 100 MB or allocates a gigabyte costs the render its limit, never the
// caller's memory or a CPU after the deadline.
func TestIsolation(t *testing.T) {
	t.Parallel()
	chart := func(tpl string) map[string]string {
		return map[string]string{"Chart.yaml": chartYAML, "values.yaml": "suffix: v\n", "templates/t.yaml": tpl}
	}
	res, err := render.Render(context.Background(), request("rel", "", chart("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: '{{ .Release.Name }}-{{ .Values.suffix }}', namespace: '{{ .Release.Namespace }}'}\n")),
		isolated(t, render.Limits{}, 0))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"ConfigMap/rel-v@ns"}, names(res)); diff != "" {
		t.Errorf("isolated render (-want +got):\n%s", diff)
	}

	for _, tc := range []struct {
		name     string
		tpl      string
		limits   render.Limits
		memory   int64
		sentinel error
		want     string
	}{
		{"a loop for minutes", "{{ range $i := until 100000 }}{{ range $j := until 100000 }}{{ end }}{{ end }}",
			render.Limits{Timeout: 2 * time.Second}, 0, render.ErrTimeout, "render timed out: still rendering after 2s"},
		{"100 MB of output", "# {{ repeat 100000000 \"x\" }}\n",
			render.Limits{}, 1 << 30, render.ErrTooLarge, "the templates wrote more than 32.0 MiB, the limit"},
		{"a gigabyte in one call", "# {{ repeat 1000000000 \"x\" }}\n", render.Limits{}, 0, nil, "the worker ran out of its 256.0 MiB"},
		{"a template error", "{{ required \"tag is required\" .Values.tag }}", render.Limits{}, 0, nil, "tag is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			_, err := render.Render(context.Background(), request("big", "", chart(tc.tpl)), isolated(t, tc.limits, tc.memory))
			t.Logf("stopped after %s: %v", time.Since(start).Round(time.Millisecond), err)
			if tc.sentinel != nil && !errors.Is(err, tc.sentinel) || !errors.Is(err, errdefs.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Render() = %v, want %v containing %q", err, tc.sentinel, tc.want)
			}
		})
	}
}
