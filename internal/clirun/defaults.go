package clirun

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/go-git/go-git/v5"
)

// shortSHALen matches GitLab's CI_COMMIT_SHORT_SHA, so a tag computed here, in GitLab and from
// GITHUB_SHA is the same string for the same commit.
const shortSHALen = 8

// DefaultTag returns the tag of the commit being built: CI_COMMIT_SHORT_SHA, else the first 8
// characters of GITHUB_SHA, else the first 8 characters of HEAD of the git repository around the
// working directory. It fails when none is available.
func (e *Env) DefaultTag() (string, error) {
	if t := strings.TrimSpace(e.Getenv("CI_COMMIT_SHORT_SHA")); t != "" {
		return t, nil
	}
	if sha := strings.TrimSpace(e.Getenv("GITHUB_SHA")); len(sha) >= shortSHALen {
		return sha[:shortSHALen], nil
	}
	dir := e.Dir
	if dir == "" {
		var err error
		if dir, err = os.Getwd(); err != nil {
			return "", err
		}
	}
	repo, err := git.PlainOpenWithOptions(dir, &git.PlainOpenOptions{DetectDotGit: true})
	if err == nil {
		head, herr := repo.Head()
		if herr == nil {
			return head.Hash().String()[:shortSHALen], nil
		}
		err = herr
	}
	if errors.Is(err, git.ErrRepositoryNotExists) {
		err = errors.New("not inside a git repository")
	}
	return "", Usagef("pass --tag, or run in CI (CI_COMMIT_SHORT_SHA, GITHUB_SHA) or inside the app's git checkout",
		"no tag given and none found: %v", fmt.Sprint(err))
}

// Secret reads a secret from a file (trailing newline trimmed) or returns value, and registers it
// with the redactor so it never appears in output. Empty inputs give "".
func (e *Env) Secret(value, file string) (string, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", Usagef("check the path of the secret file", "reading secret file: %v", err)
		}
		value = strings.TrimRight(string(b), "\r\n")
	}
	e.Redactor.Add(value)
	return value, nil
}
