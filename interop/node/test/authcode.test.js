// Authorization code + PKCE (RFC 6749 §4.1, RFC 7636) with openid-client,
// the person signing in and consenting through the real pages: with and
// without state, response_mode query and fragment (form_post is in
// formpost.test.js, in Chromium), PAR (RFC 9126), and the ID token checked
// with its signature (enableNonRepudiationChecks: JWKS), iss, aud, exp and nonce.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { env, person, configFor, pkce } from '../lib/setup.js';

const scope = 'openid profile email offline_access';

async function basicConfig() {
  const config = await configFor(env.clients.basic, 'basic');
  oidc.enableNonRepudiationChecks(config); // verify the id_token signature against jwks_uri too
  return config;
}

/** Runs the authorization request, by PAR when par, and the person's part. */
async function flow(config, who, { withState = true, mode, par = false, extra = {} } = {}) {
  const { verifier, challenge } = await pkce();
  const state = withState ? oidc.randomState() : undefined;
  const nonce = oidc.randomNonce();
  const p = { redirect_uri: env.callback, scope, code_challenge: challenge, code_challenge_method: 'S256', nonce, ...extra };
  if (state) p.state = state;
  if (mode) p.response_mode = mode;
  const url = par ? await oidc.buildAuthorizationUrlWithPAR(config, p) : oidc.buildAuthorizationUrl(config, p);
  const { redirect } = await who.authorize(url);
  assert.ok(redirect, 'the person was sent back to the app');
  return { redirect, verifier, state, nonce };
}

async function exchange(config, redirect, { verifier, state, nonce }, maxAge) {
  const tokens = await oidc.authorizationCodeGrant(config, redirect, {
    pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce, idTokenExpected: true, maxAge,
  });
  const claims = tokens.claims();
  assert.equal(claims.iss, env.issuer);
  assert.deepEqual([claims.aud].flat(), [config.clientMetadata().client_id]);
  assert.equal(claims.nonce, nonce);
  assert.equal(claims.preferred_username, env.username);
  assert.equal(claims.email, env.email);
  assert.ok(tokens.access_token && tokens.refresh_token);
  assert.equal(tokens.token_type.toLowerCase(), 'bearer');
  return tokens;
}

test('code + PKCE with state, response in the query', async () => {
  const config = await basicConfig();
  const who = person();
  const r = await flow(config, who);
  assert.equal(r.redirect.origin + r.redirect.pathname, env.callback);
  assert.equal(r.redirect.searchParams.get('state'), r.state);
  assert.equal(r.redirect.searchParams.get('iss'), env.issuer); // RFC 9207
  await exchange(config, r.redirect, r);
});

test('code + PKCE without state: the response carries no state', async () => {
  const config = await basicConfig();
  const r = await flow(config, person(), { withState: false });
  assert.equal(r.redirect.searchParams.has('state'), false, `redirect ${r.redirect}`);
  // openid-client refuses a response with a state it did not send (expectedState undefined).
  await exchange(config, r.redirect, r);
});

test('response_mode=query', async () => {
  const config = await basicConfig();
  const r = await flow(config, person(), { mode: 'query' });
  assert.equal(r.redirect.hash, '');
  await exchange(config, r.redirect, r);
});

test('response_mode=fragment', async () => {
  const config = await basicConfig();
  const r = await flow(config, person(), { mode: 'fragment' });
  assert.equal(r.redirect.search, '', `redirect ${r.redirect}: the response belongs in the fragment`);
  const params = new URLSearchParams(r.redirect.hash.slice(1));
  assert.ok(params.get('code'));
  assert.equal(params.get('state'), r.state);
  assert.equal(params.get('iss'), env.issuer);
  // A browser app reads the fragment and hands it to openid-client as the response parameters.
  const asQuery = new URL(env.callback);
  asQuery.search = params.toString();
  await exchange(config, asQuery, r);
});

test('pushed authorization request (PAR)', async () => {
  const config = await basicConfig();
  const r = await flow(config, person(), { par: true });
  await exchange(config, r.redirect, r);
});

test('PAR without state, public client', async () => {
  const config = await configFor(env.clients.public, 'none');
  const r = await flow(config, person(), { par: true, withState: false });
  assert.equal(r.redirect.searchParams.has('state'), false);
  await exchange(config, r.redirect, r);
});

test('max_age: the ID token carries auth_time, which openid-client checks', async () => {
  const config = await basicConfig();
  const r = await flow(config, person(), { extra: { max_age: '600' } });
  const tokens = await exchange(config, r.redirect, r, 600);
  assert.equal(typeof tokens.claims().auth_time, 'number');
});

test('a wrong nonce or a wrong code verifier is refused', async () => {
  const config = await basicConfig();
  const who = person();
  const r = await flow(config, who);
  await assert.rejects(oidc.authorizationCodeGrant(config, r.redirect, { pkceCodeVerifier: oidc.randomPKCECodeVerifier(), expectedState: r.state, expectedNonce: r.nonce }),
    (err) => err.error === 'invalid_grant', 'a code with the wrong PKCE verifier');
  const r2 = await flow(config, who);
  await assert.rejects(oidc.authorizationCodeGrant(config, r2.redirect, { pkceCodeVerifier: r2.verifier, expectedState: r2.state, expectedNonce: 'another-nonce' }),
    (err) => /nonce/.test(err.cause?.message), 'an id_token whose nonce does not match');
});

test('Deny on the consent page: access_denied with state and iss, as openid-client expects', async () => {
  const config = await basicConfig();
  const { challenge } = await pkce();
  const state = oidc.randomState();
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: env.callback, scope, code_challenge: challenge, code_challenge_method: 'S256', state, prompt: 'consent',
  });
  const { redirect } = await person().authorize(url, 'deny');
  assert.equal(redirect.searchParams.get('iss'), env.issuer);
  await assert.rejects(oidc.authorizationCodeGrant(config, redirect, { expectedState: state, pkceCodeVerifier: 'unused' }),
    (err) => err instanceof oidc.AuthorizationResponseError && err.error === 'access_denied');
});

test('prompt=none without a Latchkey session: login_required back at the app', async () => {
  const config = await basicConfig();
  const { challenge } = await pkce();
  const state = oidc.randomState();
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: env.callback, scope, code_challenge: challenge, code_challenge_method: 'S256', state, prompt: 'none',
  });
  const res = await fetch(url, { redirect: 'manual' });
  assert.ok(res.status >= 300 && res.status < 400, `status ${res.status}`);
  const redirect = new URL(res.headers.get('location'));
  assert.equal(redirect.origin + redirect.pathname, env.callback);
  await assert.rejects(oidc.authorizationCodeGrant(config, redirect, { expectedState: state, pkceCodeVerifier: 'unused' }),
    (err) => err instanceof oidc.AuthorizationResponseError && err.error === 'login_required');
});

test('prompt=none with a session and consent given: a code without any page', async () => {
  const config = await basicConfig();
  const who = person();
  await flow(config, who); // signs in and consents
  const r = await flow(config, who, { extra: { prompt: 'none' } });
  await exchange(config, r.redirect, r);
});
