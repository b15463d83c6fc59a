package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"

	"github.com/tagrelay/tagrelay/internal/errdefs"
)

// Severity is a Harbor vulnerability severity.
type Severity string

// Harbor's severities, lowest first.
const (
	SeverityNone       Severity = "None"
	SeverityUnknown    Severity = "Unknown"
	SeverityNegligible Severity = "Negligible"
	SeverityLow        Severity = "Low"
	SeverityMedium     Severity = "Medium"
	SeverityHigh       Severity = "High"
	SeverityCritical   Severity = "Critical"
)

var severities = []Severity{SeverityNone, SeverityUnknown, SeverityNegligible, SeverityLow, SeverityMedium, SeverityHigh, SeverityCritical}

// ParseSeverity parses a severity, case-insensitively.
func ParseSeverity(s string) (Severity, error) {
	for _, v := range severities[1:] {
		if strings.EqualFold(s, string(v)) {
			return v, nil
		}
	}
	return "", errdefs.Invalid(fmt.Errorf("unknown severity %q: use low, medium, high or critical", s))
}

func (s Severity) rank() int {
	for i, v := range severities {
		if strings.EqualFold(string(s), string(v)) {
			return i
		}
	}
	return 0
}

// ScanOptions configure RequireScan.
type ScanOptions struct {
	// HarborURL is the base URL of Harbor's API. Default: https://REGISTRY (http:// with
	// Insecure) of the image.
	HarborURL string
	// FailAt is the lowest severity that fails. Default: SeverityCritical.
	FailAt Severity
	// Interval between polls while the scan runs. Default: 5 s.
	Interval time.Duration
}

// ScanReport is Harbor's scan overview of one artifact.
type ScanReport struct {
	Digest   string         `json:"digest"`
	Status   string         `json:"status"`   // Harbor's scan_status: Success, Running, Error…
	Severity Severity       `json:"severity"` // the highest severity found
	Total    int            `json:"total"`
	Fixable  int            `json:"fixable"`
	Counts   map[string]int `json:"counts,omitempty"` // per severity
	Scanner  string         `json:"scanner,omitempty"`
}

// RequireScan waits until Harbor has scanned image (REPO@DIGEST or REPO:TAG) and returns its
// reports (one per platform for an index). It asks Harbor to scan when no scan exists (the
// project may not scan on push). It fails with ErrVulnerable when a finding is at or above
// FailAt, and with ErrScan when the scan errors or ctx ends first.
//
// API: GET /api/v2.0/projects/{project}/repositories/{repository}/artifacts/{reference}
// ?with_scan_overview=true; https://github.com/goharbor/harbor/blob/main/api/v2.0/swagger.yaml
func (c *Client) RequireScan(ctx context.Context, image string, o ScanOptions) ([]ScanReport, error) {
	ref, err := c.ParseReference(image)
	if err != nil {
		return nil, err
	}
	h, err := c.harbor(ctx, ref.Context(), o)
	if err != nil {
		return nil, err
	}
	reports, err := h.waitAll(ctx, ref.Identifier())
	if err != nil {
		return reports, err
	}
	fail := o.FailAt
	if fail == "" {
		fail = SeverityCritical
	}
	var bad []string
	for _, r := range reports {
		if r.Severity.rank() >= fail.rank() && r.Total > 0 {
			bad = append(bad, fmt.Sprintf("%s has %s findings (%s)", shortDigest(r.Digest), r.Severity, countsString(r.Counts)))
		}
	}
	if len(bad) > 0 {
		return reports, errdefs.WithHint(fmt.Errorf("%w in %s at or above %s: %s", ErrVulnerable, ref, fail, strings.Join(bad, "; ")),
			"fix or upgrade the vulnerable packages and push a new build")
	}
	return reports, nil
}

type harborClient struct {
	http     *http.Client
	base     string // …/api/v2.0/projects/{p}/repositories/{r}/artifacts/
	auth     *authn.AuthConfig
	interval time.Duration
	ref      string
}

