package registry_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tagrelay/tagrelay/internal/exitcode"
	"github.com/tagrelay/tagrelay/registry"
)

// fakeHarbor speaks the artifact endpoints of Harbor's API v2.0 for project "team", repository
// "app/api" (escaped twice in paths, as Harbor wants). Each GET of an artifact returns the next
// state of its scan; a POST …/scan starts one.
type fakeHarbor struct {
	t      *testing.T
	mu     sync.Mutex
	states map[string][]scanState // digest → states, the last one repeats
	scans  int                    // POST …/scan received
	users  []string
}

type scanState struct {
	status, severity string
	summary          map[string]int
	children         []string // an index: digests of its children, no own overview
}

func (h *fakeHarbor) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	const prefix = "/api/v2.0/projects/team/repositories/app%252Fapi/artifacts/"
	user, pass, _ := r.BasicAuth()
	h.mu.Lock()
	defer h.mu.Unlock()
	h.users = append(h.users, user)
	if user != robotUser || pass != robotPass {
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"errors":[{"code":"UNAUTHORIZED","message":"unauthorized"}]}`)
		return
	}
	ref, ok := strings.CutPrefix(r.URL.EscapedPath(), prefix)
	if !ok {
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, `{"errors":[{"code":"NOT_FOUND","message":"path %s not found"}]}`, r.URL.EscapedPath())
		return
	}
	if d, ok := strings.CutSuffix(ref, "/scan"); ok && r.Method == http.MethodPost {
		h.scans++
		h.states[d] = []scanState{{status: "Pending"}, {status: "Running"}, {status: "Success", severity: "Low", summary: map[string]int{"Low": 2}}}
		w.WriteHeader(http.StatusAccepted)
		return
	}
	if r.URL.Query().Get("with_scan_overview") != "true" || r.Header.Get("X-Accept-Vulnerabilities") == "" {
		h.t.Errorf("GET %s without with_scan_overview=true and X-Accept-Vulnerabilities", r.URL)
	}
	states, ok := h.states[ref]
	if !ok {
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, `{"errors":[{"code":"NOT_FOUND","message":"artifact team/app/api@%s not found"}]}`, ref)
		return
	}
	st := states[0]
	if len(states) > 1 {
		h.states[ref] = states[1:]
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(h.artifact(ref, st))
}

// artifact renders testdata/harbor/artifact-scanned.json (a real Harbor 2.10 answer, trimmed)
// for one state.
func (h *fakeHarbor) artifact(digest string, st scanState) []byte {
	if st.children != nil {
		var refs []map[string]any
		for _, c := range st.children {
			refs = append(refs, map[string]any{"parent_id": 1, "child_id": 2, "child_digest": c, "platform": map[string]string{"os": "linux", "architecture": "amd64"}})
		}
		b, _ := json.Marshal(map[string]any{"digest": digest, "manifest_media_type": "application/vnd.oci.image.index.v1+json", "references": refs, "scan_overview": nil})
		return b
	}
	if st.status == "" {
		return []byte(fmt.Sprintf(`{"digest":%q,"manifest_media_type":"application/vnd.oci.image.manifest.v1+json","references":null}`, digest))
	}
	tmpl, err := os.ReadFile("testdata/harbor/artifact-scanned.json")
	if err != nil {
		h.t.Fatal(err)
	}
	total := 0
	for _, n := range st.summary {
		total += n
	}
	summary, _ := json.Marshal(st.summary)
	return []byte(strings.NewReplacer("{{DIGEST}}", digest, "{{STATUS}}", st.status, "{{SEVERITY}}", st.severity,
		"{{TOTAL}}", fmt.Sprint(total), "{{SUMMARY}}", string(summary)).Replace(string(tmpl)))
}

func TestRequireScan(t *testing.T) {
	t.Parallel()
	const d1, d2 = "sha256:1111111111111111111111111111111111111111111111111111111111111111", "sha256:2222222222222222222222222222222222222222222222222222222222222222"
	const idx = "sha256:9999999999999999999999999999999999999999999999999999999999999999"
	high := scanState{status: "Success", severity: "High", summary: map[string]int{"High": 2, "Medium": 5}}
	clean := scanState{status: "Success", severity: "None", summary: map[string]int{}}
	for _, tc := range []struct {
		name    string
		states  map[string][]scanState
		ref     string
		failAt  registry.Severity
		timeout time.Duration
		is      error
		msg     string
		scans   int
	}{
		{"finished scan below the threshold", map[string][]scanState{d1: {high}}, d1, registry.SeverityCritical, time.Minute, nil, "", 0},
		{"finding at the threshold", map[string][]scanState{d1: {high}}, d1, registry.SeverityHigh, time.Minute, registry.ErrVulnerable,
			"vulnerabilities found in 127.0.0.1", 0},
		{"waits while the scan runs", map[string][]scanState{d1: {{status: "Pending"}, {status: "Running"}, high}}, d1, registry.SeverityMedium, time.Minute,
			registry.ErrVulnerable, "High findings (2 high, 5 medium)", 0},
		{"triggers a scan when none exists", map[string][]scanState{d1: {{}}}, d1, registry.SeverityMedium, time.Minute, nil, "", 1},
		{"index: every platform", map[string][]scanState{idx: {{children: []string{d1, d2}}}, d1: {clean}, d2: {high}}, idx, registry.SeverityHigh, time.Minute,
			registry.ErrVulnerable, d2[:19], 0},
		{"scan error", map[string][]scanState{d1: {{status: "Error"}}}, d1, registry.SeverityHigh, time.Minute, registry.ErrScan, "status Error", 0},
		{"scan never ends", map[string][]scanState{d1: {{status: "Running"}}}, d1, registry.SeverityHigh, 50 * time.Millisecond, registry.ErrScan,
			"status Running", 0},
		{"artifact absent", map[string][]scanState{}, d1, registry.SeverityHigh, time.Minute, registry.ErrNotFound, "NOT_FOUND", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := &fakeHarbor{t: t, states: tc.states}
			srv := httptest.NewServer(h)
			defer srv.Close()
			o := registry.DefaultClientOptions()
			o.Username, o.Password = robotUser, robotPass
			c, err := registry.NewClient(o)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), tc.timeout)
			defer cancel()
			reports, err := c.RequireScan(ctx, "127.0.0.1:5000/team/app/api@"+tc.ref, registry.ScanOptions{HarborURL: srv.URL, FailAt: tc.failAt, Interval: time.Millisecond})
			if tc.is == nil && err != nil || tc.is != nil && !errors.Is(err, tc.is) {
				t.Fatalf("RequireScan() = %v, want %v", err, tc.is)
			}
			if err != nil && (!strings.Contains(err.Error(), tc.msg) || exitcode.Code(err) != 4) {
				t.Errorf("RequireScan() = %q (exit %d), want it to contain %q, exit 4", err, exitcode.Code(err), tc.msg)
			}
			if tc.is == nil && len(reports) == 0 {
				t.Errorf("RequireScan() returned no report")
			}
			if h.scans != tc.scans {
				t.Errorf("scans triggered = %d, want %d", h.scans, tc.scans)
			}
		})
	}
}
