package apitest

import "strings"

// StripMarkers drops the HTML comments a note or comment body starts with: the hidden markers a
// client finds its note by, invisible once GitLab or GitHub renders the body.
func StripMarkers(body string) string {
	for strings.HasPrefix(body, "<!--") {
		end := strings.Index(body, "-->")
		if end < 0 {
			break
		}
		body = strings.TrimLeft(body[end+3:], "\n")
	}
	return body
}
