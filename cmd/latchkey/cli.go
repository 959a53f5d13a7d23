package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/latchkey/latchkey/accounts"
	"github.com/latchkey/latchkey/config"
	"github.com/latchkey/latchkey/oauth"
	"github.com/latchkey/latchkey/server"
	"github.com/latchkey/latchkey/storage"
)

// listFlag collects a repeatable flag; each value may also be comma-separated.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

// Set implements pflag.Value.
func (l *listFlag) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}

// Type implements pflag.Value.
func (l *listFlag) Type() string { return "list" }

var _ pflag.Value = (*listFlag)(nil)

func newUserCommand(stdout, stderr io.Writer) *cobra.Command {
	user := &cobra.Command{Use: "user", Short: "Manage user accounts", RunE: needSubcommand}
	var f userFlags
	output := outputJSON
	create := &cobra.Command{
		Use:   "create --username U --password P [--email E] [--name N] [--admin]",
		Short: "Create a user who can sign in",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := flagText(cmd.Flags()); err != nil {
				return err
			}
			return withApp(cmd.Context(), stderr, false, func(a *server.App) error {
				return userCreate(cmd.Context(), a, f, output, stdout)
			})
		},
	}
	fs := create.Flags()
	fs.StringVar(&f.username, "username", "", "username (required)")
	fs.StringVar(&f.password, "password", "", "password (required, at least 12 characters)")
	fs.StringVar(&f.email, "email", "", "email address")
	fs.StringVar(&f.name, "name", "", "display name")
	fs.BoolVar(&f.admin, "admin", false, "make the user an administrator")
	output.register(create)
	user.AddCommand(create, newResetTwoFactorCommand(stdout, stderr), newUserSuspendCommand(stdout, stderr))
	return user
}

// newResetTwoFactorCommand is `user reset-two-factor`: the way back in for
// a person who lost their authenticator, passkeys and recovery codes.
func newResetTwoFactorCommand(stdout, stderr io.Writer) *cobra.Command {
	var username string
	output := outputJSON
	cmd := &cobra.Command{
		Use:   "reset-two-factor --username U",
		Short: "Remove a user's second factors and end their sessions",
		Long: "Remove every second factor of a user — the authenticator app (TOTP), the recovery\n" +
			"codes and the passkeys — and sign them out of every browser. They then sign in with\n" +
			"their password alone and can enrol again on /account/two-factor. Check who is asking\n" +
			"first: this undoes the protection a second factor gives.",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := flagText(cmd.Flags()); err != nil {
				return err
			}
			if username == "" {
				return fmt.Errorf("%w: --username is required", errUsage)
			}
			return withApp(cmd.Context(), stderr, false, func(a *server.App) error {
				u, res, err := a.ResetTwoFactor(cmd.Context(), username)
				if errors.Is(err, storage.ErrNotFound) {
					return fmt.Errorf("no user is named %q", username)
				}
				if err != nil {
					return err
				}
				return output.print(stdout, []string{"id", "username", "totp_removed", "recovery_codes_removed", "passkeys_removed", "sessions_ended"},
					map[string]any{"id": u.ID, "username": u.Username, "totp_removed": res.TOTP,
						"recovery_codes_removed": res.RecoveryCodes, "passkeys_removed": res.Passkeys, "sessions_ended": true})
			})
		},
	}
	cmd.Flags().StringVar(&username, "username", "", "username of the person (required)")
	output.register(cmd)
	return cmd
}

// userFlags are the flags of `latchkey user create`.
type userFlags struct {
	username, password, email, name string
	admin                           bool
}

func userCreate(ctx context.Context, a *server.App, f userFlags, output outputFlag, out io.Writer) error {
	if f.username == "" || f.password == "" {
		return fmt.Errorf("%w: --username and --password are required", errUsage)
	}
	// accounts applies sign-up's rules (username pattern, password policy,
	// email when given) and hashes the password.
	u, err := accounts.New(a.DB(), accounts.Config{}).Create(ctx, accounts.NewUser{
		Username: f.username, Email: f.email, Name: f.name, Password: f.password, Admin: f.admin})
	switch {
	case errors.Is(err, accounts.ErrInvalid):
		return fmt.Errorf("%w: %v", errUsage, err)
	case errors.Is(err, accounts.ErrUsernameTaken):
		return fmt.Errorf("the username %q is taken", f.username)
	case err != nil:
		return err
	}
	return output.print(out, []string{"id", "username", "email", "admin"},
		map[string]any{"id": u.ID, "username": u.Username, "email": u.Email, "admin": u.Admin})
}

