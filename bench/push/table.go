package main

import (
	"fmt"
	"io"
	"slices"
	"text/tabwriter"
	"time"
)

// row is the summary of one tool in one scenario.
type row struct {
	scenario, tool string
	median         time.Duration
	min, max       time.Duration
	requests       int   // median
	bytes          int64 // median request bytes received by the registries
	runs           int
}

func summarize(scenario, tool string, s []sample) row {
	walls := make([]time.Duration, len(s))
	reqs := make([]int, len(s))
	bytes := make([]int64, len(s))
	for i, x := range s {
		walls[i], reqs[i], bytes[i] = x.wall, x.requests, x.bytes
	}
	slices.Sort(walls)
	slices.Sort(reqs)
	slices.Sort(bytes)
	return row{scenario: scenario, tool: tool, median: walls[len(walls)/2], min: walls[0], max: walls[len(walls)-1],
		requests: reqs[len(reqs)/2], bytes: bytes[len(bytes)/2], runs: len(s)}
}

// printTable prints one line per tool, with tagrelay's median over the peer's.
func printTable(w io.Writer, rows []row) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\ttool\truns\tmedian\tmin–max\trequests\tbytes sent\ttagrelay / tool (median, min)\t")
	ours := map[string]row{}
	for _, r := range rows {
		if r.tool == "tagrelay" {
			ours[r.scenario] = r
		}
	}
	for _, r := range rows {
		ratio := "—"
		if o, ok := ours[r.scenario]; ok && r.tool != "tagrelay" {
			ratio = fmt.Sprintf("%.2f×, %.2f× time; %.2f× requests", o.median.Seconds()/r.median.Seconds(), o.min.Seconds()/r.min.Seconds(),
				float64(o.requests)/float64(r.requests))
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s–%s\t%d\t%s\t%s\t\n", r.scenario, r.tool, r.runs, round(r.median), round(r.min), round(r.max), r.requests, mb(r.bytes), ratio)
	}
	tw.Flush()
}

func round(d time.Duration) time.Duration {
	if d > time.Second {
		return d.Round(10 * time.Millisecond)
	}
	return d.Round(time.Millisecond)
}

func mb(n int64) string {
	if n < 1<<20 {
		return fmt.Sprintf("%.1f KB", float64(n)/1024)
	}
	return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
}
