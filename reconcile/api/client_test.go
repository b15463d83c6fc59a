package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/tagrelay/tagrelay/internal/errdefs"
)

func TestClientSync(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Header.Get("Authorization") != "Bearer right":
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"error":"missing or wrong bearer token","hint":"send Authorization: Bearer"}`))
		case r.URL.Path == SyncPath("web"):
			w.WriteHeader(http.StatusConflict)
			w.Write([]byte(`{"app":"web","status":"NoopRefused","exitCode":3,"message":"no-op refused"}`))
		default:
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"error":"unknown app"}`))
		}
	}))
	defer srv.Close()
	ctx := context.Background()

	res, err := (&Client{URL: srv.URL + "/", Token: "right"}).Sync(ctx, "web", SyncRequest{ExpectImage: "x:1"})
	if err != nil || res.Status != StatusNoopRefused || res.ExitCode != 3 {
		t.Errorf("Sync(web) = %+v, %v; want the refused result", res, err)
	}
	for _, tc := range []struct {
		token, app string
		status     int
		class      error
	}{
		{"wrong", "web", http.StatusUnauthorized, errdefs.ErrUnavailable},
		{"right", "nope", http.StatusNotFound, errdefs.ErrNotFound},
	} {
		_, err := (&Client{URL: srv.URL, Token: tc.token}).Sync(ctx, tc.app, SyncRequest{})
		var ae *AnswerError
		if !errors.As(err, &ae) || ae.StatusCode != tc.status || !errors.Is(err, tc.class) {
			t.Errorf("Sync(%s, token %s) = %v, want an AnswerError %d of class %v", tc.app, tc.token, err, tc.status, tc.class)
		}
	}
	if hint := errdefs.Hint(func() error { _, err := (&Client{URL: srv.URL}).Sync(ctx, "web", SyncRequest{}); return err }()); hint != "send Authorization: Bearer" {
		t.Errorf("hint = %q, want the API's", hint)
	}
	if _, err := (&Client{URL: "http://127.0.0.1:1"}).Status(ctx, "web"); !errors.Is(err, errdefs.ErrUnavailable) {
		t.Errorf("Status(unreachable) = %v, want unavailable", err)
	}
}

// TestClientRetriesHandover: a 503 with Retry-After (no replica leads yet: nothing was done) is
// sent again; one without it is an answer.
func TestClientRetriesHandover(t *testing.T) {
	t.Parallel()
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		if calls < 3 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(`{"error":"no replica leads right now"}`))
			return
		}
		w.WriteHeader(http.StatusConflict)
		w.Write([]byte(`{"app":"web","status":"NoopRefused","exitCode":3,"rollback":true}`))
	}))
	defer srv.Close()
	res, err := (&Client{URL: srv.URL}).Rollback(context.Background(), "web", RollbackRequest{To: RollbackTarget{Entry: 2}})
	if err != nil || calls != 3 || !res.Rollback || res.ExitCode != 3 {
		t.Errorf("Rollback() = %+v, %v after %d calls; want the refused result after 3", res, err, calls)
	}
	calls = 0
	_, err = (&Client{URL: srv.URL, Retry: -1}).Unpin(context.Background(), "web")
	var ae *AnswerError
	if !errors.As(err, &ae) || ae.StatusCode != http.StatusServiceUnavailable || calls != 1 {
		t.Errorf("Unpin() without retries = %v after %d calls; want the 503", err, calls)
	}
}

func TestRollbackTarget(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		json string
		want RollbackTarget
		err  bool
	}{
		{`{}`, RollbackTarget{}, false},
		{`{"to": 2}`, RollbackTarget{Entry: 2}, false},
		{`{"to": "3"}`, RollbackTarget{Entry: 3}, false},
		{`{"to": "1a2b3c4d"}`, RollbackTarget{Revision: "1a2b3c4d"}, false},
		{`{"to": 0}`, RollbackTarget{}, true},
		{`{"to": "main"}`, RollbackTarget{}, true},
		{`{"to": "1a2b"}`, RollbackTarget{}, true},
	} {
		var req RollbackRequest
		err := json.Unmarshal([]byte(tc.json), &req)
		if (err != nil) != tc.err || err == nil && req.To != tc.want {
			t.Errorf("Unmarshal(%s) = %+v, %v; want %+v, error %v", tc.json, req.To, err, tc.want, tc.err)
		}
		if err == nil {
			b, _ := json.Marshal(req)
			var again RollbackRequest
			if json.Unmarshal(b, &again) != nil || again.To != req.To {
				t.Errorf("round trip of %s: %s", tc.json, b)
			}
		}
	}
}
