package release

import (
	"context"
	"strings"
	"testing"

	"github.com/tagrelay/tagrelay/bump"
	"github.com/tagrelay/tagrelay/internal/gitauth"
	"github.com/tagrelay/tagrelay/internal/gittest"
	"github.com/tagrelay/tagrelay/internal/provenance"
	"github.com/tagrelay/tagrelay/internal/regtest"
	"github.com/tagrelay/tagrelay/registry"
)

const appSHA = "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d"

// TestBumpStepProvenance: the release's infra commit carries the provenance trailers of the
// released commit, and none of a source that is another commit than the released one.
func TestBumpStepProvenance(t *testing.T) {
	t.Parallel()
	reg := regtest.New(t)
	image := reg.Host + "/team/app"
	reg.Write(t, "team/app:v1.4.0", regtest.Image(t, 256, 1))
	client, err := registry.NewClient(registry.ClientOptions{Insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, commit string
		want         string
	}{
		{"released commit", "1a2b3c4d", "Tagrelay-Image: " + image + ":v1.4.0\nTagrelay-Source-Commit: " + appSHA + "\nTagrelay-Source-Repo: https://gitlab.example.com/team/app"},
		{"another commit", "9f9f9f9f", "Tagrelay-Image: " + image + ":v1.4.0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			git := gittest.New(t, gittest.WithBasicAuth("oauth2", "glpat-release-token"))
			git.MustCreateRepo(t, "team/infra")
			git.MustCommit(t, "team/infra", "main", "infra", map[string]string{"values.yaml": "image:\n  repository: " + image + "\n  tag: \"0000000a\"\n"})
			o := Options{Commit: tc.commit, Registry: client, Git: gitauth.Credentials{Username: "oauth2", Password: "glpat-release-token"},
				Bump: bump.PushOptions{Source: provenance.Source{Commit: appSHA, Repo: "https://gitlab.example.com/team/app"}}}
			o.defaults()
			s := &bumpStep{cfg: InfraConfig{Repo: git.RepoURL("team/infra"), Files: []string{"values.yaml"}}, image: image, tag: "v1.4.0", o: &o}
			if _, _, err := s.run(context.Background()); err != nil {
				t.Fatalf("run() = %v", err)
			}
			got, _ := git.Git("team/infra", "log", "-1", "--format=%(trailers:only,unfold)", "main")
			if strings.TrimSpace(got) != tc.want {
				t.Errorf("trailers =\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}
