package console

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tagrelay/tagrelay/reconcile/api"
)

// The cookies of the console. Every one is HttpOnly and SameSite=Strict, and Secure when the
// request came over TLS (or Options.Secure).
const (
	sessionCookie = "tagrelay_session"
	loginCookie   = "tagrelay_login" // the login form's CSRF nonce, before a session exists
	flashCookie   = "tagrelay_flash" // the outcome of the last action, shown once
	// maxToken bounds the token a login form may carry (a GitLab JWT is ~1 KiB).
	maxToken = 8 << 10
)

// session is what the signed session cookie carries: who, until when, and the nonce the CSRF
// token of its forms derives from. Sessions are stateless, so every replica accepts every
// session signed with the shared key.
type session struct {
	P     api.Principal `json:"p"`
	Exp   int64         `json:"e"`
	Nonce string        `json:"n"`
}

// sign returns payload.mac, both base64url.
func (c *Console) sign(payload []byte) string {
	return b64(payload) + "." + b64(c.mac(payload))
}

// verify returns the payload of a signed value, or false when the MAC does not match.
func (c *Console) verify(v string) ([]byte, bool) {
	p, m, ok := strings.Cut(v, ".")
	if !ok {
		return nil, false
	}
	payload, err1 := base64.RawURLEncoding.DecodeString(p)
	mac, err2 := base64.RawURLEncoding.DecodeString(m)
	if err1 != nil || err2 != nil || !hmac.Equal(mac, c.mac(payload)) {
		return nil, false
	}
	return payload, true
}

func (c *Console) mac(b []byte) []byte {
	h := hmac.New(sha256.New, c.opts.SessionKey)
	h.Write(b)
	return h.Sum(nil)
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func nonce() string {
	b := make([]byte, 18)
	_, _ = rand.Read(b)
	return b64(b)
}

// csrfToken is the token every form of a session carries: a MAC of the session's nonce, so it
// needs no storage and changes with each login.
func (c *Console) csrfToken(purpose, nonce string) string {
	return b64(c.mac([]byte("csrf|" + purpose + "|" + nonce)))
}

// checkCSRF compares a form's token with the expected one in constant time, and refuses a
// request whose Origin header names another site (browsers send it on every POST).
func (c *Console) checkCSRF(r *http.Request, want string) bool {
	if o := r.Header.Get("Origin"); o != "" && o != "null" {
		u, err := url.Parse(o)
		if err != nil || u.Host != r.Host {
			return false
		}
	}
	got := r.PostFormValue("csrf")
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// session returns the request's valid, unexpired session.
func (c *Console) session(r *http.Request) (*session, bool) {
	ck, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil, false
	}
	payload, ok := c.verify(ck.Value)
	if !ok {
		return nil, false
	}
	var s session
	if json.Unmarshal(payload, &s) != nil || time.Now().Unix() >= s.Exp || s.Nonce == "" {
		return nil, false
	}
	return &s, true
}

func (c *Console) setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge time.Duration) {
	ck := &http.Cookie{Name: name, Value: value, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: c.opts.Secure || r.TLS != nil, MaxAge: int(maxAge / time.Second)}
	if maxAge < 0 {
		ck.MaxAge = -1
	}
	http.SetCookie(w, ck)
}

type principalKey struct{}

// principal is the principal of an authenticated request (see authed).
func principal(ctx context.Context) api.Principal {
	p, _ := ctx.Value(principalKey{}).(api.Principal)
	return p
}

type sessionKey struct{}

func sessionOf(ctx context.Context) *session {
	s, _ := ctx.Value(sessionKey{}).(*session)
	return s
}

// authed lets a request with a valid session through, and sends any other to the login page
// (a stream or fragment request gets 401: the page around it reloads). A POST must carry the
// session's CSRF token.
func (c *Console) authed(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, ok := c.session(r)
		if !ok {
			c.loginFirst(w, r)
			return
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
			if !c.checkCSRF(r, c.csrfToken("session", s.Nonce)) {
				c.fail(w, r, http.StatusForbidden, errors.New("the form's CSRF token is missing or wrong; reload the page and try again"))
				return
			}
		}
		ctx := context.WithValue(context.WithValue(r.Context(), principalKey{}, s.P), sessionKey{}, s)
		ctx = context.WithValue(ctx, cursorKey{}, c.hub.cursor()) // before any state is read
		h(w, r.WithContext(ctx))
	})
}

