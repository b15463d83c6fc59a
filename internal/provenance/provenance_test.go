package provenance

import (
	"errors"
	"os/exec"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const sha = "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d"

// messages are commit messages with and without trailer blocks, as bump's default template, CI
// trailers, users' templates and git itself write them.
var messages = map[string]string{
	"subject only":        "deploy: team/web:1\n",
	"subject is no block": "Foo: bar\n",
	"changes paragraph":   "deploy: team/web:1\n\nenvs/prod/kustomization.yaml:7: team/web 0 -> 1\n",
	"ci block":            "deploy: team/web:1\n\nenvs/prod/k.yaml:7: team/web 0 -> 1\n\nSource: team/web@" + sha + "\nPipeline: https://gitlab.example.com/team/web/-/pipelines/7\n",
	"continuation":        "deploy\n\nbody\n\nTagrelay-Image: team/web:1\nNote: a long\n  wrapped value\n",
	"mixed, no git line":  "deploy\n\nTagrelay-Image: team/web:1\nthis is prose\n",
	"signed-off 25%":      "deploy\n\nprose one\nprose two\nprose three\nSigned-off-by: Jane <jane@example.com>\n",
	"signed-off 20%":      "deploy\n\nprose one\nprose two\nprose three\nprose four\nSigned-off-by: Jane <jane@example.com>\n",
	"key with blank":      "deploy\n\nTagrelay-Image : team/web:1\n",
	"url is no key":       "deploy\n\nhttps://example.com: x\n",
	"crlf":                "deploy\r\n\r\nTagrelay-Image: team/web:1\r\n",
	"comment lines":       "deploy\n\n# a comment\nTagrelay-Image: team/web:1\n",
}

// TestParseAgreesWithGit checks Parse against git interpret-trailers --parse on every message.
func TestParseAgreesWithGit(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	for name, msg := range messages {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var got []string
			for _, tr := range Parse(msg) {
				got = append(got, tr.String())
			}
			if want := gitTrailers(t, msg); !cmp.Equal(got, want) {
				t.Errorf("Parse(%q) = %q, git says %q", msg, got, want)
			}
		})
	}
}

// gitTrailers returns what git reads as msg's trailers, normalised ("Key: value").
func gitTrailers(t *testing.T, msg string) []string {
	t.Helper()
	cmd := exec.Command("git", "-c", "trailer.separators=:", "interpret-trailers", "--parse", "--no-divider")
	cmd.Stdin = strings.NewReader(msg)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git interpret-trailers: %v", err)
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(strings.ReplaceAll(string(out), "\r", "")), "\n") {
		if l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

func TestAppend(t *testing.T) {
	t.Parallel()
	rec := Record{Images: []string{"harbor.example/team/web:1a2b3c4d", "harbor.example/team/api:1a2b3c4d"},
		Source: Source{Commit: sha, Repo: "https://gitlab-ci-token:glcbt-s3cret@gitlab.example.com/team/web.git?private_token=x#frag"}}
	trailers, err := rec.Trailers()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"Tagrelay-Image: harbor.example/team/web:1a2b3c4d",
		"Tagrelay-Image: harbor.example/team/api:1a2b3c4d",
		"Tagrelay-Source-Commit: " + sha,
		"Tagrelay-Source-Repo: https://gitlab.example.com/team/web.git",
	}
	for _, tc := range []struct{ name, msg, want string }{
		{"new block", messages["changes paragraph"], messages["changes paragraph"] + "\n" + strings.Join(want, "\n") + "\n"},
		{"joins the CI block", messages["ci block"], messages["ci block"] + strings.Join(want, "\n") + "\n"},
		{"subject only", "deploy: x", "deploy: x\n\n" + strings.Join(want, "\n") + "\n"},
		{"trailing blank lines", "deploy: x\n\nbody\n\n\n", "deploy: x\n\nbody\n\n" + strings.Join(want, "\n") + "\n"},
		{"not repeated", "deploy: x\n\n" + strings.Join(want, "\n") + "\n", "deploy: x\n\n" + strings.Join(want, "\n") + "\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := Append(tc.msg, trailers)
			if got != tc.want {
				t.Errorf("Append() =\n%s\nwant\n%s", got, tc.want)
			}
			if _, err := exec.LookPath("git"); err == nil {
				// git sees exactly our trailers at the end of its own block.
				all := gitTrailers(t, got)
				if len(all) < len(want) || !cmp.Equal(all[len(all)-len(want):], want) {
					t.Errorf("git reads the trailers of\n%s\nas %q, want them to end with %q", got, all, want)
				}
			}
			back, ok := Read(got)
			if !ok || !cmp.Equal(back, Record{Images: rec.Images, Source: Source{Commit: sha, Repo: "https://gitlab.example.com/team/web.git"}}) {
				t.Errorf("Read(Append()) = %+v, %v", back, ok)
			}
			if strings.Contains(got, "s3cret") || strings.Contains(got, "private_token") {
				t.Errorf("a credential of the repository URL landed in the message:\n%s", got)
			}
		})
	}
}

