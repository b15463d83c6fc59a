package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tagrelay/tagrelay/internal/errdefs"
)

// maxAnswer bounds what the client reads of an answer (a sync result lists objects and diffs).
const maxAnswer = 16 << 20

// Client calls a tagrelay-reconciler's HTTP API. It needs only net/http, so the tagrelay CLI and
// the release package talk to the reconciler without linking client-go.
type Client struct {
	// URL is the reconciler's base URL: http(s)://HOST[:PORT].
	URL string
	// Token is the API bearer token.
	Token string
	// HTTP sends the requests; nil means http.DefaultClient.
	HTTP *http.Client
	// Retry is how long to keep retrying an answer 503 with Retry-After: the reconciler says it
	// did nothing because no replica leads right now (a failover or an upgrade in progress).
	// Default: 0, one minute; negative: no retry.
	Retry time.Duration
}

// Sync asks for a sync of app and returns the reconciler's result, whatever the sync's outcome:
// the API answers every sync, refused or failed ones included (409, 412, 422, 500), with a
// SyncResult. Other answers are errors of the API itself, classified by status: 401/403
// unavailable (a token problem), 404 not found (an unknown app), 400 invalid.
func (c *Client) Sync(ctx context.Context, app string, req SyncRequest) (*SyncResult, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	data, resp, err := c.do(ctx, http.MethodPost, SyncPath(url.PathEscape(app)), body)
	if err != nil {
		return nil, err
	}
	var res SyncResult
	if json.Unmarshal(data, &res) == nil && res.App != "" {
		return &res, nil
	}
	return nil, answerError(resp, data)
}

// Rollback rolls app back (see RollbackRequest) and returns the sync's result, refused or
// failed ones included, like Sync.
func (c *Client) Rollback(ctx context.Context, app string, req RollbackRequest) (*SyncResult, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	data, resp, err := c.do(ctx, http.MethodPost, RollbackPath(url.PathEscape(app)), body)
	if err != nil {
		return nil, err
	}
	var res SyncResult
	if json.Unmarshal(data, &res) == nil && res.App != "" {
		return &res, nil
	}
	return nil, answerError(resp, data)
}

// Unpin ends app's rollback pin; the next poll deploys the app's revision again. An app that
// is not pinned is an error of class errdefs.ErrNoop (409).
func (c *Client) Unpin(ctx context.Context, app string) (*AppStatus, error) {
	var st AppStatus
	return &st, c.get(ctx, http.MethodDelete, PinPath(url.PathEscape(app)), &st)
}

// List returns a page of the apps the token may see.
func (c *Client) List(ctx context.Context, o ListOptions) (*AppList, error) {
	q := url.Values{}
	for k, v := range map[string]string{"project": o.Project, "status": o.Status, "continue": o.Continue} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if o.Limit > 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	path := "/api/v1/apps"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var list AppList
	return &list, c.get(ctx, http.MethodGet, path, &list)
}

// History returns app's recorded syncs, newest first.
func (c *Client) History(ctx context.Context, app string) ([]SyncResult, error) {
	var hist []SyncResult
	return hist, c.get(ctx, http.MethodGet, HistoryPath(url.PathEscape(app)), &hist)
}

// Server returns the status of the replica that answers.
func (c *Client) Server(ctx context.Context) (*ServerStatus, error) {
	var st ServerStatus
	return &st, c.get(ctx, http.MethodGet, ServerPath, &st)
}

// get decodes a 200 answer into v.
func (c *Client) get(ctx context.Context, method, path string, v any) error {
	data, resp, err := c.do(ctx, method, path, nil)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(data, v) != nil {
		return answerError(resp, data)
	}
	return nil
}

// Status returns app's status: its last sync, whether one runs, the next poll.
func (c *Client) Status(ctx context.Context, app string) (*AppStatus, error) {
	var st AppStatus
	return &st, c.get(ctx, http.MethodGet, AppPath(url.PathEscape(app)), &st)
}

// do sends a request, again while the answer is a 503 with Retry-After (see Client.Retry).
func (c *Client) do(ctx context.Context, method, path string, body []byte) ([]byte, *http.Response, error) {
	retry := c.Retry
	if retry == 0 {
		retry = time.Minute
	}
	deadline := time.Now().Add(retry)
	for {
		data, resp, err := c.doOnce(ctx, method, path, body)
		if err != nil || resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
			return data, resp, err
		}
		wait := time.Second
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 && s < 30 {
			wait = time.Duration(s) * time.Second
		}
		if time.Now().Add(wait).After(deadline) {
			return data, resp, nil
		}
		select {
		case <-ctx.Done():
			return nil, nil, errdefs.Unavailable(fmt.Errorf("calling the reconciler: %w", ctx.Err()))
		case <-time.After(wait):
		}
	}
}

func (c *Client) doOnce(ctx context.Context, method, path string, body []byte) ([]byte, *http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.URL, "/")+path, bytes.NewReader(body))
	if err != nil {
		return nil, nil, errdefs.Invalid(fmt.Errorf("building the request to the reconciler: %w", err))
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, nil, errdefs.Unavailable(fmt.Errorf("calling the reconciler: %w", err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return nil, nil, errdefs.Unavailable(fmt.Errorf("reading the reconciler's answer: %w", err))
	}
	return data, resp, nil
}

// AnswerError is an answer of the API that is not the document asked for: a wrong token, an
// unknown app, a malformed request. Callers branch on StatusCode with errors.As.
type AnswerError struct {
	StatusCode int
	Status     string // "401 Unauthorized"
	Message    string // the API's error, or the body
}

func (e *AnswerError) Error() string {
	return fmt.Sprintf("reconciler answered %s: %s", e.Status, e.Message)
}

// answerError turns an answer that is not the expected document into an *AnswerError with an
// errdefs class and the API's hint.
func answerError(resp *http.Response, data []byte) error {
	var apiErr Error
	ae := &AnswerError{StatusCode: resp.StatusCode, Status: resp.Status, Message: strings.TrimSpace(string(data))}
	if json.Unmarshal(data, &apiErr) == nil && apiErr.Error != "" {
		ae.Message = apiErr.Error
	}
	err := errdefs.WithHint(ae, apiErr.Hint)
	switch resp.StatusCode {
	case http.StatusNotFound:
		return errdefs.NotFound(err)
	case http.StatusBadRequest, http.StatusUnprocessableEntity:
		return errdefs.Invalid(err)
	case http.StatusConflict:
		return errdefs.Noop(err)
	case http.StatusPreconditionFailed:
		return errdefs.Precondition(err)
	}
	return errdefs.Unavailable(err)
}
