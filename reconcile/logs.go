package reconcile

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/tagrelay/tagrelay/internal/errdefs"
	"github.com/tagrelay/tagrelay/reconcile/api"
)

// Bounds of a log request: lines are cut at maxLogLine bytes, a tail is at most maxTailLines
// lines, and a request without follow reads at most maxLogBytes.
const (
	defaultTailLines = 200
	maxTailLines     = 5000
	maxLogLine       = 16 << 10
	maxLogBytes      = 8 << 20
)

// ErrNotInApp: a log request names a pod or container that is not part of the app's tree.
var ErrNotInApp = errors.New("not a pod of the app")

// Logs sends the log lines of one container of a pod of the app's tree (from Tree) to emit:
// the last q.TailLines lines, then, with q.Follow, new lines until ctx ends or emit fails. The
// lines come from the API server (pods/log), so the kubelet's log rotation and access rules
// apply. A pod that is not in the tree is refused (ErrNotInApp): the tree is what the app owns.
func (r *Reconciler) Logs(ctx context.Context, t *api.Tree, q api.LogQuery, emit func(api.LogLine) error) error {
	pod, container, err := logTarget(t, q)
	if err != nil {
		return err
	}
	tail := q.TailLines
	switch {
	case tail <= 0:
		tail = defaultTailLines
	case tail > maxTailLines:
		tail = maxTailLines
	}
	opts := &corev1.PodLogOptions{Container: container, TailLines: &tail, Follow: q.Follow, Timestamps: true}
	if !q.Follow {
		limit := int64(maxLogBytes)
		opts.LimitBytes = &limit
	}
	stream, err := r.cs.CoreV1().Pods(pod.Namespace).GetLogs(pod.Name, opts).Stream(ctx)
	if err != nil {
		return apiError(fmt.Sprintf("reading the log of %s container %s", pod.ID, container), err)
	}
	defer stream.Close()
	return scanLog(stream, emit)
}

// logTarget finds the pod and container of q in the tree.
func logTarget(t *api.Tree, q api.LogQuery) (*api.TreeNode, string, error) {
	for i := range t.Nodes {
		n := &t.Nodes[i]
		if n.Kind != "Pod" || n.Group != "" || n.Name != q.Pod {
			continue
		}
		for _, c := range n.Containers {
			// the default is the first container that is not an init container, as kubectl's
			if name, init := strings.CutPrefix(c, "init:"); name == q.Container || (q.Container == "" && !init) {
				return n, name, nil
			}
		}
		return nil, "", errdefs.NotFound(fmt.Errorf("%w: pod %s has no container %q", ErrNotInApp, q.Pod, q.Container))
	}
	return nil, "", errdefs.NotFound(fmt.Errorf("%w: %s is not a pod of app %s", ErrNotInApp, q.Pod, t.App))
}

// scanLog splits a log stream (each line prefixed with its RFC 3339 timestamp) into lines, cutting
// a line longer than maxLogLine.
func scanLog(r io.Reader, emit func(api.LogLine) error) error {
	br := bufio.NewReaderSize(r, 32<<10)
	for {
		line, err := readLine(br)
		if line != "" || err == nil {
			ts, rest, _ := strings.Cut(line, " ")
			l := api.LogLine{Line: rest}
			if t, perr := time.Parse(time.RFC3339Nano, ts); perr == nil {
				l.Time = t
			} else {
				l.Line = line
			}
			if eerr := emit(l); eerr != nil {
				return eerr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return errdefs.Unavailable(fmt.Errorf("reading a pod log: %w", err))
		}
	}
}

// readLine reads one line without its newline; the part of a line beyond maxLogLine bytes is
// read and dropped.
func readLine(br *bufio.Reader) (string, error) {
	var b []byte
	for {
		chunk, isPrefix, err := br.ReadLine()
		if len(b) < maxLogLine {
			b = append(b, chunk[:min(len(chunk), maxLogLine-len(b))]...)
		}
		if err != nil || !isPrefix {
			return string(b), err
		}
	}
}
