package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/tagrelay/tagrelay/internal/forge"
	"github.com/tagrelay/tagrelay/reconcile/api"
)

// The headers of a webhook delivery.
const (
	// SignatureHeader carries sha256=HEX, the HMAC-SHA256 of the body under the secret.
	SignatureHeader = "X-Tagrelay-Signature-256"
	// DeliveryHeader is a random ID per delivery (the same across its retries).
	DeliveryHeader = "X-Tagrelay-Delivery"
	// EventHeader is "deploy".
	EventHeader = "X-Tagrelay-Event"
)

// Payload is the body of a webhook: the event, the console's link and the sync's result (object
// diffs left out).
type Payload struct {
	App        string         `json:"app"`
	State      State          `json:"state"`
	ConsoleURL string         `json:"consoleURL,omitempty"`
	Result     api.SyncResult `json:"result"`
	Diagnosis  *Diagnosis     `json:"diagnosis,omitempty"`
}

type webhookTarget struct{ cfg *Webhook }

func (webhookTarget) name() string { return "webhook" }

func (t webhookTarget) send(ctx context.Context, n *Notifier, ev Event) error {
	res := ev.Result
	res.Objects = nil
	for _, o := range ev.Result.Objects {
		o.Diff = ""
		res.Objects = append(res.Objects, o)
	}
	body, err := json.Marshal(Payload{App: ev.App, State: ev.State, ConsoleURL: consoleLink(n.opts.ConsoleURL, ev.App), Result: res, Diagnosis: ev.Diagnosis})
	if err != nil {
		return err
	}
	header := http.Header{EventHeader: {"deploy"}, DeliveryHeader: {deliveryID()}}
	if t.cfg.SecretFile != "" {
		secret, err := n.secret("webhook secret", t.cfg.SecretFile)
		if err != nil {
			return err
		}
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write(body)
		header.Set(SignatureHeader, "sha256="+hex.EncodeToString(mac.Sum(nil)))
	}
	return post(ctx, n, "webhook", t.cfg.URL, t.cfg.URLFile, t.cfg.CAFile, body, header)
}

// Sign returns the signature header value of body under secret, for receivers to compare (with
// hmac.Equal) against SignatureHeader.
func Sign(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// DefaultTemplate is the chat message of a sync: an emoji, the app, the outcome, the app commits
// and the console link. Its data is a Message.
const DefaultTemplate = `{{if eq .State "success"}}:white_check_mark:{{else if eq .State "failure"}}:x:{{else}}:hourglass_flowing_sand:{{end}} ` +
	`*{{.App}}* {{if eq .State "success"}}deployed{{else if eq .State "failure"}}failed to deploy{{else}}deploying{{end}} infra revision {{short .Revision}}` +
	`{{range .AppCommits}} · {{short .Commit}} ({{join .Images ", "}}){{end}}` +
	`{{if .Message}}: {{.Message}}{{end}}{{if .ConsoleURL}} · {{.ConsoleURL}}{{end}}`

// Message is what a chat template sees. Text from the cluster or a repository (Message) is
// escaped for Slack and Mattermost: &, < and > as entities, @ so it mentions nobody.
type Message struct {
	App, Revision, Trigger, Message, ConsoleURL string
	State                                       State
	Status                                      api.Status
	AppCommits                                  []api.AppCommit
	Images                                      []api.ImageChange
}

// maxChat bounds a chat message (Slack cuts at 40,000 characters, Mattermost at 16,383).
const maxChat = 4000

type chatTarget struct{ cfg *Chat }

func (chatTarget) name() string { return "chat" }

func (t chatTarget) send(ctx context.Context, n *Notifier, ev Event) error {
	tmpl, err := parseTemplate(t.cfg.Template)
	if err != nil {
		return err
	}
	res := ev.Result
	var b strings.Builder
	err = tmpl.Execute(&limitWriter{w: &b, n: maxChat}, Message{App: ev.App, Revision: res.Revision, Trigger: res.Trigger,
		Message: escapeChat(res.Message), ConsoleURL: consoleLink(n.opts.ConsoleURL, ev.App), State: ev.State, Status: res.Status,
		AppCommits: res.AppCommits, Images: res.Images})
	if err != nil && !errors.Is(err, errFull) {
		return fmt.Errorf("rendering the chat template: %w", err)
	}
	body, err := json.Marshal(map[string]string{"text": b.String()})
	if err != nil {
		return err
	}
	return post(ctx, n, "chat", t.cfg.URL, t.cfg.URLFile, t.cfg.CAFile, body, http.Header{})
}

var chatEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", "@", "@\u200b")

func escapeChat(s string) string { return chatEscaper.Replace(s) }

// post sends body as JSON to the URL (or the URL in urlFile) with the retry policy, and wants a
// 2xx. Errors name the host only: a webhook URL's path is often its secret.
func post(ctx context.Context, n *Notifier, what, rawURL, urlFile, caFile string, body []byte, header http.Header) error {
	if urlFile != "" {
		var err error
		if rawURL, err = n.secret(what+" URL", urlFile); err != nil {
			return err
		}
		n.secrets.Add(pathOf(rawURL))
	}
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("%s URL is not an http(s) URL", what)
	}
	client, err := n.httpClient(caFile)
	if err != nil {
		return err
	}
	retrying := &http.Client{Transport: forge.NewRetryTransport(client.Transport, n.opts.Retry, n.log), Timeout: client.Timeout}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rawURL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("posting to the %s at %s: invalid request", what, u.Host)
	}
	req.Header = header
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "tagrelay")
	resp, err := retrying.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its text holds the whole URL
		}
		return fmt.Errorf("posting to the %s at %s: %w", what, u.Host, err)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("posting to the %s at %s: %s: %s", what, u.Host, resp.Status, strings.TrimSpace(string(snippet)))
	}
	return nil
}

// pathOf is the path and query of a URL: the secret part of an incoming-webhook URL.
func pathOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || len(u.RequestURI()) < 8 {
		return ""
	}
	return u.RequestURI()
}

func deliveryID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

var errFull = errors.New("message too long")

// limitWriter stops a template's output at n bytes.
type limitWriter struct {
	w *strings.Builder
	n int
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if room := l.n - l.w.Len(); len(p) > room {
		l.w.Write(p[:max(room, 0)])
		return max(room, 0), errFull
	}
	return l.w.Write(p)
}
