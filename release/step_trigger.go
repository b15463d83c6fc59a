package release

import (
	"context"
	"errors"
	"fmt"
	"net/http"
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
	st, err := s.client(token).Status(ctx, s.cfg.App)
	if err != nil {
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
	res, err := s.client(token).Sync(ctx, s.cfg.App, api.SyncRequest{ExpectImage: s.image, Wait: true})
	var ae *api.AnswerError
	switch {
	case err == nil:
		return res, nil
	case !errors.As(err, &ae):
		return nil, fmt.Errorf("triggering the reconciler: %w", err)
	case ae.StatusCode == http.StatusNotFound:
		return nil, errdefs.WithHint(err, "check trigger.reconciler.app against the reconciler's apps")
	case ae.StatusCode == http.StatusUnauthorized || ae.StatusCode == http.StatusForbidden:
		return nil, errdefs.WithHint(err, "check the reconciler API token")
	}
	return nil, err
}

func (s *reconcilerStep) client(token string) *api.Client {
	return &api.Client{URL: s.cfg.URL, Token: token, HTTP: s.o.HTTPClient}
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
