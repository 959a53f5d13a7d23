package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/latchkey/latchkey/config"
)

// printBanner tells whoever started `latchkey serve` where it serves, which
// web pages there are, and how to create a user with this server's own
// configuration and database from any directory (cliCommand).
func printBanner(w io.Writer, cfg *config.Config, addr net.Addr) {
	iss := cfg.Server.Issuer
	fmt.Fprintf(w, "\nLatchkey is serving at %s (listening on %s)\n"+
		"Web pages: %s/signup to create an account, %s/login to sign in; then /keys (API keys),\n"+
		"  /apps (your OAuth apps), /authorized (apps you allowed), /account; API reference at %s/docs/api\n"+
		"Create a user from any terminal and directory (this server's config and data directory):\n"+
		"  %s user create --username alice --password 'choose-a-long-password'\n",
		iss, addr, iss, iss, iss, cliCommand(cfg))
	if cfg.IsPostgres() && os.Getenv(config.EnvPrefix+"STORAGE_DSN") != "" {
		fmt.Fprintf(w, "  (with LATCHKEY_STORAGE_DSN set as for this server; it is not printed, it may hold a password)\n")
	}
	fmt.Fprintf(w, "then open %s/login\n\n", iss)
}

// cliCommand is the latchkey binary, as an absolute path, prefixed with the
// environment that makes it use this server's configuration from another
// directory: LATCHKEY_CONFIG (when the file exists) and LATCHKEY_DATA_DIR
// (relative paths in the config resolve against the working directory, so
// `latchkey user create` elsewhere would silently make a new database), and
// a relative SQLite storage.dsn made absolute. A PostgreSQL DSN is never
// printed.
func cliCommand(cfg *config.Config) string {
	var parts []string
	if p := configPath(); fileExists(p) {
		parts = append(parts, config.EnvConfigPath+"="+shellQuote(absPath(p)))
	}
	parts = append(parts, config.EnvPrefix+"DATA_DIR="+shellQuote(absPath(cfg.DataDir)))
	if dsn := cfg.Storage.DSN; dsn != "" && !cfg.IsPostgres() {
		if !strings.ContainsAny(dsn, ":?") {
			dsn = absPath(dsn)
		}
		parts = append(parts, config.EnvPrefix+"STORAGE_DSN="+shellQuote(dsn))
	}
	exe, err := os.Executable()
	if err != nil {
		exe = absPath(os.Args[0])
	}
	return strings.Join(append(parts, shellQuote(exe)), " ")
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

var shellSafe = regexp.MustCompile(`^[A-Za-z0-9_./:@%+=,-]+$`)

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if shellSafe.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
