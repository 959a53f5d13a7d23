// Package interop holds the interoperability suite: real client libraries
// against a real `latchkey serve` process, with the person's part done
// through the real login and consent pages (an HTTP client filling the
// HTML forms, or headless Chromium).
//
//   - gooidc_test.go: github.com/coreos/go-oidc/v3 with golang.org/x/oauth2
//     (ID token verification, nonce, at_hash, userinfo, refresh). Fast; runs
//     in `make test`.
//   - node_test.go: runs the Node suite in node/ (openid-client and
//     playwright-core driving Chromium) with `npm ci` and `node --test`.
//   - oauth2proxy_test.go: oauth2-proxy, built at a pinned version, in front
//     of a static upstream, signing a person in and out.
//
// The last two are slow and need tools from outside the module; they run
// under `make interop` (which sets LATCHKEY_TEST_INTEROP=1) and skip otherwise.
// worksWith_test.go keeps the README's "Works with" table true to the
// pinned versions.
//
// The package has no code of its own: everything is in its tests, which
// share one harness (harness_test.go) for building and starting Latchkey.
package interop
