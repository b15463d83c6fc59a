package clirun

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// KV is one output variable for the next CI job: a dotenv line, a $GITHUB_OUTPUT entry.
type KV struct {
	Key, Value string
}

// Emit writes the result of a successful command: text (or the JSON of result with --output
// json) on stdout, kv to the --dotenv file (replaced atomically) and, inside GitHub Actions, to
// $GITHUB_OUTPUT.
func (e *Env) Emit(c *Common, result any, text string, kv []KV) error {
	if c.Output == OutputJSON {
		out, err := json.MarshalIndent(result, "", "  ")
		if err != nil {
			return fmt.Errorf("encoding result: %w", err)
		}
		fmt.Fprintln(e.Stdout, string(out))
	} else if text != "" {
		fmt.Fprintln(e.Stdout, strings.TrimRight(text, "\n"))
	}
	if c.Dotenv != "" {
		if err := writeDotenv(c.Dotenv, kv); err != nil {
			return err
		}
	}
	if path := e.Getenv("GITHUB_OUTPUT"); path != "" && len(kv) > 0 {
		if err := appendGitHubOutput(path, kv); err != nil {
			return err
		}
	}
	return nil
}

// writeDotenv writes KEY=value lines as GitLab's dotenv report reads them (one line per variable,
// no quoting, no multi-line values), through a temporary file so a reader never sees half of it.
func writeDotenv(path string, kv []KV) error {
	var b strings.Builder
	for _, p := range kv {
		fmt.Fprintf(&b, "%s=%s\n", p.Key, strings.NewReplacer("\r", " ", "\n", " ").Replace(p.Value))
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".dotenv-*")
	if err != nil {
		return fmt.Errorf("writing dotenv %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(b.String()); err != nil {
		tmp.Close()
		return fmt.Errorf("writing dotenv %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing dotenv %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing dotenv %s: %w", path, err)
	}
	return nil
}

// appendGitHubOutput appends to the file named by $GITHUB_OUTPUT, using the multi-line
// delimiter syntax when a value has a line break.
// https://docs.github.com/en/actions/using-workflows/workflow-commands-for-github-actions#multiline-strings
func appendGitHubOutput(path string, kv []KV) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("writing $GITHUB_OUTPUT: %w", err)
	}
	var b strings.Builder
	for _, p := range kv {
		if strings.ContainsAny(p.Value, "\r\n") {
			delim := "TAGRELAY_EOF"
			for strings.Contains(p.Value, delim) {
				delim += "_"
			}
			fmt.Fprintf(&b, "%s<<%s\n%s\n%s\n", p.Key, delim, p.Value, delim)
			continue
		}
		fmt.Fprintf(&b, "%s=%s\n", p.Key, p.Value)
	}
	if _, err := f.WriteString(b.String()); err != nil {
		f.Close()
		return fmt.Errorf("writing $GITHUB_OUTPUT: %w", err)
	}
	return f.Close()
}
