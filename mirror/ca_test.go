package mirror

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/tagrelay/tagrelay/internal/gitauth"
	"github.com/tagrelay/tagrelay/internal/gittest"
	"github.com/tagrelay/tagrelay/internal/regtest"
)

// TestGitTrustsSystemAndExtraCAs: with --ca-file for a destination on a private CA, the git
// CLI still trusts the source on a public CA. Two real HTTPS git servers: the source's CA is
// the "system" bundle (SSL_CERT_FILE, as a public CA would be in /etc/ssl), the destination's
// is the extra bundle. Pointing GIT_SSL_CAINFO at the extra bundle alone (what tagrelay did
// before) fails the source; the bundle gitCAFile writes passes both and is private and removed.
func TestGitTrustsSystemAndExtraCAs(t *testing.T) {
	t.Parallel()
	public, err := regtest.NewCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	private, err := regtest.NewCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	src := gittest.New(t, gittest.WithTLS(public.Server))
	dst := gittest.New(t, gittest.WithTLS(private.Server))
	src.MustCreateRepo(t, "external/app")
	dst.MustCreateRepo(t, "internal/app")
	src.MustCommit(t, "external/app", "main", "one", map[string]string{"a": "1"})

	extra, err := os.ReadFile(private.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "SSL_CERT_FILE="+public.CertFile)
	g, err := newGit(&Options{Git: "git", Env: env})
	if err != nil {
		t.Fatal(err)
	}
	lsRemote := func(caFile, url string) error {
		gg := &git{bin: g.bin, env: append(append([]string(nil), g.env...), "GIT_SSL_CAINFO="+caFile)}
		_, err := gg.run(context.Background(), "", gitauth.Credentials{}, nil, "ls-remote", url)
		return err
	}

	// Before: the extra CAs alone.
	if err := lsRemote(private.CertFile, src.RepoURL("external/app")); err == nil {
		t.Fatal("git trusted the source with GIT_SSL_CAINFO = the extra CAs only; the test cannot tell the fix from the defect")
	}

	path, done, err := gitCAFile(g.env, extra)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("CA file %s: %v, mode %v; want 0600", path, err, fi.Mode().Perm())
	}
	for side, url := range map[string]string{"source (system CA)": src.RepoURL("external/app"), "destination (extra CA)": dst.RepoURL("internal/app")} {
		if err := lsRemote(path, url); err != nil {
			t.Errorf("%s: git ls-remote %s = %v", side, url, err)
		}
	}
	done()
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("CA file %s left behind: %v", path, err)
	}
	if !strings.HasPrefix(src.URL, "https://") {
		t.Errorf("source URL %s: want https", src.URL)
	}
}
