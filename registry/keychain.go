package registry

import (
	"context"

	"github.com/docker/cli/cli/config"
	"github.com/docker/cli/cli/config/types"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
)

// ConfigKeychain returns a keychain reading dir/config.json the way docker does: "auths"
// entries (base64 "auth" or username/password, so a Harbor robot "robot$project+ci" needs no
// shell quoting), "credsStore" and "credHelpers" (docker-credential-* programs on PATH).
// authn.DefaultKeychain is the same with dir taken from $DOCKER_CONFIG or ~/.docker.
func ConfigKeychain(dir string) authn.Keychain { return configKeychain{dir: dir} }

type configKeychain struct{ dir string }

func (k configKeychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	return k.ResolveContext(context.Background(), r)
}

func (k configKeychain) ResolveContext(_ context.Context, r authn.Resource) (authn.Authenticator, error) {
	cf, err := config.Load(k.dir)
	if err != nil {
		return nil, err
	}
	var empty types.AuthConfig
	// The same lookup order as authn.DefaultKeychain: repository, then registry; Docker Hub
	// under its historical key.
	for _, key := range []string{r.String(), r.RegistryStr()} {
		if key == name.DefaultRegistry {
			key = authn.DefaultAuthKey
		}
		cfg, err := cf.GetAuthConfig(key)
		if err != nil {
			return nil, err
		}
		cfg.ServerAddress = ""
		if cfg != empty {
			return authn.FromConfig(authn.AuthConfig{
				Username:      cfg.Username,
				Password:      cfg.Password,
				Auth:          cfg.Auth,
				IdentityToken: cfg.IdentityToken,
				RegistryToken: cfg.RegistryToken,
			}), nil
		}
	}
	return authn.Anonymous, nil
}
