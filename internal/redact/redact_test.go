package redact

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

func TestRedactorString(t *testing.T) {
	t.Parallel()
	r := New("glpat-s3cr3tT0ken", "robot$ci+push", "ab")
	for _, tc := range []struct{ in, want string }{
		{"token glpat-s3cr3tT0ken rejected", "token *** rejected"},
		{"https://robot%24ci+push@h/x", "https://***@h/x"},
		{"user robot$ci+push", "user ***"},
		{"escaped robot%24ci%2Bpush", "escaped ***"},
		{"short ab stays", "short ab stays"},
		{"", ""},
	} {
		if got := r.String(tc.in); got != tc.want {
			t.Errorf("String(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestRedactorAddLater(t *testing.T) {
	t.Parallel()
	var r Redactor
	if got := r.String("abcd"); got != "abcd" {
		t.Errorf("zero Redactor changed input: %q", got)
	}
	r.Add("pass\n")
	if got := r.String("x pass y"); got != "x *** y" {
		t.Errorf("String() = %q", got)
	}
	var nilR *Redactor
	if got := nilR.String("pass"); got != "pass" {
		t.Errorf("nil Redactor String() = %q", got)
	}
}

func TestRedactorLongestFirst(t *testing.T) {
	t.Parallel()
	r := New("secret", "secret-and-more")
	if got := r.String("secret-and-more"); got != "***" {
		t.Errorf("String() = %q, want ***", got)
	}
}

func TestWriter(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	w := New("hunter22").Writer(&buf)
	n, err := fmt.Fprintf(w, "level=ERROR msg=%q\n", "auth with hunter22 failed")
	if err != nil || n != len(`level=ERROR msg="auth with hunter22 failed"`)+1 {
		t.Fatalf("Fprintf() = %d, %v", n, err)
	}
	if strings.Contains(buf.String(), "hunter22") {
		t.Errorf("secret leaked: %q", buf.String())
	}
}

func TestURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"https://oauth2:glpat-x@gitlab.example/g/p.git", "https://oauth2:***@gitlab.example/g/p.git"},
		{"https://user@host/p.git", "https://user@host/p.git"},
		{"https://h/api/v4/projects/1?private_token=abc&ref=main", "https://h/api/v4/projects/1?private_token=***&ref=main"},
		{"git@github.com:o/r.git", "git@github.com:o/r.git"},
		{"not a url", "not a url"},
	} {
		if got := URL(tc.in); got != tc.want {
			t.Errorf("URL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
