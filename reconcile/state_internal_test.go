package reconcile

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tagrelay/tagrelay/internal/exitcode"
	"github.com/tagrelay/tagrelay/reconcile/api"
)

// TestAdvance: how a recorded sync moves an app's state: the last handled commit, the rollback
// pin set by a rollback that applied and ended by another revision that applied, the in-flight
// mark of this sync (only) cleared.
func TestAdvance(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	admin := &api.Caller{Kind: api.CallerAdmin}
	pinned := func() *State {
		return &State{LastCommit: "r1", Pin: &api.Pin{Revision: "r1", Over: "r2", Since: now}, InFlight: &InFlight{ID: "other"}}
	}
	for _, tc := range []struct {
		name       string
		st         *State
		res        Result
		o          outcome
		lastCommit string
		pin        string // "", "active r", "ended BY"
		inFlight   bool
	}{
		{"rollback applied pins", &State{LastCommit: "r2"}, Result{ID: "x", Revision: "r1", Rollback: true, Caller: admin},
			outcome{handled: true, applied: true, pinOver: "r2"}, "r1", "active r1", false},
		{"refused rollback leaves no pin", &State{LastCommit: "r2"}, Result{ID: "x", Revision: "r1", Rollback: true},
			outcome{handled: true}, "r1", "", false},
		{"new commit ends the pin", pinned(), Result{ID: "x", Revision: "r3abcdef99", Trigger: TriggerPoll},
			outcome{handled: true, applied: true}, "r3abcdef99", "ended new commit r3abcdef", true},
		{"a trigger's sync ends it, naming the caller", pinned(), Result{ID: "x", Revision: "r3", Trigger: TriggerAPI, Caller: admin},
			outcome{handled: true, applied: true}, "r3", "ended sync of r3 by admin", true},
		{"a sync that did not apply keeps it", pinned(), Result{ID: "x", Revision: "r3", Trigger: TriggerPoll},
			outcome{handled: true}, "r3", "active r1", true},
		{"an operational failure is not handled", pinned(), Result{ID: "x", Revision: "r3", Trigger: TriggerPoll},
			outcome{}, "r1", "active r1", true},
		{"its own in-flight mark goes", &State{InFlight: &InFlight{ID: "x"}}, Result{ID: "x", Revision: "r3"},
			outcome{handled: true, applied: true}, "r3", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.st.advance(&tc.res, tc.o, 50, now)
			pin := ""
			switch p := tc.st.Pin; {
			case p.Active():
				pin = "active " + p.Revision
			case p != nil:
				pin = "ended " + p.EndedBy
			}
			if tc.st.LastCommit != tc.lastCommit || pin != tc.pin || (tc.st.InFlight != nil) != tc.inFlight || tc.st.History[0].ID != "x" {
				t.Errorf("advance() = last %q, pin %q, in flight %v; want %q, %q, %v", tc.st.LastCommit, pin, tc.st.InFlight != nil,
					tc.lastCommit, tc.pin, tc.inFlight)
			}
		})
	}
}

// TestPollVerdict: a poll syncs a new commit, or a sync left in flight; not a handled commit,
// not the commit a rollback pinned over.
func TestPollVerdict(t *testing.T) {
	t.Parallel()
	pin := &api.Pin{Revision: "r1", Over: "r2"}
	for _, tc := range []struct {
		st   *State
		head string
		want string
	}{
		{&State{LastCommit: "r1"}, "r1", "unchanged"},
		{&State{LastCommit: "r1"}, "r2", ""},
		{&State{LastCommit: "r1", Pin: pin}, "r2", "pinned"},
		{&State{LastCommit: "r1", Pin: pin}, "r3", ""},
		{&State{LastCommit: "r1", InFlight: &InFlight{ID: "x"}}, "r1", ""},
	} {
		if got := pollVerdict(tc.st, tc.head); got != tc.want {
			t.Errorf("pollVerdict(%+v, %s) = %q, want %q", tc.st, tc.head, got, tc.want)
		}
	}
}

func TestRollbackTarget(t *testing.T) {
	t.Parallel()
	hist := []Result{
		{Revision: "c3", Status: api.StatusNoopRefused, ExitCode: 3},
		{Revision: "c2ffffffffffffffffffffffffffffffffffffff", Status: api.StatusSucceeded},
		{Revision: "c1aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", Status: api.StatusSucceeded},
	}
	for _, tc := range []struct {
		to   api.RollbackTarget
		want string
	}{
		{api.RollbackTarget{}, hist[2].Revision},
		{api.RollbackTarget{Entry: 2}, hist[1].Revision},
		{api.RollbackTarget{Revision: "c1aaaaa"}, hist[2].Revision},
		{api.RollbackTarget{Revision: "dddddddddddddddddddddddddddddddddddddddd"}, "dddddddddddddddddddddddddddddddddddddddd"},
		{api.RollbackTarget{Entry: 9}, "error"},
		{api.RollbackTarget{Revision: "deadbee"}, "error"},
	} {
		got, err := RollbackTarget(hist, tc.to)
		if err != nil {
			got = "error"
		}
		if got != tc.want {
			t.Errorf("RollbackTarget(%v) = %q, %v; want %q", tc.to, got, err, tc.want)
		}
	}
}

// TestLostLeadDuring: a write whose answer was never read because this replica lost the lead
// is reported as fenced (exit 4), not as an interruption; a write cancelled for another reason
// (a drain, the caller) is not dressed up as fenced.
func TestLostLeadDuring(t *testing.T) {
	writeErr := errors.New("unexpected error when reading response body: context canceled")
	lost, cancelLost := context.WithCancelCause(context.Background())
	cancelLost(errLostLead)
	drained, cancelDrained := context.WithCancelCause(context.Background())
	cancelDrained(errors.New("draining"))

	err := lostLeadDuring(lost, "the inventory of app web", writeErr)
	if !errors.Is(err, ErrFenced) || exitcode.Code(err) != 4 || !strings.Contains(err.Error(), "fenced: this replica lost the leader lease while writing the inventory of app web") {
		t.Errorf("lost lead: %v (exit %d); want fenced, exit 4", err, exitcode.Code(err))
	}
	for name, ctx := range map[string]context.Context{"drained": drained, "live": context.Background()} {
		if err := lostLeadDuring(ctx, "the inventory of app web", writeErr); err != nil {
			t.Errorf("%s: %v; want nil (not fenced)", name, err)
		}
	}
	if err := lostLeadDuring(lost, "the inventory of app web", nil); err != nil {
		t.Errorf("no write error: %v; want nil", err)
	}
}
