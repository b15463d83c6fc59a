package gitops

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

// What the Argo CD and the Kubernetes clients share: JSON requests and bounded answers.

// maxBody bounds what one answer or one stream line may hold: an application's status with
// thousands of resources, or a namespace's pods, is a few MiB.
const maxBody = 32 << 20

// newJSONRequest builds a request of base+path?q that accepts JSON and sends body, when not nil,
// as contentType.
func newJSONRequest(ctx context.Context, method, base, path string, q url.Values, body []byte, contentType string) (*http.Request, error) {
	u := base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, r)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "tagrelay")
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	return req, nil
}

// readBody reads an answer of at most maxBody bytes; what names the request in errors.
func readBody(r io.Reader, what string) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("%s: reading the answer: %w", what, err)
	}
	if len(b) > maxBody {
		return nil, fmt.Errorf("%s: answer larger than %d MiB", what, maxBody>>20)
	}
	return b, nil
}

// decodeJSON decodes b into out, when out is not nil.
func decodeJSON(b []byte, what string, out any) error {
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s: decoding the answer: %w", what, err)
	}
	return nil
}
