// Package regflags holds the registry credential and TLS flags shared by tagrelay push, bump and
// release, and builds a registry.Client from them and the CI variables.
package regflags

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/urfave/cli/v2"

	"github.com/tagrelay/tagrelay/internal/clirun"
	"github.com/tagrelay/tagrelay/registry"
)

// Options are the values of the registry flags.
type Options struct {
	user         string
	passwordFile string
	caFile       string
	// Insecure is --insecure: skip TLS verification and allow plain HTTP.
	Insecure bool

	caFiles    []string // CAFiles, once resolved
	caResolved bool
}

// Flags returns the registry auth and TLS flags bound to o. Each call returns new flags.
func Flags(o *Options) []cli.Flag {
	const cat = "Registry"
	return []cli.Flag{
		&cli.StringFlag{Name: "registry-user", Usage: "registry `USER` (a Harbor robot such as robot$project+ci works as is; default: CI_REGISTRY_USER for $CI_REGISTRY, else docker config.json)", EnvVars: []string{"TAGRELAY_REGISTRY_USER"}, Destination: &o.user, Category: cat},
		&cli.StringFlag{Name: "registry-password-file", Usage: "read the registry password from `FILE` (default: TAGRELAY_REGISTRY_PASSWORD, or CI_REGISTRY_PASSWORD for $CI_REGISTRY)", EnvVars: []string{"TAGRELAY_REGISTRY_PASSWORD_FILE"}, Destination: &o.passwordFile, TakesFile: true, Category: cat},
		&cli.StringFlag{Name: "ca-file", Usage: "PEM `FILE` of extra certificate authorities to trust, on top of the system's (default: CA_BUNDLE; SSL_CERT_FILE and SSL_CERT_DIR replace the system's, as in every Go program)", EnvVars: []string{"TAGRELAY_CA_FILE"}, Destination: &o.caFile, TakesFile: true, Category: cat},
		&cli.BoolFlag{Name: "insecure", Usage: "skip TLS verification and allow plain HTTP (logged as a warning on every use)", EnvVars: []string{"TAGRELAY_INSECURE"}, Destination: &o.Insecure, Category: cat},
	}
}

// Client builds a registry client from the flags and CI variables. Explicit credentials
// (--registry-user, TAGRELAY_REGISTRY_PASSWORD) go to hosts, the registries the command is
// about; GitLab's CI_REGISTRY_USER/CI_REGISTRY_PASSWORD go only to $CI_REGISTRY (to hosts when
// CI_REGISTRY is unset), so a job pushing to Harbor keeps its docker config.json credentials.
// Every other registry gets credentials from config.json ($DOCKER_CONFIG, ~/.docker).
func (o *Options) Client(env *clirun.Env, log *slog.Logger, jobs int, hosts ...string) (*registry.Client, error) {
	co := registry.DefaultClientOptions()
	co.Logger, co.Insecure, co.DockerConfig = log, o.Insecure, env.Getenv("DOCKER_CONFIG")
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
	co.CAFiles, err = o.CAFiles(env)
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

// CAFiles returns --ca-file, or the file named by GitLab's CA_BUNDLE, which may also hold the
// PEM itself (a variable instead of a file variable): it is then written to a temporary file.
// SSL_CERT_FILE and SSL_CERT_DIR need nothing here: Go's crypto/x509 reads them for the system
// roots, lazily; adding them again would load every root at start for nothing.
func (o *Options) CAFiles(env *clirun.Env) ([]string, error) {
	if o.caResolved {
		return o.caFiles, nil
	}
	switch v := strings.TrimSpace(env.Getenv("CA_BUNDLE")); {
	case o.caFile != "":
		o.caFiles = []string{o.caFile}
	case v == "":
	case strings.Contains(v, "-----BEGIN"):
		p := filepath.Join(os.TempDir(), "tagrelay-ca_bundle.pem")
		if err := os.WriteFile(p, []byte(v+"\n"), 0o600); err != nil {
			return nil, err
		}
		o.caFiles = []string{p}
	default:
		if _, err := os.Stat(v); err != nil {
			return nil, clirun.Usagef("point CA_BUNDLE at a PEM file", "CA_BUNDLE: %v", err)
		}
		o.caFiles = []string{v}
	}
	o.caResolved = true
	return o.caFiles, nil
}

// CABundle returns the PEM of CAFiles, for clients that take the certificates themselves (go-git),
// with the files it came from.
func (o *Options) CABundle(env *clirun.Env) (pem []byte, files []string, err error) {
	if files, err = o.CAFiles(env); err != nil {
		return nil, nil, err
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, nil, clirun.Usagef("check --ca-file", "reading CA file: %v", err)
		}
		pem = append(append(pem, b...), '\n')
	}
	return pem, files, nil
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
