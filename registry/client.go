package registry

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/tagrelay/tagrelay/internal/errdefs"
)

// ClientOptions configure a Client. They are data, usually from flags; start from
// DefaultClientOptions.
type ClientOptions struct {
	// Username and Password are basic credentials (a Harbor robot account "robot$project+ci"
	// works as is) sent to the registries in CredentialRegistries, or to every registry when
	// that is empty. Other registries get credentials from Keychain. Default: none.
	Username, Password string
	// CredentialRegistries are the registry hosts (host[:port]) Username and Password are for.
	CredentialRegistries []string
	// DockerConfig is the directory of a docker config.json (auths, credsStore, credHelpers).
	// Default "": authn.DefaultKeychain ($DOCKER_CONFIG, ~/.docker/config.json, podman's auth.json).
	DockerConfig string
	// Keychain overrides DockerConfig. Default nil.
	Keychain authn.Keychain
	// CAFiles are PEM files of extra certificate authorities trusted on top of the system's.
	CAFiles []string
	// CABundle is PEM of extra certificate authorities, trusted like CAFiles.
	CABundle []byte
	// Insecure skips TLS verification and allows plain HTTP. Every use is logged as a warning.
	Insecure bool
	// Jobs bounds the blobs transferred in parallel. Default 4.
	Jobs int
	// Retry is the backoff for 408, 429 and 5xx answers and network errors.
	// Default: 3 tries, 1 s then 3 s apart, like ggcr's.
	Retry remote.Backoff
	// Transport is the base HTTP transport, for tests and fault injection. Default: a clone of
	// remote.DefaultTransport with the TLS settings above.
	Transport http.RoundTripper
	// UserAgent is added to the User-Agent header. Default "tagrelay".
	UserAgent string
	// Logger receives debug logs of requests and warnings (--insecure). Default: discard.
	Logger *slog.Logger
}

// DefaultClientOptions returns the defaults documented on ClientOptions.
func DefaultClientOptions() ClientOptions {
	return ClientOptions{
		Jobs:      4,
		Retry:     remote.Backoff{Duration: time.Second, Factor: 3, Jitter: 0.1, Steps: 3},
		UserAgent: "tagrelay",
	}
}

// Client talks to OCI registries with one set of credentials and TLS settings. It keeps the
// authenticated transport of each registry and scope set, so repeated calls (polling for a tag)
// do not repeat the handshake. It is safe for concurrent use.
type Client struct {
	opts     ClientOptions
	keychain authn.Keychain
	base     http.RoundTripper
	log      *slog.Logger

	mu         sync.Mutex
	transports map[string]http.RoundTripper
}

// NewClient returns a Client, or an input error when a CA file cannot be read.
func NewClient(o ClientOptions) (*Client, error) {
	d := DefaultClientOptions()
	if o.Jobs <= 0 {
		o.Jobs = d.Jobs
	}
	if o.Retry.Steps == 0 {
		o.Retry = d.Retry
	}
	if o.UserAgent == "" {
		o.UserAgent = d.UserAgent
	}
	c := &Client{opts: o, log: o.Logger, transports: map[string]http.RoundTripper{}}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.keychain = c.makeKeychain()
	base := o.Transport
	if base == nil {
		tr, err := tlsTransport(o)
		if err != nil {
			return nil, err
		}
		base = tr
	}
	c.base = &observer{inner: base, log: c.log, uploads: make(chan struct{}, o.Jobs)}
	return c, nil
}

func (c *Client) makeKeychain() authn.Keychain {
	kc := c.opts.Keychain
	if kc == nil {
		kc = authn.DefaultKeychain
		if c.opts.DockerConfig != "" {
			kc = ConfigKeychain(c.opts.DockerConfig)
		}
	}
	if c.opts.Username == "" && c.opts.Password == "" {
		return kc
	}
	return &staticKeychain{
		auth:  &authn.Basic{Username: c.opts.Username, Password: c.opts.Password},
		hosts: c.opts.CredentialRegistries,
		next:  kc,
	}
}

// tlsTransport clones ggcr's default transport with the extra CAs, or without verification.
func tlsTransport(o ClientOptions) (*http.Transport, error) {
	tr := remote.DefaultTransport.(*http.Transport).Clone()
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if o.Insecure {
		cfg.InsecureSkipVerify = true //nolint:gosec // the user asked for it; warned on every use
	}
	if len(o.CAFiles) > 0 || len(o.CABundle) > 0 {
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		for _, f := range o.CAFiles {
			pem, err := os.ReadFile(f)
			if err != nil {
				return nil, errdefs.Invalid(fmt.Errorf("reading CA file: %w", err))
			}
			if !pool.AppendCertsFromPEM(pem) {
				return nil, errdefs.Invalid(fmt.Errorf("CA file %s holds no PEM certificate", f))
			}
		}
		if len(o.CABundle) > 0 && !pool.AppendCertsFromPEM(o.CABundle) {
			return nil, errdefs.Invalid(errors.New("the CA bundle holds no PEM certificate"))
		}
		cfg.RootCAs = pool
	}
	tr.TLSClientConfig = cfg
	return tr, nil
}