func (c *Client) harbor(ctx context.Context, repo name.Repository, o ScanOptions) (*harborClient, error) {
	project, rest, ok := strings.Cut(repo.RepositoryStr(), "/")
	if !ok {
		return nil, errdefs.Invalid(fmt.Errorf("%s is not a Harbor repository (PROJECT/REPOSITORY)", repo))
	}
	base := o.HarborURL
	if base == "" {
		base = "https://" + repo.RegistryStr()
	}
	a, err := authn.Resolve(ctx, c.keychain, repo)
	if err != nil {
		return nil, fmt.Errorf("reading credentials for %s: %w", repo.RegistryStr(), err)
	}
	cfg, err := authn.Authorization(ctx, a)
	if err != nil {
		return nil, fmt.Errorf("reading credentials for %s: %w", repo.RegistryStr(), err)
	}
	interval := o.Interval
	if interval <= 0 {
		interval = 5 * time.Second
	}
	// Harbor wants a repository name with slashes escaped twice.
	path := "/api/v2.0/projects/" + url.PathEscape(project) + "/repositories/" + url.PathEscape(url.PathEscape(rest)) + "/artifacts/"
	return &harborClient{http: &http.Client{Transport: c.base, Timeout: time.Minute}, base: strings.TrimRight(base, "/") + path,
		auth: cfg, interval: interval, ref: repo.String()}, nil
}

// artifact is the part of Harbor's Artifact model read here.
type artifact struct {
	Digest       string                  `json:"digest"`
	ScanOverview map[string]scanOverview `json:"scan_overview"`
	References   []struct {
		ChildDigest string `json:"child_digest"`
	} `json:"references"`
}

type scanOverview struct {
	ScanStatus string `json:"scan_status"`
	Severity   string `json:"severity"`
	Summary    *struct {
		Total   int            `json:"total"`
		Fixable int            `json:"fixable"`
		Summary map[string]int `json:"summary"`
	} `json:"summary"`
	Scanner *struct {
		Name    string `json:"name"`
		Version string `json:"version"`
	} `json:"scanner"`
}

// waitAll waits for the scan of reference; for an index without its own overview, for the
// scan of each child.
func (h *harborClient) waitAll(ctx context.Context, reference string) ([]ScanReport, error) {
	a, err := h.artifact(ctx, reference)
	if err != nil {
		return nil, err
	}
	if len(a.ScanOverview) == 0 && len(a.References) > 0 {
		var out []ScanReport
		for _, r := range a.References {
			rep, err := h.wait(ctx, r.ChildDigest)
			if err != nil {
				return out, err
			}
			out = append(out, rep)
		}
		return out, nil
	}
	rep, err := h.wait(ctx, reference)
	if err != nil {
		return nil, err
	}
	return []ScanReport{rep}, nil
}

// wait polls one artifact until its scan ends, triggering a scan once when there is none.
func (h *harborClient) wait(ctx context.Context, reference string) (ScanReport, error) {
	triggered := false
	last := ScanReport{Digest: reference}
	for {
		a, err := h.artifact(ctx, reference)
		if ctx.Err() != nil {
			return last, h.timeout(ctx, last)
		}
		if err != nil {
			return last, err
		}
		rep, ok := report(a)
		last = rep
		switch {
		case !ok && !triggered:
			if err := h.trigger(ctx, reference); err != nil {
				return last, err
			}
			triggered = true
		case rep.Status == "Success":
			return rep, nil
		case rep.Status == "Error" || rep.Status == "Stopped":
			return rep, fmt.Errorf("%w: the scan of %s@%s ended with status %s", ErrScan, h.ref, shortDigest(a.Digest), rep.Status)
		}
		select {
		case <-ctx.Done():
			return last, h.timeout(ctx, last)
		case <-time.After(h.interval):
		}
	}
}

