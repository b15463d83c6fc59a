package errdefs

import (
	"errors"
	"fmt"
	"testing"
)

func TestClassKeepsMessage(t *testing.T) {
	base := errors.New("image nginx not found in values.yaml")
	err := fmt.Errorf("bumping: %w", NotFound(base))
	if got, want := err.Error(), "bumping: image nginx not found in values.yaml"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(err, ErrNotFound) || !errors.Is(err, base) {
		t.Errorf("errors.Is(err, ErrNotFound/base) = false, want true")
	}
	if errors.Is(err, ErrNoop) {
		t.Errorf("errors.Is(err, ErrNoop) = true, want false")
	}
	if NotFound(nil) != nil {
		t.Errorf("NotFound(nil) != nil")
	}
}

func TestSentinelOnClass(t *testing.T) {
	errUnchanged := Noop(errors.New("tag already current"))
	err := fmt.Errorf("values.yaml: %w", errUnchanged)
	if !errors.Is(err, errUnchanged) || !errors.Is(err, ErrNoop) {
		t.Errorf("sentinel wrapping a class must match both")
	}
}

func TestHint(t *testing.T) {
	err := WithHint(WithHint(errors.New("x"), "inner"), "outer")
	if got := Hint(fmt.Errorf("ctx: %w", err)); got != "outer" {
		t.Errorf("Hint() = %q, want %q", got, "outer")
	}
	if got := Hint(errors.New("plain")); got != "" {
		t.Errorf("Hint(plain) = %q, want empty", got)
	}
}
