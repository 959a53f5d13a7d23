// Discovery (OpenID Connect Discovery 1.0 §4, RFC 8414 §3) as openid-client reads it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { env } from '../lib/setup.js';

for (const algorithm of ['oidc', 'oauth2']) {
  test(`discovery (${algorithm === 'oidc' ? '/.well-known/openid-configuration' : '/.well-known/oauth-authorization-server'})`, async () => {
    const config = await oidc.discovery(new URL(env.issuer), env.clients.basic.client_id, env.clients.basic.client_secret,
      undefined, { algorithm, execute: [oidc.allowInsecureRequests] });
    const md = config.serverMetadata();
    assert.equal(md.issuer, env.issuer);
    for (const k of ['authorization_endpoint', 'token_endpoint', 'jwks_uri', 'userinfo_endpoint', 'revocation_endpoint',
      'introspection_endpoint', 'pushed_authorization_request_endpoint']) {
      assert.ok(md[k]?.startsWith(env.issuer + '/'), `${k} = ${md[k]}`);
    }
    assert.deepEqual(md.code_challenge_methods_supported, ['S256']);
    for (const mode of ['query', 'fragment', 'form_post']) assert.ok(md.response_modes_supported.includes(mode), mode);
    assert.equal(md.authorization_response_iss_parameter_supported, true);
    assert.ok(md.supportsPKCE(), 'supportsPKCE()');
    for (const m of ['client_secret_basic', 'client_secret_post', 'none']) {
      assert.ok(md.token_endpoint_auth_methods_supported.includes(m), m);
    }
  });
}
