package bump

import (
	"fmt"
	"regexp"
	"strings"
)

var unsafeBranch = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// HeadBranch is the branch that carries a merge/pull request of targets (PushOptions.HeadBranch):
// tagrelay/<last segment of the first image>-<tag>, with the number of other images when there
// are more. It is the same for the same targets, so a second run updates the same request.
func HeadBranch(targets []Target) string {
	if len(targets) == 0 {
		return "tagrelay/bump"
	}
	t := targets[0]
	seg := t.lastSegment()
	name := seg + "-" + t.Tag
	if len(targets) > 1 {
		name = fmt.Sprintf("%s-and-%d-more-%s", seg, len(targets)-1, t.Tag)
	}
	return "tagrelay/" + strings.Trim(unsafeBranch.ReplaceAllString(name, "-"), "-")
}
