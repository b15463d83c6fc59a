// Package regflags holds the registry credential flags shared by tagrelay push, bump and
// release, and builds a registry.Client from them, the TLS flags (internal/cli/tlsflags) and the
// CI variables.
package regflags

import (
	"crypto/x509"
	"errors"
	"log/slog"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/urfave/cli/v2"

	"github.com/tagrelay/tagrelay/internal/cli/tlsflags"
	"github.com/tagrelay/tagrelay/internal/clirun"
	"github.com/tagrelay/tagrelay/internal/errdefs"
	"github.com/tagrelay/tagrelay/registry"
)

// Options are the values of the registry flags.
type Options struct {
	user         string
	passwordFile string
}

// Flags returns the registry auth flags bound to o. Each call returns new flags.
func Flags(o *Options) []cli.Flag {
	const cat = "Registry"
	return []cli.Flag{
		&cli.StringFlag{Name: "registry-user", Usage: "registry `USER` (a Harbor robot such as robot$project+ci works as is; default: CI_REGISTRY_USER for $CI_REGISTRY, else docker config.json)", EnvVars: []string{"TAGRELAY_REGISTRY_USER"}, Destination: &o.user, Category: cat},
		&cli.StringFlag{Name: "registry-password-file", Usage: "read the registry password from `FILE` (default: TAGRELAY_REGISTRY_PASSWORD, or CI_REGISTRY_PASSWORD for $CI_REGISTRY)", EnvVars: []string{"TAGRELAY_REGISTRY_PASSWORD_FILE"}, Destination: &o.passwordFile, TakesFile: true, Category: cat},
	}
}

// Client builds a registry client from the flags and CI variables. Explicit credentials
// (--registry-user, TAGRELAY_REGISTRY_PASSWORD) go to hosts, the registries the command is
// about; GitLab's CI_REGISTRY_USER/CI_REGISTRY_PASSWORD go only to $CI_REGISTRY (to hosts when
// CI_REGISTRY is unset), so a job pushing to Harbor keeps its docker config.json credentials.
// Every other registry gets credentials from config.json ($DOCKER_CONFIG, ~/.docker). TLS comes
// from the command's TLS flags; --insecure also allows plain HTTP.
func (o *Options) Client(env *clirun.Env, log *slog.Logger, t *tlsflags.Options, jobs int, hosts ...string) (*registry.Client, error) {
	co := registry.DefaultClientOptions()
	co.Logger, co.Insecure, co.DockerConfig = log, t.Insecure, env.Getenv("DOCKER_CONFIG")
	if jobs > 0 {
		co.Jobs = jobs
	}
	user, password, err := o.credentials(env)
	if err != nil {
		return nil, err
	}
	if user == "" && password == "" {
		user, password = env.Getenv("CI_REGISTRY_USER"), env.Getenv("CI_REGISTRY_PASSWORD")
		env.Redactor.Add(password)
		if ci := env.Getenv("CI_REGISTRY"); ci != "" && user != "" {
			hosts = []string{ci}
		}
	}
	co.Username, co.Password, co.CredentialRegistries = user, password, hosts
	co.CABundle, err = t.Bundle(env)
	if err != nil {
		return nil, err
	}
	// With --insecure the client warns each time it contacts a registry, naming it.
	return registry.NewClient(co)
}

// credentials returns --registry-user with the password from --registry-password-file or
// TAGRELAY_REGISTRY_PASSWORD, registered with the redactor.
func (o *Options) credentials(env *clirun.Env) (user, password string, err error) {
	password, err = env.Secret(env.Getenv("TAGRELAY_REGISTRY_PASSWORD"), o.passwordFile)
	if err != nil {
		return "", "", err
	}
	if password != "" && o.user == "" {
		user = env.Getenv("CI_REGISTRY_USER")
		if user == "" {
			return "", "", clirun.Usagef("pass --registry-user with the password", "registry password given without a user")
		}
	}
	if o.user != "" {
		user = o.user
		if password == "" {
			if password = env.Getenv("CI_REGISTRY_PASSWORD"); password == "" {
				return "", "", clirun.Usagef("pass --registry-password-file FILE (or set TAGRELAY_REGISTRY_PASSWORD)", "--registry-user %s given without a password", o.user)
			}
			env.Redactor.Add(password)
		}
	}
	return user, password, nil
}

// RegistryOf returns the registry host of an image reference or repository (index.docker.io
// for Docker Hub names), "" when it does not parse (the error comes later, with context).
func RegistryOf(ref string) string {
	r, err := name.ParseReference(ref)
	if err != nil {
		return ""
	}
	return r.Context().RegistryStr()
}

// Hint gives a registry error the flags of this group and of tlsflags that fix it: refused
// credentials, and a certificate of an authority nobody trusts. The registry package says what
// happened; the command knows its flags. Any other error passes through.
func Hint(err error) error {
	var hostErr x509.HostnameError
	switch {
	case errors.Is(err, registry.ErrUnauthorized):
		return errdefs.WithHint(err, "check --registry-user and --registry-password-file (or CI_REGISTRY_USER / CI_REGISTRY_PASSWORD, or docker login) and the account's permissions on the repository")
	case errors.Is(err, registry.ErrUntrusted) && !errors.As(err, &hostErr):
		// A certificate for another host name is not fixed by trusting more: the library's hint
		// (use the real host name) stays.
		return errdefs.WithHint(err, tlsflags.UntrustedHint("registry"))
	}
	return err
}
