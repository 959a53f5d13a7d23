package main

import (
	"io"

	"github.com/spf13/cobra"

	"github.com/latchkey/latchkey/oauth"
)

// newRegistrationCommand is `latchkey registration token`: it mints an
// initial access token for dynamic client registration
// (oauth.registration.mode: initial_access_token) and prints it with the
// digest to add to oauth.registration.initial_access_tokens. Nothing is
// stored: the token is shown only here.
func newRegistrationCommand(stdout io.Writer) *cobra.Command {
	reg := &cobra.Command{Use: "registration", Short: "Dynamic client registration (RFC 7591)", RunE: needSubcommand}
	output := outputJSON
	token := &cobra.Command{
		Use:   "token",
		Short: "Mint an initial access token and print it with the digest to configure",
		Long: "Mint an initial access token for POST /oauth/register and print it (shown only this once)\n" +
			"with its digest: add the digest to oauth.registration.initial_access_tokens and hand\n" +
			"the token to the developer, who sends it as Authorization: Bearer <token>.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			t, d, err := oauth.NewInitialAccessToken()
			if err != nil {
				return runError{err}
			}
			return output.print(stdout, []string{"token", "digest"}, map[string]any{"token": t, "digest": d})
		},
	}
	output.register(token)
	reg.AddCommand(token)
	return reg
}
