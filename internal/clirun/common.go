package clirun

import (
	"log/slog"
	"strings"

	"github.com/urfave/cli/v2"
)

// Output formats.
const (
	OutputText = "text"
	OutputJSON = "json"
)

// Common holds the flags every command has: logging and result output.
type Common struct {
	LogLevel  string
	LogFormat string
	Output    string
	Dotenv    string
}

// CommonFlags returns the logging and output flags bound to c. Each call returns new flags, so
// every app gets its own flag state.
func CommonFlags(c *Common) []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "log-level", Value: "info", Usage: "log verbosity: debug, info, warn, error", EnvVars: []string{"TAGRELAY_LOG_LEVEL"}, Destination: &c.LogLevel, Category: "Output"},
		&cli.StringFlag{Name: "log-format", Value: "text", Usage: "log format on stderr: text or json", EnvVars: []string{"TAGRELAY_LOG_FORMAT"}, Destination: &c.LogFormat, Category: "Output"},
		&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: OutputText, Usage: "result format on stdout: text or json", EnvVars: []string{"TAGRELAY_OUTPUT"}, Destination: &c.Output, Category: "Output"},
		&cli.StringFlag{Name: "dotenv", Usage: "also write the result as KEY=value lines to `FILE` (GitLab artifacts:reports:dotenv)", EnvVars: []string{"TAGRELAY_DOTENV"}, Destination: &c.Dotenv, TakesFile: true, Category: "Output"},
	}
}

// Begin validates the common flags and returns the logger of the run. Every command's Action
// calls it first.
func (e *Env) Begin(c *Common) (*slog.Logger, error) {
	switch c.Output {
	case OutputText, "":
	case OutputJSON:
		e.jsonErrors = true
	default:
		return nil, Usagef("use --output text or --output json", "unknown output format %q", c.Output)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return nil, Usagef("use debug, info, warn or error", "unknown log level %q", c.LogLevel)
	}
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	switch strings.ToLower(c.LogFormat) {
	case "text", "":
		h = slog.NewTextHandler(e.Stderr, opts)
	case "json":
		h = slog.NewJSONHandler(e.Stderr, opts)
	default:
		return nil, Usagef("use --log-format text or json", "unknown log format %q", c.LogFormat)
	}
	return slog.New(h), nil
}
