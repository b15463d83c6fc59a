package render

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"

	"github.com/Masterminds/semver/v3"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"sigs.k8s.io/yaml"
)

// repoIndex is the part of a chart repository's index.yaml that resolves a dependency.
type repoIndex struct {
	Entries map[string][]struct {
		Version string   `json:"version"`
		URLs    []string `json:"urls"`
		Digest  string   `json:"digest"`
	} `json:"entries"`
}

// chartDependency fetches a dependency that charts/ lacks from its chart repository, when the
// repository's host is allowed: index.yaml, then the newest version that satisfies the
// constraint, its digest checked. It returns the dependency's files below charts/NAME/.
// Dependencies from OCI registries, file:// paths or repository aliases are refused: vendor
// them (helm dependency build).
func (rm *remotes) chartDependency(ctx context.Context, ch *chart.Chart, dep *chart.Dependency) ([]*loader.BufferedFile, error) {
	file := "Chart.yaml"
	if ch.Metadata.APIVersion == chart.APIVersionV1 {
		file = "requirements.yaml"
	}
	refuse := func(why string) error {
		return &LimitError{Err: ErrRemote, File: file, Detail: fmt.Sprintf("dependency %s (repository %q): %s", dep.Name, dep.Repository, why)}
	}
	if !isRemote(dep.Repository) {
		return nil, refuse("missing in charts/; vendor it (helm dependency build)")
	}
	if strings.HasPrefix(strings.ToLower(dep.Repository), "oci://") {
		return nil, refuse("OCI chart dependencies are not fetched; vendor it into charts/ (helm dependency build)")
	}
	repo, err := rm.parseAllowed(dep.Repository)
	if err != nil {
		return nil, refuse(err.Error())
	}
	version, chartURL, digest, err := rm.resolveDependency(ctx, repo, dep)
	if err != nil {
		return nil, fmt.Errorf("dependency %s from %s: %w", dep.Name, repo.Redacted(), err)
	}
	u, err := rm.parseAllowed(chartURL)
	if err != nil {
		return nil, refuse(fmt.Sprintf("version %s at %s: %s", version, chartURL, err))
	}
	data, err := rm.fetchHTTP(ctx, u)
	if err != nil {
		return nil, fmt.Errorf("dependency %s %s: %w", dep.Name, version, err)
	}
	if sum := sha256.Sum256(data); digest != "" && hex.EncodeToString(sum[:]) != strings.TrimPrefix(digest, "sha256:") {
		return nil, fmt.Errorf("dependency %s %s from %s: digest mismatch with the repository index", dep.Name, version, u.Redacted())
	}
	files, err := rm.run.untar(u.Redacted(), data)
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		f.Name = "charts/" + dep.Name + "/" + f.Name
	}
	return files, nil
}

// unvendored refuses, in one error, every missing dependency that cannot be fetched (its
// repository is not an allowed http(s) chart repository): each is named with its repository,
// so one run says everything there is to vendor.
func (rm *remotes) unvendored(ch *chart.Chart, missing []*chart.Dependency) error {
	var refused []string
	for _, dep := range missing {
		why := ""
		switch {
		case !isRemote(dep.Repository):
			why = "no repository"
			if dep.Repository != "" {
				why = "a local repository"
			}
		case strings.HasPrefix(strings.ToLower(dep.Repository), "oci://"):
			why = "OCI, never fetched"
		default:
			if _, err := rm.parseAllowed(dep.Repository); err != nil {
				why = strings.TrimSuffix(strings.TrimSuffix(err.Error(), "; vendor it into the repository"), ".")
			}
		}
		if why != "" {
			refused = append(refused, fmt.Sprintf("%s %s from %q (%s)", dep.Name, cmpOr(dep.Version, "*"), dep.Repository, why))
		}
	}
	if len(refused) == 0 {
		return nil
	}
	file := "Chart.yaml"
	if ch.Metadata.APIVersion == chart.APIVersionV1 {
		file = "requirements.yaml"
	}
	if rm.run.req.Path != "" {
		file = rm.run.req.Path + "/" + file
	}
	return &LimitError{Err: ErrRemote, File: file, Detail: fmt.Sprintf("chart %s has %d dependenc%s not vendored in charts/: %s; run helm dependency build and commit charts/, or allow the repository's host where it is an http(s) chart repository",
		ch.Name(), len(refused), plural(len(refused), "y", "ies"), strings.Join(refused, ", "))}
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// resolveDependency reads the repository's index and picks the newest version of dep that
// satisfies its version constraint.
func (rm *remotes) resolveDependency(ctx context.Context, repo *url.URL, dep *chart.Dependency) (version, chartURL, digest string, err error) {
	indexURL := *repo
	indexURL.Path = strings.TrimSuffix(indexURL.Path, "/") + "/index.yaml"
	data, err := rm.fetchHTTP(ctx, &indexURL)
	if err != nil {
		return "", "", "", err
	}
	if err := rm.run.aliases.check(indexURL.Redacted(), data); err != nil {
		return "", "", "", err
	}
	var idx repoIndex
	if err := yaml.Unmarshal(data, &idx); err != nil {
		return "", "", "", fmt.Errorf("reading %s: %w", indexURL.Redacted(), err)
	}
	constraint := dep.Version
	if constraint == "" {
		constraint = "*"
	}
	c, err := semver.NewConstraint(constraint)
	if err != nil {
		return "", "", "", fmt.Errorf("version %q: %w", dep.Version, err)
	}
	var best *semver.Version
	for _, e := range idx.Entries[dep.Name] {
		v, err := semver.NewVersion(e.Version)
		if err != nil || !c.Check(v) || len(e.URLs) == 0 || (best != nil && !v.GreaterThan(best)) {
			continue
		}
		best, version, digest = v, e.Version, e.Digest
		ref, err := url.Parse(e.URLs[0])
		if err != nil {
			continue
		}
		chartURL = repo.ResolveReference(ref).String()
		if !ref.IsAbs() {
			base := *repo
			base.Path = strings.TrimSuffix(base.Path, "/") + "/"
			chartURL = base.ResolveReference(ref).String()
		}
	}
	if best == nil {
		return "", "", "", fmt.Errorf("no version matching %q in %s", constraint, indexURL.Redacted())
	}
	return version, chartURL, digest, nil
}
