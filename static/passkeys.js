// Passkeys (WebAuthn) in Tessera's pages: the one script that registers and uses them.
// Served from /static (the pages' CSP allows 'self' scripts and fetches only).
//
// The server sends options as JSON with binary values in base64url
// ({"ceremony": id, "publicKey": {...}, "mediation"?: ...}); this script turns them into
// what navigator.credentials wants, and the credential back into JSON the server reads.
//
// Forms use it declaratively:
//   <form method="post" action="/…/finish" data-passkey="register|authenticate"
//         data-options="/…/options">
//     <input type="hidden" name="csrf" …>
//     <input type="hidden" name="ceremony"> <input type="hidden" name="credential">
//     <p data-passkey-error hidden></p> …
//   </form>
// On submit the form's fields are posted to data-options, the browser asks for the
// passkey, and the form is submitted to its action with `ceremony` and `credential`.
// A form with data-passkey-conditional="true" (and data-passkey="authenticate") starts
// at page load with mediation "conditional": the browser offers passkeys in the
// autofill of an input with autocomplete="username webauthn".
//
// For other uses: window.TesseraPasskeys = { supported, conditionalSupported,
// register(options), authenticate(options, {conditional, signal}), run(form) }, where
// register and authenticate take the server's options and resolve to the credential's
// JSON (a string).
(function () {
  "use strict";

  function fromBase64url(value) {
    const base64 = value.replace(/-/g, "+").replace(/_/g, "/");
    const padded = base64 + "===".slice((base64.length + 3) % 4);
    const binary = atob(padded);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes.buffer;
  }

  function toBase64url(buffer) {
    const bytes = new Uint8Array(buffer);
    let binary = "";
    for (let i = 0; i < bytes.length; i++) binary += String.fromCharCode(bytes[i]);
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function descriptors(list) {
    return (list || []).map(function (d) {
      return Object.assign({}, d, { id: fromBase64url(d.id) });
    });
  }

  function creationOptions(publicKey) {
    const options = Object.assign({}, publicKey);
    options.challenge = fromBase64url(publicKey.challenge);
    options.user = Object.assign({}, publicKey.user, { id: fromBase64url(publicKey.user.id) });
    if (publicKey.excludeCredentials) options.excludeCredentials = descriptors(publicKey.excludeCredentials);
    return options;
  }

  function requestOptions(publicKey) {
    const options = Object.assign({}, publicKey);
    options.challenge = fromBase64url(publicKey.challenge);
    if (publicKey.allowCredentials) options.allowCredentials = descriptors(publicKey.allowCredentials);
    return options;
  }

  function credentialJSON(credential) {
    const r = credential.response;
    const response = { clientDataJSON: toBase64url(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = toBase64url(r.attestationObject);
      if (typeof r.getTransports === "function") response.transports = r.getTransports();
    } else {
      response.authenticatorData = toBase64url(r.authenticatorData);
      response.signature = toBase64url(r.signature);
      response.userHandle = r.userHandle ? toBase64url(r.userHandle) : null;
    }
    return JSON.stringify({
      id: credential.id,
      rawId: toBase64url(credential.rawId),
      type: credential.type,
      response: response,
      extensions: credential.getClientExtensionResults ? credential.getClientExtensionResults() : {},
    });
  }

  function supported() {
    return typeof window.PublicKeyCredential === "function" && !!navigator.credentials;
  }

  async function conditionalSupported() {
    return supported() && typeof PublicKeyCredential.isConditionalMediationAvailable === "function"
      && (await PublicKeyCredential.isConditionalMediationAvailable());
  }

  async function register(options) {
    const credential = await navigator.credentials.create({ publicKey: creationOptions(options.publicKey) });
    return credentialJSON(credential);
  }

  async function authenticate(options, settings) {
    const request = { publicKey: requestOptions(options.publicKey) };
    if (settings && settings.conditional) request.mediation = "conditional";
    if (settings && settings.signal) request.signal = settings.signal;
    const credential = await navigator.credentials.get(request);
    return credentialJSON(credential);
  }

  function showError(form, message) {
    const box = form.querySelector("[data-passkey-error]");
    if (box) {
      box.textContent = message;
      box.hidden = false;
    }
  }

  // The form's fields, without the ones this script fills.
  function formBody(form) {
    const body = new URLSearchParams();
    new FormData(form).forEach(function (value, name) {
      if (name !== "ceremony" && name !== "credential" && typeof value === "string") body.append(name, value);
    });
    return body;
  }

  async function fetchOptions(form) {
    const answer = await fetch(form.dataset.options, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: formBody(form),
    });
    const options = await answer.json().catch(function () { return { error: "The server did not answer." }; });
    if (!answer.ok || options.error) throw new Error(options.error || "The server refused.");
    return options;
  }

  async function run(form, conditional, signal) {
    const options = await fetchOptions(form);
    const credential = form.dataset.passkey === "register"
      ? await register(options)
      : await authenticate(options, { conditional: !!conditional, signal: signal });
    form.elements.ceremony.value = options.ceremony;
    form.elements.credential.value = credential;
    HTMLFormElement.prototype.submit.call(form);
  }

  function failure(form, error) {
    if (error && error.name === "NotAllowedError") {
      showError(form, "The passkey request was cancelled or timed out.");
    } else if (error && error.name === "InvalidStateError") {
      showError(form, "This device already holds a passkey for your account.");
    } else {
      showError(form, (error && error.message) || "The passkey could not be used.");
    }
  }

  function wire(form) {
    if (!supported()) {
      showError(form, "This browser does not support passkeys.");
      const button = form.querySelector("button[type=submit]");
      if (button) button.disabled = true;
      return;
    }
    // The conditional request started at load, if any: a browser runs one request at a
    // time, so the button's request aborts it first.
    let pending = null;
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (pending) {
        pending.abort();
        pending = null;
      }
      run(form, false).catch(function (error) { failure(form, error); });
    });
    if (form.dataset.passkeyConditional === "true") {
      conditionalSupported().then(function (available) {
        if (!available) return;
        pending = new AbortController();
        // A conditional request ends without a sign-in when the user types a password
        // instead, or presses the button: nothing to report.
        run(form, true, pending.signal).catch(function () {});
      });
    }
  }

  window.TesseraPasskeys = {
    supported: supported,
    conditionalSupported: conditionalSupported,
    register: register,
    authenticate: authenticate,
    run: function (form) { return run(form, false); },
  };

  document.querySelectorAll("form[data-passkey]").forEach(wire);
})();
