package bump

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/tagrelay/tagrelay/internal/errdefs"
	"github.com/tagrelay/tagrelay/internal/provenance"
)

const appSHA = "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d"

// TestPushWritesProvenance: the pushed commit ends with exactly the provenance trailers, as git
// reads them, one Tagrelay-Image per changed image (not for an image already current), and the
// source repository's credentials never reach the commit.
func TestPushWritesProvenance(t *testing.T) {
	t.Parallel()
	s, remote := seedInfra(t)
	c, err := Push(context.Background(), remote, []string{"envs/prod/kustomization.yaml"},
		[]Target{{Image: "harbor.example/team/api", Tag: "1a2b3c4d"}, {Image: "harbor.example/team/web", Tag: "v1"}},
		PushOptions{Source: provenance.Source{Commit: strings.ToUpper(appSHA), Repo: "https://gitlab-ci-token:glcbt-64_s3cret@gitlab.example.com/team/app.git"}})
	if err != nil {
		t.Fatalf("Push() = %v", err)
	}
	trailers, _ := s.Git("team/infra", "log", "-1", "--format=%(trailers:only,unfold)", "main")
	want := "Tagrelay-Image: harbor.example/team/api:1a2b3c4d\n" +
		"Tagrelay-Source-Commit: " + appSHA + "\n" +
		"Tagrelay-Source-Repo: https://gitlab.example.com/team/app.git"
	if strings.TrimSpace(trailers) != want {
		t.Errorf("trailers of the pushed commit (git log) =\n%s\nwant\n%s", trailers, want)
	}
	body, _ := s.Git("team/infra", "log", "-1", "--format=%B", "main")
	if strings.Contains(body, "s3cret") || strings.Contains(body, "gitlab-ci-token") {
		t.Errorf("the source repository's credentials are in the commit:\n%s", body)
	}
	if !strings.HasPrefix(body, "deploy: harbor.example/team/api:1a2b3c4d\n\nenvs/prod/kustomization.yaml:7:") {
		t.Errorf("the templated message does not come first:\n%s", body)
	}
	if strings.TrimSpace(c.Message) != strings.TrimSpace(body) {
		t.Errorf("Commit.Message = %q, want the pushed message %q", c.Message, body)
	}
}

// TestPushRefusesBadSource: a source commit that is not a full SHA is an input error before
// anything is fetched or pushed.
func TestPushRefusesBadSource(t *testing.T) {
	t.Parallel()
	s, remote := seedInfra(t)
	before, _ := s.RevParse("team/infra", "main")
	s.ResetRequests()
	_, err := Push(context.Background(), remote, []string{"envs/prod/kustomization.yaml"},
		[]Target{{Image: "harbor.example/team/api", Tag: "1a2b3c4d"}}, PushOptions{Source: provenance.Source{Commit: "1a2b3c4d"}})
	if !errors.Is(err, errdefs.ErrInvalid) || !strings.Contains(err.Error(), "not a full SHA") {
		t.Errorf("Push() = %v, want an invalid source commit", err)
	}
	if after, _ := s.RevParse("team/infra", "main"); after != before || len(s.Requests()) != 0 {
		t.Errorf("main moved to %s or %d requests were made", after, len(s.Requests()))
	}
}

func TestCommitMessage(t *testing.T) {
	t.Parallel()
	res, err := Plan(fstest.MapFS{"k.yaml": {Data: []byte(kustomization)}}, []string{"k.yaml"}, []Target{{Image: "harbor.example/team/web", Tag: "v2"}}, KindAuto)
	if err != nil {
		t.Fatal(err)
	}
	got, err := CommitMessage("deploy {{index .Images 0}}\n\nSigned-off-by: CI <ci@example.com>", res,
		[]Target{{Image: "harbor.example/team/web", Tag: "v2"}}, "main", provenance.Source{Commit: appSHA})
	want := "deploy harbor.example/team/web:v2\n\nSigned-off-by: CI <ci@example.com>\n" +
		"Tagrelay-Image: harbor.example/team/web:v2\nTagrelay-Source-Commit: " + appSHA + "\n"
	if err != nil || got != want {
		t.Errorf("CommitMessage() = %q, %v\nwant %q", got, err, want)
	}
}
