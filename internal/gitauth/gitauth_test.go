package gitauth

import (
	"strings"
	"testing"
)

func TestGitEnv(t *testing.T) {
	t.Parallel()
	c := Credentials{Username: "robot$ci", Password: "glpat-abcdef"}
	env := c.GitEnv([]string{"PATH=/bin", "GIT_CONFIG_COUNT=2"})
	if len(env) != 3 || env[0] != "GIT_CONFIG_COUNT=3" || env[1] != "GIT_CONFIG_KEY_2=http.extraHeader" {
		t.Fatalf("GitEnv() = %q", env)
	}
	if !strings.HasPrefix(env[2], "GIT_CONFIG_VALUE_2=Authorization: Basic ") || strings.Contains(env[2], "glpat-abcdef") {
		t.Errorf("GitEnv() header = %q", env[2])
	}
	if (Credentials{}).GitEnv(nil) != nil || (Credentials{}).GoGit() != nil {
		t.Errorf("empty credentials produce auth")
	}
}

func TestFromURL(t *testing.T) {
	t.Parallel()
	clean, c, err := FromURL("https://oauth2:tok%24en@gitlab.example/g/p.git")
	if err != nil || clean != "https://gitlab.example/g/p.git" || c.Username != "oauth2" || c.Password != "tok$en" {
		t.Errorf("FromURL() = %q, %+v, %v", clean, c, err)
	}
	clean, c, _ = FromURL("git@github.com:o/r.git")
	if clean != "git@github.com:o/r.git" || !c.Empty() {
		t.Errorf("FromURL(scp) = %q, %+v", clean, c)
	}
}
