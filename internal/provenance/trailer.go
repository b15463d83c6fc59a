package provenance

import (
	"strings"
)

// Trailer is one "Key: value" line of a commit message's trailer block.
type Trailer struct {
	Key, Value string
}

// String returns "Key: value".
func (t Trailer) String() string { return t.Key + ": " + t.Value }

// maxMessage bounds the part of a message that is searched for a trailer block: the end of it.
// An infra commit is written by a project team; its message can be of any size.
const maxMessage = 64 << 10

// gitGenerated are the prefixes of the lines git itself adds to a trailer block; with one of them
// a block needs only 25 % trailer lines (git's trailer.c, find_trailer_block_start).
var gitGenerated = []string{"Signed-off-by: ", "(cherry picked from commit "}

// Parse returns the trailers of msg's trailer block (its last paragraph, when git
// interpret-trailers would read it as one), in order. Continuation lines (starting with a space or
// a tab) are joined to their trailer's value with a space. A message without a block has none.
func Parse(msg string) []Trailer {
	if len(msg) > maxMessage {
		msg = msg[len(msg)-maxMessage:]
	}
	lines := lastParagraph(msg)
	if lines == nil {
		return nil
	}
	var out []Trailer
	trailers, others, generated := 0, 0, false
	for _, l := range lines {
		if (l[0] == ' ' || l[0] == '\t') && len(out) > 0 {
			out[len(out)-1].Value = strings.TrimSpace(out[len(out)-1].Value + " " + strings.TrimSpace(l))
			continue
		}
		for _, p := range gitGenerated {
			generated = generated || strings.HasPrefix(l, p)
		}
		key, value, ok := split(l)
		if !ok {
			others++
			continue
		}
		trailers++
		out = append(out, Trailer{Key: key, Value: strings.TrimSpace(value)})
	}
	if trailers == 0 || others > 0 && !(generated && trailers*3 >= others) {
		return nil // not a trailer block: git wants all trailers, or a git line and 25 %
	}
	return out
}

// lastParagraph returns the lines of msg's last paragraph, nil when msg has only one (the subject
// is never a trailer block) or the last is empty. Comment lines (#) are skipped, as git does.
func lastParagraph(msg string) []string {
	var paras [][]string
	var cur []string
	for _, l := range strings.Split(strings.ReplaceAll(msg, "\r\n", "\n"), "\n") {
		switch {
		case strings.HasPrefix(l, "#"):
		case strings.TrimSpace(l) == "":
			if cur != nil {
				paras, cur = append(paras, cur), nil
			}
		default:
			cur = append(cur, l)
		}
	}
	if cur != nil {
		paras = append(paras, cur)
	}
	if len(paras) < 2 {
		return nil
	}
	return paras[len(paras)-1]
}

// split reads "Key: value" the way git does (trailer.c, find_separator): a key of letters, digits
// and dashes, optional blanks, then the colon.
func split(line string) (key, value string, ok bool) {
	blank := false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == ':':
			if i == 0 {
				return "", "", false
			}
			return strings.TrimRight(line[:i], " \t"), line[i+1:], true
		case !blank && (c == '-' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'):
		case i > 0 && (c == ' ' || c == '\t'):
			blank = true
		default:
			return "", "", false
		}
	}
	return "", "", false
}

// Append returns msg with trailers added the way git interpret-trailers adds them: to msg's
// trailer block when its last paragraph is one, else after a blank line. msg keeps its text; the
// result ends with a newline. Trailers already in the block with the same key and value are not
// repeated.
func Append(msg string, trailers []Trailer) string {
	msg = strings.TrimRight(msg, " \t\r\n")
	existing := Parse(msg)
	var add []string
	for _, t := range trailers {
		if !contains(existing, t) {
			add = append(add, t.String())
			existing = append(existing, t)
		}
	}
	if len(add) == 0 {
		return msg + "\n"
	}
	sep := "\n\n"
	if Parse(msg) != nil {
		sep = "\n"
	}
	return msg + sep + strings.Join(add, "\n") + "\n"
}

func contains(ts []Trailer, t Trailer) bool {
	for _, x := range ts {
		if strings.EqualFold(x.Key, t.Key) && x.Value == t.Value {
			return true
		}
	}
	return false
}
