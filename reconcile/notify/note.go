package notify

import (
	"fmt"
	"strings"
	"time"

	"github.com/tagrelay/tagrelay/reconcile/api"
)

// Bounds of a note: GitHub refuses comments over 65,536 characters; a note is read by people.
const (
	maxNote      = 60000
	maxLine      = 300
	maxListItems = 10
	defaultLines = 20
)

// marker finds the note of app again on a merge request: an HTML comment, invisible once rendered.
func marker(app string) string { return "<!-- tagrelay:" + statusContext(app) + " -->" }

// failureNote is the note on the merge request of commit c: what failed, why, the last events and
// the end of the logs. Everything that comes from the cluster or the repository (object names,
// reasons, events, logs) is shown in code blocks, so it can neither format the note nor mention
// anyone.
func failureNote(ev Event, c api.AppCommit, consoleURL string, logLines int) string {
	var b strings.Builder
	res := ev.Result
	fmt.Fprintf(&b, "### :x: Deploy of `%s` failed\n\n", code(ev.App))
	fmt.Fprintf(&b, "Commit `%s` (%s) did not deploy: the sync of infra revision `%s` ended **%s**", short(c.Commit),
		inlineList(c.Images), short(res.Revision), res.Status)
	if !res.Started.IsZero() {
		fmt.Fprintf(&b, " at %s", res.Started.Add(time.Duration(res.Duration)).UTC().Format(time.RFC3339))
	}
	b.WriteString(".\n\n")
	if res.Message != "" {
		b.WriteString(fence(res.Message))
	}
	if res.Hint != "" {
		b.WriteString("Next step:\n" + fence(res.Hint))
	}
	if ev.Diagnosis != nil {
		for i, o := range ev.Diagnosis.Objects {
			if i == maxListItems {
				fmt.Fprintf(&b, "… and %d more objects.\n\n", len(ev.Diagnosis.Objects)-i)
				break
			}
			writeObject(&b, o, logLines)
		}
	}
	if consoleURL != "" {
		fmt.Fprintf(&b, "[See %s in the console](%s) · ", code(ev.App), consoleURL)
	}
	b.WriteString("This note is updated on each attempt.\n")
	return cut(b.String())
}

func writeObject(b *strings.Builder, o FailedObject, logLines int) {
	fmt.Fprintf(b, "#### `%s`\n\n", code(o.Object))
	if o.Reason != "" {
		b.WriteString(fence(o.Reason))
	}
	if len(o.Pods) > 0 {
		b.WriteString("Pods:\n" + fence(strings.Join(head(o.Pods), "\n")))
	}
	if len(o.Events) > 0 {
		b.WriteString("Last events:\n" + fence(strings.Join(head(o.Events), "\n")))
	}
	if logLines < 0 {
		return
	}
	if logLines == 0 {
		logLines = defaultLines
	}
	for i, l := range o.Logs {
		if i == maxListItems {
			break
		}
		lines := l.Lines
		if len(lines) > logLines {
			lines = lines[len(lines)-logLines:]
		}
		fmt.Fprintf(b, "Log of `%s/%s`, last %d lines:\n", code(l.Pod), code(l.Container), len(lines))
		b.WriteString(fence(strings.Join(lines, "\n")))
	}
}

// resolvedNote replaces a failure note once the app deployed.
func resolvedNote(ev Event, c api.AppCommit, consoleURL string) string {
	s := fmt.Sprintf("### :white_check_mark: `%s` deployed\n\nCommit `%s` (%s) runs on `%s` since infra revision `%s`; an earlier attempt had failed.\n",
		code(ev.App), short(c.Commit), inlineList(c.Images), code(ev.App), short(ev.Result.Revision))
	if consoleURL != "" {
		s += fmt.Sprintf("\n[See %s in the console](%s)\n", code(ev.App), consoleURL)
	}
	return s
}

// fence puts untrusted text in a fenced code block longer than any backtick run inside it
// (CommonMark), each line cut at maxLine.
func fence(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		if len(l) > maxLine {
			lines[i] = l[:maxLine] + "…"
		}
	}
	body := strings.Join(lines, "\n")
	ticks, run := 3, 0
	for _, r := range body {
		if r == '`' {
			run++
			ticks = max(ticks, run+1)
		} else {
			run = 0
		}
	}
	f := strings.Repeat("`", ticks)
	return f + "\n" + body + "\n" + f + "\n\n"
}

// code makes s safe inside an inline code span: no backticks, no line breaks.
func code(s string) string {
	return strings.NewReplacer("`", "'", "\n", " ", "\r", " ").Replace(s)
}

func inlineList(images []string) string {
	if len(images) == 0 {
		return "no image named"
	}
	parts := make([]string, len(images))
	for i, img := range images {
		parts[i] = "`" + code(img) + "`"
	}
	return strings.Join(parts, ", ")
}

func head(list []string) []string {
	if len(list) > maxListItems {
		return append(append([]string{}, list[:maxListItems]...), fmt.Sprintf("… and %d more", len(list)-maxListItems))
	}
	return list
}

// cut bounds a note, closing an open code fence.
func cut(s string) string {
	if len(s) <= maxNote {
		return s
	}
	s = s[:maxNote]
	if strings.Count(s, "\n```")%2 == 1 {
		s += "\n```"
	}
	return s + "\n\n(cut: see the console for the rest)\n"
}
