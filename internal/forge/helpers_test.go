package forge_test

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tagrelay/tagrelay/internal/exitcode"
	"github.com/tagrelay/tagrelay/internal/forge"
)

// checkOutcome asserts a wait's error: nil when wantJobs is nil, else a *RunFailure (exit 1)
// whose failed jobs are wantJobs ("name [status] url").
func checkOutcome(t *testing.T, call string, err error, wantJobs []string) {
	t.Helper()
	var f *forge.RunFailure
	switch {
	case wantJobs == nil && err != nil:
		t.Fatalf("%s() = %v, want success", call, err)
	case wantJobs == nil:
		return
	case !errors.As(err, &f):
		t.Fatalf("%s() = %v, want a *RunFailure", call, err)
	}
	var jobs []string
	for _, j := range f.Jobs {
		jobs = append(jobs, j.Name+" ["+j.Status+"] "+j.URL)
	}
	if diff := cmp.Diff(wantJobs, jobs); diff != "" {
		t.Errorf("failed jobs (-want +got):\n%s", diff)
	}
	if exitcode.Code(err) != exitcode.Failure {
		t.Errorf("exit code of %v = %d, want 1", err, exitcode.Code(err))
	}
}
