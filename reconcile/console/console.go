package console

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/tagrelay/tagrelay/internal/errdefs"
	"github.com/tagrelay/tagrelay/reconcile/api"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Options configure a Console. They come from the server's flags.
type Options struct {
	// SessionKey signs the session cookies, at least 32 bytes. Every replica needs the same
	// key, so a session works whichever replica answers. Required.
	SessionKey []byte
	// SessionTTL is how long a login lasts. Default: 8h.
	SessionTTL time.Duration
	// Secure sets the Secure attribute on every cookie, for a console behind a proxy that
	// terminates TLS. Default: false (set only on requests that came over TLS).
	Secure bool
	// MaxStreams bounds the live-update streams open at once (one per open page). Default: 1000.
	MaxStreams int
	// PageSize is how many apps the overview shows at once. Default: 1000.
	PageSize int
	// LoginRate bounds the login attempts of one client address (an IPv6 /64 counts as one),
	// LoginBurst at once; the rest are answered 429 before the token is checked. Defaults: one
	// every 6 s, 10 at once.
	LoginRate  rate.Limit
	LoginBurst int
	// Logger receives logins and failed backend calls. Default: discard.
	Logger *slog.Logger
}

func (o *Options) fill() error {
	if len(o.SessionKey) < 32 {
		return errdefs.Invalid(errors.New("console: the session key must have at least 32 bytes"))
	}
	if o.SessionTTL <= 0 {
		o.SessionTTL = 8 * time.Hour
	}
	if o.MaxStreams <= 0 {
		o.MaxStreams = 1000
	}
	if o.PageSize <= 0 {
		o.PageSize = 1000
	}
	if o.LoginRate <= 0 {
		o.LoginRate = rate.Every(6 * time.Second)
	}
	if o.LoginBurst <= 0 {
		o.LoginBurst = 10
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// ErrSessionEnded is what a Backend answers for a principal whose credential no longer holds
// (its token changed, its project is gone, its id_token expired): the console drops the session
// and asks for a new login.
var ErrSessionEnded = errors.New("the session's credential is no longer valid: log in again")

// Console serves the web console: server-rendered pages, embedded assets, and one live-update
// stream per open page fed by Publish.
type Console struct {
	b    Backend
	opts Options
	log  *slog.Logger
	tmpl *template.Template
	hub  *hub
	rows *rowCache
	// logins limits the login attempts per client address.
	logins *limiter
	// assetVersion busts browser caches of the embedded assets when they change.
	assetVersion string
}

// New returns a console over b.
func New(b Backend, opts Options) (*Console, error) {
	if err := opts.fill(); err != nil {
		return nil, err
	}
	c := &Console{b: b, opts: opts, log: opts.Logger, hub: newHub(opts.MaxStreams),
		rows: newRowCache(4*opts.PageSize + 1000), assetVersion: assetVersion(),
		logins: newLimiter(opts.LoginRate, opts.LoginBurst, maxLimited)}
	tmpl, err := template.New("").Funcs(c.funcs()).ParseFS(templateFS, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("console: parsing templates: %w", err)
	}
	c.tmpl = tmpl
	return c, nil
}

// Publish sends an app's new state to the open pages that show it: the server calls it when a
// sync starts or ends, and when the app's health or drift changes.
func (c *Console) Publish(st api.AppState) { c.hub.publish(st) }

// Forget drops the last state the console keeps of an app removed from the config.
func (c *Console) Forget(name string) { c.hub.forget(name) }

// Streams counts the open live-update streams: one per open page.
func (c *Console) Streams() int { return c.hub.streams() }

// ReloadStreams tells every open page to reload: the server calls it when its replica starts
// or stops leading, so that the pages ask again, of the replica that leads now.
func (c *Console) ReloadStreams() { c.hub.reloadAll() }

// Handler returns the console's pages. Every page but /login needs a session.
func (c *Console) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login", c.handleLoginForm)
	mux.HandleFunc("POST /login", c.handleLogin)
	mux.Handle("POST /logout", c.authed(c.handleLogout))
	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", cacheForever(http.FileServerFS(static))))
	mux.Handle("GET /{$}", c.authed(c.handleOverview))
	mux.Handle("GET /stream", c.authed(c.handleStream))
	mux.Handle("GET /apps/{name}", c.authed(c.handleTree))
	mux.Handle("GET /apps/{name}/diff", c.authed(c.handleDiff))
	mux.Handle("GET /apps/{name}/history", c.authed(c.handleHistory))
	mux.Handle("GET /apps/{name}/events", c.authed(c.handleEvents))
	mux.Handle("GET /apps/{name}/logs", c.authed(c.handleLogs))
	mux.Handle("GET /apps/{name}/stream", c.authed(c.handleStream))
	mux.Handle("GET /apps/{name}/{action}", c.authed(c.handleConfirm))
	mux.Handle("POST /apps/{name}/{action}", c.authed(c.handleAction))
	return securityHeaders(mux)
}

// securityHeaders allow only the console's own scripts, styles and connections, and no framing:
// even text that slipped through escaping could not run.
func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
			"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "same-origin")
		hd.Set("X-Frame-Options", "DENY")
		h.ServeHTTP(w, r)
	})
}

