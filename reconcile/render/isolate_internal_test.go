package render

import (
	"errors"
	"os/exec"
	"strings"
	"testing"
)

// TestWorkerErrorRuntimeFault: a worker whose Go runtime faulted inside its own code (what a
// refused allocation under the data limit can do; the stderr below is the one seen in CI with
// Go 1.26) is reported as out of memory; a fault in other code is reported as a crash.
func TestWorkerErrorRuntimeFault(t *testing.T) {
	t.Parallel()
	exit := &exec.ExitError{}
	runtimeFault := "SIGSEGV: segmentation violation\nPC=0xc827dd m=4 sigcode=1 addr=0x0\n\ngoroutine 0 gp=0x2fafa4a892c0 m=4 mp=0x2fafa4ae1808 [idle]:\n" +
		"runtime.(*spanQueue).tryDrain(0x400?, 0x102010102000000?, 0x1010201?)\n\t/usr/local/go/src/runtime/mgcmark_greenteagc.go:520 +0x5d\n"
	err := workerError(exit, runtimeFault, 256<<20)
	if !errors.Is(err, errWorkerMemory) || !strings.Contains(err.Error(), "the worker ran out of its 256.0 MiB") {
		t.Errorf("runtime fault: %v; want out of memory", err)
	}
	chartFault := "SIGSEGV: segmentation violation\nPC=0x1 m=0 sigcode=1\n\ngoroutine 1 gp=0x1 m=0 [running]:\n" +
		"text/template.(*state).walk(0x1)\n\t/usr/local/go/src/text/template/exec.go:1 +0x1\n"
	if err := workerError(exit, chartFault, 256<<20); errors.Is(err, errWorkerMemory) || !strings.Contains(err.Error(), "the template worker failed") {
		t.Errorf("fault outside the runtime: %v; want a crash", err)
	}
}
