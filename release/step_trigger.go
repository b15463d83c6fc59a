package release

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tagrelay/tagrelay/internal/errdefs"
	"github.com/tagrelay/tagrelay/reconcile/api"
)

// reconcilerStep syncs the app on tagrelay-reconciler, expecting the released image, and waits
// for the rollout. Done when the reconciler answers that the image is already running (its
// no-op guard, HTTP 409).
type reconcilerStep struct {
	cfg   ReconcilerTrigger
	image string
	o     *Options
}

func (s *reconcilerStep) plan(ctx context.Context) (StepResult, error) {
	res := StepResult{Kind: StepTrigger, Target: s.cfg.URL + " app " + s.cfg.App, Status: StatusPending,
		Plan: fmt.Sprintf("sync app %s on %s expecting %s, wait for the rollout", s.cfg.App, s.cfg.URL, s.image)}
	if last := s.lastSync(ctx); last != nil {
		res.Status = StatusAlreadyDone
		res.Plan = fmt.Sprintf("app %s on %s already runs %s (last sync %s at %s)", s.cfg.App, s.cfg.URL, s.image, last.Status, shortRev(last.Revision))
	}
	return res, nil
}

// lastSync returns the app's last sync when it succeeded and left s.image running, from the
// reconciler's read-only status API. Anything else, including a reconciler that cannot be asked
// (no token, unreachable), returns nil: the step stays pending and run finds out.
func (s *reconcilerStep) lastSync(ctx context.Context) *api.SyncResult {
	token, err := s.token()
	if err != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(s.cfg.URL, "/")+api.AppPath(url.PathEscape(s.cfg.App)), nil)
	if err != nil {
		return nil
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := s.o.HTTPClient.Do(req)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var st api.AppStatus
	if resp.StatusCode != http.StatusOK || json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&st) != nil {
		return nil
	}
	last := st.LastSync
	if last == nil || last.Status != api.StatusSucceeded {
		return nil
	}
	for _, c := range last.Images {
		if c.After == s.image {
			return last
		}
	}
	return nil
}

// token returns the reconciler's API token from the configured file or environment variable.
func (s *reconcilerStep) token() (string, error) {
	env := s.cfg.TokenEnv
	if env == "" && s.cfg.TokenFile == "" {
		env = "TAGRELAY_RECONCILER_TOKEN"
	}
	var token string
	if s.o.Secret != nil {
		var err error
		if token, err = s.o.Secret(env, s.cfg.TokenFile); err != nil {
			return "", err
		}
	}
	if token == "" {
		return "", errdefs.WithHint(errdefs.Invalid(errors.New("no reconciler API token")),
			"export it in "+env+" or set trigger.reconciler.tokenFile")
	}
	return token, nil
}

func (s *reconcilerStep) run(ctx context.Context) (string, bool, error) {
	token, err := s.token()
	if err != nil {
		return "", false, err
	}
	timeout := 15 * time.Minute
	if s.cfg.Timeout != "" {
		timeout, _ = time.ParseDuration(s.cfg.Timeout) // validated with the configuration
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	res, err := s.post(ctx, token)
	if err != nil {
		return "", false, err
	}
	switch {
	case res.ExitCode == 0:
		detail := fmt.Sprintf("%s at %s", res.Status, shortRev(res.Revision))
		for _, c := range res.Images {
			if c.Changed() {
				detail += fmt.Sprintf("; %s %s: %s -> %s", c.Object, c.Container, orNew(c.Before), c.After)
			}
		}
		if res.Message != "" {
			detail += "; " + res.Message
		}
		return detail, false, nil
	case res.Status == api.StatusNoopRefused && s.running(res):
		return s.image + " is already running", true, nil
	}
	err = fmt.Errorf("reconciler: app %s: %s: %s", res.App, res.Status, res.Message)
	if res.ExitCode == 3 { // the rendered state does not deploy the image: the bump has not arrived
		err = errdefs.Precondition(err)
	}
	return "", false, errdefs.WithHint(err, res.Hint)
}

// running reports whether a refused sync found the expected image already deployed.
func (s *reconcilerStep) running(res *api.SyncResult) bool {
	for _, c := range res.Images {
		if c.After == s.image && c.Before == c.After {
			return true
		}
	}
	return strings.Contains(res.Message, s.image+" is already running")
}

func (s *reconcilerStep) post(ctx context.Context, token string) (*api.SyncResult, error) {
	body, _ := json.Marshal(api.SyncRequest{ExpectImage: s.image, Wait: true})
	endpoint := strings.TrimRight(s.cfg.URL, "/") + api.SyncPath(url.PathEscape(s.cfg.App))
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, errdefs.Invalid(fmt.Errorf("building the sync request: %w", err))
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.o.HTTPClient.Do(req)
	if err != nil {
		return nil, errdefs.Unavailable(fmt.Errorf("triggering the reconciler: %w", err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, errdefs.Unavailable(fmt.Errorf("reading the reconciler's answer: %w", err))
	}
	var res api.SyncResult
	if json.Unmarshal(data, &res) == nil && res.App != "" {
		return &res, nil
	}
	var apiErr api.Error
	msg := strings.TrimSpace(string(data))
	if json.Unmarshal(data, &apiErr) == nil && apiErr.Error != "" {
		msg = apiErr.Error
	}
	err = fmt.Errorf("reconciler answered %s: %s", resp.Status, msg)
	switch resp.StatusCode {
	case http.StatusNotFound:
		return nil, errdefs.WithHint(errdefs.NotFound(err), "check trigger.reconciler.app against the reconciler's apps")
	case http.StatusUnauthorized, http.StatusForbidden:
		return nil, errdefs.WithHint(errdefs.Unavailable(err), "check the reconciler API token")
	}
	return nil, errdefs.WithHint(errdefs.Unavailable(err), apiErr.Hint)
}

// shortRev is the first 8 hex digits of a commit, as git prints it.
func shortRev(rev string) string {
	if len(rev) > 8 {
		return rev[:8]
	}
	return rev
}

func orNew(image string) string {
	if image == "" {
		return "(new)"
	}
	return image
}