func newClientCommand(stdout, stderr io.Writer) *cobra.Command {
	client := &cobra.Command{Use: "client", Short: "Manage OAuth clients", RunE: needSubcommand}
	var (
		name, method, owner, tier   string
		org                         string
		redirects, grants, scopes   listFlag
		public, requirePKCE, resSrv bool
		postLogout, audience        listFlag
		backchannel                 string
		backchannelSID              bool
		jwtAccess, dpopBound        bool
		jwks, jwksURI, authAlg      string
	)
	output := outputJSON
	create := &cobra.Command{
		Use:   "create --name N --redirect-uri URI [--redirect-uri URI ...] [flags]",
		Short: "Register an OAuth client and print its id and secret",
		Long: "Register an OAuth client and print its id and, for a confidential client, its secret\n" +
			"(shown only this once). The JSON output is the default.",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := flagText(cmd.Flags()); err != nil {
				return err
			}
			cfg, err := loadConfig()
			if err != nil {
				return runError{err}
			}
			if tier != "" && !slices.ContainsFunc(cfg.RateLimits.Tiers, func(t config.Tier) bool { return t.Name == tier }) {
				return fmt.Errorf("%w: unknown tier %q (see rate_limits.tiers)", errUsage, tier)
			}
			return withConfigApp(cmd.Context(), cfg, stderr, false, func(a *server.App) error {
				if org != "" {
					if err := checkClientOrg(cmd.Context(), a, org, owner); err != nil {
						return err
					}
				}
				rec, plain, err := a.CreateClient(cmd.Context(), oauth.ClientSpec{
					Name: name, OwnerID: owner, OrgID: org, RedirectURIs: redirects, GrantTypes: grants, Scopes: scopes,
					Public: public, AuthMethod: method, Tier: tier, RequirePKCE: requirePKCE, ResourceServer: resSrv,
					PostLogoutRedirectURIs: postLogout, BackchannelLogoutURI: backchannel,
					BackchannelLogoutSessionRequired: backchannelSID,
					JWTAccessTokens:                  jwtAccess, JWKS: jwks, JWKSURI: jwksURI, AuthSigningAlg: authAlg,
					Audience:              audience,
					DPoPBoundAccessTokens: dpopBound,
				})
				if err != nil {
					return err
				}
				return printClient(stdout, output, rec, plain)
			})
		},
	}
	fs := create.Flags()
	fs.StringVar(&name, "name", "", "client name (required)")
	fs.Var(&redirects, "redirect-uri", "redirect URI (repeatable or comma-separated)")
	fs.Var(&grants, "grant-types", "grant types, comma-separated: authorization_code, refresh_token, client_credentials, urn:ietf:params:oauth:grant-type:device_code, urn:ietf:params:oauth:grant-type:token-exchange (default authorization_code,refresh_token)")
	fs.Var(&audience, "audience", "audiences the client may ask exchanged tokens for (RFC 8693): resource URIs or resource servers' client ids (repeatable or comma-separated)")
	fs.Var(&scopes, "scopes", "allowed scopes, comma-separated (default openid,profile,email,offline_access)")
	fs.BoolVar(&public, "public", false, "public client (no secret; PKCE required)")
	fs.StringVar(&method, "auth-method", "", "token endpoint auth method: client_secret_basic, client_secret_post, private_key_jwt, client_secret_jwt (default: the first two)")
	fs.StringVar(&jwks, "jwks", "", "private_key_jwt: the client's public JWK Set as JSON")
	fs.StringVar(&jwksURI, "jwks-uri", "", "private_key_jwt: https URL of the client's JWK Set")
	fs.StringVar(&authAlg, "auth-signing-alg", "", "algorithm of the client's assertions: RS256, ES256, PS256 (private_key_jwt) or HS256 (client_secret_jwt)")
	fs.BoolVar(&jwtAccess, "jwt-access-tokens", false, "issue RFC 9068 JWT access tokens to this client (oauth.jwt_access_tokens does it for all)")
	fs.BoolVar(&dpopBound, "dpop-bound-access-tokens", false, "require a DPoP proof (RFC 9449) at every token request of this client, so its tokens are always sender-constrained")
	fs.StringVar(&owner, "owner", "", "id of the user who owns the client")
	fs.StringVar(&org, "org", "", "id of the organization the client belongs to (the owner, if given, must be a member)")
	fs.StringVar(&tier, "tier", "", "rate-limit tier of the client's own requests (default: rate_limits.default_tier)")
	fs.BoolVar(&requirePKCE, "require-pkce", true, "refuse authorization requests without PKCE (always on for public clients)")
	fs.BoolVar(&resSrv, "resource-server", false, "may introspect every token and API key (other clients only their own tokens)")
	fs.Var(&postLogout, "post-logout-redirect-uri", "where RP-Initiated Logout may return the person (repeatable or comma-separated; exact match)")
	fs.StringVar(&backchannel, "backchannel-logout-uri", "", "http(s) URL that receives OpenID Connect Back-Channel Logout tokens")
	fs.BoolVar(&backchannelSID, "backchannel-logout-session-required", false, "always put sid in the client's logout tokens")
	output.register(create)
	client.AddCommand(create, newRotateSecretCommand(stdout, stderr))
	return client
}

