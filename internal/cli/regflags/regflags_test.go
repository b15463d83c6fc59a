package regflags

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tagrelay/tagrelay/internal/clirun"
	"github.com/tagrelay/tagrelay/internal/errdefs"
)

const pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"

func env(vars map[string]string) *clirun.Env {
	return clirun.NewEnv(strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{}, vars)
}

// TestCABundle: --ca-file, else GitLab's CA_BUNDLE as a file variable (a path) or as a plain
// variable (the PEM itself); the bundle is the files' PEM.
func TestCABundle(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(file, []byte(pem+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		caFile string
		vars   map[string]string
		files  int
	}{
		{"nothing", "", nil, 0},
		{"--ca-file wins over CA_BUNDLE", file, map[string]string{"CA_BUNDLE": "/nonexistent.pem"}, 1},
		{"CA_BUNDLE file variable", "", map[string]string{"CA_BUNDLE": file}, 1},
		{"CA_BUNDLE holding the PEM", "", map[string]string{"CA_BUNDLE": "  " + pem + "\n"}, 1},
	} {
		o := &Options{caFile: tc.caFile}
		bundle, files, err := o.CABundle(env(tc.vars))
		if err != nil || len(files) != tc.files {
			t.Errorf("%s: CABundle() = %d files, %v; want %d files", tc.name, len(files), err, tc.files)
			continue
		}
		if want := strings.Repeat(pem+"\n\n", tc.files); string(bundle) != want {
			t.Errorf("%s: bundle = %q, want %q", tc.name, bundle, want)
		}
		if again, _ := o.CAFiles(env(nil)); len(again) != len(files) {
			t.Errorf("%s: a second CAFiles() = %v, want the first answer %v", tc.name, again, files)
		}
	}
}

func TestCABundleMissingFile(t *testing.T) {
	t.Parallel()
	_, _, err := (&Options{}).CABundle(env(map[string]string{"CA_BUNDLE": "/nonexistent/ca.pem"}))
	if !errors.Is(err, errdefs.ErrInvalid) || !strings.Contains(err.Error(), "CA_BUNDLE") {
		t.Errorf("CABundle() = %v, want a usage error naming CA_BUNDLE", err)
	}
	_, _, err = (&Options{caFile: "/nonexistent/ca.pem"}).CABundle(env(nil))
	if !errors.Is(err, errdefs.ErrInvalid) || !strings.Contains(err.Error(), "reading CA file") {
		t.Errorf("CABundle(--ca-file missing) = %v, want a usage error", err)
	}
}
