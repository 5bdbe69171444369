// mfa.js: browser client for the mfa-axum JSON endpoints. No dependencies, no build step.
//
// Usage:
//   <meta name="csrf" content="…">   (or pass csrfToken explicitly)
//   <script type="module">
//     import { createClient, MfaError } from '/mfa/mfa.js';
//     const mfa = createClient({ base: '/mfa', csrfToken: () => document.querySelector('meta[name="csrf"]').content });
//     const view = await mfa.startChallenge();              // { factor, prompt, alternatives, ... }
//     try { await mfa.finishChallenge({ code: input.value, rememberDevice: true }); }
//     catch (e) { if (e instanceof MfaError && e.code === 'locked') wait(e.retryAfter); }
//   </script>
// Security keys: mfa.finishChallengeWithKey({ prompt: view.prompt }); passkeys: mfa.passwordless(),
// passkey autofill: mfa.passwordless({ conditional: true, signal }) on an
// <input autocomplete="username webauthn">; the offer after a sign-in: mfa.session().offer_passkey,
// then mfa.addPasskey() or mfa.dismissPasskeyOffer().

/** Default messages for errors raised in the browser (not by the server). */
const CLIENT_MESSAGES = {
  network: 'Could not reach the server. Check your connection and try again.',
  aborted: 'The request was cancelled.',
  http_error: 'Something went wrong. Please try again.',
  invalid_response: 'The server sent an unexpected answer.',
  invalid_prompt: 'The server did not send a security key request.',
  webauthn_cancelled: 'The security key request was cancelled or timed out.',
  webauthn_already_registered: 'This security key is already registered.',
  webauthn_unsupported: 'This browser or device does not support this kind of security key.',
  webauthn_failed: 'The security key could not be used. Please try again.',
};

/**
 * Error thrown by every client method.
 *
 * `code` is the server's stable machine code (e.g. `code_invalid`, `locked`,
 * `reauth_required`) or a client-side one: `network`, `aborted`, `http_error`,
 * `invalid_response`, `invalid_prompt`, `webauthn_cancelled`,
 * `webauthn_already_registered`, `webauthn_unsupported`, `webauthn_failed`.
 */
export class MfaError extends Error {
  /**
   * @param {string} code Stable machine-readable code.
   * @param {string} [message] Human-readable message (server's, or a default for client codes).
   * @param {{status?: number, retryAfter?: number|null, cause?: unknown, details?: object|null}} [init]
   *   `status`: HTTP status, 0 when no answer; `retryAfter`: seconds or null;
   *   `cause`: the original error; `details`: the full JSON error body (extra fields pass through).
   */
  constructor(code, message, { status = 0, retryAfter = null, cause, details = null } = {}) {
    super(message || CLIENT_MESSAGES[code] || code, cause === undefined ? undefined : { cause });
    this.name = 'MfaError';
    /** @type {string} */ this.code = code;
    /** @type {number} */ this.status = status;
    /** @type {number|null} */ this.retryAfter = retryAfter;
    /** @type {object|null} */ this.details = details;
  }
}

// ---------------------------------------------------------------- base64url

/**
 * Encode bytes as base64url without padding (the form webauthn-rs emits and expects).
 * @param {ArrayBuffer|ArrayBufferView} bytes
 * @returns {string}
 */
