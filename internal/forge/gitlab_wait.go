package forge

import "context"

// WaitPipeline polls a pipeline until it ends and returns it. A pipeline that ends in anything but
// success returns a *RunFailure listing its failed (or canceled, or waiting manual) jobs. When ctx
// ends first, the error wraps ctx.Err() and says the last status seen.
func (g *GitLab) WaitPipeline(ctx context.Context, project string, id int64, opts ...WaitOption) (*Run, error) {
	o := makeWaitOptions(opts)
	r, err := poll(ctx, "pipeline", o, g.log, func() (Run, error) {
		r, err := g.Pipeline(ctx, project, id)
		if err != nil {
			return Run{}, err
		}
		return *r, nil
	}, func(r Run) bool { return pipelineEnded(r.Status) })
	if err != nil {
		return &r, err
	}
	if r.Status == "success" {
		return &r, nil
	}
	states := map[string][]string{"failed": {"failed"}, "canceled": {"canceled", "failed"}, "canceling": {"canceled", "failed"}, "manual": {"manual"}}[r.Status]
	f := &RunFailure{Kind: "pipeline", Run: r}
	if len(states) > 0 {
		jobs, err := g.Jobs(ctx, project, id, states...)
		if err != nil {
			return &r, err
		}
		f.Jobs = jobs
	}
	return &r, f
}
