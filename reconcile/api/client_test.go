package api

import (
	"context"
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
