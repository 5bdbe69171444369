// Run: node --test mfa-axum/assets/mfa.test.mjs   (Node 20+, no npm packages)
import { test, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import {
  MfaError, createClient, toBase64Url, fromBase64Url, decodeCreationOptions,
  decodeRequestOptions, encodeCredential, conditionalMediationAvailable,
} from './mfa.js';

const bytes = (...xs) => new Uint8Array(xs).buffer;
const same = (buf, arr) => assert.deepEqual([...new Uint8Array(buf)], arr);

// ---- global stubs (fetch, navigator, PublicKeyCredential), restored after each test
const saved = {};
let calls;
beforeEach(() => {
  for (const k of ['fetch', 'navigator', 'PublicKeyCredential']) saved[k] = Object.getOwnPropertyDescriptor(globalThis, k);
  calls = [];
});
afterEach(() => {
  for (const [k, d] of Object.entries(saved)) {
    if (d) Object.defineProperty(globalThis, k, d); else delete globalThis[k];
  }
});
function setGlobal(name, value) {
  Object.defineProperty(globalThis, name, { value, configurable: true, writable: true });
}
/** fetch stub answering with `answers` in order (each a Response or a function (url, init) → Response). */
function stubFetch(...answers) {
  setGlobal('fetch', async (url, init) => {
    calls.push({ url, init, body: init.body === undefined ? undefined : JSON.parse(init.body) });
    const a = answers.shift();
    return typeof a === 'function' ? a(url, init) : a;
  });
}
const json = (value, status = 200, headers = {}) =>
  new Response(JSON.stringify(value), { status, headers: { 'content-type': 'application/json', ...headers } });
function stubWebAuthn({ conditional = true, get, create } = {}) {
  const PKC = function PublicKeyCredential() {};
  PKC.isConditionalMediationAvailable = async () => conditional;
  setGlobal('PublicKeyCredential', PKC);
  setGlobal('navigator', { credentials: { get, create } });
}

// ---- fake credentials
const fakeAssertion = (userHandle = bytes(7, 7)) => ({
  id: 'AQID', rawId: bytes(1, 2, 3), type: 'public-key',
  getClientExtensionResults: () => ({ appid: false }),
  response: { authenticatorData: bytes(9), clientDataJSON: new TextEncoder().encode('{"x":1}').buffer, signature: bytes(0xfb, 0xff), userHandle },
});
const fakeAttestation = () => ({
  id: 'AQID', rawId: bytes(1, 2, 3), type: 'public-key',
  getClientExtensionResults: () => ({ credProps: { rk: true }, prf: { results: { first: bytes(0xff) } } }),
  response: { attestationObject: bytes(0xa1, 0x00), clientDataJSON: bytes(0x7b, 0x7d), getTransports: () => ['usb', 'nfc'] },
});
const requestOptions = {
  publicKey: {
    challenge: '-_8', rpId: 'example.com', timeout: 60000, userVerification: 'preferred',
    allowCredentials: [{ type: 'public-key', id: 'AQID', transports: ['usb'] }],
  },
  mediation: 'conditional',
};
const creationOptions = {
  publicKey: {
    rp: { id: 'example.com', name: 'Example' },
    user: { id: 'AAEC', name: 'ann@example.com', displayName: 'Ann' },
    challenge: 'qrs', pubKeyCredParams: [{ type: 'public-key', alg: -7 }], timeout: 60000,
    excludeCredentials: [{ type: 'public-key', id: 'BAUG' }],
    authenticatorSelection: { residentKey: 'discouraged', requireResidentKey: false, userVerification: 'preferred' },
    attestation: 'none', extensions: { credProps: true },
  },
};

// ---- base64url
test('base64url round trips for every length and byte value', () => {
  for (let n = 0; n < 70; n++) {
    const input = Uint8Array.from({ length: n }, (_, i) => (i * 37 + n * 11) & 0xff);
    const text = toBase64Url(input);
    assert.match(text, /^[A-Za-z0-9_-]*$/);
    same(fromBase64Url(text), [...input]);
  }
  const all = Uint8Array.from({ length: 256 }, (_, i) => i);
  same(fromBase64Url(toBase64Url(all.buffer)), [...all]);
  const big = new Uint8Array(100000).fill(0xfe); // crosses the chunking boundary
  assert.equal(new Uint8Array(fromBase64Url(toBase64Url(big))).length, 100000);
});

test('base64url matches known vectors and accepts padded / standard base64', () => {
  assert.equal(toBase64Url(bytes(0xfb, 0xff)), '-_8');
  assert.equal(toBase64Url(new TextEncoder().encode('hello')), 'aGVsbG8');
  assert.equal(toBase64Url(new Uint8Array([0, 1, 2, 3]).subarray(1, 3)), 'AQI'); // views honour offsets
  same(fromBase64Url('-_8'), [0xfb, 0xff]);
  same(fromBase64Url('-_8='), [0xfb, 0xff]);
  same(fromBase64Url('+/8='), [0xfb, 0xff]);
  same(fromBase64Url('+/8'), [0xfb, 0xff]);
  same(fromBase64Url(''), []);
  assert.ok(fromBase64Url('AQID') instanceof ArrayBuffer);
  assert.throws(() => fromBase64Url('a*b'), TypeError);
  assert.throws(() => fromBase64Url('A'), TypeError);
});

// ---- options decoding
test('request options: challenge and allowCredentials ids become ArrayBuffers', () => {
  const original = structuredClone(requestOptions);
  const out = decodeRequestOptions(requestOptions);
  assert.ok(out.publicKey.challenge instanceof ArrayBuffer);
  same(out.publicKey.challenge, [0xfb, 0xff]);
  assert.ok(out.publicKey.allowCredentials[0].id instanceof ArrayBuffer);
  same(out.publicKey.allowCredentials[0].id, [1, 2, 3]);
  assert.deepEqual(out.publicKey.allowCredentials[0].transports, ['usb']);
  assert.equal(out.publicKey.rpId, 'example.com');
  assert.equal(out.publicKey.userVerification, 'preferred');
  assert.equal(out.mediation, 'conditional');
  assert.deepEqual(requestOptions, original, 'input is not mutated');
});

test('creation options: challenge, user.id and excludeCredentials ids become ArrayBuffers', () => {
  const original = structuredClone(creationOptions);
  const { publicKey } = decodeCreationOptions(creationOptions);
  assert.ok(publicKey.challenge instanceof ArrayBuffer);
  assert.ok(publicKey.user.id instanceof ArrayBuffer);
  same(publicKey.user.id, [0, 1, 2]);
  assert.equal(publicKey.user.name, 'ann@example.com');
  assert.equal(publicKey.user.displayName, 'Ann');
  same(publicKey.excludeCredentials[0].id, [4, 5, 6]);
  assert.equal(typeof publicKey.rp.id, 'string');
  assert.deepEqual(publicKey.pubKeyCredParams, [{ type: 'public-key', alg: -7 }]);
  assert.deepEqual(publicKey.extensions, { credProps: true });
  assert.deepEqual(creationOptions, original, 'input is not mutated');
});

// ---- credential encoding
test('assertion encodes to webauthn-rs PublicKeyCredential JSON', () => {
  const out = encodeCredential(fakeAssertion());
  assert.deepEqual(out, {
    id: 'AQID', rawId: 'AQID', type: 'public-key', extensions: { appid: false },
    response: { authenticatorData: 'CQ', clientDataJSON: 'eyJ4IjoxfQ', signature: '-_8', userHandle: 'Bwc' },
  });
  assert.equal(encodeCredential(fakeAssertion(null)).response.userHandle, null);
  assert.equal(encodeCredential(fakeAssertion(bytes())).response.userHandle, null);
});

test('attestation encodes to webauthn-rs RegisterPublicKeyCredential JSON', () => {
  const out = encodeCredential(fakeAttestation());
  assert.deepEqual(out, {
    id: 'AQID', rawId: 'AQID', type: 'public-key',
    extensions: { credProps: { rk: true }, prf: { results: { first: '_w' } } },
    response: { attestationObject: 'oQA', clientDataJSON: 'e30', transports: ['usb', 'nfc'] },
  });
  const noTransports = fakeAttestation();
  delete noTransports.response.getTransports;
  assert.equal('transports' in encodeCredential(noTransports).response, false);
});

// ---- HTTP layer
test('non-2xx JSON answer becomes MfaError with code, status, retryAfter, message', async () => {
  stubFetch(json({ code: 'locked', message: 'Too many attempts.', retry_after: 30 }, 429));
  const mfa = createClient({ csrfToken: 't' });
  await assert.rejects(mfa.finishChallenge({ code: '123456' }), (e) => {
    assert.ok(e instanceof MfaError && e instanceof Error);
    assert.equal(e.name, 'MfaError');
    assert.equal(e.code, 'locked');
    assert.equal(e.status, 429);
    assert.equal(e.retryAfter, 30);
    assert.equal(e.message, 'Too many attempts.');
    return true;
  });
  assert.deepEqual(calls[0].body, { code: '123456', remember_device: false });
});

test('retry_after null falls back to the Retry-After header; non-JSON error → http_error', async () => {
  stubFetch(json({ code: 'rate_limited', message: 'Slow down', retry_after: null }, 429, { 'retry-after': '12' }),
    new Response('<h1>Bad gateway</h1>', { status: 502 }));
  const mfa = createClient({ csrfToken: 't' });
  await assert.rejects(mfa.resendChallenge(), (e) => e.code === 'rate_limited' && e.retryAfter === 12);
  await assert.rejects(mfa.listFactors(), (e) => e.code === 'http_error' && e.status === 502 && e.retryAfter === null);
});

test('CSRF token is sent from a string, with same-origin credentials and JSON body', async () => {
  stubFetch(json({ factor: { id: 'f1' } }));
  const mfa = createClient({ base: '/auth/mfa/', csrfToken: 'tok-1' });
  const view = await mfa.startChallenge('f1');
  assert.deepEqual(view, { factor: { id: 'f1' } });
  const { url, init, body } = calls[0];
  assert.equal(url, '/auth/mfa/signin/challenge');
  assert.equal(init.method, 'POST');
  assert.equal(init.credentials, 'same-origin');
  assert.equal(init.headers['x-csrf-token'], 'tok-1');
  assert.equal(init.headers['content-type'], 'application/json');
  assert.deepEqual(body, { factor: 'f1' });
});

test('CSRF token is read from a function on every request', async () => {
  let n = 0;
  stubFetch(json({ factors: [] }), new Response(null, { status: 204 }));
  const mfa = createClient({ csrfToken: () => `tok-${++n}` });
  await mfa.listFactors();
  assert.equal(await mfa.removeFactor('a/b'), null); // 204 → null
  assert.equal(calls[0].init.headers['x-csrf-token'], 'tok-1');
  assert.equal(calls[0].init.method, 'GET');
  assert.equal(calls[0].init.body, undefined, 'GET has no body');
  assert.equal(calls[1].init.headers['x-csrf-token'], 'tok-2');
  assert.equal(calls[1].url, '/mfa/factors/a%2Fb');
  assert.equal(calls[1].init.method, 'DELETE');
});

test('endpoint paths and bodies', async () => {
  const ok = () => json({});
  stubFetch(...Array.from({ length: 12 }, () => ok));
  const mfa = createClient({ csrfToken: 't' });
  await mfa.useRecoveryCode('abcd-efgh');
  await mfa.startEnrolment({ kind: 'totp', label: 'Phone' });
  await mfa.finishEnrolment('f1', { code: '1' });
  await mfa.resendEnrolment('f1');
  await mfa.renameFactor('f1', 'New');
  await mfa.setPreferred('f1');
  await mfa.recoveryCodes();
  await mfa.generateRecoveryCodes();
  await mfa.regenerateRecoveryCodes();
  await mfa.revokeDevice('d1');
  await mfa.revokeAllDevices();
  await mfa.reauthenticate('pw');
  assert.deepEqual(calls.map((c) => `${c.init.method} ${c.url} ${JSON.stringify(c.body)}`), [
    'POST /mfa/signin/recovery-code {"code":"abcd-efgh"}',
    'POST /mfa/factors {"kind":"totp","label":"Phone"}',
    'POST /mfa/factors/f1/finish {"code":"1"}',
    'POST /mfa/factors/f1/resend {}',
    'PATCH /mfa/factors/f1 {"label":"New"}',
    'POST /mfa/factors/f1/preferred {}',
    'GET /mfa/recovery-codes undefined',
    'POST /mfa/recovery-codes {}',
    'POST /mfa/recovery-codes/regenerate {}',
    'DELETE /mfa/devices/d1 undefined',
    'DELETE /mfa/devices undefined',
    'POST /mfa/reauth {"password":"pw"}',
  ]);
});

test('temporary access and help-desk paths and bodies', async () => {
  stubFetch(...Array.from({ length: 10 }, () => () => json({})));
  const mfa = createClient({ csrfToken: 't' });
  await mfa.useTemporaryAccess('ABCD-EFGH-JKLM-NPQR-STUV');
  await mfa.findUsers('ann smith');
  await mfa.userStatus('ann/1');
  await mfa.resetUser('ann');
  await mfa.unlockUser('ann');
  await mfa.unlockUser('ann', { factor: 'f1' });
  await mfa.issueTemporaryAccess('ann', { lifetimeSecs: 600 });
  await mfa.revokeTemporaryAccess('ann');
  await mfa.coverage();
  await mfa.coverage({ fewCodes: 5 });
  assert.deepEqual(calls.map((c) => `${c.init.method} ${c.url} ${JSON.stringify(c.body)}`), [
    'POST /mfa/signin/temporary-access {"code":"ABCD-EFGH-JKLM-NPQR-STUV"}',
    'GET /mfa/admin/users?query=ann%20smith undefined',
    'GET /mfa/admin/users/ann%2F1 undefined',
    'POST /mfa/admin/users/ann/reset {}',
    'POST /mfa/admin/users/ann/unlock {}',
    'POST /mfa/admin/users/ann/unlock {"factor":"f1"}',
    'POST /mfa/admin/users/ann/temporary-access {"lifetime_secs":600}',
    'DELETE /mfa/admin/users/ann/temporary-access undefined',
    'GET /mfa/admin/coverage undefined',
    'GET /mfa/admin/coverage?few_codes=5 undefined',
  ]);
});

test('network failure → code network (status 0), abort → code aborted', async () => {
  setGlobal('fetch', async () => { throw new TypeError('Failed to fetch'); });
  const mfa = createClient({ csrfToken: 't' });
  await assert.rejects(mfa.listDevices(), (e) => {
    assert.equal(e.code, 'network');
    assert.equal(e.status, 0);
    assert.equal(e.retryAfter, null);
    assert.ok(e.cause instanceof TypeError);
    return true;
  });
  setGlobal('fetch', async () => { throw new DOMException('aborted', 'AbortError'); });
  await assert.rejects(mfa.listDevices(), (e) => e.code === 'aborted');
});

// ---- WebAuthn flows
test('conditional mediation unavailable → webauthn_unsupported, nothing fetched', async () => {
  stubWebAuthn({ conditional: false, get: async () => assert.fail('get must not run') });
  stubFetch();
  assert.equal(await conditionalMediationAvailable(), false);
  await assert.rejects(createClient({ csrfToken: 't' }).passwordless({ conditional: true }),
    (e) => e instanceof MfaError && e.code === 'webauthn_unsupported');
  assert.equal(calls.length, 0);
});

test('missing PublicKeyCredential → webauthn_unsupported; helper is false', async () => {
  delete globalThis.PublicKeyCredential;
  assert.equal(await conditionalMediationAvailable(), false);
  await assert.rejects(createClient({ csrfToken: 't' }).passwordless(), (e) => e.code === 'webauthn_unsupported');
});

test('passwordless (conditional) runs get with decoded options and posts the encoded credential', async () => {
  let seen;
  stubWebAuthn({ get: async (opts) => { seen = opts; return fakeAssertion(); } });
  stubFetch(json({ prompt: { type: 'credential_request', options: requestOptions } }), json({ signed_in: true, next: '/home' }));
  const ac = new AbortController();
  const answer = await createClient({ csrfToken: 't' }).passwordless({ conditional: true, signal: ac.signal });
  assert.deepEqual(answer, { signed_in: true, next: '/home' });
  assert.equal(seen.mediation, 'conditional');
  assert.equal(seen.signal, ac.signal);
  assert.ok(seen.publicKey.challenge instanceof ArrayBuffer);
  assert.equal(calls[0].url, '/mfa/signin/passwordless/start');
  assert.deepEqual(calls[0].body, { mediation: 'conditional' }, 'the start says it is for autofill');
  assert.equal(calls[1].url, '/mfa/signin/passwordless/finish');
  assert.deepEqual(Object.keys(calls[1].body), ['credential']);
  assert.equal(calls[1].body.credential.response.signature, '-_8');
});

test('modal passwordless drops server-sent conditional mediation', async () => {
  let seen;
  stubWebAuthn({ get: async (opts) => { seen = opts; return fakeAssertion(); } });
  stubFetch(json({ prompt: { type: 'credential_request', options: requestOptions } }), json({ signed_in: true }));
  await createClient({ csrfToken: 't' }).passwordless();
  assert.equal('mediation' in seen, false);
  assert.deepEqual(calls[0].body, {}, 'a start for the dialog names no mediation');
});

test('session and the passkey offer: paths and bodies', async () => {
  stubFetch(json({ user: 'alice', offer_passkey: true }), new Response(null, { status: 204 }));
  const mfa = createClient({ csrfToken: 't' });
  assert.equal((await mfa.session()).offer_passkey, true);
  assert.equal(await mfa.dismissPasskeyOffer(), null);
  assert.deepEqual(calls.map((c) => [c.init.method, c.url, c.body]), [
    ['GET', '/mfa/session', undefined],
    ['POST', '/mfa/session/passkey-offer/dismiss', {}],
  ]);
});

test('addPasskey starts a passkey, creates it and finishes it in one call', async () => {
  let seen;
  stubWebAuthn({ create: async (opts) => { seen = opts; return fakeAttestation(); } });
  const prompt = { type: 'credential_creation', options: creationOptions };
  stubFetch(json({ factor: { id: 'p1', kind: 'passkey' }, prompt }, 201), json({ id: 'p1', kind: 'passkey', status: 'active' }));
  const added = await createClient({ csrfToken: 't' }).addPasskey();
  assert.equal(added.status, 'active');
  assert.ok(seen.publicKey.challenge instanceof ArrayBuffer);
  assert.deepEqual(calls.map((c) => [c.init.method, c.url]), [['POST', '/mfa/factors'], ['POST', '/mfa/factors/p1/finish']]);
  assert.equal(calls[0].body.kind, 'passkey');
  assert.equal(calls[1].body.credential.rawId, 'AQID');
});

test('addPasskey removes the unfinished passkey when the browser or the server refuses', async () => {
  const prompt = { type: 'credential_creation', options: creationOptions };
  const cancelled = new DOMException('cancelled', 'NotAllowedError');
  stubWebAuthn({ create: async () => { throw cancelled; } });
  stubFetch(json({ factor: { id: 'p1' }, prompt }, 201), new Response(null, { status: 204 }));
  const mfa = createClient({ csrfToken: 't' });
  await assert.rejects(mfa.addPasskey({ label: 'Laptop' }), (e) => e.code === 'webauthn_cancelled');
  assert.deepEqual(calls[0].body, { kind: 'passkey', label: 'Laptop' });
  assert.deepEqual([calls[1].init.method, calls[1].url], ['DELETE', '/mfa/factors/p1']);

  calls.length = 0;
  stubWebAuthn({ create: async () => fakeAttestation() });
  stubFetch(json({ factor: { id: 'p2' }, prompt }, 201), json({ code: 'code_invalid', message: 'no' }, 422),
    new Response(null, { status: 204 }));
  await assert.rejects(mfa.addPasskey(), (e) => e.code === 'code_invalid' && e.status === 422);
  assert.deepEqual([calls[2].init.method, calls[2].url], ['DELETE', '/mfa/factors/p2']);

  calls.length = 0;
  stubFetch(json({ code: 'reauth_required', message: 'again' }, 401));
  await assert.rejects(mfa.addPasskey(), (e) => e.code === 'reauth_required');
  assert.equal(calls.length, 1, 'nothing to remove when the start is refused');
});

test('finishChallengeWithKey posts credential and remember_device; NotAllowedError → webauthn_cancelled', async () => {
  const prompt = { type: 'credential_request', options: { publicKey: requestOptions.publicKey } };
  stubWebAuthn({ get: async () => fakeAssertion() });
  stubFetch(json({ signed_in: true }));
  const mfa = createClient({ csrfToken: 't' });
  await mfa.finishChallengeWithKey({ prompt, rememberDevice: true });
  assert.equal(calls[0].url, '/mfa/signin/challenge/finish');
  assert.equal(calls[0].body.remember_device, true);
  assert.equal(calls[0].body.credential.rawId, 'AQID');

  const cancelled = new DOMException('cancelled', 'NotAllowedError');
  stubWebAuthn({ get: async () => { throw cancelled; } });
  await assert.rejects(mfa.finishChallengeWithKey({ prompt }), (e) => e.code === 'webauthn_cancelled' && e.cause === cancelled);
  await assert.rejects(mfa.finishChallengeWithKey({ prompt: { type: 'totp' } }), (e) => e.code === 'invalid_prompt');
});

test('finishEnrolmentWithKey runs create and maps InvalidStateError / SecurityError', async () => {
  let seen;
  stubWebAuthn({ create: async (opts) => { seen = opts; return fakeAttestation(); } });
  stubFetch(json({ factor: { id: 'k1', kind: 'security_key' } }));
  const mfa = createClient({ csrfToken: 't' });
  const prompt = { type: 'credential_creation', options: creationOptions };
  await mfa.finishEnrolmentWithKey('k1', prompt);
  assert.ok(seen.publicKey.user.id instanceof ArrayBuffer);
  assert.equal(calls[0].url, '/mfa/factors/k1/finish');
  assert.deepEqual(calls[0].body.credential.response.transports, ['usb', 'nfc']);

  stubWebAuthn({ create: async () => { throw new DOMException('dup', 'InvalidStateError'); } });
  await assert.rejects(mfa.finishEnrolmentWithKey('k1', prompt), (e) => e.code === 'webauthn_already_registered');
  stubWebAuthn({ create: async () => { throw new DOMException('rp', 'SecurityError'); } });
  await assert.rejects(mfa.finishEnrolmentWithKey('k1', prompt), (e) => e.code === 'webauthn_unsupported');
  stubWebAuthn({ create: async () => { throw new DOMException('alg', 'NotSupportedError'); } });
  await assert.rejects(mfa.finishEnrolmentWithKey('k1', prompt), (e) => e.code === 'webauthn_unsupported');
});

test('stepUp posts to /signin/step-up, with the factor when one is named', async () => {
  stubFetch(json({ factor: { id: 'f2' } }), json({ factor: { id: 'f1' } }));
  const mfa = createClient({ csrfToken: 't' });
  await mfa.stepUp('f2');
  await mfa.stepUp();
  assert.equal(calls[0].url, '/mfa/signin/step-up');
  assert.deepEqual(calls[0].body, { factor: 'f2' });
  assert.deepEqual(calls[1].body, {});
});
