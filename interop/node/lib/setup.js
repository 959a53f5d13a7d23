// What every test file shares: the server and clients the Go runner
// (interop/node_test.go) started and created, openid-client configurations
// for them, a callback server standing in for the app, and headless Chromium.
import { createServer } from 'node:http';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as oidc from 'openid-client';
import { Person } from './person.js';

function need(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run this suite through interop/node_test.go (make interop)`);
  return v;
}

/** The environment the Go runner sets. */
export const env = {
  issuer: need('INTEROP_ISSUER'),
  username: need('INTEROP_USERNAME'),
  password: need('INTEROP_PASSWORD'),
  email: need('INTEROP_EMAIL'),
  /** Registered redirect URI of every client; the callback server listens there. */
  callback: need('INTEROP_CALLBACK'),
  /** Registered post-logout redirect URI, or '' when this Latchkey has no logout yet. */
  postLogout: process.env.INTEROP_POST_LOGOUT ?? '',
  /** {basic, post, public, resource}: each {client_id, client_secret?}. */
  clients: JSON.parse(need('INTEROP_CLIENTS')),
  chromium: process.env.INTEROP_CHROMIUM ?? '',
};

export const person = () => new Person(env.issuer, env.username, env.password);

/**
 * An openid-client Configuration from discovery for client (one of
 * env.clients) authenticating with auth: 'basic', 'post' or 'none'.
 */
export async function configFor(client, auth) {
  const method = { basic: oidc.ClientSecretBasic, post: oidc.ClientSecretPost, none: oidc.None }[auth];
  const metadata = { token_endpoint_auth_method: { basic: 'client_secret_basic', post: 'client_secret_post', none: 'none' }[auth] };
  return oidc.discovery(new URL(env.issuer), client.client_id, metadata,
    auth === 'none' ? method() : method(client.client_secret),
    { execute: [oidc.allowInsecureRequests] });
}

/** A fresh PKCE pair (RFC 7636 §4.1, §4.2; S256). */
export async function pkce() {
  const verifier = oidc.randomPKCECodeVerifier();
  return { verifier, challenge: await oidc.calculatePKCECodeChallenge(verifier) };
}

/**
 * Starts the app's callback server on env.callback's port. Each request is
 * queued; next() resolves with {method, url, form} of the next one.
 */
export async function callbackServer() {
  const cb = new URL(env.callback);
  const queue = [];
  const waiting = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      const hit = { method: req.method, url: new URL(req.url, cb.origin), body, contentType: req.headers['content-type'] ?? '' };
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end('<!doctype html><title>App</title><p>Back at the app.</p>');
      if (req.url === '/favicon.ico') return;
      const w = waiting.shift();
      if (w) w(hit); else queue.push(hit);
    });
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(Number(cb.port), cb.hostname, resolve);
  });
  return {
    next(timeoutMs = 10000) {
      if (queue.length) return Promise.resolve(queue.shift());
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no request reached ${env.callback} within ${timeoutMs} ms`)), timeoutMs);
        waiting.push((hit) => { clearTimeout(t); resolve(hit); });
      });
    },
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve); }),
  };
}

/** Why the Chromium tests skip, or '' when Chromium is there. */
export function chromiumMissing() {
  if (!env.chromium) return 'INTEROP_CHROMIUM is not set (make interop sets it when chromium is installed)';
  if (!existsSync(env.chromium)) return `no Chromium at ${env.chromium}`;
  return '';
}

/**
 * Launches headless Chromium (playwright-core, the system binary) with a
 * fresh profile. Returns {context, page, close}.
 */
export async function launchChromium() {
  const { chromium } = await import('playwright-core');
  const profile = mkdtempSync(join(tmpdir(), 'latchkey-interop-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: env.chromium,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
    timeout: 30000,
  });
  const page = context.pages()[0] ?? await context.newPage();
  page.setDefaultTimeout(15000);
  return {
    context,
    page,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Signs the person in through the real login page in a Chromium page. */
export async function browserLogin(page) {
  await page.goto(new URL('/login', env.issuer).href);
  await page.fill('#username', env.username);
  await page.fill('#password', env.password);
  await Promise.all([page.waitForURL((u) => !u.pathname.startsWith('/login')), page.click('form[action="/login"] button[type="submit"]')]);
}