func (h *harborClient) timeout(ctx context.Context, last ScanReport) error {
	status := last.Status
	if status == "" {
		status = "not started"
	}
	return errdefs.WithHint(fmt.Errorf("%w: waiting for the scan of %s@%s (status %s): %w", ErrScan, h.ref, shortDigest(last.Digest), status, ctx.Err()),
		"check the scanner in Harbor")
}

// report picks the vulnerability report of an artifact's overview (one per report MIME type;
// Harbor has one for vulnerabilities).
func report(a *artifact) (ScanReport, bool) {
	keys := make([]string, 0, len(a.ScanOverview))
	for k := range a.ScanOverview {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !strings.Contains(k, "vuln") {
			continue
		}
		o := a.ScanOverview[k]
		r := ScanReport{Digest: a.Digest, Status: o.ScanStatus, Severity: Severity(o.Severity)}
		if o.Summary != nil {
			r.Total, r.Fixable, r.Counts = o.Summary.Total, o.Summary.Fixable, o.Summary.Summary
		}
		if o.Scanner != nil {
			r.Scanner = strings.TrimSpace(o.Scanner.Name + " " + o.Scanner.Version)
		}
		return r, true
	}
	return ScanReport{Digest: a.Digest}, false
}

func (h *harborClient) artifact(ctx context.Context, reference string) (*artifact, error) {
	var a artifact
	if err := h.do(ctx, http.MethodGet, reference+"?with_scan_overview=true", http.StatusOK, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

func (h *harborClient) trigger(ctx context.Context, reference string) error {
	err := h.do(ctx, http.MethodPost, reference+"/scan", http.StatusAccepted, nil)
	if err != nil {
		return errdefs.WithHint(err, "enable \"Automatically scan images on push\" in the Harbor project, or give the account the scan permission")
	}
	return nil
}

func (h *harborClient) do(ctx context.Context, method, path string, want int, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, h.base+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	// Harbor returns only the report types a client accepts.
	req.Header.Set("X-Accept-Vulnerabilities", "application/vnd.security.vulnerability.report; version=1.1, application/vnd.scanner.adapter.vuln.report.harbor+json; version=1.0")
	if h.auth.Username != "" || h.auth.Password != "" {
		req.SetBasicAuth(h.auth.Username, h.auth.Password)
	}
	resp, err := h.http.Do(req)
	if err != nil {
		return wrap("reading scan of", h.ref, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if resp.StatusCode != want {
		return harborError(h.ref, method, resp.StatusCode, body)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("%w: reading Harbor's answer for %s: %v", ErrScan, h.ref, err)
	}
	return nil
}

// harborError turns Harbor's {"errors":[{"code","message"}]} into a classified error.
func harborError(ref, method string, status int, body []byte) error {
	var e struct {
		Errors []struct{ Code, Message string } `json:"errors"`
	}
	msg := http.StatusText(status)
	if json.Unmarshal(body, &e) == nil && len(e.Errors) > 0 {
		msg = e.Errors[0].Code + ": " + e.Errors[0].Message
	}
	//lint:ignore ST1005 Harbor is a proper noun
	cause := fmt.Errorf("Harbor API %s: HTTP %d %s", method, status, msg)
	switch {
	case status == http.StatusNotFound:
		return &Error{Op: "reading scan of", Ref: ref, Kind: ErrNotFound, Cause: cause}
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return errdefs.WithHint(&Error{Op: "reading scan of", Ref: ref, Kind: ErrUnauthorized, Cause: cause}, authHint)
	}
	return &Error{Op: "reading scan of", Ref: ref, Kind: ErrScan, Cause: cause}
}

func countsString(m map[string]int) string {
	var parts []string
	for i := len(severities) - 1; i > 0; i-- {
		if n := m[string(severities[i])]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, strings.ToLower(string(severities[i]))))
		}
	}
	if len(parts) == 0 {
		return "none counted"
	}
	return strings.Join(parts, ", ")
}

func shortDigest(d string) string {
	if len(d) > 19 {
		return d[:19]
	}
	return d
}