// loginFirst answers a request without a (valid) session: a page goes to the login form, a
// stream, a fragment or a POST gets 401 (the page around it reloads).
func (c *Console) loginFirst(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet || strings.HasSuffix(r.URL.Path, "/stream") || r.URL.Query().Has("fragment") {
		http.Error(w, "log in first", http.StatusUnauthorized)
		return
	}
	http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
}

type loginPage struct {
	page
	Next, Error string
}

// handleLoginForm shows the login form with a fresh login CSRF nonce in a cookie.
func (c *Console) handleLoginForm(w http.ResponseWriter, r *http.Request) {
	if _, ok := c.session(r); ok {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	c.renderLogin(w, r, http.StatusOK, "")
}

func (c *Console) renderLogin(w http.ResponseWriter, r *http.Request, code int, msg string) {
	n := nonce()
	c.setCookie(w, r, loginCookie, n, 30*time.Minute)
	c.render(w, code, "login.html", &loginPage{page: page{Title: "Log in", CSRF: c.csrfToken("login", n)},
		Next: safeNext(r.FormValue("next")), Error: msg})
}

// handleLogin exchanges a token for a session cookie. The token is never stored: the session
// carries the principal it maps to.
func (c *Console) handleLogin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 2*maxToken)
	ck, err := r.Cookie(loginCookie)
	if err != nil || !c.checkCSRF(r, c.csrfToken("login", ck.Value)) {
		c.renderLogin(w, r, http.StatusForbidden, "The login form expired; try again.")
		return
	}
	token := strings.TrimSpace(r.PostFormValue("token"))
	if token == "" || len(token) > maxToken {
		c.renderLogin(w, r, http.StatusUnauthorized, "Paste a project token or the admin token.")
		return
	}
	if wait, ok := c.logins.allow(clientAddr(r), time.Now()); !ok {
		c.log.Warn("console login rate-limited", "remote", r.RemoteAddr)
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds()+1)))
		c.renderLogin(w, r, http.StatusTooManyRequests, "Too many login attempts from your address; try again in a minute.")
		return
	}
	p, err := c.b.Authenticate(r.Context(), token)
	if err != nil {
		c.log.Info("console login refused", "remote", r.RemoteAddr)
		c.renderLogin(w, r, http.StatusUnauthorized, "That token is not valid.")
		return
	}
	exp := time.Now().Add(c.opts.SessionTTL)
	if !p.Expires.IsZero() && p.Expires.Before(exp) {
		exp = p.Expires // a session does not outlive its credential
	}
	s := session{P: p, Exp: exp.Unix(), Nonce: nonce()}
	payload, _ := json.Marshal(s)
	c.setCookie(w, r, sessionCookie, c.sign(payload), time.Until(exp))
	c.setCookie(w, r, loginCookie, "", -1)
	c.log.Info("console login", "principal", p.Name, "project", p.Project, "admin", p.Admin)
	http.Redirect(w, r, safeNext(r.PostFormValue("next")), http.StatusSeeOther)
}

// handleLogout drops the session cookie.
func (c *Console) handleLogout(w http.ResponseWriter, r *http.Request) {
	c.setCookie(w, r, sessionCookie, "", -1)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// safeNext keeps a post-login redirect on this site: a path, never //host or a URL.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.Contains(next, `\`) {
		return "/"
	}
	return next
}

// flash is the outcome of an action, shown once on the page the action redirects to.
type flash struct {
	Kind string `json:"k"` // ok, warn, error
	Text string `json:"t"`
}

func (c *Console) setFlash(w http.ResponseWriter, r *http.Request, f flash) {
	if len(f.Text) > 1500 {
		f.Text = f.Text[:1500] + "…"
	}
	b, _ := json.Marshal(f)
	c.setCookie(w, r, flashCookie, c.sign(b), time.Minute)
}

func (c *Console) takeFlash(w http.ResponseWriter, r *http.Request) *flash {
	ck, err := r.Cookie(flashCookie)
	if err != nil {
		return nil
	}
	c.setCookie(w, r, flashCookie, "", -1)
	payload, ok := c.verify(ck.Value)
	var f flash
	if !ok || json.Unmarshal(payload, &f) != nil {
		return nil
	}
	return &f
}
