package render

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"runtime/debug"
	"sort"
	"strings"
	"time"
)

// DefaultWorkerMemory bounds a template worker's data segment unless Isolation says otherwise.
const DefaultWorkerMemory = 256 << 20

// Isolation runs Helm's template engine — the one place where a repository's content is a
// program — in a worker process. In-process, a template cannot be interrupted (a loop runs on
// after the render's timeout) and one call of sprig's repeat or until allocates whatever it is
// told to. The worker is killed at the render's deadline, its output is read only up to the
// byte limit, its memory (RLIMIT_DATA) is bounded, and it inherits no environment variable.
type Isolation struct {
	// Command is the argv of a worker: a process that calls RunWorker on its stdin and stdout
	// (`tagrelay-reconciler render-worker`). Required.
	Command []string
	// MaxMemory bounds the worker's data segment. Default: 256 MiB.
	MaxMemory int64
}

// errWorkerMemory is the refusal of a worker that ran out of its memory.
var errWorkerMemory = errors.New("the Helm templates need more memory than the render may use")

// run executes job in a worker and returns the rendered templates.
func (iso *Isolation) run(ctx context.Context, job *templateJob, maxBytes int64) (map[string]string, error) {
	if len(iso.Command) == 0 {
		return nil, errors.New("render isolation without a worker command")
	}
	job.MaxMemory = iso.MaxMemory
	if job.MaxMemory <= 0 {
		job.MaxMemory = DefaultWorkerMemory
	}
	in, err := json.Marshal(job)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, iso.Command[0], iso.Command[1:]...)
	cmd.Env = []string{} // no credential of the reconciler reaches the templates' process
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &limitedBuffer{buf: &stderr, max: 64 << 10}
	cmd.WaitDelay = 5 * time.Second
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the template worker: %w", err)
	}
	rendered, readErr := readTemplates(stdout, maxBytes)
	if readErr != nil {
		_ = cmd.Process.Kill()
		_, _ = io.Copy(io.Discard, stdout)
	}
	waitErr := cmd.Wait()
	switch {
	case ctx.Err() != nil:
		return nil, ctx.Err()
	case readErr != nil && !errors.Is(readErr, io.ErrUnexpectedEOF):
		return nil, readErr
	case waitErr != nil:
		return nil, workerError(waitErr, stderr.String(), job.MaxMemory)
	case readErr != nil:
		return nil, readErr
	}
	return rendered, nil
}

// workerError turns a worker's failure into the error it reported, or says how it died.
func workerError(err error, stderr string, maxMemory int64) error {
	msg := strings.TrimSpace(stderr)
	if strings.Contains(msg, "out of memory") || strings.Contains(msg, "cannot allocate memory") {
		return &LimitError{Err: errWorkerMemory, Detail: fmt.Sprintf("the worker ran out of its %s", byteSize(maxMemory))}
	}
	// The worker runs Go templates only: a fault inside the Go runtime itself is an allocation
	// the data limit refused where the runtime does not check (seen in the GC's mark queues
	// with Go 1.26), not a bug of the chart.
	if runtimeFault(msg) {
		return &LimitError{Err: errWorkerMemory, Detail: fmt.Sprintf("the worker ran out of its %s (the Go runtime faulted allocating)", byteSize(maxMemory))}
	}
	if m, ok := strings.CutPrefix(msg, workerErrorPrefix); ok {
		first, _, _ := strings.Cut(m, "\n")
		return errors.New(first)
	}
	if len(msg) > 500 {
		msg = msg[:500] + "…"
	}
	return fmt.Errorf("the template worker failed (%v): %s", err, msg)
}

// runtimeFault reports whether a worker's stderr is the Go runtime's report of a signal in its
// own code (the first goroutine frame is in package runtime).
func runtimeFault(stderr string) bool {
	if !strings.HasPrefix(stderr, "SIGSEGV") && !strings.HasPrefix(stderr, "unexpected fault") && !strings.Contains(stderr, "fatal error: unexpected signal") {
		return false
	}
	_, frames, ok := strings.Cut(stderr, "\ngoroutine ")
	if !ok {
		return false
	}
	_, first, ok := strings.Cut(frames, "\n")
	return ok && strings.HasPrefix(strings.TrimSpace(first), "runtime.")
}

// workerErrorPrefix starts the one line a worker writes on stderr when the templates fail.
const workerErrorPrefix = "render-worker: "

// readTemplates reads the worker's frames ("NAMELEN DATALEN\n" NAME DATA), at most maxBytes
// of template output.
func readTemplates(r io.Reader, maxBytes int64) (map[string]string, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	out := map[string]string{}
	var total int64
	for {
		line, err := br.ReadString('\n')
		if errors.Is(err, io.EOF) && line == "" {
			return out, nil
		}
		if err != nil {
			return nil, io.ErrUnexpectedEOF
		}
		var nameLen, dataLen int64
		if _, err := fmt.Sscanf(line, "%d %d\n", &nameLen, &dataLen); err != nil || nameLen < 0 || nameLen > 4096 || dataLen < 0 {
			return nil, fmt.Errorf("reading the template worker's output: bad frame %q", strings.TrimSpace(line))
		}
		name := make([]byte, nameLen)
		if _, err := io.ReadFull(br, name); err != nil {
			return nil, io.ErrUnexpectedEOF
		}
		if total += dataLen; total > maxBytes {
			return nil, &LimitError{Err: ErrTooLarge, File: string(name),
				Detail: fmt.Sprintf("the templates wrote more than %s, the limit", byteSize(maxBytes))}
		}
		data := make([]byte, dataLen)
		if _, err := io.ReadFull(br, data); err != nil {
			return nil, io.ErrUnexpectedEOF
		}
		out[string(name)] = string(data)
	}
}

// RunWorker is the worker side of Isolation: it reads a job on in, bounds its own memory,
// runs the templates and writes their output on out. A template error is one line on
// stderr (the caller prints it) and a non-nil error.
func RunWorker(in io.Reader, out io.Writer) error {
	var job templateJob
	if err := json.NewDecoder(in).Decode(&job); err != nil {
		return fmt.Errorf("reading the job: %w", err)
	}
	if job.MaxMemory > 0 {
		if err := limitMemory(job.MaxMemory); err != nil {
			return err
		}
		debug.SetMemoryLimit(job.MaxMemory * 3 / 4) // collect hard before the rlimit bites
	}
	rendered, err := job.execute()
	if err != nil {
		return err
	}
	names := make([]string, 0, len(rendered))
	for n := range rendered {
		names = append(names, n)
	}
	sort.Strings(names)
	w := bufio.NewWriter(out)
	for _, n := range names {
		fmt.Fprintf(w, "%d %d\n%s%s", len(n), len(rendered[n]), n, rendered[n])
	}
	return w.Flush()
}

// WorkerError formats a RunWorker error for the worker's stderr.
func WorkerError(err error) string {
	return workerErrorPrefix + strings.ReplaceAll(err.Error(), "\n", " ")
}

// limitedBuffer keeps the first max bytes written to it.
type limitedBuffer struct {
	buf *bytes.Buffer
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if left := b.max - b.buf.Len(); left > 0 {
		b.buf.Write(p[:min(len(p), left)])
	}
	return len(p), nil
}