// ParseReference parses an image reference (harbor.example/team/app:tag, …@sha256:…). With
// insecure, plain HTTP is allowed for any registry, not only localhost.
func (c *Client) ParseReference(s string) (name.Reference, error) {
	ref, err := name.ParseReference(s, c.nameOptions()...)
	if err != nil {
		return nil, fmt.Errorf("%w %q: %v", ErrInvalidReference, s, trimNamePrefix(err))
	}
	return ref, nil
}

// ParseRepository parses a repository without tag or digest (harbor.example/team/app).
func (c *Client) ParseRepository(s string) (name.Repository, error) {
	repo, err := name.NewRepository(s, c.nameOptions()...)
	if err != nil {
		return name.Repository{}, fmt.Errorf("%w %q: %v", ErrInvalidReference, s, trimNamePrefix(err))
	}
	return repo, nil
}

func (c *Client) nameOptions() []name.Option {
	if c.opts.Insecure {
		return []name.Option{name.Insecure}
	}
	return nil
}

// trimNamePrefix keeps the reason of a ggcr name error, or says what is expected when ggcr
// only repeats the input.
func trimNamePrefix(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 {
		s = s[i+2:]
	}
	if strings.Contains(s, "can only contain") || strings.Contains(s, "must") {
		return s
	}
	return "expected REGISTRY/REPOSITORY[:TAG|@sha256:DIGEST] in lowercase, tags of letters, digits, '_', '.', '-'"
}

// transport returns the authenticated transport for reg with scopes, pinging the registry and
// fetching a token on first use.
func (c *Client) transport(ctx context.Context, reg name.Registry, scopes []string) (http.RoundTripper, error) {
	scopes = slices.Compact(slices.Sorted(slices.Values(scopes)))
	key := reg.RegistryStr() + "|" + strings.Join(scopes, " ")
	c.mu.Lock()
	tr, ok := c.transports[key]
	c.mu.Unlock()
	if ok {
		return tr, nil
	}
	if c.opts.Insecure {
		c.log.Warn("TLS verification disabled and plain HTTP allowed (--insecure)", "registry", reg.RegistryStr())
	}
	auth, err := authn.Resolve(ctx, c.keychain, reg)
	if err != nil {
		return nil, fmt.Errorf("reading credentials for %s: %w", reg.RegistryStr(), err)
	}
	inner := transport.NewRetry(c.base,
		transport.WithRetryBackoff(c.opts.Retry),
		transport.WithRetryStatusCodes(retryStatusCodes...),
	)
	inner = transport.NewUserAgent(inner, c.opts.UserAgent)
	tr, err = transport.NewWithContext(ctx, reg, auth, inner, scopes)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.transports[key] = tr
	c.mu.Unlock()
	return tr, nil
}

// retryStatusCodes are retried with backoff: timeouts, rate limits and server errors.
var retryStatusCodes = []int{
	http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusInternalServerError,
	http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout,
}

// remoteOptions are the ggcr options of one operation on reg.
func (c *Client) remoteOptions(tr http.RoundTripper, extra ...remote.Option) []remote.Option {
	return append([]remote.Option{
		remote.WithTransport(tr),
		// A push of an index applies the jobs twice (children, then each child's blobs), so
		// up to Jobs² goroutines may want a blob at once; ggcr's pull limiter lets at most
		// Jobs source bodies open, and the observer under every transport at most Jobs
		// uploads. (√Jobs instead left the last child of a 3-platform index waiting for the
		// first two: 8% slower than crane copy.)
		remote.WithJobs(c.opts.Jobs),
		remote.WithRetryBackoff(c.opts.Retry),
	}, extra...)
}

// staticKeychain answers with fixed credentials for some hosts and asks next for the others.
type staticKeychain struct {
	auth  authn.Authenticator
	hosts []string
	next  authn.Keychain
}

func (k *staticKeychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	return k.ResolveContext(context.Background(), r)
}

func (k *staticKeychain) ResolveContext(ctx context.Context, r authn.Resource) (authn.Authenticator, error) {
	if len(k.hosts) == 0 || slices.Contains(k.hosts, r.RegistryStr()) {
		return k.auth, nil
	}
	return authn.Resolve(ctx, k.next, r)
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
