// Command latchkey is the Latchkey server and its operator CLI:
//
//	latchkey serve
//	latchkey migrate
//	latchkey user create --username U --password P [--email E] [--name N] [--admin]
//	latchkey client create --name N --redirect-uri URI [--redirect-uri URI …] [--public]
//	                       [--grant-types a,b] [--scopes a,b] [--auth-method M] [--tier T]
//	                       [--require-pkce=false] [--resource-server]
//	                       [--org ORG_ID] [--audience a,b]
//	latchkey user suspend --username U [--off]
//	latchkey org create --name N --owner USERNAME
//	latchkey org list
//	latchkey org add-member --org ID --username U --role owner|admin|member|viewer
//	latchkey org suspend --org ID [--off]
//	latchkey completion bash|zsh|fish|powershell
//
// Every command takes --help. Configuration comes from ./config.yaml (or
// $LATCHKEY_CONFIG) and LATCHKEY_* environment variables; see config.yaml.
// This package parses flags, opens the configured storage driver and hands
// both to server.Build, which does the wiring.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/latchkey/latchkey/config"
	"github.com/latchkey/latchkey/internal/driver"
	"github.com/latchkey/latchkey/server"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// errUsage marks a usage error: the exit code is 2.
var errUsage = errors.New("usage")

// runError marks an error returned by a command's own work (exit 1), as
// opposed to one cobra found in the command line (exit 2).
type runError struct{ err error }

func (e runError) Error() string { return e.err.Error() }
func (e runError) Unwrap() error { return e.err }

// run executes the command line args and returns the exit code: 0 on
// success, 2 on a usage error, 1 on any other error.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRootCommand(stdout, stderr)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return 0
	}
	fmt.Fprintln(stderr, "latchkey:", err)
	var re runError
	if errors.As(err, &re) && !errors.Is(err, errUsage) {
		return 1
	}
	fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", cmd.CommandPath())
	return 2
}

// newRootCommand builds the command tree writing results to stdout and
// logs and messages to stderr.
func newRootCommand(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "latchkey",
		Short: "Latchkey: an OAuth 2.0 / OpenID Connect server with API keys",
		Long: "Latchkey is an OAuth 2.0 / OpenID Connect authorization server and API-key service.\n\n" +
			"Configuration comes from ./config.yaml (or $LATCHKEY_CONFIG) and LATCHKEY_* environment variables.",
		Args:          cobra.NoArgs,
		SilenceErrors: true,
		SilenceUsage:  true,
		RunE:          needSubcommand,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return fmt.Errorf("%w: %v", errUsage, err) })
	root.AddCommand(newServeCommand(stderr), newMigrateCommand(stdout, stderr),
		newUserCommand(stdout, stderr), newClientCommand(stdout, stderr), newOrgCommand(stdout, stderr),
		newKeysCommand(stdout, stderr), newRegistrationCommand(stdout))
	return root
}

// needSubcommand is the RunE of a command that only groups others: run
// alone (or with an unknown subcommand) it is a usage error.
func needSubcommand(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return fmt.Errorf("%w: unknown command %q for %q", errUsage, args[0], cmd.CommandPath())
	}
	fmt.Fprint(cmd.ErrOrStderr(), cmd.UsageString())
	return fmt.Errorf("%w: %q needs a subcommand", errUsage, cmd.CommandPath())
}

func newServeCommand(stderr io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "serve",
		Short: "Serve HTTP on server.addr until SIGINT or SIGTERM",
		Args:  cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withApp(cmd.Context(), stderr, false, func(a *server.App) error {
				ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
				defer stop()
				a.SetMemoryLimit() // a serving process only: not the CLI, not tests
				return a.Run(ctx)
			})
		},
	}
}

func newMigrateCommand(stdout, stderr io.Writer) *cobra.Command {
	var output outputFlag = "table"
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Apply pending database migrations and print the schema version",
		Args:  cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withApp(cmd.Context(), stderr, true, func(a *server.App) error {
				if output == "json" {
					applied := make([]string, 0, len(a.Migrated()))
					for _, m := range a.Migrated() {
						applied = append(applied, m.String())
					}
					return printJSON(stdout, map[string]any{"applied": applied, "version": a.SchemaVersion()})
				}
				for _, m := range a.Migrated() {
					fmt.Fprintln(stdout, "applied", m)
				}
				if len(a.Migrated()) == 0 {
					fmt.Fprintln(stdout, "no pending migrations")
				}
				fmt.Fprintln(stdout, "database is at version", a.SchemaVersion())
				return nil
			})
		},
	}
	output.register(cmd)
	return cmd
}

// loadConfig reads $LATCHKEY_CONFIG (default ./config.yaml) and the
// LATCHKEY_* environment.
func loadConfig() (*config.Config, error) {
	return config.Load(configPath(), os.Environ())
}

// configPath is the configuration file the CLI reads: $LATCHKEY_CONFIG,
// else ./config.yaml.
func configPath() string {
	if p := os.Getenv(config.EnvConfigPath); p != "" {
		return p
	}
	return "config.yaml"
}

// withApp loads configuration and runs fn with the built app. forceMigrate
// (used by `latchkey migrate`) migrates whatever storage.auto_migrate says.
// An error from loading, building or fn is a runError (exit 1) unless it
// wraps errUsage.
func withApp(ctx context.Context, stderr io.Writer, forceMigrate bool, fn func(*server.App) error) error {
	cfg, err := loadConfig()
	if err != nil {
		return runError{err}
	}
	return withConfigApp(ctx, cfg, stderr, forceMigrate, fn)
}

func withConfigApp(ctx context.Context, cfg *config.Config, stderr io.Writer, forceMigrate bool, fn func(*server.App) error) error {
	if forceMigrate {
		cfg.Storage.AutoMigrate = true
	}
	a, err := server.Build(ctx, cfg, server.Infra{
		Open:        driver.Open,
		Logger:      server.NewLogger(cfg, stderr),
		OnListening: func(addr net.Addr) { printBanner(stderr, cfg, addr) },
	})
	if err != nil {
		return runError{err}
	}
	defer a.Close()
	if err := fn(a); err != nil {
		return runError{err}
	}
	return nil
}