// newRotateSecretCommand is `client rotate-secret`: the /apps page's
// rotation for operators.
func newRotateSecretCommand(stdout, stderr io.Writer) *cobra.Command {
	var (
		id    string
		grace time.Duration
	)
	output := outputJSON
	cmd := &cobra.Command{
		Use:   "rotate-secret --client-id ID [--grace 1h]",
		Short: "Give an OAuth client a new secret and print it",
		Long: "Give a confidential OAuth client a new secret and print it (shown only this once).\n" +
			"With --grace the current secret keeps working that long besides the new one, so the\n" +
			"client can be redeployed first; a client has at most two secrets, so an earlier\n" +
			"previous secret stops at once. Without --grace the current secret stops at once.",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := flagText(cmd.Flags()); err != nil {
				return err
			}
			if id == "" {
				return fmt.Errorf("%w: --client-id is required", errUsage)
			}
			if grace < 0 || grace > storage.MaxSecretGrace {
				return fmt.Errorf("%w: --grace must be between 0 and %s", errUsage, storage.MaxSecretGrace)
			}
			cfg, err := loadConfig()
			if err != nil {
				return runError{err}
			}
			return withConfigApp(cmd.Context(), cfg, stderr, false, func(a *server.App) error {
				plain, until, err := a.RotateClientSecret(cmd.Context(), id, grace)
				if err != nil {
					return err
				}
				res := map[string]any{"client_id": id, "client_secret": plain}
				if until != nil {
					res["previous_secret_expires_at"] = until.UTC().Format(time.RFC3339)
				}
				return output.print(stdout, []string{"client_id", "client_secret", "previous_secret_expires_at"}, res)
			})
		},
	}
	cmd.Flags().StringVar(&id, "client-id", "", "id of the client (required)")
	cmd.Flags().DurationVar(&grace, "grace", 0, "how long the current secret keeps working, e.g. 1h, 24h, 168h (at most 720h)")
	output.register(cmd)
	return cmd
}

// printClient prints a created client; the secret only when there is one.
// token_endpoint_auth_methods lists every method the client may use
// (oauth.AuthMethods: both secret methods for a confidential client
// registered without one); token_endpoint_auth_method is the first of
// them, the one RFC 7591 §2 registration metadata would name.
func printClient(out io.Writer, output outputFlag, rec *storage.Client, plain string) error {
	methods := oauth.AuthMethods(rec)
	res := map[string]any{
		"client_id": rec.ID, "name": rec.Name, "redirect_uris": rec.RedirectURIs, "grant_types": rec.GrantTypes,
		"scopes": rec.Scopes, "public": rec.Public, "token_endpoint_auth_method": methods[0],
		"token_endpoint_auth_methods": methods, "tier": rec.Tier,
		"require_pkce": rec.RequirePKCE, "resource_server": rec.ResourceServer,
		"jwt_access_tokens": rec.JWTAccessTokens, "dpop_bound_access_tokens": rec.DPoPBoundAccessTokens,
	}
	if rec.JWKSURI != "" {
		res["jwks_uri"] = rec.JWKSURI
	}
	if rec.OrgID != "" {
		res["org_id"] = rec.OrgID
	}
	order := []string{"client_id", "client_secret", "name", "redirect_uris", "grant_types", "scopes", "public",
		"token_endpoint_auth_method", "token_endpoint_auth_methods", "tier", "require_pkce", "resource_server", "org_id", "jwt_access_tokens", "dpop_bound_access_tokens", "jwks_uri"}
	if plain != "" {
		res["client_secret"] = plain
	}
	if len(rec.PostLogoutRedirectURIs) > 0 {
		res["post_logout_redirect_uris"] = rec.PostLogoutRedirectURIs
		order = append(order, "post_logout_redirect_uris")
	}
	if len(rec.Audience) > 0 {
		res["audience"] = rec.Audience
		order = append(order, "audience")
	}
	if rec.BackchannelLogoutURI != "" {
		res["backchannel_logout_uri"] = rec.BackchannelLogoutURI
		res["backchannel_logout_session_required"] = rec.BackchannelLogoutSessionRequired
		order = append(order, "backchannel_logout_uri", "backchannel_logout_session_required")
	}
	return output.print(out, order, res)
}