export function toBase64Url(bytes) {
  const view = bytes instanceof ArrayBuffer
    ? new Uint8Array(bytes)
    : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let binary = '';
  for (let i = 0; i < view.length; i += 0x8000) {
    binary += String.fromCharCode.apply(null, view.subarray(i, i + 0x8000));
  }
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/**
 * Decode base64url (padded or not) or standard base64 into a fresh ArrayBuffer.
 * @param {string} text
 * @returns {ArrayBuffer}
 * @throws {TypeError} when `text` is not valid base64/base64url.
 */
export function fromBase64Url(text) {
  if (typeof text !== 'string') throw new TypeError('fromBase64Url expects a string');
  let b64 = text.replace(/\s+/g, '').replace(/-/g, '+').replace(/_/g, '/').replace(/=+$/, '');
  if (b64.length % 4 === 1 || /[^A-Za-z0-9+/]/.test(b64)) throw new TypeError('invalid base64url');
  b64 += '='.repeat((4 - (b64.length % 4)) % 4);
  const binary = atob(b64);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out.buffer;
}

// ------------------------------------------------------- WebAuthn options

const decodeIfString = (value) => (typeof value === 'string' ? fromBase64Url(value) : value);

function decodeDescriptors(list) {
  return Array.isArray(list) ? list.map((d) => ({ ...d, id: decodeIfString(d.id) })) : list;
}

function decodeExtensions(ext) {
  // webauthn-rs' own wasm glue turns hmacGetSecret.output1/2 into bytes; do the same.
  if (!ext || !ext.hmacGetSecret) return ext;
  const h = ext.hmacGetSecret;
  const hmacGetSecret = { ...h, output1: decodeIfString(h.output1) };
  if (h.output2 != null) hmacGetSecret.output2 = decodeIfString(h.output2);
  return { ...ext, hmacGetSecret };
}

/**
 * Turn webauthn-rs `CreationChallengeResponse` JSON (`{ publicKey: {...} }`) into
 * options for `navigator.credentials.create`: `challenge`, `user.id` and
 * `excludeCredentials[].id` become ArrayBuffers. The input is not modified.
 * @param {{publicKey: object}} options
 * @returns {{publicKey: object}}
 */
export function decodeCreationOptions(options) {
  const pk = options.publicKey;
  const publicKey = { ...pk, challenge: decodeIfString(pk.challenge), user: { ...pk.user, id: decodeIfString(pk.user.id) } };
  if (pk.excludeCredentials) publicKey.excludeCredentials = decodeDescriptors(pk.excludeCredentials);
  if (pk.extensions) publicKey.extensions = decodeExtensions(pk.extensions);
  return { ...options, publicKey };
}

/**
 * Turn webauthn-rs `RequestChallengeResponse` JSON (`{ publicKey: {...}, mediation? }`)
 * into options for `navigator.credentials.get`: `challenge` and
 * `allowCredentials[].id` become ArrayBuffers. The input is not modified.
 * @param {{publicKey: object, mediation?: string}} options
 * @returns {{publicKey: object, mediation?: string}}
 */
export function decodeRequestOptions(options) {
  const pk = options.publicKey;
  const publicKey = { ...pk, challenge: decodeIfString(pk.challenge) };
  if (pk.allowCredentials) publicKey.allowCredentials = decodeDescriptors(pk.allowCredentials);
  if (pk.extensions) publicKey.extensions = decodeExtensions(pk.extensions);
  return { ...options, publicKey };
}

// ---------------------------------------------------- WebAuthn credentials

const isBinary = (v) => v instanceof ArrayBuffer || ArrayBuffer.isView(v);

/** Deep-copy extension outputs, turning any bytes (prf, largeBlob, hmac…) into base64url. */
function encodeExtensionOutputs(value) {
  if (isBinary(value)) return toBase64Url(value);
  if (Array.isArray(value)) return value.map(encodeExtensionOutputs);
  if (value && typeof value === 'object') {
    const out = {};
    for (const [k, v] of Object.entries(value)) out[k] = encodeExtensionOutputs(v);
    return out;
  }
  return value;
}

/**
 * Serialise a `PublicKeyCredential` into the JSON webauthn-rs 0.6 deserialises:
 * `RegisterPublicKeyCredential` when the response has `attestationObject` (create),
 * otherwise `PublicKeyCredential` (get). Bytes are base64url without padding.
 * @param {PublicKeyCredential} credential
 * @returns {object}
 */
export function encodeCredential(credential) {
  const r = credential.response;
  const extensions = typeof credential.getClientExtensionResults === 'function'
    ? encodeExtensionOutputs(credential.getClientExtensionResults()) : {};
  const base = {
    id: typeof credential.id === 'string' && credential.id ? credential.id : toBase64Url(credential.rawId),
    rawId: toBase64Url(credential.rawId),
    type: credential.type || 'public-key',
    extensions,
  };
  if (r.attestationObject) {
    const response = { attestationObject: toBase64Url(r.attestationObject), clientDataJSON: toBase64Url(r.clientDataJSON) };
    if (typeof r.getTransports === 'function') response.transports = r.getTransports();
    return { ...base, response };
  }
  return {
    ...base,
    response: {
      authenticatorData: toBase64Url(r.authenticatorData),
      clientDataJSON: toBase64Url(r.clientDataJSON),
      signature: toBase64Url(r.signature),
      userHandle: r.userHandle && r.userHandle.byteLength ? toBase64Url(r.userHandle) : null,
    },
  };
}

/** Map a DOMException from navigator.credentials to an MfaError. */
function webauthnError(e) {
  if (e instanceof MfaError) return e;
  const name = e && e.name;
  const code = name === 'NotAllowedError' ? 'webauthn_cancelled'
    : name === 'InvalidStateError' ? 'webauthn_already_registered'
    : name === 'NotSupportedError' || name === 'SecurityError' ? 'webauthn_unsupported'
    : name === 'AbortError' ? 'aborted'
    : 'webauthn_failed';
  return new MfaError(code, undefined, { cause: e });
}

function credentialsApi() {
  const nav = globalThis.navigator;
  if (typeof globalThis.PublicKeyCredential !== 'function' || !nav || !nav.credentials) {
    throw new MfaError('webauthn_unsupported');
  }
  return nav.credentials;
}

/** Accept a prompt `{ type, options: { publicKey } }` (or the bare options) and decode it. */
function promptOptions(prompt, type) {
  const options = prompt && (prompt.options || (prompt.publicKey ? prompt : null));
  if (!options || !options.publicKey || (prompt.type && prompt.type !== type)) {
    throw new MfaError('invalid_prompt');
  }
  try {
    return type === 'credential_creation' ? decodeCreationOptions(options) : decodeRequestOptions(options);
  } catch (e) {
    throw new MfaError('invalid_prompt', undefined, { cause: e }); // malformed base64url from the server
  }
}

/**
 * Whether the browser can show passkeys in the username field's autofill
 * (`mediation: 'conditional'`). Never throws; false outside browsers.
 * @returns {Promise<boolean>}
 */
export async function conditionalMediationAvailable() {
  const PKC = globalThis.PublicKeyCredential;
  if (typeof PKC !== 'function' || typeof PKC.isConditionalMediationAvailable !== 'function') return false;
  try {
    return (await PKC.isConditionalMediationAvailable()) === true;
  } catch {
    return false;
  }
}

// ------------------------------------------------------------------ client

function defaultCsrfToken() {
  const meta = globalThis.document && globalThis.document.querySelector('meta[name="csrf-token"],meta[name="csrf"]');
  return meta ? meta.content : undefined;
}

async function readJson(response) {
  const text = await response.text();
  if (!text) return null;
  return JSON.parse(text);
}

function retryAfterOf(body, response) {
  if (body && typeof body.retry_after === 'number') return body.retry_after;
  const header = response.headers && response.headers.get && response.headers.get('retry-after');
  return header && /^\d+$/.test(header.trim()) ? Number(header) : null;
}

/**
 * Create a client for the mfa-axum endpoints.
 *
 * Every method returns the server's JSON answer (null for an empty body) and
 * throws {@link MfaError} on failure. Methods taking `{ signal }` can be aborted.
 *
 * @param {{base?: string, csrfToken?: string|(() => string|Promise<string>)}} [config]
 *   `base`: URL prefix of the endpoints (default `/mfa`); `csrfToken`: the token
 *   or a function returning it, sent as `x-csrf-token` (default: the `content` of
 *   `<meta name="csrf-token">` or `<meta name="csrf">` if present).
 */
export function createClient({ base = '/mfa', csrfToken } = {}) {
  const prefix = base.replace(/\/+$/, '');
  const id = (value) => encodeURIComponent(String(value));

  async function request(method, path, body, signal) {
    const token = typeof csrfToken === 'function' ? await csrfToken()
      : csrfToken !== undefined ? csrfToken : defaultCsrfToken();
    const headers = { 'content-type': 'application/json' };
    if (token != null) headers['x-csrf-token'] = String(token);
    const init = { method, credentials: 'same-origin', headers };
    if (body !== undefined) init.body = JSON.stringify(body);
    if (signal) init.signal = signal;
    let response;
    try {
      response = await globalThis.fetch(prefix + path, init);
    } catch (e) {
      throw new MfaError(e && e.name === 'AbortError' ? 'aborted' : 'network', undefined, { cause: e });
    }
    let answer;
    try {
      answer = await readJson(response);
    } catch (e) {
      if (response.ok) throw new MfaError('invalid_response', undefined, { status: response.status, cause: e });
      answer = null;
    }
    if (response.ok) return answer;
    const valid = answer && typeof answer === 'object' && typeof answer.code === 'string';
    throw new MfaError(valid ? answer.code : 'http_error', valid ? answer.message : undefined, {
      status: response.status,
      retryAfter: retryAfterOf(answer, response),
      details: valid ? answer : null,
    });
  }

  async function getCredential(req, mediation, signal) {
    const api = credentialsApi();
    delete req.mediation;
    if (mediation) req.mediation = mediation;
    if (signal) req.signal = signal;
    try {
      return encodeCredential(await api.get(req));
    } catch (e) {
      throw webauthnError(e);
    }
  }

  async function finishWithKey(factorId, prompt, signal) {
    const api = credentialsApi();
    const req = promptOptions(prompt, 'credential_creation');
    if (signal) req.signal = signal;
    let credential;
    try {
      credential = encodeCredential(await api.create(req));
    } catch (e) {
      throw webauthnError(e);
    }
    return request('POST', `/factors/${id(factorId)}/finish`, { credential }, signal);
  }

  return Object.freeze({
    /**
     * Low-level escape hatch: any endpoint, same headers and error handling.
     * @param {string} method @param {string} path relative to `base` @param {object} [body]
     * @param {AbortSignal} [signal]
     */
    request,

    // ---- sign-in second step
    /** POST /signin/challenge: start (or switch to) a factor's challenge. @param {string} [factorId] */
    startChallenge: (factorId) => request('POST', '/signin/challenge', factorId == null ? {} : { factor: factorId }),
    /**
     * POST /signin/step-up: challenge a factor for the action the server refused with
     * `step_up_required`; finish it like any challenge, then retry the action.
     */
    stepUp: (factorId) => request('POST', '/signin/step-up', factorId == null ? {} : { factor: factorId }),
    /** POST /signin/challenge/resend: send the SMS/e-mail code again. */
    resendChallenge: () => request('POST', '/signin/challenge/resend', {}),
    /** POST /signin/challenge/finish with a typed code. @param {{code: string, rememberDevice?: boolean}} args */
    finishChallenge: ({ code, rememberDevice = false }) =>
      request('POST', '/signin/challenge/finish', { code, remember_device: !!rememberDevice }),
    /**
     * Run the security key / passkey challenge from the challenge view's `prompt`
     * and POST the assertion to /signin/challenge/finish.
     * @param {{prompt: object, rememberDevice?: boolean, signal?: AbortSignal}} args
     */
    async finishChallengeWithKey({ prompt, rememberDevice = false, signal }) {
      const options = promptOptions(prompt, 'credential_request');
      const credential = await getCredential(options, options.mediation, signal);
      return request('POST', '/signin/challenge/finish', { credential, remember_device: !!rememberDevice }, signal);
    },
    /** POST /signin/recovery-code. @param {string} code */
    useRecoveryCode: (code) => request('POST', '/signin/recovery-code', { code }),
    /**
     * POST /signin/temporary-access: sign in with the temporary access code an administrator
     * issued (it works once; a user with no factor left may then add one). @param {string} code
     */
    useTemporaryAccess: (code) => request('POST', '/signin/temporary-access', { code }),

    // ---- passwordless (passkeys)
    /**
     * Sign in with a passkey: /signin/passwordless/start, navigator.credentials.get,
     * /signin/passwordless/finish. With `conditional`, the start asks for
     * `{ mediation: 'conditional' }` and the browser offers passkeys in autofill
     * (`<input autocomplete="username webauthn">`); throws `webauthn_unsupported` where
     * that is unavailable. Abort via `signal` (before a password sign-in, or a button's
     * own passkey request).
     * @param {{conditional?: boolean, signal?: AbortSignal}} [opts]
     * @returns {Promise<object>} the sign-in answer, e.g. `{ complete: true, next: "/", csrf_token, offer_passkey: false }`
     */
    async passwordless({ conditional = false, signal } = {}) {
      credentialsApi();
      if (conditional && !(await conditionalMediationAvailable())) throw new MfaError('webauthn_unsupported');
      const start = await request('POST', '/signin/passwordless/start', conditional ? { mediation: 'conditional' } : {}, signal);
      const options = promptOptions(start && start.prompt, 'credential_request');
      const credential = await getCredential(options, conditional ? 'conditional' : undefined, signal);
      return request('POST', '/signin/passwordless/finish', { credential }, signal);
    },

    // ---- the session, and the passkey offer after a sign-in
    /**
     * GET /session: `{ user, complete, first_step, second_step, assurance, remembered_device,
     * offer_passkey }`.
     */
    session: () => request('GET', '/session'),
    /** POST /session/passkey-offer/dismiss: "Not now", for the rest of the session. */
    dismissPasskeyOffer: () => request('POST', '/session/passkey-offer/dismiss', {}),
    /**
     * Add a passkey in one step (the offer's button): POST /factors `{ kind: 'passkey' }`,
     * navigator.credentials.create, POST /factors/{id}/finish. Answers the new factor. If the
     * browser or the server refuses, the unfinished passkey is removed and the error thrown
     * (`reauth_required` once the sign-in is no longer recent enough).
     * @param {{label?: string, signal?: AbortSignal}} [opts] `label`: a name (the service's default otherwise)
     * @returns {Promise<object>} the passkey, `{ id, kind: 'passkey', label, status: 'active', ... }`
     */
    async addPasskey({ label, signal } = {}) {
      credentialsApi();
      const start = await request('POST', '/factors', { kind: 'passkey', label }, signal);
      try {
        return await finishWithKey(start.factor.id, start.prompt, signal);
      } catch (e) {
        await request('DELETE', `/factors/${id(start.factor.id)}`).catch(() => {});
        throw e;
      }
    },

    // ---- security page
    /** GET /factors. */
    listFactors: () => request('GET', '/factors'),
    /**
     * POST /factors: start enrolling a factor; answers `{ factor, prompt, expires_at }`.
     * @param {{kind: string, label?: string, destination?: string, replaces?: string}} args
     */
    startEnrolment: ({ kind, label, destination, replaces }) =>
      request('POST', '/factors', { kind, label, destination, replaces }),
    /** POST /factors/{id}/finish with the code shown/sent. @param {string} factorId @param {{code: string}} args */
    finishEnrolment: (factorId, { code }) => request('POST', `/factors/${id(factorId)}/finish`, { code }),
    /**
     * Create a security key / passkey from the enrolment `prompt` and POST it to /factors/{id}/finish.
     * @param {string} factorId @param {object} prompt `{ type: "credential_creation", options }`
     * @param {{signal?: AbortSignal}} [opts]
     */
    finishEnrolmentWithKey: (factorId, prompt, { signal } = {}) => finishWithKey(factorId, prompt, signal),
    /** POST /factors/{id}/resend. @param {string} factorId */
    resendEnrolment: (factorId) => request('POST', `/factors/${id(factorId)}/resend`, {}),
    /** PATCH /factors/{id}. @param {string} factorId @param {string} label */
    renameFactor: (factorId, label) => request('PATCH', `/factors/${id(factorId)}`, { label }),
    /** POST /factors/{id}/preferred. @param {string} factorId */
    setPreferred: (factorId) => request('POST', `/factors/${id(factorId)}/preferred`, {}),
    /** DELETE /factors/{id}. @param {string} factorId */
    removeFactor: (factorId) => request('DELETE', `/factors/${id(factorId)}`),
    /** GET /recovery-codes (status, e.g. how many remain). */
    recoveryCodes: () => request('GET', '/recovery-codes'),
    /** POST /recovery-codes: generate the first set. */
    generateRecoveryCodes: () => request('POST', '/recovery-codes', {}),
    /** POST /recovery-codes/regenerate: replace the set. */
    regenerateRecoveryCodes: () => request('POST', '/recovery-codes/regenerate', {}),
    /** GET /devices (remembered devices). */
    listDevices: () => request('GET', '/devices'),
    /** DELETE /devices/{id}. @param {string} deviceId */
    revokeDevice: (deviceId) => request('DELETE', `/devices/${id(deviceId)}`),
    /** DELETE /devices: forget every remembered device. */
    revokeAllDevices: () => request('DELETE', '/devices'),
    /** POST /reauth with the account password (never logged). @param {string} password */
    reauthenticate: (password) => request('POST', '/reauth', { password }),

    // ---- help desk (for an administrator the host's check allows; others get `forbidden`)
    /** GET /admin/users?query=: the MFA status of each user the host's directory finds. @param {string} query */
    findUsers: (query) => request('GET', `/admin/users?query=${encodeURIComponent(String(query))}`),
    /** GET /admin/users/{user}: factors (failures, locked until), recovery codes left, ... @param {string} user */
    userStatus: (user) => request('GET', `/admin/users/${id(user)}`),
    /** POST /admin/users/{user}/reset: removes every factor, code and remembered device. @param {string} user */
    resetUser: (user) => request('POST', `/admin/users/${id(user)}/reset`, {}),
    /**
     * POST /admin/users/{user}/unlock: clears failure counters, of one factor (`{ factor }`),
     * one family (`{ scope: 'recovery_codes' }`, ...) or all (`{}`).
     * @param {string} user @param {{factor?: string, scope?: string}} [what]
     */
    unlockUser: (user, { factor, scope } = {}) => request('POST', `/admin/users/${id(user)}/unlock`, { factor, scope }),
    /**
     * POST /admin/users/{user}/temporary-access: `{ code, expires_at, ... }`, the code shown once.
     * @param {string} user @param {{lifetimeSecs?: number}} [opts]
     */
    issueTemporaryAccess: (user, { lifetimeSecs } = {}) =>
      request('POST', `/admin/users/${id(user)}/temporary-access`, { lifetime_secs: lifetimeSecs }),
    /** DELETE /admin/users/{user}/temporary-access: `{ revoked }`. @param {string} user */
    revokeTemporaryAccess: (user) => request('DELETE', `/admin/users/${id(user)}/temporary-access`),
    /** GET /admin/coverage: users per factor kind, without one, with few codes left. @param {{fewCodes?: number}} [opts] */
    coverage: ({ fewCodes } = {}) => request('GET', fewCodes == null ? '/admin/coverage' : `/admin/coverage?few_codes=${Number(fewCodes)}`),
  });
}
