package reconcile_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tagrelay/tagrelay/internal/errdefs"
	"github.com/tagrelay/tagrelay/internal/exitcode"
	"github.com/tagrelay/tagrelay/reconcile"
)

// TestRefusalNamesOverride: a trigger that expects the tag a bump wrote into values.yaml, on
// the podinfo-shaped app that renders with values-prod.yaml, is refused (exit 3, nothing
// applied) with a hint naming values-prod.yaml and image.tag instead of guessing mirror lag;
// a tag the revision does not hold keeps the mirror-lag hint.
func TestRefusalNamesOverride(t *testing.T) {
	f := newFixture(t)
	files := map[string]string{}
	for _, name := range []string{"Chart.yaml", "values.yaml", "values-prod.yaml", "templates/deployment.yaml"} {
		b, err := os.ReadFile(filepath.Join("render/testdata/overrides/charts/podinfo", name))
		if err != nil {
			t.Fatal(err)
		}
		files["charts/podinfo/"+name] = string(b)
	}
	// The bump of the wrong file: values.yaml now says 6.15.0, values-prod.yaml still 6.14.1.
	files["charts/podinfo/values.yaml"] = strings.Replace(files["charts/podinfo/values.yaml"], "tag: 6.14.0", "tag: 6.15.0", 1)
	f.commit(files)
	app := f.app("podinfo", "charts/podinfo")
	app.ValuesFiles = []string{"values-prod.yaml"}

	res, err := f.sync(app, reconcile.SyncOptions{ExpectImage: "ghcr.io/stefanprodan/podinfo:6.15.0"})
	wantErr(t, res, err, reconcile.ErrExpectedImage, exitcode.Noop)
	hint := errdefs.Hint(err)
	for _, want := range []string{"the revision sets 6.15.0 in charts/podinfo/values.yaml key image.tag (6.15.0)",
		"but charts/podinfo/values-prod.yaml key image.tag (6.14.1) overrides it"} {
		if !strings.Contains(hint, want) {
			t.Errorf("hint %q lacks %q", hint, want)
		}
	}
	if strings.Contains(hint, "mirror lag") {
		t.Errorf("hint still guesses mirror lag: %q", hint)
	}
	if names := f.objectNames(); len(names) != 0 {
		t.Errorf("refused sync applied %v", names)
	}

	res, err = f.sync(app, reconcile.SyncOptions{ExpectImage: "ghcr.io/stefanprodan/podinfo:6.16.0"})
	wantErr(t, res, err, reconcile.ErrExpectedImage, exitcode.Noop)
	if hint := errdefs.Hint(err); !strings.Contains(hint, "mirror lag") {
		t.Errorf("a tag the revision lacks: hint %q, want the mirror-lag hint", hint)
	}
}
