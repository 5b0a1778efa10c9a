// Passkeys (WebAuthn) for the second-factor pages: registers one, or signs in with one.
// The server makes the options and checks the answers (directory/passkeys.py); this file
// only carries bytes between it and the browser's authenticator.
(function () {
  "use strict";

  function toBytes(b64url) {
    const b64 = b64url.replace(/-/g, "+").replace(/_/g, "/");
    const raw = atob(b64 + "===".slice((b64.length + 3) % 4));
    return Uint8Array.from(raw, (c) => c.charCodeAt(0));
  }

  function toB64url(buffer) {
    const bytes = new Uint8Array(buffer);
    let raw = "";
    bytes.forEach((b) => { raw += String.fromCharCode(b); });
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function csrfToken(root) {
    const input = root.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  async function post(url, root, body) {
    const response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken(root) },
      body: JSON.stringify(body || {}),
    });
    const data = await response.json();
    if (!response.ok) {
      throw new Error((data.error && data.error.message) || "The passkey was not accepted.");
    }
    return data;
  }

  function credentialJson(credential) {
    const r = credential.response;
    const response = { clientDataJSON: toB64url(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = toB64url(r.attestationObject);
      response.transports = r.getTransports ? r.getTransports() : [];
    } else {
      response.authenticatorData = toB64url(r.authenticatorData);
      response.signature = toB64url(r.signature);
      if (r.userHandle) response.userHandle = toB64url(r.userHandle);
    }
    return {
      id: credential.id,
      rawId: toB64url(credential.rawId),
      type: credential.type,
      response: response,
      clientExtensionResults: credential.getClientExtensionResults(),
      authenticatorAttachment: credential.authenticatorAttachment || undefined,
    };
  }

  function show(root, text) {
    const out = root.querySelector("[data-passkey-status]");
    if (out) out.textContent = text;
  }

  function showCodes(root, codes) {
    const list = root.querySelector("[data-passkey-codes]");
    if (!list || !codes.length) return false;
    codes.forEach((code) => {
      const item = document.createElement("li");
      const text = document.createElement("code");
      text.textContent = code;
      item.appendChild(text);
      list.appendChild(item);
    });
    list.closest("[data-passkey-codes-box]").hidden = false;
    return true;
  }

  async function register(root) {
    const options = await post(root.dataset.optionsUrl, root);
    options.challenge = toBytes(options.challenge);
    options.user.id = toBytes(options.user.id);
    (options.excludeCredentials || []).forEach((c) => { c.id = toBytes(c.id); });
    const credential = await navigator.credentials.create({ publicKey: options });
    const nameInput = root.querySelector("[name=passkey_name]");
    const done = await post(root.dataset.finishUrl, root, {
      credential: credentialJson(credential),
      name: nameInput ? nameInput.value : "",
    });
    if (showCodes(root, done.recovery_codes)) {
      show(root, "Your passkey is registered. Save the recovery codes below, then continue.");
      const go = root.querySelector("[data-passkey-continue]");
      if (go) go.href = done.next;
    } else {
      window.location.assign(done.next);
    }
  }

  async function signIn(root) {
    const options = await post(root.dataset.optionsUrl, root);
    options.challenge = toBytes(options.challenge);
    (options.allowCredentials || []).forEach((c) => { c.id = toBytes(c.id); });
    const credential = await navigator.credentials.get({ publicKey: options });
    const done = await post(root.dataset.finishUrl, root, { credential: credentialJson(credential) });
    window.location.assign(done.next);
  }

  document.querySelectorAll("[data-passkey]").forEach((root) => {
    const button = root.querySelector("button[data-passkey-start]");
    if (!button) return;
    if (!window.PublicKeyCredential) {
      show(root, "This browser cannot use passkeys.");
      button.disabled = true;
      return;
    }
    button.addEventListener("click", async () => {
      button.disabled = true;
      show(root, "Follow your browser's prompt…");
      try {
        await (root.dataset.passkey === "register" ? register(root) : signIn(root));
      } catch (error) {
        show(root, error.message || String(error));
        button.disabled = false;
      }
    });
  });
})();
