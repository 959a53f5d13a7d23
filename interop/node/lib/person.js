// The person's part of a flow, done the way a browser without JavaScript
// does it: follow redirects, fill the real login form (username, password
// and the hidden CSRF token) and press Allow on the real consent page. One
// Person keeps one cookie jar, so it signs in once and stays signed in.

const entities = { '&amp;': '&', '&lt;': '<', '&gt;': '>', '&#34;': '"', '&quot;': '"', '&#39;': "'", '&#43;': '+', '&#61;': '=' };

/** Undoes html/template's escaping of an attribute value. */
export function unescapeHTML(s) {
  return s.replace(/&(amp|lt|gt|quot|#34|#39|#43|#61);/g, (m) => entities[m]);
}

/**
 * The forms of an HTML page: [{action, method, fields: Map, buttons: [{name, value}]}].
 * Enough for Latchkey's own pages (html/template output), not a general parser.
 */
export function parseForms(html) {
  const forms = [];
  for (const m of html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/g)) {
    const attr = (tag, name) => {
      const a = tag.match(new RegExp(`\\b${name}="([^"]*)"`));
      return a ? unescapeHTML(a[1]) : undefined;
    };
    const fields = new Map();
    for (const [tag] of m[2].matchAll(/<input\b[^>]*>/g)) {
      const name = attr(tag, 'name');
      if (name && attr(tag, 'type') !== 'submit') fields.set(name, attr(tag, 'value') ?? '');
    }
    const buttons = [];
    for (const [tag] of m[2].matchAll(/<button\b[^>]*>/g)) {
      const name = attr(tag, 'name');
      if (name) buttons.push({ name, value: attr(tag, 'value') ?? '' });
    }
    forms.push({ action: attr(m[1], 'action') ?? '', method: (attr(m[1], 'method') ?? 'get').toLowerCase(), fields, buttons });
  }
  return forms;
}

export class Person {
  /** @param {string} issuer Latchkey's base URL */
  constructor(issuer, username, password) {
    this.origin = new URL(issuer).origin;
    this.username = username;
    this.password = password;
    this.cookies = new Map();
  }

  /** One request without following redirects, with this person's cookies for Latchkey. */
  async request(url, init = {}) {
    const u = new URL(url, this.origin);
    const headers = new Headers(init.headers ?? {});
    const ours = u.origin === this.origin;
    if (ours && this.cookies.size > 0) {
      headers.set('cookie', [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; '));
    }
    const res = await fetch(u, { ...init, headers, redirect: 'manual' });
    if (ours) {
      for (const c of res.headers.getSetCookie()) {
        const [pair, ...attrs] = c.split(';');
        const i = pair.indexOf('=');
        const name = pair.slice(0, i).trim();
        const gone = attrs.some((a) => /^\s*max-age=(0|-)/i.test(a)) || pair.slice(i + 1) === '';
        if (gone) this.cookies.delete(name);
        else this.cookies.set(name, pair.slice(i + 1));
      }
    }
    return res;
  }

  /** Submits form (from parseForms) as a browser on Latchkey's origin would, with extra fields. */
  async submit(form, pageURL, extra = {}) {
    const body = new URLSearchParams([...form.fields]);
    for (const [k, v] of Object.entries(extra)) body.set(k, v);
    const action = new URL(form.action || pageURL, pageURL);
    return this.request(action, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: this.origin },
      body,
    });
  }

  /**
   * Follows url through login and consent (pressing the button decision)
   * until the browser leaves Latchkey. Returns {redirect: URL} for a
   * redirect to the app, or {formPost: html} when Latchkey answers with
   * its form_post page.
   */
  async authorize(url, decision = 'allow') {
    let next = new URL(url);
    for (let hop = 0; hop < 12; hop++) {
      const res = await this.request(next);
      if (res.status >= 300 && res.status < 400) {
        const loc = new URL(res.headers.get('location'), next);
        await res.arrayBuffer();
        if (loc.origin !== this.origin) return { redirect: loc };
        next = loc;
        continue;
      }
      const html = await res.text();
      if (res.status !== 200) throw new Error(`authorize: ${res.status} at ${next}\n${html.slice(0, 2000)}`);
      const forms = parseForms(html);
      const login = forms.find((f) => f.action === '/login');
      const consent = forms.find((f) => f.action === '/oauth/consent');
      if (/id="form-post"/.test(html)) return { formPost: html };
      let reply;
      if (login) {
        reply = await this.submit(login, next, { username: this.username, password: this.password });
      } else if (consent) {
        if (!consent.buttons.some((b) => b.name === 'decision' && b.value === decision)) {
          throw new Error(`consent page has no ${decision} button`);
        }
        reply = await this.submit(consent, next, { decision });
      } else {
        throw new Error(`authorize: no login or consent form at ${next}\n${html.slice(0, 2000)}`);
      }
      if (reply.status < 300 || reply.status >= 400) {
        const body = await reply.text();
        if (reply.status === 200 && /id="form-post"/.test(body)) return { formPost: body };
        throw new Error(`form at ${next} answered ${reply.status}\n${body.slice(0, 2000)}`);
      }
      const loc = new URL(reply.headers.get('location'), next);
      await reply.arrayBuffer();
      if (loc.origin !== this.origin) return { redirect: loc };
      next = loc;
    }
    throw new Error('authorize: too many hops');
  }

  /** Whether this person is signed in to Latchkey (GET /account is not sent to /login). */
  async signedIn() {
    const res = await this.request('/account');
    await res.arrayBuffer();
    if (res.status === 200) return true;
    const loc = res.headers.get('location') ?? '';
    if (res.status >= 300 && res.status < 400 && loc.startsWith('/login')) return false;
    throw new Error(`GET /account: ${res.status} ${loc}`);
  }
}
