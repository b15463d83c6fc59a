package argocdtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"
)

// Session returns a session token of the admin user (POST /api/v1/session).
func (a *ArgoCD) Session(ctx context.Context) (string, error) {
	var out struct{ Token string }
	err := a.Do(ctx, "", http.MethodPost, "/api/v1/session", map[string]string{"username": "admin", "password": a.Password}, &out)
	if err == nil && out.Token == "" {
		err = fmt.Errorf("POST /api/v1/session: no token in the answer")
	}
	return out.Token, err
}

// AdminToken returns an admin session token or fails the test.
func (a *ArgoCD) AdminToken(t testing.TB) string {
	t.Helper()
	tok, err := a.Session(context.Background())
	if err != nil {
		t.Fatalf("argocdtest: %v", err)
	}
	return tok
}

// Do sends one REST request with token as bearer (none when "") and decodes a 2xx answer into
// out (when not nil). Any other answer is an error with Argo CD's message.
func (a *ArgoCD) Do(ctx context.Context, token, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, a.URL+path, body)
	if err != nil {
		return err
	}
	if in != nil || method != http.MethodGet {
		req.Header.Set("Content-Type", "application/json") // else "Invalid content type", even without a body
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := a.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(b))
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(b, out)
}

// MustDo is Do that fails the test.
func (a *ArgoCD) MustDo(t testing.TB, token, method, path string, in, out any) {
	t.Helper()
	if err := a.Do(context.Background(), token, method, path, in, out); err != nil {
		t.Fatalf("argocdtest: %v", err)
	}
}

// Application returns an Application of the project "default" that deploys path of repoURL at
// revision into namespace ns of the test cluster, without automated sync.
func Application(name, repoURL, path, revision, ns string) map[string]any {
	return map[string]any{
		"metadata": map[string]any{"name": name, "namespace": Namespace},
		"spec": map[string]any{
			"project":     "default",
			"source":      map[string]any{"repoURL": repoURL, "path": path, "targetRevision": revision},
			"destination": map[string]any{"server": "https://kubernetes.default.svc", "namespace": ns},
		},
	}
}
