package bump

import (
	"fmt"
	"strings"
	"text/template"

	"github.com/tagrelay/tagrelay/internal/errdefs"
	"github.com/tagrelay/tagrelay/internal/provenance"
)

// CommitMessage renders the commit message of res, for a commit made by the caller (local mode:
// `git commit -F`): the template tmpl ("" means DefaultMessage) over MessageData, then the
// provenance trailers — one Tagrelay-Image per changed target and, when src names a commit,
// Tagrelay-Source-Commit and Tagrelay-Source-Repo (its URL cleaned of credentials). Push writes
// the same message.
func CommitMessage(tmpl string, res *Result, targets []Target, branch string, src provenance.Source) (string, error) {
	if tmpl == "" {
		tmpl = DefaultMessage
	}
	t, err := parseMessage(tmpl)
	if err != nil {
		return "", err
	}
	if err := checkSource(src); err != nil {
		return "", err
	}
	return renderCommit(t, res, targets, branch, src)
}

func parseMessage(tmpl string) (*template.Template, error) {
	t, err := template.New("message").Funcs(template.FuncMap{"join": strings.Join}).Parse(tmpl)
	if err != nil {
		return nil, errdefs.Invalid(fmt.Errorf("parsing commit message template: %w", err))
	}
	return t, nil
}

// checkSource refuses a source that cannot be written as trailers, before anything is fetched.
func checkSource(src provenance.Source) error {
	if _, err := (provenance.Record{Source: src}).Trailers(); err != nil {
		return errdefs.Invalid(err)
	}
	return nil
}

// renderCommit is the templated message followed by the provenance trailers.
func renderCommit(t *template.Template, res *Result, targets []Target, branch string, src provenance.Source) (string, error) {
	msg, err := renderMessage(t, res, branch)
	if err != nil {
		return "", err
	}
	trailers, err := provenanceOf(res, targets, src).Trailers()
	if err != nil {
		return "", errdefs.Invalid(err)
	}
	return provenance.Append(msg, trailers), nil
}

// provenanceOf is the record of a change: the targets that changed something, as NAME:TAG.
func provenanceOf(res *Result, targets []Target, src provenance.Source) provenance.Record {
	changed := map[string]bool{}
	for _, c := range res.Changes() {
		changed[c.Image] = true
	}
	rec := provenance.Record{Source: src}
	seen := map[string]bool{}
	for _, t := range targets {
		img := t.Image + ":" + t.Tag
		if changed[t.Image] && !seen[img] {
			seen[img] = true
			rec.Images = append(rec.Images, img)
		}
	}
	return rec
}
