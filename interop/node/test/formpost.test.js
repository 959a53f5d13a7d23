// response_mode=form_post (OAuth 2.0 Form Post Response Mode) in headless
// Chromium: the person signs in and allows on the real pages, Latchkey's
// form_post page submits itself under the server's CSP to the app's
// callback server, and openid-client redeems the code from that POST.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { env, configFor, pkce, callbackServer, chromiumMissing, launchChromium, browserLogin } from '../lib/setup.js';

const skip = chromiumMissing();
let browser;
let app;

before(async () => {
  if (skip) return;
  app = await callbackServer();
  browser = await launchChromium();
  await browserLogin(browser.page);
});

after(async () => {
  await browser?.close();
  await app?.close();
});

for (const withState of [true, false]) {
  test(`form_post in Chromium ${withState ? 'with' : 'without'} state`, { skip: skip ? `skipped: ${skip}` : false }, async () => {
    const config = await configFor(env.clients.basic, 'basic');
    oidc.enableNonRepudiationChecks(config);
    const { verifier, challenge } = await pkce();
    const nonce = oidc.randomNonce();
    const state = withState ? oidc.randomState() : undefined;
    const params = {
      redirect_uri: env.callback, scope: 'openid profile email', response_mode: 'form_post',
      code_challenge: challenge, code_challenge_method: 'S256', nonce,
    };
    if (state) params.state = state;
    const { page } = browser;
    await page.goto(oidc.buildAuthorizationUrl(config, params).href);
    const allow = page.locator('form[action="/oauth/consent"] button[name="decision"][value="allow"]');
    // Consent is asked the first time only; afterwards the form_post page comes straight away.
    if (await allow.count() > 0) await allow.click();

    const hit = await app.next();
    assert.equal(hit.method, 'POST', 'the form_post page submitted the form');
    assert.match(hit.contentType, /^application\/x-www-form-urlencoded/);
    const form = new URLSearchParams(hit.body);
    assert.equal(form.get('iss'), env.issuer);
    assert.equal(form.has('state'), withState, `state in ${hit.body}`);
    if (withState) assert.equal(form.get('state'), state);

    // The app hands the POST it got to openid-client as a Request.
    const request = new Request(env.callback, {
      method: 'POST', body: hit.body, headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    const tokens = await oidc.authorizationCodeGrant(config, request, {
      pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce, idTokenExpected: true,
    });
    assert.equal(tokens.claims().preferred_username, env.username);
    await page.waitForURL(env.callback);
    assert.match(await page.textContent('body'), /Back at the app/);
  });
}
