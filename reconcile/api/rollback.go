package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// RollbackTarget is where a rollback goes: a history entry (Entry, 1 = newest) or a commit
// (Revision). On the wire it is a JSON number (an entry) or a string (a revision; a string of
// digits only is an entry too, so `--rollback 2` and `{"to": "2"}` mean the same).
type RollbackTarget struct {
	Entry    int
	Revision string
}

// ParseRollbackTarget reads a target as the CLI takes it: "" (the default), N or a commit.
func ParseRollbackTarget(s string) (RollbackTarget, error) {
	if s == "" {
		return RollbackTarget{}, nil
	}
	if n, err := strconv.Atoi(s); err == nil {
		if n < 1 {
			return RollbackTarget{}, fmt.Errorf("rollback target %d: history entries start at 1", n)
		}
		return RollbackTarget{Entry: n}, nil
	}
	if !isHex(s) || len(s) < 7 || len(s) > 40 {
		return RollbackTarget{}, fmt.Errorf("rollback target %q: want a history entry number or a commit hash (7 to 40 hex digits)", s)
	}
	return RollbackTarget{Revision: s}, nil
}

// IsZero reports whether no target was given.
func (t RollbackTarget) IsZero() bool { return t.Entry == 0 && t.Revision == "" }

// String is the entry number or the revision.
func (t RollbackTarget) String() string {
	if t.Entry > 0 {
		return strconv.Itoa(t.Entry)
	}
	return t.Revision
}

// MarshalJSON implements json.Marshaler.
func (t RollbackTarget) MarshalJSON() ([]byte, error) {
	if t.Entry > 0 {
		return []byte(strconv.Itoa(t.Entry)), nil
	}
	return json.Marshal(t.Revision)
}

// UnmarshalJSON implements json.Unmarshaler.
func (t *RollbackTarget) UnmarshalJSON(b []byte) error {
	var s string
	switch {
	case bytes.Equal(b, []byte("null")):
		*t = RollbackTarget{}
		return nil
	case len(b) > 0 && b[0] == '"':
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
	default:
		s = string(b)
	}
	v, err := ParseRollbackTarget(s)
	if err != nil {
		return err
	}
	*t = v
	return nil
}

func isHex(s string) bool {
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
