package forge

import (
	"strings"
	"unicode/utf8"
)

// State is where a deploy stands, as a forge shows it on a commit.
type State string

// The states of a deploy.
const (
	// StatePending: the deploy is under way (GitLab "pending", GitHub deployment "in_progress").
	StatePending State = "pending"
	// StateSuccess: deployed and healthy.
	StateSuccess State = "success"
	// StateFailure: the deploy failed (GitLab "failed", GitHub "failure").
	StateFailure State = "failure"
)

// Status is one line of a commit's status list: a GitLab commit status, a GitHub commit status
// or the status of a GitHub deployment.
type Status struct {
	// Context names the line: deploy/web. On GitHub deployments, Environment names it instead.
	Context string
	State   State
	// Description is one short sentence; forges cut it (GitHub at 140 characters), so it is cut
	// here first, on a rune boundary.
	Description string
	// TargetURL is where the line links to: the console's page of the app.
	TargetURL string
	// Environment is the GitHub deployment's environment (the app). Unused elsewhere.
	Environment string
}

// maxDescription is GitHub's limit on a status description; GitLab takes more but shows less.
const maxDescription = 140

func (s Status) description() string { return truncate(s.Description, maxDescription) }

// truncate cuts s to at most n bytes on a rune boundary, marking the cut with an ellipsis.
func truncate(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// ChangeRef is a merge request or pull request that contains a commit.
type ChangeRef struct {
	Number int64  `json:"number"` // GitLab iid, GitHub number
	URL    string `json:"url"`
	// State is the forge's word: opened, merged, closed (GitLab); open, closed (GitHub).
	State  string `json:"state"`
	Merged bool   `json:"merged"`
}

// Note is a comment tagrelay keeps up to date on a merge or pull request: found again by its
// Marker (an HTML comment, invisible once rendered), edited instead of posted twice.
type Note struct {
	Marker string
	Body   string
	// UpdateOnly edits the note when it exists and posts nothing otherwise (a resolution of a
	// failure that was never reported needs no note).
	UpdateOnly bool
}

// text is the body as sent: the marker on its first line, so a search finds it without reading
// the whole body.
func (n Note) text() string { return n.Marker + "\n" + n.Body }

// maxNotePages bounds the pages of comments read to find a note again (100 per page); beyond
// them, a new note is posted.
const maxNotePages = 10

// pickChange returns the change a commit came in with: the merged one, else the first open one,
// else the first.
func pickChange(changes []ChangeRef) (ChangeRef, bool) {
	if len(changes) == 0 {
		return ChangeRef{}, false
	}
	for _, c := range changes {
		if c.Merged {
			return c, true
		}
	}
	for _, c := range changes {
		if c.State == "opened" || c.State == "open" {
			return c, true
		}
	}
	return changes[0], true
}
