package gitops

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/tagrelay/tagrelay/internal/errdefs"
)

// kubeconfig is the part of a kubeconfig file a trigger reads.
type kubeconfig struct {
	CurrentContext string `yaml:"current-context"`
	Clusters       []struct {
		Name    string `yaml:"name"`
		Cluster struct {
			Server        string `yaml:"server"`
			CA            string `yaml:"certificate-authority"`
			CAData        string `yaml:"certificate-authority-data"`
			Insecure      bool   `yaml:"insecure-skip-tls-verify"`
			TLSServerName string `yaml:"tls-server-name"`
		} `yaml:"cluster"`
	} `yaml:"clusters"`
	Users []struct {
		Name string `yaml:"name"`
		User struct {
			Token        string         `yaml:"token"`
			TokenFile    string         `yaml:"tokenFile"`
			Cert         string         `yaml:"client-certificate"`
			CertData     string         `yaml:"client-certificate-data"`
			Key          string         `yaml:"client-key"`
			KeyData      string         `yaml:"client-key-data"`
			Username     string         `yaml:"username"`
			Password     string         `yaml:"password"`
			Exec         map[string]any `yaml:"exec"`
			AuthProvider map[string]any `yaml:"auth-provider"`
		} `yaml:"user"`
	} `yaml:"users"`
	Contexts []struct {
		Name    string `yaml:"name"`
		Context struct {
			Cluster string `yaml:"cluster"`
			User    string `yaml:"user"`
		} `yaml:"context"`
	} `yaml:"contexts"`
}

// maxKubeconfig bounds a kubeconfig file.
const maxKubeconfig = 4 << 20

// LoadKubeconfig reads the context (the current one when "") of the kubeconfig files, merged as
// kubectl merges the files of KUBECONFIG: the first file that names a cluster, user, context or
// the current context wins. Relative file paths in a file are relative to its directory.
// Credential plugins (exec, auth-provider) are not run: such a user is an input error that says
// to give a token.
func LoadKubeconfig(files []string, context string) (*KubeConfig, error) {
	type from struct {
		dir string
		kc  *kubeconfig
		i   int
	}
	clusters, users, contexts := map[string]from{}, map[string]from{}, map[string]from{}
	current := ""
	read := 0
	for _, f := range files {
		b, err := readBounded(f, maxKubeconfig)
		if errors.Is(err, os.ErrNotExist) && len(files) > 1 {
			continue // kubectl skips missing files of a list
		}
		if err != nil {
			return nil, errdefs.Invalid(fmt.Errorf("reading kubeconfig: %w", err))
		}
		read++
		kc := &kubeconfig{}
		if err := yaml.Unmarshal(b, kc); err != nil {
			return nil, errdefs.Invalid(fmt.Errorf("parsing kubeconfig %s: %w", f, err))
		}
		dir := filepath.Dir(f)
		if current == "" {
			current = kc.CurrentContext
		}
		for i, c := range kc.Clusters {
			if _, ok := clusters[c.Name]; !ok {
				clusters[c.Name] = from{dir, kc, i}
			}
		}
		for i, u := range kc.Users {
			if _, ok := users[u.Name]; !ok {
				users[u.Name] = from{dir, kc, i}
			}
		}
		for i, c := range kc.Contexts {
			if _, ok := contexts[c.Name]; !ok {
				contexts[c.Name] = from{dir, kc, i}
			}
		}
	}
	if read == 0 {
		return nil, errdefs.Invalid(fmt.Errorf("no kubeconfig file found in %s", strings.Join(files, ", ")))
	}
	if context == "" {
		context = current
	}
	cf, ok := contexts[context]
	if context == "" || !ok {
		return nil, errdefs.Invalid(fmt.Errorf("kubeconfig has no context %q", context))
	}
	kctx := cf.kc.Contexts[cf.i].Context
	clf, ok := clusters[kctx.Cluster]
	if !ok {
		return nil, errdefs.Invalid(fmt.Errorf("kubeconfig context %q names cluster %q, which it does not define", context, kctx.Cluster))
	}
	cl := clf.kc.Clusters[clf.i].Cluster
	cfg := &KubeConfig{Server: cl.Server, Insecure: cl.Insecure, TLSServerName: cl.TLSServerName}
	var err error
	if cfg.CAData, err = dataOrFile(cl.CAData, cl.CA, clf.dir); err != nil {
		return nil, err
	}
	if uf, ok := users[kctx.User]; ok {
		u := uf.kc.Users[uf.i].User
		if u.Exec != nil || u.AuthProvider != nil {
			return nil, errdefs.WithHint(errdefs.Invalid(fmt.Errorf("kubeconfig user %q uses a credential plugin (exec or auth-provider), which tagrelay does not run", kctx.User)),
				"give the job a kubeconfig with a token (a service account's), or run it in the cluster with a service account")
		}
		cfg.Token, cfg.Username, cfg.Password = u.Token, u.Username, u.Password
		if u.TokenFile != "" && cfg.Token == "" {
			t, err := readBounded(relTo(uf.dir, u.TokenFile), 1<<20)
			if err != nil {
				return nil, errdefs.Invalid(fmt.Errorf("reading the kubeconfig's token file: %w", err))
			}
			cfg.Token = strings.TrimSpace(string(t))
		}
		if cfg.CertData, err = dataOrFile(u.CertData, u.Cert, uf.dir); err != nil {
			return nil, err
		}
		if cfg.KeyData, err = dataOrFile(u.KeyData, u.Key, uf.dir); err != nil {
			return nil, err
		}
	}
	return cfg, nil
}

// InClusterConfig is the configuration of a pod: the API server at host:port (the
// KUBERNETES_SERVICE_HOST and _PORT variables) and the pod's service account token and CA
// (/var/run/secrets/kubernetes.io/serviceaccount, or dir).
func InClusterConfig(host, port, dir string) (*KubeConfig, error) {
	if dir == "" {
		dir = "/var/run/secrets/kubernetes.io/serviceaccount"
	}
	tok, err := readBounded(filepath.Join(dir, "token"), 1<<20)
	if err != nil {
		return nil, errdefs.Invalid(fmt.Errorf("reading the service account token: %w", err))
	}
	ca, err := readBounded(filepath.Join(dir, "ca.crt"), 1<<20)
	if err != nil {
		return nil, errdefs.Invalid(fmt.Errorf("reading the service account CA: %w", err))
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]" // IPv6
	}
	return &KubeConfig{Server: "https://" + host + ":" + port, Token: strings.TrimSpace(string(tok)), CAData: ca}, nil
}

func readBounded(file string, n int64) ([]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, n+1))
	if err == nil && int64(len(b)) > n {
		err = fmt.Errorf("%s: larger than %d bytes", file, n)
	}
	return b, err
}

func relTo(dir, file string) string {
	if filepath.IsAbs(file) {
		return file
	}
	return filepath.Join(dir, file)
}

// dataOrFile returns base64 data decoded (yaml gives it as a string), else the file's bytes.
func dataOrFile(data, file, dir string) ([]byte, error) {
	if data != "" {
		b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(data))
		if err != nil {
			return nil, errdefs.Invalid(fmt.Errorf("kubeconfig: invalid base64 data: %w", err))
		}
		return b, nil
	}
	if file == "" {
		return nil, nil
	}
	b, err := readBounded(relTo(dir, file), 1<<20)
	if err != nil {
		return nil, errdefs.Invalid(fmt.Errorf("reading a file the kubeconfig names: %w", err))
	}
	return b, nil
}
