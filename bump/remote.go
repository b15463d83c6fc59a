package bump

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"strings"
	"text/template"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/storage/memory"

	"github.com/tagrelay/tagrelay/internal/errdefs"
	"github.com/tagrelay/tagrelay/internal/provenance"
)

// Remote is the git repository a bump is committed to.
type Remote struct {
	// URL is the clone URL, without credentials (they go in Auth).
	URL string
	// Branch is the branch to update; "" means the remote's default branch.
	Branch string
	// Auth authenticates fetch and push; nil for anonymous access.
	Auth transport.AuthMethod
	// CABundle adds PEM certificates to the system pool for HTTPS.
	CABundle []byte
	// InsecureSkipTLS disables certificate verification.
	InsecureSkipTLS bool
}

// PushOptions configure Push. The zero value is valid: auto kind, default message, author
// "tagrelay", retries for up to 10 minutes.
type PushOptions struct {
	// Kind of the files; "" means KindAuto.
	Kind Kind
	// Message is a text/template over MessageData; "" means DefaultMessage. The provenance
	// trailers follow it (CommitMessage).
	Message string
	// Source is the app commit the images were built from; with a Commit, the message ends with
	// Tagrelay-Source-Commit (and Tagrelay-Source-Repo) trailers, so the reconciler knows the app
	// commits a deploy carries. Default: none (Tagrelay-Image trailers only).
	Source provenance.Source
	// AuthorName and AuthorEmail sign the commit (author and committer). Default: tagrelay.
	AuthorName, AuthorEmail string
	// Retries bounds how many times a push that lost a race is re-applied on the new tip and
	// retried. 0 means no bound on the count (RetryTimeout bounds them); a negative value
	// disables retries.
	Retries int
	// RetryTimeout bounds the time a push that keeps losing races is retried: no attempt starts
	// later than this after the first one. Default 10m; the caller's ctx bounds it too.
	RetryTimeout time.Duration
	// Backoff is the unit of the backoff between retries: the wait after n lost races is drawn
	// uniformly up to Backoff·2^(n-1), at most 2m. Default: the duration of the attempt that
	// lost, at least 250ms (see backoff).
	Backoff time.Duration
	// HeadBranch, when set and different from the base branch, receives the commit instead of
	// the base branch (merge/pull request mode). It is created from the base branch and
	// force-updated: it belongs to tagrelay.
	HeadBranch string
	// DryRun plans the change on the fetched tip and pushes nothing.
	DryRun bool
	// CheckImage, when set, looks every target's image up before anything is fetched or written
	// (CheckImages); with PinDigest the digests it returns are written next to the tags (Pin).
	// Default: no check.
	CheckImage ImageCheck
	PinDigest  bool
	// RenderCheck, when set, proves the edit on the fetched tip before the commit is made (dry
	// runs too): a bump whose new tag the render does not run is refused (ErrNotRendered) and
	// nothing is pushed. Default: no check.
	RenderCheck RenderCheck
	// Logger receives progress; default: discard.
	Logger *slog.Logger
	// Now returns the commit time; default time.Now.
	Now func() time.Time
}

// DefaultMessage is the commit message template used when PushOptions.Message is empty.
const DefaultMessage = `{{if eq (len .Images) 1}}deploy: {{index .Images 0}}{{else}}deploy: {{join .Images ", "}}{{end}}

{{range .Changes}}{{.Path}}:{{.Line}}: {{.Image}} {{if .From}}{{.From}}{{else}}(none){{end}} -> {{.To}}
{{end}}`

// MessageData is what a commit message template sees.
type MessageData struct {
	// Images are "image:tag" for each changed image.
	Images []string
	// Changes are every value changed.
	Changes []Change
	// Files are the changed paths.
	Files []string
	// Branch is the branch the commit goes to.
	Branch string
}

