package forge

import (
	"log/slog"
	"net/http"
)

// NewRetryTransport returns next wrapped in the forges' retry policy (see Retry), for the other
// HTTP calls of a notifier (webhooks, chat) to retry as the forge calls do: 429, 5xx and network
// errors, a POST only when the server cannot have acted on it. log receives the retries; nil
// discards them.
func NewRetryTransport(next http.RoundTripper, r Retry, log *slog.Logger) http.RoundTripper {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if next == nil {
		next = http.DefaultTransport.(*http.Transport).Clone()
	}
	return &retryTransport{next: next, r: r.withDefaults(), log: log}
}
