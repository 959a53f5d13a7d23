// OpenID Connect RP-Initiated Logout 1.0 with openid-client's
// buildEndSessionUrl: id_token_hint, a registered post_logout_redirect_uri
// and state; the person's Latchkey session ends. Skips until Latchkey
// publishes end_session_endpoint and `client create` takes
// --post-logout-redirect-uri (INTEROP_POST_LOGOUT set by the Go runner).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { env, person, configFor, pkce } from '../lib/setup.js';
import { parseForms } from '../lib/person.js';

const config = await configFor(env.clients.basic, 'basic');
const endSession = config.serverMetadata().end_session_endpoint;
const skip = !endSession ? 'skipped: discovery has no end_session_endpoint yet (RP-initiated logout, branch logout)'
  : !env.postLogout ? 'skipped: `latchkey client create` has no --post-logout-redirect-uri yet'
    : false;

async function signIn(who) {
  const { verifier, challenge } = await pkce();
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: env.callback, scope: 'openid profile', code_challenge: challenge, code_challenge_method: 'S256',
  });
  const { redirect } = await who.authorize(url);
  return oidc.authorizationCodeGrant(config, redirect, { pkceCodeVerifier: verifier, idTokenExpected: true });
}

/**
 * Follows the end-session URL as the person's browser, confirming on a
 * logout page if Latchkey shows one, until the browser leaves Latchkey.
 */
async function followLogout(who, url) {
  let next = url;
  for (let hop = 0; hop < 6; hop++) {
    const res = await who.request(next);
    if (res.status >= 300 && res.status < 400) {
      const loc = new URL(res.headers.get('location'), next);
      await res.arrayBuffer();
      if (loc.origin !== new URL(env.issuer).origin) return { redirect: loc };
      next = loc;
      continue;
    }
    const html = await res.text();
    const form = parseForms(html).find((f) => f.method === 'post' && f.action !== '/logout' && f.fields.has('csrf_token'));
    if (res.status !== 200 || !form) return { status: res.status, html };
    const yes = form.buttons.find((b) => /^(yes|logout|log_?out|sign_?out|confirm|allow)$/i.test(b.value)) ?? form.buttons[0];
    const reply = await who.submit(form, next, yes ? { [yes.name]: yes.value } : {});
    if (reply.status < 300 || reply.status >= 400) return { status: reply.status, html: await reply.text() };
    next = new URL(reply.headers.get('location'), next);
    await reply.arrayBuffer();
    if (next.origin !== new URL(env.issuer).origin) return { redirect: next };
  }
  throw new Error('logout: too many hops');
}

test('buildEndSessionUrl: id_token_hint, post_logout_redirect_uri, state', { skip }, async () => {
  const who = person();
  const tokens = await signIn(who);
  assert.equal(await who.signedIn(), true);
  const state = oidc.randomState();
  const url = oidc.buildEndSessionUrl(config, { id_token_hint: tokens.id_token, post_logout_redirect_uri: env.postLogout, state });
  const out = await followLogout(who, url);
  assert.ok(out.redirect, `logout ended at ${out.status}: ${out.html?.slice(0, 500)}`);
  assert.equal(out.redirect.origin + out.redirect.pathname, env.postLogout);
  assert.equal(out.redirect.searchParams.get('state'), state);
  assert.equal(await who.signedIn(), false, 'the Latchkey session ended');
});

test('an unregistered post_logout_redirect_uri is refused on a page, not followed (§3)', { skip }, async () => {
  const who = person();
  const tokens = await signIn(who);
  const url = oidc.buildEndSessionUrl(config, { id_token_hint: tokens.id_token, post_logout_redirect_uri: 'http://127.0.0.1:9/elsewhere' });
  const out = await followLogout(who, url);
  assert.equal(out.redirect, undefined, `logout redirected to ${out.redirect}`);
  assert.equal(out.status, 400);
  assert.equal(await who.signedIn(), true, 'a refused logout request signs no one out');
});