// Commit is the result of a Push.
type Commit struct {
	*Result
	// Hash of the new commit ("" on a dry run).
	Hash string `json:"commit,omitempty"`
	// Parent is the tip the change was applied to.
	Parent string `json:"parent"`
	// Branch that received the commit; BaseBranch it was based on.
	Branch     string `json:"branch"`
	BaseBranch string `json:"baseBranch"`
	// Repository URL (without credentials).
	Repository string `json:"repository"`
	// Attempts is the number of push attempts (1 without a race).
	Attempts int `json:"attempts"`
	// Message of the commit.
	Message string `json:"message,omitempty"`
}

// ErrRaceLost means every push attempt was rejected because the branch kept moving.
var ErrRaceLost = errdefs.Conflict(errors.New("push rejected: the branch kept moving"))

// Push edits paths on the tip of the remote branch and pushes one commit, without a worktree:
// a shallow single-branch fetch into memory, new blobs for the changed files, new trees on their
// paths, one commit, a push that requires the branch to still be at the fetched tip. When another
// writer moved the branch in between, the edit is re-applied on the new tip and pushed again,
// after a backoff that grows with the races lost, until it lands, Retries is reached or
// RetryTimeout has passed.
//
// Errors: those of CheckImage, those of Plan (ErrUnchanged with the Commit's Result,
// ErrImageNotFound, …), not found for a missing repository or branch, ErrRaceLost when the
// retries are exhausted.
func Push(ctx context.Context, remote Remote, paths []string, targets []Target, opts PushOptions) (*Commit, error) {
	opts = opts.withDefaults()
	msgTmpl, err := parseMessage(opts.Message)
	if err != nil {
		return nil, err
	}
	if err := checkSource(opts.Source); err != nil {
		return nil, err
	}
	log := opts.Logger.With("repo", remote.URL)
	if opts.CheckImage != nil {
		digests, err := CheckImages(ctx, targets, opts.CheckImage)
		if err != nil {
			return nil, err
		}
		for i, t := range targets {
			log.Info("image found", "image", t.Image+":"+t.Tag, "digest", digests[i])
		}
		if opts.PinDigest {
			targets = Pin(targets, digests)
		}
	}
	start := time.Now()
	deadline := start.Add(opts.RetryTimeout)
	for attempt := 1; ; attempt++ {
		began := time.Now()
		c, err := pushOnce(ctx, remote, paths, targets, opts, msgTmpl, log)
		if c != nil {
			c.Attempts = attempt
		}
		if err == nil || !isPushRace(err) {
			return c, err
		}
		left := time.Until(deadline)
		if opts.Retries < 0 || opts.Retries > 0 && attempt > opts.Retries || left <= 0 {
			return c, fmt.Errorf("%w: %d attempts in %s on %s, last: %v", ErrRaceLost, attempt, time.Since(start).Round(time.Second), remote.URL, err)
		}
		unit := opts.Backoff
		if unit <= 0 {
			unit = max(minBackoffUnit, time.Since(began))
		}
		wait := min(backoff(unit, attempt), left)
		log.Info("push lost a race, re-applying on the new tip", "attempt", attempt, "wait", wait.Round(time.Millisecond), "reason", err.Error())
		select {
		case <-ctx.Done():
			return c, ctx.Err()
		case <-time.After(wait):
		}
	}
}

func (o PushOptions) withDefaults() PushOptions {
	if o.Kind == "" {
		o.Kind = KindAuto
	}
	if o.Message == "" {
		o.Message = DefaultMessage
	}
	if o.AuthorName == "" {
		o.AuthorName = "tagrelay"
	}
	if o.AuthorEmail == "" {
		o.AuthorEmail = "tagrelay@localhost"
	}
	if o.RetryTimeout <= 0 {
		o.RetryTimeout = 10 * time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// maxBackoff caps one wait between two attempts; minBackoffUnit is the least default unit.
const (
	maxBackoff     = 2 * time.Minute
	minBackoffUnit = 250 * time.Millisecond
)

// backoff is the wait after the n-th lost race: exponential with full jitter (uniform in
// [0, unit·2^(n-1)], AWS architecture blog, "Exponential Backoff And Jitter"). unit is the
// duration of the attempt that lost: the window in which another writer's push makes ours
// lose. N writers each holding the branch that long pass one by one once their waits are spread
// over about N such windows, which the doubling reaches after log2(N) losses, whatever the
// speed of the server (a loaded runner makes attempts, and so waits, longer).
func backoff(unit time.Duration, losses int) time.Duration {
	ceiling := min(unit<<min(losses-1, 16), maxBackoff)
	return rand.N(ceiling + 1)
}

func pushOnce(ctx context.Context, remote Remote, paths []string, targets []Target, opts PushOptions, msgTmpl *template.Template, log *slog.Logger) (*Commit, error) {
	repo, base, branch, err := fetchTip(ctx, remote)
	if err != nil {
		return nil, err
	}
	baseCommit, err := repo.CommitObject(base)
	if err != nil {
		return nil, fmt.Errorf("reading commit %s: %w", base, err)
	}
	tree, err := baseCommit.Tree()
	if err != nil {
		return nil, fmt.Errorf("reading tree of %s: %w", base, err)
	}
	c := &Commit{Parent: base.String(), Branch: branch, BaseBranch: branch, Repository: remote.URL}
	if opts.HeadBranch != "" {
		c.Branch = opts.HeadBranch
	}
	log.Info("fetched", "branch", branch, "commit", base.String()[:12])
	res, err := Plan(treeFS{root: tree}, paths, targets, opts.Kind)
	c.Result = res
	if err == nil && opts.RenderCheck != nil {
		err = opts.RenderCheck(ctx, treeFS{root: tree}, res, targets)
	}
	if err != nil || opts.DryRun {
		return c, err
	}
	files := map[string][]byte{}
	for _, f := range res.Files {
		files[f.Path] = f.New
	}
	newTree, err := rewriteTree(repo.Storer, tree, files)
	if err != nil {
		return c, fmt.Errorf("writing tree: %w", err)
	}
	if c.Message, err = renderCommit(msgTmpl, res, targets, c.Branch, opts.Source); err != nil {
		return c, err
	}
	sig := object.Signature{Name: opts.AuthorName, Email: opts.AuthorEmail, When: opts.Now()}
	hash, err := storeObject(repo.Storer, &object.Commit{
		Author: sig, Committer: sig, Message: c.Message, TreeHash: newTree, ParentHashes: []plumbing.Hash{base},
	})
	if err != nil {
		return c, fmt.Errorf("writing commit: %w", err)
	}
	push := &git.PushOptions{
		RemoteName:      "origin",
		Auth:            remote.Auth,
		CABundle:        remote.CABundle,
		InsecureSkipTLS: remote.InsecureSkipTLS,
	}
	if c.Branch == branch {
		ref := plumbing.NewBranchReferenceName(branch)
		push.RefSpecs = []config.RefSpec{config.RefSpec(hash.String() + ":" + ref.String())}
		// The server must still be at the commit the edit was made on; otherwise this is a race.
		push.RequireRemoteRefs = []config.RefSpec{config.RefSpec(base.String() + ":" + ref.String())}
	} else {
		push.RefSpecs = []config.RefSpec{config.RefSpec("+" + hash.String() + ":" + plumbing.NewBranchReferenceName(c.Branch).String())}
	}
	log.Info("pushing", "commit", hash.String()[:12], "branch", c.Branch)
	// Already up to date: the head branch of a merge request already holds this very commit
	// (a re-run within the same second produces the same hash).
	if err := repo.PushContext(ctx, push); err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		return c, classifyGitErr(err, remote.URL, c.Branch)
	}
	c.Hash = hash.String()
	return c, nil
}

func renderMessage(t *template.Template, res *Result, branch string) (string, error) {
	d := MessageData{Branch: branch, Changes: res.Changes()}
	seen := map[string]bool{}
	for _, f := range res.Files {
		d.Files = append(d.Files, f.Path)
	}
	for _, ch := range d.Changes {
		img := ch.Image + ":" + ch.To
		if ch.Field == "digest" {
			img = ch.Image + "@" + ch.To
		}
		if !seen[img] {
			seen[img] = true
			d.Images = append(d.Images, img)
		}
	}
	var b strings.Builder
	if err := t.Execute(&b, d); err != nil {
		return "", errdefs.Invalid(fmt.Errorf("rendering commit message template: %w", err))
	}
	msg := strings.TrimSpace(b.String())
	if msg == "" {
		return "", errdefs.Invalid(errors.New("the commit message template rendered an empty message"))
	}
	return msg + "\n", nil
}

// fetchTip fetches the tip of the branch (depth 1, that branch only, no tags) into memory.
func fetchTip(ctx context.Context, remote Remote) (*git.Repository, plumbing.Hash, string, error) {
	opts := &git.CloneOptions{
		URL:             remote.URL,
		Auth:            remote.Auth,
		SingleBranch:    true,
		Depth:           1,
		Tags:            git.NoTags,
		NoCheckout:      true,
		CABundle:        remote.CABundle,
		InsecureSkipTLS: remote.InsecureSkipTLS,
	}
	if remote.Branch != "" {
		opts.ReferenceName = plumbing.NewBranchReferenceName(remote.Branch)
	}
	repo, err := git.CloneContext(ctx, memory.NewStorage(), nil, opts)
	if err != nil {
		return nil, plumbing.ZeroHash, "", classifyGitErr(err, remote.URL, remote.Branch)
	}
	head, err := repo.Head()
	if err != nil {
		return nil, plumbing.ZeroHash, "", fmt.Errorf("reading HEAD of %s: %w", remote.URL, err)
	}
	return repo, head.Hash(), head.Name().Short(), nil
}

// classifyGitErr gives go-git's errors a class and a message that names the repository.
func classifyGitErr(err error, url, branch string) error {
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	case errors.Is(err, transport.ErrAuthenticationRequired), errors.Is(err, transport.ErrAuthorizationFailed):
		return errdefs.WithHint(fmt.Errorf("authenticating to %s: %w", url, err), "the credentials were refused, or may not write to the repository")
	case errors.Is(err, transport.ErrRepositoryNotFound):
		return errdefs.NotFound(fmt.Errorf("repository %s not found", url))
	case errors.Is(err, transport.ErrEmptyRemoteRepository):
		return errdefs.NotFound(fmt.Errorf("repository %s is empty: no branch to bump", url))
	case errors.Is(err, plumbing.ErrReferenceNotFound), strings.Contains(err.Error(), "couldn't find remote ref"):
		return errdefs.NotFound(fmt.Errorf("branch %q not found in %s", branch, url))
	}
	var netErr net.Error
	if errors.As(err, &netErr) {
		return errdefs.Unavailable(fmt.Errorf("reaching %s: %w", url, err))
	}
	return fmt.Errorf("git %s: %w", url, err)
}

// isPushRace reports whether a push was rejected because the branch moved after the fetch.
// go-git and git servers report this only as text (no typed errors cross the wire), so the
// known phrasings are matched here and nowhere else:
//   - go-git: ErrNonFastForwardUpdate; "remote ref … required to be … but is …"
//     (RequireRemoteRefs); "object not found" when a shallow push walks past the fetched tip.
//   - git receive-pack: "failed to update ref", "cannot lock ref", "fetch first", "stale info".
//   - GitLab: "incorrect old value provided", "reference has changed concurrently".
func isPushRace(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, git.ErrNonFastForwardUpdate) || errors.Is(err, plumbing.ErrObjectNotFound) {
		return true
	}
	msg := strings.ToLower(err.Error())
	for _, s := range []string{
		"non-fast-forward", "required to be", "object not found", "failed to update ref",
		"cannot lock ref", "fetch first", "stale info", "incorrect old value provided",
		"reference has changed concurrently", "failed to lock",
	} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}
