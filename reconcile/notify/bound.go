package notify

import (
	"errors"
	"fmt"
	"io"
	"net/http"
)

// maxResponse bounds the body of any answer a forge, webhook or chat server sends: the largest
// page of notes or deployments the notifier reads is 100 items, far below it. A server that sends
// more (a hostile or broken one) fails the call; the deadline of the notification (Options.Timeout)
// bounds one that sends slowly or never ends.
const maxResponse = 4 << 20

// errResponseTooLarge is the error of a body past maxResponse.
var errResponseTooLarge = errors.New("response body over the notifier's bound")

// limitTransport cuts every response body at maxResponse bytes: reading past it is an error, so
// a JSON decoder fails instead of buffering an endless answer.
type limitTransport struct {
	next http.RoundTripper
	max  int64
}

func (t limitTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err != nil || resp.Body == nil {
		return resp, err
	}
	if resp.ContentLength > t.max {
		resp.Body.Close()
		return nil, fmt.Errorf("%w: Content-Length %d (at most %d)", errResponseTooLarge, resp.ContentLength, t.max)
	}
	resp.Body = &limitedBody{rc: resp.Body, left: t.max}
	return resp, nil
}

type limitedBody struct {
	rc   io.ReadCloser
	left int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left <= 0 { // at the bound: the body may end exactly there
		var one [1]byte
		if n, err := b.rc.Read(one[:]); n == 0 && err != nil {
			return 0, err
		}
		return 0, fmt.Errorf("%w (%d bytes)", errResponseTooLarge, maxResponse)
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }
