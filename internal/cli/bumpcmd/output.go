package bumpcmd

import (
	"fmt"
	"strings"

	"github.com/tagrelay/tagrelay/bump"
	"github.com/tagrelay/tagrelay/internal/clirun"
)

func describeChanges(res *bump.Result) string {
	var b strings.Builder
	for _, ch := range res.Changes() {
		from := ch.From
		if from == "" {
			from = "(none)"
		}
		fmt.Fprintf(&b, "%s:%d: %s %s %s -> %s\n", ch.Path, ch.Line, ch.Image, ch.Field, from, ch.To)
	}
	for _, u := range res.Unchanged {
		fmt.Fprintf(&b, "unchanged: %s (already current)\n", u)
	}
	return b.String()
}

// outputs are the variables handed to the next CI job.
func outputs(res *bump.Result, commit string) []clirun.KV {
	var images, tags []string
	seen := map[string]bool{}
	for _, ch := range res.Changes() {
		if !seen[ch.Image] {
			seen[ch.Image] = true
			images = append(images, ch.Image)
			tags = append(tags, ch.To)
		}
	}
	kv := []clirun.KV{
		{Key: "TAGRELAY_BUMPED_IMAGES", Value: strings.Join(images, ",")},
		{Key: "TAGRELAY_BUMPED_TAGS", Value: strings.Join(tags, ",")},
	}
	if commit != "" {
		kv = append(kv, clirun.KV{Key: "TAGRELAY_BUMP_COMMIT", Value: commit})
	}
	return kv
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
