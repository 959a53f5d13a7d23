// Passkeys (WebAuthn): registration on /account/two-factor, sign-in on
// /login (passwordless) and /login/two-factor (second factor). The server
// (web/passkey.go) sends the options as JSON with base64url binary fields
// and verifies the answer; this file only converts between JSON and the
// browser's ArrayBuffers. Buttons stay hidden without WebAuthn support.
(function () {
  "use strict";

  function b64urlToBuf(s) {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) s += "=";
    var bin = atob(s), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }

  function bufToB64url(buf) {
    var bytes = new Uint8Array(buf), bin = "";
    for (var i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function csrfToken(root) {
    var f = root.querySelector('input[name="csrf_token"]') || document.querySelector('input[name="csrf_token"]');
    return f ? f.value : "";
  }

  function post(url, token, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": token },
      body: body === undefined ? "{}" : JSON.stringify(body)
    }).then(function (resp) {
      return resp.json().then(function (data) {
        if (!resp.ok) throw new Error(data.message || "The request failed.");
        return data;
      });
    });
  }

  function credentialJSON(cred) {
    var r = cred.response, out = {
      id: cred.id, rawId: bufToB64url(cred.rawId), type: cred.type,
      authenticatorAttachment: cred.authenticatorAttachment || undefined,
      clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
      response: { clientDataJSON: bufToB64url(r.clientDataJSON) }
    };
    if (r.attestationObject) {
      out.response.attestationObject = bufToB64url(r.attestationObject);
      if (r.getTransports) out.response.transports = r.getTransports();
    } else {
      out.response.authenticatorData = bufToB64url(r.authenticatorData);
      out.response.signature = bufToB64url(r.signature);
      if (r.userHandle) out.response.userHandle = bufToB64url(r.userHandle);
    }
    return out;
  }

  function showError(root, err) {
    var p = root.querySelector("[data-passkey-error]");
    if (!p) return;
    p.textContent = err && err.name === "NotAllowedError" ? "The passkey request was cancelled or timed out." : (err && err.message) || "Something went wrong.";
    p.hidden = false;
  }

  function register(root, button) {
    var token = csrfToken(root), nameField = document.getElementById("passkey-name");
    button.disabled = true;
    post("/account/two-factor/passkeys/begin", token).then(function (opts) {
      var pk = opts.publicKey;
      pk.challenge = b64urlToBuf(pk.challenge);
      pk.user.id = b64urlToBuf(pk.user.id);
      (pk.excludeCredentials || []).forEach(function (c) { c.id = b64urlToBuf(c.id); });
      return navigator.credentials.create({ publicKey: pk });
    }).then(function (cred) {
      var name = nameField ? nameField.value : "";
      return post("/account/two-factor/passkeys/finish?name=" + encodeURIComponent(name), token, credentialJSON(cred));
    }).then(function (data) {
      window.location.assign(data.redirect);
    }).catch(function (err) {
      button.disabled = false;
      showError(root, err);
    });
  }

  function signIn(root, button) {
    var token = csrfToken(root), next = root.getAttribute("data-next") || "/";
    button.disabled = true;
    post("/login/passkey/begin", token).then(function (opts) {
      var pk = opts.publicKey;
      pk.challenge = b64urlToBuf(pk.challenge);
      (pk.allowCredentials || []).forEach(function (c) { c.id = b64urlToBuf(c.id); });
      return navigator.credentials.get({ publicKey: pk, mediation: opts.mediation || undefined });
    }).then(function (cred) {
      return post("/login/passkey/finish?next=" + encodeURIComponent(next), token, credentialJSON(cred));
    }).then(function (data) {
      window.location.assign(data.redirect);
    }).catch(function (err) {
      button.disabled = false;
      showError(root, err);
    });
  }

  if (!window.PublicKeyCredential || !navigator.credentials) return;
  document.querySelectorAll("[data-passkey-register]").forEach(function (root) {
    var button = root.querySelector("[data-passkey-button]"), note = root.querySelector("[data-passkey-unsupported]");
    if (!button) return;
    button.hidden = false;
    if (note) note.hidden = true;
    button.addEventListener("click", function () { register(root, button); });
  });
  document.querySelectorAll("[data-passkey-login]").forEach(function (root) {
    var button = root.querySelector("[data-passkey-button]");
    if (!button) return;
    button.hidden = false;
    button.addEventListener("click", function () { signIn(root, button); });
  });
})();