func cacheForever(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Has("v") {
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		}
		h.ServeHTTP(w, r)
	})
}

// page is what every page's layout needs.
type page struct {
	Title     string
	Principal api.Principal
	LoggedIn  bool
	CSRF      string
	Flash     *flash
	// Stream is the URL of the page's live-update stream ("" for none).
	Stream string
	Assets string // the asset version
}

// newPage fills the layout's fields for an authenticated request.
func (c *Console) newPage(w http.ResponseWriter, r *http.Request, title string) page {
	s := sessionOf(r.Context())
	return page{Title: title, Principal: s.P, LoggedIn: true, CSRF: c.csrfToken("session", s.Nonce),
		Flash: c.takeFlash(w, r), Assets: c.assetVersion}
}

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// render executes a template into a buffer first, so a failing template never sends half a page.
func (c *Console) render(w http.ResponseWriter, code int, name string, data any) {
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	defer bufPool.Put(buf)
	if err := c.tmpl.ExecuteTemplate(buf, name, data); err != nil {
		c.log.Error("console: rendering", "template", name, "error", err)
		http.Error(w, "rendering the page failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}

type errorPage struct {
	page
	Code    int
	Message string
	Hint    string
}

// fail shows an error page: 404 for an app that does not exist or that the principal may not
// see (the same page, so nothing leaks), the backend's message otherwise.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, code int, err error) {
	p := page{Title: http.StatusText(code), Assets: c.assetVersion}
	if s := sessionOf(r.Context()); s != nil {
		p = c.newPage(w, r, http.StatusText(code))
	}
	if r.URL.Query().Has("fragment") {
		http.Error(w, err.Error(), code)
		return
	}
	c.render(w, code, "error.html", &errorPage{page: p, Code: code, Message: err.Error(), Hint: errdefs.Hint(err)})
}

// backendError maps a backend error to a status. A session the backend no longer accepts is
// dropped, and the request sent to the login form (or answered 401).
func (c *Console) backendError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, ErrSessionEnded) {
		c.setCookie(w, r, sessionCookie, "", -1)
		c.loginFirst(w, r)
		return
	}
	code := http.StatusBadGateway
	switch {
	case errors.Is(err, errdefs.ErrUnavailable):
		code = http.StatusServiceUnavailable
	case errors.Is(err, errdefs.ErrNotFound):
		code = http.StatusNotFound
	case errors.Is(err, errdefs.ErrInvalid):
		code = http.StatusBadRequest
	case errors.Is(err, errdefs.ErrPrecondition), errors.Is(err, errdefs.ErrConflict), errors.Is(err, errdefs.ErrNoop):
		code = http.StatusConflict
	}
	if code == http.StatusBadGateway {
		c.log.Warn("console: backend call failed", "path", r.URL.Path, "error", err)
	}
	c.fail(w, r, code, err)
}

// errNoApp is the answer for an app that does not exist or is not the principal's.
func errNoApp(name string) error {
	return errdefs.NotFound(fmt.Errorf("no app %q", name))
}
