// DPoP (RFC 9449) with openid-client's own DPoP support: a public client
// binds its authorization code to its key with dpop_jkt (§10), gets
// DPoP-bound access and refresh tokens (§5), calls Latchkey's API and
// userinfo with proofs (§7.1; openid-client signs each with ath, htm, htu),
// refreshes with the same key, and a bound token sent as Bearer is
// refused. Introspection names the key (§6.2).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { env, person, configFor, pkce } from '../lib/setup.js';

test('DPoP: code flow with dpop_jkt, API and userinfo calls, refresh with the same key', async (t) => {
  const discovery = await (await fetch(new URL('/.well-known/openid-configuration', env.issuer))).json();
  if (!discovery.dpop_signing_alg_values_supported) {
    t.skip('this Latchkey has no DPoP yet (no dpop_signing_alg_values_supported in discovery)');
    return;
  }
  assert.ok(discovery.dpop_signing_alg_values_supported.includes('ES256'));

  const config = await configFor(env.clients.public, 'none');
  const resource = await configFor(env.clients.resource, 'basic');
  const keyPair = await oidc.randomDPoPKeyPair('ES256');
  const dpop = oidc.getDPoPHandle(config, keyPair);
  const jkt = await dpop.calculateThumbprint();

  const { verifier, challenge } = await pkce();
  const state = oidc.randomState();
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: env.callback, scope: 'openid profile offline_access',
    code_challenge: challenge, code_challenge_method: 'S256', state, dpop_jkt: jkt,
  });
  const { redirect } = await person().authorize(url);
  const tokens = await oidc.authorizationCodeGrant(config, redirect,
    { pkceCodeVerifier: verifier, expectedState: state, idTokenExpected: true }, undefined, { DPoP: dpop });
  assert.equal(tokens.token_type.toLowerCase(), 'dpop');
  assert.ok(tokens.refresh_token);
  const sub = tokens.claims().sub;

  await t.test('introspection shows cnf.jkt and token_type DPoP', async () => {
    const at = await oidc.tokenIntrospection(resource, tokens.access_token);
    assert.equal(at.active, true);
    assert.equal(at.token_type, 'DPoP');
    assert.equal(at.cnf?.jkt, jkt);
  });

  const apiURL = new URL('/tokens/test', env.issuer);
  await t.test("Latchkey's API accepts the token with a proof", async () => {
    const res = await oidc.fetchProtectedResource(config, tokens.access_token, apiURL, 'GET', undefined, undefined, { DPoP: dpop });
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.equal(body.valid, true);
    assert.equal(body.subject, sub);
  });

  await t.test('userinfo accepts the token with a proof', async () => {
    const info = await oidc.fetchUserInfo(config, tokens.access_token, sub, { DPoP: dpop });
    assert.equal(info.sub, sub);
  });

  await t.test('the bound token sent as Bearer is refused (RFC 9449 §7.1)', async () => {
    const res = await fetch(apiURL, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    assert.equal(res.status, 401);
    assert.match(res.headers.get('www-authenticate') ?? '', /^DPoP algs="/);
  });

  await t.test('a proof of another key is refused', async () => {
    const other = oidc.getDPoPHandle(config, await oidc.randomDPoPKeyPair('ES256'));
    const res = await oidc.fetchProtectedResource(config, tokens.access_token, apiURL, 'GET', undefined, undefined, { DPoP: other })
      .catch((err) => err.response ?? err);
    assert.equal(res.status, 401);
    assert.match(res.headers.get('www-authenticate') ?? '', /error="invalid_dpop_proof"/);
  });

  await t.test('refresh with another key is refused, with the same key works', async () => {
    const other = oidc.getDPoPHandle(config, await oidc.randomDPoPKeyPair('ES256'));
    await assert.rejects(oidc.refreshTokenGrant(config, tokens.refresh_token, undefined, { DPoP: other }),
      (err) => err.error === 'invalid_dpop_proof' || err.cause?.error === 'invalid_dpop_proof');
    const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token, undefined, { DPoP: dpop });
    assert.equal(refreshed.token_type.toLowerCase(), 'dpop');
    assert.notEqual(refreshed.access_token, tokens.access_token);
    const res = await oidc.fetchProtectedResource(config, refreshed.access_token, apiURL, 'GET', undefined, undefined, { DPoP: dpop });
    assert.equal(res.status, 200);
    const at = await oidc.tokenIntrospection(resource, refreshed.access_token);
    assert.equal(at.cnf?.jkt, jkt);
  });
});
