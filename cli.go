package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/latchkey/latchkey/accounts"
	"github.com/latchkey/latchkey/config"
	"github.com/latchkey/latchkey/oauth"
)

// listFlag collects a repeatable flag; each value may also be comma-separated.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}

func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

func userCreate(ctx context.Context, a *app, args []string, out io.Writer) error {
	fs := newFlagSet("user create")
	username := fs.String("username", "", "username (required)")
	password := fs.String("password", "", "password (required, at least 12 characters)")
	email := fs.String("email", "", "email address")
	name := fs.String("name", "", "display name")
	admin := fs.Bool("admin", false, "make the user an administrator")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if err := flagText(fs); err != nil {
		return err
	}
	if *username == "" || *password == "" {
		return fmt.Errorf("%w: --username and --password are required", errUsage)
	}
	// accounts applies sign-up's rules (username pattern, password policy,
	// email when given) and hashes the password.
	u, err := accounts.New(a.db, accounts.Config{}).Create(ctx, accounts.NewUser{Username: *username, Email: *email, Name: *name, Password: *password, Admin: *admin})
	switch {
	case errors.Is(err, accounts.ErrInvalid):
		return fmt.Errorf("%w: %v", errUsage, err)
	case errors.Is(err, accounts.ErrUsernameTaken):
		return fmt.Errorf("the username %q is taken", *username)
	case err != nil:
		return err
	}
	return printJSON(out, map[string]any{"id": u.ID, "username": u.Username, "email": u.Email, "admin": u.Admin})
}

func clientCreate(ctx context.Context, a *app, args []string, out io.Writer) error {
	fs := newFlagSet("client create")
	name := fs.String("name", "", "client name (required)")
	var redirects, grants, scopes listFlag
	fs.Var(&redirects, "redirect-uri", "redirect URI (repeatable or comma-separated)")
	fs.Var(&grants, "grant-types", "grant types, comma-separated (default authorization_code,refresh_token)")
	fs.Var(&scopes, "scopes", "allowed scopes, comma-separated (default openid,profile,email,offline_access)")
	public := fs.Bool("public", false, "public client (no secret; PKCE required)")
	method := fs.String("auth-method", "", "token endpoint auth method: client_secret_basic, client_secret_post (default: both)")
	owner := fs.String("owner", "", "id of the user who owns the client")
	tier := fs.String("tier", "", "rate-limit tier of the client's own requests (default: rate_limits.default_tier)")
	requirePKCE := fs.Bool("require-pkce", true, "refuse authorization requests without PKCE (always on for public clients)")
	resourceServer := fs.Bool("resource-server", false, "may introspect every token and API key (other clients only their own tokens)")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if err := flagText(fs); err != nil {
		return err
	}
	if *tier != "" && !slices.ContainsFunc(a.cfg.RateLimits.Tiers, func(t config.Tier) bool { return t.Name == *tier }) {
		return fmt.Errorf("%w: unknown tier %q (see rate_limits.tiers)", errUsage, *tier)
	}
	rec, plain, err := a.provider.NewClientRecord(oauth.ClientSpec{
		Name: *name, OwnerID: *owner, RedirectURIs: redirects, GrantTypes: grants, Scopes: scopes,
		Public: *public, AuthMethod: *method, Tier: *tier, RequirePKCE: *requirePKCE, ResourceServer: *resourceServer,
	})
	if err != nil {
		return err
	}
	if err := a.db.CreateClient(ctx, rec); err != nil {
		return err
	}
	method2 := rec.TokenEndpointAuthMethod
	if method2 == "" {
		method2 = "client_secret_basic"
	}
	res := map[string]any{
		"client_id": rec.ID, "name": rec.Name, "redirect_uris": rec.RedirectURIs, "grant_types": rec.GrantTypes,
		"scopes": rec.Scopes, "public": rec.Public, "token_endpoint_auth_method": method2, "tier": rec.Tier,
		"require_pkce": rec.RequirePKCE, "resource_server": rec.ResourceServer,
	}
	if plain != "" {
		res["client_secret"] = plain
	}
	return printJSON(out, res)
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
