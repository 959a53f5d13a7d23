package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/latchkey/latchkey/oauth"
	"github.com/latchkey/latchkey/server"
)

// newKeysCommand is `latchkey keys`: the signing keys of ID tokens and JWT
// access tokens (oauth/keyring.go).
func newKeysCommand(stdout, stderr io.Writer) *cobra.Command {
	keys := &cobra.Command{Use: "keys", Short: "Manage the token signing keys", RunE: needSubcommand}
	var alg string
	rotate := &cobra.Command{
		Use:   "rotate [--alg RS256|ES256]",
		Short: "Make a new signing key sign from now on",
		Long: "Generate a signing key, store it (sealed) and make it sign ID tokens and JWT access\n" +
			"tokens from now on. The previous keys stay in /.well-known/jwks.json until every token\n" +
			"they signed has expired (the longer of oauth.id_token_lifespan and\n" +
			"oauth.access_token_lifespan), then drop out. Running servers pick the new key up at once\n" +
			"on PostgreSQL, within 30 seconds on SQLite. Prints the new kid as JSON.",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := flagText(cmd.Flags()); err != nil {
				return err
			}
			alg = strings.ToUpper(alg)
			if !slices.Contains(oauth.SigningAlgs, alg) {
				return fmt.Errorf("%w: --alg must be one of %s", errUsage, strings.Join(oauth.SigningAlgs, ", "))
			}
			cfg, err := loadConfig()
			if err != nil {
				return runError{err}
			}
			return withConfigApp(cmd.Context(), cfg, stderr, false, func(a *server.App) error {
				kid, err := a.RotateSigningKey(cmd.Context(), alg)
				if err != nil {
					return err
				}
				return printKeys(stdout, map[string]any{"kid": kid, "alg": alg, "keys": a.SigningKeys(cmd.Context())})
			})
		},
	}
	rotate.Flags().StringVar(&alg, "alg", oauth.AlgRS256, "algorithm of the new key: RS256 or ES256")
	list := &cobra.Command{
		Use:   "list",
		Short: "List the published signing keys, newest first",
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig()
			if err != nil {
				return runError{err}
			}
			return withConfigApp(cmd.Context(), cfg, stderr, false, func(a *server.App) error {
				return printKeys(stdout, map[string]any{"keys": a.SigningKeys(cmd.Context())})
			})
		},
	}
	keys.AddCommand(rotate, list)
	return keys
}

func printKeys(out io.Writer, v map[string]any) error {
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