func TestTrailersRefuseBadValues(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		rec  Record
	}{
		{"short sha", Record{Source: Source{Commit: "1a2b3c4d"}}},
		{"not hex", Record{Source: Source{Commit: strings.Repeat("g", 40)}}},
		{"line break in image", Record{Images: []string{"team/web:1\nTagrelay-Source-Commit: " + sha}}},
		{"image without tag", Record{Images: []string{"team/web"}}},
		{"repo without commit", Record{Source: Source{Repo: "https://gitlab.example.com/team/web"}}},
		{"file repo", Record{Source: Source{Commit: sha, Repo: "file:///srv/git/web"}}},
		{"line break in repo", Record{Source: Source{Commit: sha, Repo: "https://x.example/a\nTagrelay-Image: evil:1"}}},
		{"not a URL", Record{Source: Source{Commit: sha, Repo: "team/web"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got, err := tc.rec.Trailers(); !errors.Is(err, ErrInvalid) {
				t.Errorf("Trailers() = %q, %v, want ErrInvalid", got, err)
			}
		})
	}
}

func TestCleanRepo(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"https://gitlab.example.com/team/web":                        "https://gitlab.example.com/team/web",
		"https://x-access-token:ghs_abc@github.com/o/r.git":          "https://github.com/o/r.git",
		"https://ghp_token@github.com/o/r":                           "https://github.com/o/r",
		"http://10.0.0.1:8080/team/web?private_token=glpat-x#readme": "http://10.0.0.1:8080/team/web",
		"ssh://git:pw@gitlab.example.com:2222/team/web.git":          "ssh://gitlab.example.com:2222/team/web.git",
		"git@gitlab.example.com:team/web.git":                        "git@gitlab.example.com:team/web.git",
		"  https://gitlab.example.com/team/web  ":                    "https://gitlab.example.com/team/web",
	} {
		got, err := CleanRepo(in)
		if err != nil || got != want {
			t.Errorf("CleanRepo(%q) = %q, %v, want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "file:///x", "/srv/git/web", "user:password@host:path", "https://a b/c", "javascript:alert(1)", "https:///nohost", strings.Repeat("a", 600)} {
		if got, err := CleanRepo(in); err == nil {
			t.Errorf("CleanRepo(%q) = %q, want an error", in, got)
		}
	}
}

// TestReadHostile reads messages a project team could write: what does not parse is dropped,
// nothing is trusted as is, and the image count is bounded.
func TestReadHostile(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("deploy\n\n")
	for i := 0; i < 1000; i++ {
		b.WriteString("Tagrelay-Image: team/web:" + strings.Repeat("1", 1+i%5) + string(rune('a'+i%26)) + "\n")
	}
	b.WriteString("Tagrelay-Source-Commit: not-a-sha\n")
	b.WriteString("tagrelay-source-commit: " + strings.ToUpper(sha) + "\n")
	b.WriteString("Tagrelay-Source-Commit: " + strings.Repeat("0", 40) + "\n")
	b.WriteString("Tagrelay-Source-Repo: https://user:hunter2@evil.example/x?token=t\n")
	b.WriteString("Tagrelay-Image: " + strings.Repeat("x", 600) + ":1\n")
	r, ok := Read(b.String())
	if !ok || r.Source.Commit != sha {
		t.Fatalf("Read() = %+v, %v, want the first valid commit, lowercased", r.Source, ok)
	}
	if len(r.Images) != MaxImages {
		t.Errorf("Read() kept %d images, want at most %d", len(r.Images), MaxImages)
	}
	if r.Source.Repo != "https://evil.example/x" {
		t.Errorf("Read() repo = %q, want it cleaned", r.Source.Repo)
	}
	if _, ok := Read("deploy\n\nTagrelay-Image: team/web:1\n"); ok {
		t.Error("Read() of a message without a source commit reports one")
	}
	// A huge message: only its end is searched, and that still finds the block.
	huge := "deploy\n\n" + strings.Repeat("prose\n", 200000) + "\nTagrelay-Source-Commit: " + sha + "\n"
	if r, ok := Read(huge); !ok || r.Source.Commit != sha {
		t.Errorf("Read(huge) = %+v, %v", r, ok)
	}
}

func FuzzRead(f *testing.F) {
	for _, m := range messages {
		f.Add(m)
	}
	f.Fuzz(func(t *testing.T, msg string) {
		r, ok := Read(msg)
		if ok && !ValidCommit(r.Source.Commit) {
			t.Errorf("Read(%q) = %+v: not a valid commit", msg, r)
		}
		if len(r.Images) > MaxImages {
			t.Errorf("Read(%q) kept %d images", msg, len(r.Images))
		}
		if r.Source.Repo != "" && strings.ContainsAny(r.Source.Repo, "@?#") && !scpLike(r.Source.Repo) {
			t.Errorf("Read(%q) repo %q keeps user info, query or fragment", msg, r.Source.Repo)
		}
		// What Read returns can always be written again.
		if ok {
			if _, err := r.Trailers(); err != nil {
				t.Errorf("Read(%q) = %+v, which Trailers refuses: %v", msg, r, err)
			}
		}
	})
}
