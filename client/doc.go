// Package client is the Go client of a Latchkey server (SPEC §4).
//
// It has two halves:
//
//   - For API consumers, [KeyTokenSource] is an [golang.org/x/oauth2.TokenSource]
//     that exchanges a Latchkey API key for a short-lived OAuth access token at
//     POST /tokens/generate and renews it shortly before it expires, so
//     oauth2.NewClient(ctx, client.KeyTokenSource(ctx, baseURL, key)) gives an
//     *http.Client that authenticates every request with a fresh token.
//
//   - For resource servers, [Verifier] checks the credential a caller
//     presents: API keys through POST /v1/keys/verify (authenticated with a
//     client_credentials token carrying the keys:verify scope, of a client
//     created with `latchkey client create --resource-server`) and OAuth
//     access tokens through token introspection (RFC 7662) at
//     POST /oauth/introspect. [Verifier.Middleware] (net/http) and
//     [Verifier.Gin] (gin) turn that into bearer-token protection
//     (RFC 6750) with scope checks, and store the caller's [Identity] in the
//     request context ([IdentityFrom]).
//
// Organizations (SPEC §3.3a): an [Identity] names the organization the
// credential acts in ([Identity.Organization], with the person's role),
// the tenants it reaches with its effective access ([Identity.Tenants])
// and, for API keys, whether it is a personal or a workspace key
// ([Identity.KeyKind]); [Identity.CanAccessTenant] answers "may it read /
// write in this tenant" from those. Identities from a server that predates
// organizations have none of these (nil, empty), and CanAccessTenant is
// then false for every tenant. [Verifier.VerifyWithCheck] asks Latchkey,
// in the same verification, whether the credential reaches a tenant with
// a permission and satisfies a permission expression over scopes
// (package scopeexpr: "videos:read AND (billing:read OR org:admin)"); a
// failed check is a [CheckResult] with Passed false and the failing part,
// not an error.
//
// Credentials are never logged, never put into error messages and never
// used as cache keys: the verifier's cache is keyed by the SHA-256 digest
// of the credential.
package client
