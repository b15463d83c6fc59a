package reconcile

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/tagrelay/tagrelay/internal/errdefs"
)

// Project is a tenant of the server: the apps that deploy into its namespaces, a bearer token
// that reads and acts on those apps alone, and the GitLab projects whose CI id_tokens act for it.
//
//	projects:
//	- name: team-a
//	  namespaces: [team-a, team-a-staging]
//	  tokenFile: /etc/tagrelay/projects/team-a/token
//	  gitlabProjects: [team-a/infra, team-a/apps/*]   # project_path claims (path.Match)
type Project struct {
	// Name identifies the project (a DNS label); callers are recorded under it.
	Name string `json:"name"`
	// Namespaces are the project's: an app belongs to the project its namespace is listed by.
	Namespaces []string `json:"namespaces"`
	// TokenFile holds the project's API token. Default: none (id_tokens only).
	TokenFile string `json:"tokenFile,omitempty"`
	// GitLabProjects are patterns (path.Match, so "*" stops at "/") of the GitLab project paths
	// whose CI id_tokens act for this project.
	GitLabProjects []string `json:"gitlabProjects,omitempty"`

	// Token is the content of TokenFile (see Projects.ResolveTokens).
	Token string `json:"-"`
}

// minTokenLength keeps guessable tokens out.
const minTokenLength = 16

// Projects are the projects of an apps file. They validate while being decoded, so a bad
// projects: section fails LoadConfig like a bad app does (exit 2).
type Projects []Project

// UnmarshalJSON implements json.Unmarshaler: strict fields, then Validate.
func (ps *Projects) UnmarshalJSON(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var list []Project
	if err := dec.Decode(&list); err != nil {
		return fmt.Errorf("projects: %w", err)
	}
	*ps = list
	return ps.Validate()
}

// Validate checks names, namespaces (each in one project at most) and patterns.
func (ps Projects) Validate() error {
	var errs []error
	names, owners := map[string]bool{}, map[string]string{}
	for i, p := range ps {
		where := fmt.Sprintf("project %d (%s)", i+1, p.Name)
		if msgs := validation.IsDNS1123Label(p.Name); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("%s: name %q: %s", where, p.Name, strings.Join(msgs, "; ")))
		}
		if names[p.Name] {
			errs = append(errs, fmt.Errorf("%s: duplicate name", where))
		}
		names[p.Name] = true
		if len(p.Namespaces) == 0 {
			errs = append(errs, fmt.Errorf("%s: no namespaces", where))
		}
		for _, ns := range p.Namespaces {
			if msgs := validation.IsDNS1123Label(ns); len(msgs) > 0 {
				errs = append(errs, fmt.Errorf("%s: namespace %q: %s", where, ns, strings.Join(msgs, "; ")))
			}
			if o, ok := owners[ns]; ok && o != p.Name {
				errs = append(errs, fmt.Errorf("%s: namespace %s is already project %s's", where, ns, o))
			}
			owners[ns] = p.Name
		}
		if p.TokenFile == "" && len(p.GitLabProjects) == 0 {
			errs = append(errs, fmt.Errorf("%s: no way in: set tokenFile or gitlabProjects", where))
		}
		for _, pat := range p.GitLabProjects {
			if _, err := path.Match(pat, ""); err != nil || pat == "" || strings.HasPrefix(pat, "/") {
				errs = append(errs, fmt.Errorf("%s: gitlabProjects pattern %q: want group/project, or group/*", where, pat))
			}
		}
	}
	if len(errs) > 0 {
		return errdefs.WithHint(errdefs.Invalid(errors.Join(errs...)), "see docs/reconciler.md#projects")
	}
	return nil
}

// ResolveTokens reads each project's token file.
func (ps Projects) ResolveTokens() error {
	seen := map[string]string{}
	for i := range ps {
		p := &ps[i]
		if p.TokenFile == "" {
			continue
		}
		b, err := os.ReadFile(p.TokenFile)
		if err != nil {
			return errdefs.Invalid(fmt.Errorf("project %s: reading tokenFile: %w", p.Name, err))
		}
		p.Token = strings.TrimSpace(string(b))
		if len(p.Token) < minTokenLength {
			return errdefs.Invalid(fmt.Errorf("project %s: the token in %s is shorter than %d characters", p.Name, p.TokenFile, minTokenLength))
		}
		if other, dup := seen[p.Token]; dup {
			return errdefs.Invalid(fmt.Errorf("project %s: same token as project %s", p.Name, other))
		}
		seen[p.Token] = p.Name
	}
	return nil
}

// Secrets returns the projects' tokens, for a redactor.
func (ps Projects) Secrets() []string {
	var s []string
	for _, p := range ps {
		if p.Token != "" {
			s = append(s, p.Token)
		}
	}
	return s
}

// Of returns the project that owns the app's namespace, nil for none.
func (ps Projects) Of(app App) *Project {
	for i := range ps {
		for _, ns := range ps[i].Namespaces {
			if ns == app.Namespace {
				return &ps[i]
			}
		}
	}
	return nil
}

// ForGitLab returns the projects whose gitlabProjects match a GitLab project path.
func (ps Projects) ForGitLab(projectPath string) []*Project {
	var out []*Project
	for i := range ps {
		for _, pat := range ps[i].GitLabProjects {
			if ok, _ := path.Match(pat, projectPath); ok {
				out = append(out, &ps[i])
				break
			}
		}
	}
	return out
}
