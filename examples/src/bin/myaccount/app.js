// My Account's page: every MFA call goes through mfa-axum's browser module and endpoints
// (/mfa/...), the help desk's (/mfa/admin/...) included; the host's own are /api/sign-in,
// /api/sign-up, /api/sign-out, /api/account and /api/password.
import { createClient, conditionalMediationAvailable } from '/mfa/mfa.js';

let csrf = document.querySelector('meta[name=csrf-token]').content;
const mfa = createClient({ base: '/mfa', csrfToken: () => csrf });
const host = createClient({ base: '', csrfToken: () => csrf });
const $ = (id) => document.getElementById(id);
const el = (tag, props = {}, ...children) => {
  const e = Object.assign(document.createElement(tag), props);
  e.append(...children);
  return e;
};

const KINDS = {
  totp: 'Authenticator app', sms: 'Text message (SMS)', email: 'Email', passkey: 'Passkey',
  'security-key': 'USB security key', 'older-device': 'Older security key (second step only)',
};
const TRASH = '<svg viewBox="0 0 16 16" aria-hidden="true"><path fill="currentColor" d="M6 1h4l1 1h3v2H2V2h3zM3 5h10l-1 10H4z"/></svg>';
const KEY_KINDS = ['passkey', 'security-key', 'older-device'];
const COUNTRIES = [['US', '+1', '415 555 2671'], ['GB', '+44', '7911 123456'], ['FR', '+33', '6 12 34 56 78'],
  ['DE', '+49', '1512 3456789'], ['IN', '+91', '98765 43210'], ['AU', '+61', '412 345 678'], ['JP', '+81', '90 1234 5678']];

// ---- small helpers
function show(view) {
  for (const v of ['view-signin', 'view-step', 'view-security']) $(v).hidden = v !== view;
}
function wait(seconds, message) {
  if (!seconds || message.includes('Try again')) return '';
  return seconds < 90 ? ` Try again in ${seconds} seconds.` : ` Try again in ${Math.ceil(seconds / 60)} minutes.`;
}
/** Shows an error next to what the user did (`where` is the id of that part's error line). */
const fail = (where) => (e) => {
  const message = e.details?.field === 'destination' ? "That doesn't look like a number or address we can send a code to." : e.message;
  $(where).textContent = message + wait(e.retryAfter, message);
};
const clear = (...ids) => ids.forEach((id) => { $(id).textContent = ''; });
function notice(text) { $('notice').textContent = text; }
// A security key's or passkey's model (from FIDO metadata) and whether it syncs.
function deviceFacts(f) {
  if (!KEY_KINDS.includes(f.kind)) return [];
  const detail = (name) => (f.details || []).find((d) => d.name === name)?.value;
  const synced = detail('backup_eligible') === 'true'
    ? (detail('backup_state') === 'true' ? 'synced to your other devices' : 'can sync to your other devices')
    : 'on this device only';
  return [detail('authenticator') || '', synced];
}
function describe(f) {
  const kind = KINDS[f.kind] || f.kind;
  const parts = [f.label === kind ? '' : kind, ...deviceFacts(f), f.masked_destination || '',
    f.last_used_at ? `last used ${new Date(f.last_used_at).toLocaleString()}` : 'not used yet'];
  return parts.filter(Boolean).join(' · ');
}
function fillCountries(select, hint) {
  for (const [code, prefix, example] of COUNTRIES) select.append(el('option', { value: prefix, textContent: `${code} ${prefix}` }));
  const example = () => {
    const [, prefix, sample] = COUNTRIES.find(([, p]) => p === select.value);
    select.nextElementSibling.placeholder = sample;
    if (hint) $(hint).textContent = `Your number without the country code, e.g. ${sample}; or the full number starting with + (${prefix} ${sample}).`;
  };
  select.onchange = example; example();
}
/** The number as the user means it: as typed if it starts with +, else after the country code. */
const fullNumber = (country, number) => (number.trim().startsWith('+') ? number.trim() : `${$(country).value} ${number.trim()}`);
function saveCodes(codes, pre, copy, download) {
  $(pre).textContent = codes.join('\n');
  $(copy).onclick = () => navigator.clipboard?.writeText(codes.join('\n'));
  $(download).onclick = () => {
    const a = el('a', { href: URL.createObjectURL(new Blob([codes.join('\n') + '\n'], { type: 'text/plain' })), download: 'my-account-recovery-codes.txt' });
    a.click();
  };
}

/**
 * Runs `action`; when the server wants a fresh password (`reauth_required`) asks for it in
 * a dialog, and when it wants a recent second step (`mfa_required`) runs one, then runs
 * `action` again with what the user had entered.
 */
async function fresh(action) {
  for (let tries = 0; ; tries++) {
    try {
      return await action();
    } catch (e) {
      if (tries === 2 || !['reauth_required', 'mfa_required'].includes(e.code)) throw e;
      await (e.code === 'reauth_required' ? askPassword() : stepUp());
    }
  }
}
function askPassword() {
  return new Promise((resolve, reject) => {
    const dialog = $('reauth-dialog');
    clear('reauth-error'); $('reauth-password').value = '';
    $('reauth-form').onsubmit = async (ev) => {
      if (ev.submitter?.value === 'cancel') { dialog.close(); reject(new Error('You cancelled: nothing was changed.')); return; }
      ev.preventDefault();
      try { await mfa.reauthenticate($('reauth-password').value); dialog.close(); resolve(); } catch (e) { fail('reauth-error')(e); }
    };
    dialog.showModal();
  });
}

// ---- signing in
async function load() {
  try {
    const me = await host.request('GET', '/api/account');
    return security(me);
  } catch (e) {
    if (e.code === 'verification_required') return secondStep(e.details?.candidates || []);
    if (e.code !== 'unauthenticated') throw e;
  }
  $('who').textContent = ''; $('sign-out').hidden = true;
  show('view-signin');
  offerPasskeys();
}
const signedIn = (answer) => { csrf = answer.csrf_token; stopAutofill(); return load(); };
async function passwordStep(path) {
  clear('signin-error'); stopAutofill();
  const answer = await host.request('POST', path, { user: $('username').value, password: $('password').value });
  $('password').value = '';
  return signedIn(answer);
}
$('signin-form').onsubmit = (ev) => { ev.preventDefault(); passwordStep('/api/sign-in').catch(fail('signin-error')); };
$('sign-up').onclick = () => passwordStep('/api/sign-up').catch(fail('signin-error'));
/** A passkey the server does not know (removed, or another site's) is said so. */
const passkeyFailed = (e) => fail('signin-error')(e.code === 'code_invalid'
  ? Object.assign(e, { message: "That passkey isn't registered here (it may have been removed): sign in with your password." }) : e);
$('passkey-sign-in').onclick = () => { stopAutofill(); mfa.passwordless().then(signedIn).catch(passkeyFailed); };
$('sign-out').onclick = () => host.request('POST', '/api/sign-out', {}).then(() => location.reload());

// Passkey autofill: the browser offers the user's passkeys in the user-name field.
let autofill = null;
async function offerPasskeys() {
  if (autofill || !(await conditionalMediationAvailable())) return;
  autofill = new AbortController();
  mfa.passwordless({ conditional: true, signal: autofill.signal }).then(signedIn)
    .catch((e) => { if (e.code !== 'aborted') passkeyFailed(e); }).finally(() => { autofill = null; });
}
function stopAutofill() { autofill?.abort(); }

// ---- the second step: one challenge at a time, its context kept through every error
const step = { challenge: null, ways: [], start: null, done: null, stepUp: false, cancel: null };

async function secondStep(candidates) {
  Object.assign(step, { ways: candidates, start: (id) => mfa.startChallenge(id), done: load, stepUp: false });
  $('step-title').textContent = '2-step verification';
  $('remember-line').hidden = false; $('step-cancel').hidden = false;
  show('view-step');
  await challenge();
}
/**
 * Asks for a recent verification (before a sensitive action), then resolves: with one of
 * `candidates` (the factors a refusal named, the first asked first) when given, else with any
 * active factor.
 */
async function stepUp(candidates) {
  const named = candidates?.length > 0;
  const ways = named ? candidates : (await mfa.listFactors()).filter((f) => f.status === 'active');
  return new Promise((resolve, reject) => {
    Object.assign(step, { ways, start: (id) => mfa.stepUp(id ?? (named ? ways[0].id : undefined)), done: () => { show('view-security'); resolve(); }, stepUp: true });
    step.cancel = () => { show('view-security'); reject(new Error('You cancelled: nothing was changed.')); };
    $('step-title').textContent = 'Confirm it is you';
    $('remember-line').hidden = true;
    show('view-step');
    challenge().catch(fail('step-error'));
  });
}
async function challenge(factorId) {
  clear('step-error');
  $('code').value = ''; $('recovery-form').hidden = true; $('temporary-form').hidden = true;
  try {
    step.challenge = await step.start(factorId);
  } catch (e) {
    // Locked or refused: say so, and keep every other way in on the page.
    step.challenge = null;
    const failed = step.ways.find((f) => (factorId ? f.id === factorId : f.preferred)) || step.ways[0];
    $('step-text').textContent = failed ? `${failed.label} can't be used right now.` : '';
    $('code-form').hidden = true; $('use-key').hidden = true; $('resend').hidden = true;
    alternatives(failed?.id);
    fail('step-error')(e);
    return;
  }
  const { factor, prompt } = step.challenge;
  if (!step.ways.some((f) => f.id === factor.id)) step.ways = [factor, ...step.challenge.alternatives];
  const key = prompt.type === 'credential_request';
  const kindName = factor.kind === 'passkey' ? 'passkey' : 'security key';
  $('step-text').textContent = key ? `Use your ${kindName} (${factor.label}).`
    : prompt.type === 'code_sent' ? `We sent a code to ${prompt.masked_destination}.`
      : `Enter the 6-digit code from your authenticator app${factor.label === KINDS.totp ? '' : ` (${factor.label})`}.`;
  $('code-form').hidden = key; $('use-key').hidden = !key;
  $('use-key').textContent = `Use your ${kindName}`;
  $('resend').hidden = prompt.type !== 'code_sent';
  alternatives(factor.id, step.challenge.recovery_codes_remaining);
}
function alternatives(current, codes) {
  $('alternatives').replaceChildren(...step.ways.filter((f) => f.id !== current).map((f) => {
    const kind = KINDS[f.kind] || f.kind;
    const b = el('button', { className: 'link', textContent: f.label === kind ? f.label : `${f.label} (${kind})` });
    b.dataset.kind = f.kind; b.onclick = () => challenge(f.id);
    return el('li', {}, b);
  }));
  if (current) {
    const again = el('button', { className: 'link', id: 'start-again', textContent: 'Start again with this method' });
    again.onclick = () => challenge(current);
    if (!step.challenge) $('alternatives').append(el('li', {}, again));
  }
  $('recovery-line').hidden = step.stepUp || codes === 0;
  $('temporary-line').hidden = step.stepUp;
}
const finished = (answer) => { if (answer?.csrf_token) csrf = answer.csrf_token; return step.done(); };
/** A refused answer: the message, and when the challenge is used up, a way to start it again. */
function refused(e) {
  fail('step-error')(e);
  if (e.code === 'expired' && step.challenge) {
    const current = step.challenge.factor.id;
    step.challenge = null;
    alternatives(current);
  }
}
$('code-form').onsubmit = (ev) => {
  ev.preventDefault();
  mfa.finishChallenge({ code: $('code').value, rememberDevice: $('remember').checked }).then(finished).catch(refused);
};
$('use-key').onclick = () => mfa.finishChallengeWithKey({ prompt: step.challenge.prompt, rememberDevice: $('remember').checked })
  .then(finished).catch(refused);
$('resend').onclick = () => mfa.resendChallenge().then((c) => { step.challenge = c; $('step-text').textContent = `We sent a new code to ${c.prompt.masked_destination}.`; })
  .catch(fail('step-error'));
$('use-recovery').onclick = () => { $('recovery-form').hidden = false; $('recovery-code').focus(); };
$('recovery-form').onsubmit = (ev) => {
  ev.preventDefault();
  mfa.useRecoveryCode($('recovery-code').value).then(finished).catch(fail('step-error'));
};
$('use-temporary').onclick = () => { $('temporary-form').hidden = false; $('temporary-code').focus(); };
$('temporary-form').onsubmit = (ev) => {
  ev.preventDefault();
  mfa.useTemporaryAccess($('temporary-code').value).then(finished).catch(fail('step-error'));
};
$('step-cancel').onclick = () => (step.stepUp ? step.cancel() : host.request('POST', '/api/sign-out', {}).then(() => location.reload()));

// ---- the security page
let me = null;
async function security(account) {
  me = account;
  $('who').textContent = `Signed in as ${me.user}`; $('sign-out').hidden = false;
  const [factors, codes, browsers, session] = await Promise.all([mfa.listFactors(), mfa.recoveryCodes(), mfa.listDevices(), mfa.session()]);
  const active = factors.filter((f) => f.status === 'active');
  const on = active.length > 0;
  $('mfa-status').textContent = on ? '2-step verification is on.' : '2-step verification is off: add a method below to turn it on.';
  $('factors').replaceChildren(...factors.filter((f) => !KEY_KINDS.includes(f.kind)).map((f) => factorRow(f, active)));
  // A key whose registration did not finish cannot be resumed: only finished ones are listed.
  $('keys').replaceChildren(...active.filter((f) => KEY_KINDS.includes(f.kind)).map((f) => factorRow(f, active)));
  const sms = active.find((f) => f.kind === 'sms');
  $('sms-number').textContent = sms ? sms.masked_destination : me.phone ? `${me.phone} (not yet confirmed)` : 'No number yet.';
  $('codes-section').hidden = !on;
  $('codes-remaining').textContent = `${codes.remaining} recovery codes left.`;
  $('generate-codes').textContent = codes.remaining ? 'Get new codes' : 'Get recovery codes';
  $('few-codes').hidden = !on || codes.remaining > 3;
  $('few-codes').textContent = codes.remaining ? `Only ${codes.remaining} recovery codes left: get new ones before you run out.`
    : 'You have no recovery codes: get some, in case you lose your phone or key.';
  $('browsers').replaceChildren(...browsers.map((d) => {
    const forget = el('button', { className: 'link', textContent: 'Forget' });
    forget.onclick = () => mfa.revokeDevice(d.id).then(() => load()).catch(fail('browsers-error'));
    return el('li', { className: 'factor' }, `${d.label} · remembered until ${new Date(d.expires_at).toLocaleDateString()} `, forget);
  }));
  $('browsers-section').hidden = browsers.length === 0;
  // After a sign-in with the password and a code (no passkey yet): a passkey in one step.
  $('passkey-offer').hidden = !session.offer_passkey;
  $('admin-section').hidden = !me.admin;
  // The server asks the help desk for a second factor (email does not count) whatever the
  // sign-in asked; said here before anyone tries.
  if (me.admin && !active.some((f) => f.kind !== 'email')) adminNeedsMfa(ADD_A_METHOD);
  else $('admin-mfa').hidden = true;
  show('view-security');
}

function factorRow(f, active) {
  const li = el('li', { className: 'factor' });
  li.dataset.kind = f.kind; li.dataset.id = f.id;
  const name = el('strong', { className: 'name', textContent: f.label });
  li.append(name, ' ');
  if (f.status !== 'active') li.append(el('span', { className: 'badge', textContent: 'not finished' }), ' ');
  else if (f.preferred) li.append(el('span', { className: 'badge preferred', textContent: 'Preferred' }), ' ');
  else if (active.length > 1) {
    const prefer = el('button', { className: 'link set-preferred', textContent: 'Set preferred' });
    prefer.onclick = () => fresh(() => mfa.setPreferred(f.id)).then(() => { notice(`${f.label} will be asked first.`); return load(); }).catch((e) => notice(e.message));
    li.append(prefer, ' ');
  }
  const rename = el('button', { className: 'link rename', textContent: 'Rename' });
  rename.onclick = () => {
    const input = el('input', { value: f.label, className: 'new-name' });
    const save = el('button', { textContent: 'Save', className: 'save-name' });
    save.onclick = () => mfa.renameFactor(f.id, input.value).then(() => { notice('Renamed.'); return load(); }).catch((e) => notice(e.message));
    name.replaceWith(input, ' ', save);
  };
  const remove = el('button', { className: 'icon remove', title: `Remove ${f.label}`, innerHTML: TRASH });
  remove.setAttribute('aria-label', `Remove ${f.label}`);
  remove.onclick = async () => {
    const last = f.status === 'active' && active.length === 1;
    const text = `Remove ${f.label}?` + (last ? ' This turns 2-step verification off, and your recovery codes stop working.' : '');
    if (!(await confirmed(text, 'Remove'))) return;
    fresh(() => mfa.removeFactor(f.id)).then(() => { notice(last ? '2-step verification is off.' : `${f.label} was removed.`); return load(); })
      .catch((e) => notice(e.message));
  };
  li.append(rename, ' ', remove, el('br'), el('span', { className: 'muted', textContent: describe(f) }));
  return li;
}
function confirmed(text, yes) {
  return new Promise((resolve) => {
    const dialog = $('confirm-dialog');
    $('confirm-text').textContent = text;
    $('confirm-yes').textContent = yes;
    dialog.onclose = () => resolve(dialog.returnValue === 'yes');
    dialog.showModal();
  });
}

// ---- adding a method (Casdoor's steps: password, set up, code, recovery codes, Enable)
const setup = { kind: null, factor: null, hadCodes: false };
function setupStep(part) {
  for (const p of ['setup-reauth', 'setup-totp', 'setup-destination', 'setup-verify', 'setup-done']) $(p).hidden = !part.includes(p);
}
$('add-method').onclick = () => {
  Object.assign(setup, { kind: $('add-kind').value, factor: null });
  $('setup').hidden = false; clear('setup-error', 'sent-to', 'qr', 'totp-key'); $('setup-password').value = '';
  $('send-code').textContent = 'Send Code';
  setupStep(['setup-reauth']); $('setup-password').focus();
};
$('setup-cancel').onclick = () => { $('setup').hidden = true; load(); };
$('setup-password-next').onclick = async () => {
  clear('setup-error');
  try {
    await mfa.reauthenticate($('setup-password').value);
    $('setup-password').value = '';
    if (setup.kind === 'totp') {
      const start = await fresh(() => mfa.startEnrolment({ kind: 'totp' }));
      setup.factor = start.factor;
      $('qr').innerHTML = start.prompt.qr_svg || '';
      $('totp-key').textContent = start.prompt.secret_base32;
      setupStep(['setup-totp', 'setup-verify']); $('setup-code').focus();
    } else {
      $('setup-sms').hidden = setup.kind !== 'sms'; $('setup-email').hidden = setup.kind !== 'email';
      setupStep(['setup-destination']);
    }
  } catch (e) { fail('setup-error')(e); }
};
$('send-code').onclick = async () => {
  clear('setup-error');
  const destination = setup.kind === 'sms' ? fullNumber('setup-country', $('setup-number').value) : $('setup-email').value.trim();
  try {
    const start = setup.factor?.status === 'pending' && setup.destination === destination
      ? await mfa.resendEnrolment(setup.factor.id) : await fresh(() => mfa.startEnrolment({ kind: setup.kind, destination }));
    setup.factor = start.factor; setup.destination = destination;
    $('sent-to').textContent = `We sent a code to ${start.prompt.masked_destination}.`;
    $('send-code').textContent = 'Send again';
    setupStep(['setup-destination', 'setup-verify']); $('setup-code').focus();
  } catch (e) { fail('setup-error')(e); }
};
$('setup-verify').onsubmit = async (ev) => {
  ev.preventDefault(); clear('setup-error');
  try {
    await fresh(() => mfa.finishEnrolment(setup.factor.id, { code: $('setup-code').value }));
    $('setup-code').value = '';
    const { remaining } = await mfa.recoveryCodes();
    $('setup-codes-block').hidden = remaining > 0; $('setup-codes-kept').hidden = remaining === 0;
    if (!remaining) {
      const { codes } = await fresh(() => mfa.generateRecoveryCodes());
      saveCodes(codes, 'setup-codes', 'copy-codes', 'download-codes');
    }
    setupStep(['setup-done']);
  } catch (e) { fail('setup-error')(e); }
};
$('enable').onclick = () => {
  $('setup').hidden = true;
  notice(`${KINDS[setup.kind]} is on: you will be asked for it when you sign in.`);
  load();
};

// ---- the SMS number (WSO2's: Edit, a number, Update, a code; the profile follows once confirmed)
const phone = { factor: null };
$('edit-phone').onclick = () => { $('phone-form').hidden = false; $('phone-verify').hidden = true; clear('phone-error'); $('phone-number').focus(); };
$('update-phone').onclick = async () => {
  clear('phone-error');
  const destination = fullNumber('phone-country', $('phone-number').value);
  const old = (await mfa.listFactors()).find((f) => f.kind === 'sms' && f.status === 'active');
  try {
    const start = await fresh(() => mfa.startEnrolment({ kind: 'sms', destination, replaces: old?.id, label: old?.label }));
    phone.factor = start.factor; phone.replaced = old;
    $('phone-sent').textContent = `We sent a code to ${start.prompt.masked_destination}:`;
    $('phone-verify').hidden = false; $('phone-code').focus();
  } catch (e) { fail('phone-error')(e); }
};
$('phone-verify').onsubmit = async (ev) => {
  ev.preventDefault(); clear('phone-error');
  try {
    await fresh(() => mfa.finishEnrolment(phone.factor.id, { code: $('phone-code').value }));
    $('phone-form').hidden = true; $('phone-code').value = ''; $('phone-number').value = '';
    notice(phone.replaced ? 'Your SMS number was updated.' : 'Your SMS number was added.');
    load();
  } catch (e) { fail('phone-error')(e); }
};

// ---- security devices (WSO2's: USB key or built-in sensor, Continue, a name; "Try with an older device")
const device = { factor: null };
function devicePart(naming) {
  $('device-choice').hidden = naming; $('device-naming').hidden = !naming;
}
$('add-device').onclick = () => {
  $('device-panel').hidden = false; devicePart(false); clear('device-error');
  $('try-older').hidden = true; $('choose-other').hidden = true;
};
async function register(kind) {
  clear('device-error'); $('try-older').hidden = true; $('choose-other').hidden = true;
  let start = null;
  try {
    start = await fresh(() => mfa.startEnrolment({ kind }));
    await mfa.finishEnrolmentWithKey(start.factor.id, start.prompt);
    device.factor = start.factor;
    $('device-name').value = start.factor.label; devicePart(true); $('device-name').select();
  } catch (e) {
    if (start) mfa.removeFactor(start.factor.id).catch(() => {}); // the unfinished one goes
    // The server refused the device's answer (made on a page it does not accept, say).
    if (e.code === 'code_invalid') e.message = "This device's answer was not accepted here. Try again, or choose another option.";
    fail('device-error')(e);
    $('choose-other').hidden = false;
    $('try-older').hidden = kind === 'older-device' || !e.code?.startsWith('webauthn');
  }
}
$('device-continue').onclick = () => register(document.querySelector('input[name=device]:checked').value);
$('try-older').onclick = () => register('older-device');
$('choose-other').onclick = () => { devicePart(false); clear('device-error'); $('try-older').hidden = true; $('choose-other').hidden = true; };
$('device-cancel').onclick = () => { $('device-panel').hidden = true; load(); };
$('device-save').onclick = () => mfa.renameFactor(device.factor.id, $('device-name').value)
  .then(() => { $('device-panel').hidden = true; notice(`${$('device-name').value} was added.`); return load(); }).catch(fail('device-error'));

// ---- the passkey offer: one button, and the sign-in that just happened is recent enough
// (after a while, the server asks for the password again, as for any change)
$('passkey-offer-add').onclick = async () => {
  clear('passkey-offer-error');
  try {
    const passkey = await fresh(() => mfa.addPasskey());
    notice(`${passkey.label} was added: next time, pick it when you sign in.`);
    await load();
  } catch (e) { fail('passkey-offer-error')(e); }
};
$('passkey-offer-dismiss').onclick = () => mfa.dismissPasskeyOffer()
  .then(() => { $('passkey-offer').hidden = true; }).catch(fail('passkey-offer-error'));

// ---- recovery codes, remembered browsers, password
$('generate-codes').onclick = () => fresh(async () => {
  const { remaining } = await mfa.recoveryCodes();
  // A set used up is replaced; a first set is generated.
  return remaining ? mfa.regenerateRecoveryCodes()
    : mfa.generateRecoveryCodes().catch((e) => { if (e.code === 'already_exists') return mfa.regenerateRecoveryCodes(); throw e; });
}).then(({ codes }) => { saveCodes(codes, 'new-codes', 'copy-new-codes', 'download-new-codes'); $('codes-panel').hidden = false; clear('codes-error'); })
  .catch(fail('codes-error'));
$('forget-all').onclick = () => mfa.revokeAllDevices().then(() => { notice('Every browser will ask for the second step again.'); return load(); })
  .catch(fail('browsers-error'));
$('change-password').onclick = async () => {
  clear('password-error');
  const change = () => host.request('POST', '/api/password', { password: $('new-password').value });
  try {
    try { await change(); } catch (e) {
      if (e.code !== 'step_up_required') throw e;
      await stepUp();
      await change();
    }
    $('new-password').value = ''; notice('Your password was changed.');
  } catch (e) { fail('password-error')(e); }
};

// ---- the help desk (the administrator only; the server's admin check decides anyway):
// find a user, their status, reset, unlock, a temporary access code shown once. Every
// request needs the administrator's own 2-step verification in this session, whatever the
// sign-in asked: the server says so first (`enrolment_required`, `verification_required`).
const admin = { user: null };
const when = (millis) => new Date(millis).toLocaleString();
const ADD_A_METHOD = 'Add a way to sign in above (an authenticator app, a text message or a security device: email does not count), then try again.';
/** Says that the help desk needs 2-step verification; `verify`, if given, is what "Verify now" does. */
function adminNeedsMfa(text, verify) {
  $('admin-mfa-text').textContent = text;
  $('admin-verify-line').hidden = !verify;
  $('admin-verify').onclick = verify || null;
  $('admin-mfa').hidden = false;
}
/**
 * Runs a help-desk step. Refused for want of 2-step verification, it says so: add a method
 * that counts, or verify now (then the step runs again); other refusals show as errors.
 */
async function adminRun(task) {
  clear('admin-error');
  try {
    await task();
    $('admin-mfa').hidden = true;
  } catch (e) {
    if (e.code === 'enrolment_required') {
      $('admin-user').hidden = true;
      adminNeedsMfa(ADD_A_METHOD);
    } else if (e.code === 'verification_required') {
      $('admin-user').hidden = true;
      adminNeedsMfa('Confirm it is you with your second step first.',
        () => stepUp(e.details?.candidates).then(() => adminRun(task)).catch(fail('admin-error')));
    } else fail('admin-error')(e);
  }
}
function adminFactorRow(state) {
  const f = state.factor;
  const li = el('li', { className: 'factor' });
  li.dataset.kind = f.kind; li.dataset.id = f.id;
  li.append(el('strong', { className: 'name', textContent: f.label }), ' ');
  if (f.preferred) li.append(el('span', { className: 'badge', textContent: 'Preferred' }), ' ');
  const lock = f.status !== 'active' ? 'not finished'
    : state.disabled ? 'turned off after too many wrong attempts'
      : state.locked_until ? `locked until ${when(state.locked_until)}`
        : state.failures ? `${state.failures} wrong attempts in a row` : '';
  if (state.disabled || state.locked_until || state.failures) {
    const unlock = el('button', { className: 'link unlock', textContent: 'Unlock' });
    unlock.onclick = () => adminAct(() => mfa.unlockUser(admin.user, { factor: f.id }), `${f.label} is unlocked.`);
    li.append(unlock);
  }
  li.append(el('br'), el('span', { className: 'muted', textContent: [describe(f), lock].filter(Boolean).join(' · ') }));
  return li;
}
async function adminShow(user) {
  clear('admin-error', 'admin-notice');
  $('admin-issued').hidden = true; clear('admin-issued-code');
  const s = await mfa.userStatus(user);
  admin.user = s.user;
  $('admin-user-name').textContent = s.user;
  $('admin-summary').textContent = s.has_active_factor ? '2-step verification is on.' : '2-step verification is off.';
  $('admin-factors').replaceChildren(...(s.factors.length ? s.factors.map(adminFactorRow)
    : [el('li', { className: 'factor muted', textContent: 'No sign-in methods.' })]));
  const codesLock = s.recovery_codes_disabled ? ' (turned off after too many wrong attempts)'
    : s.recovery_codes_locked_until ? ` (locked until ${when(s.recovery_codes_locked_until)})` : '';
  $('admin-codes').textContent = `${s.recovery_codes_remaining} recovery codes left${codesLock}.`;
  $('admin-temporary').textContent = s.temporary_access_expires_at
    ? `A temporary access code works until ${when(s.temporary_access_expires_at)}.` : 'No temporary access code.';
  $('admin-revoke').hidden = !s.temporary_access_expires_at;
  $('admin-user').hidden = false;
}
/** Runs a help-desk action on the user shown, then shows them again with `message`. */
function adminAct(action, message) {
  return adminRun(async () => {
    clear('admin-notice');
    await action();
    await adminShow(admin.user);
    $('admin-notice').textContent = message;
  });
}
$('admin-find').onsubmit = (ev) => {
  ev.preventDefault(); $('admin-user').hidden = true;
  adminRun(async () => {
    const found = await mfa.findUsers($('admin-query').value);
    $('admin-results').replaceChildren(...found.map((s) => {
      const open = el('button', { className: 'link', textContent: s.user });
      open.dataset.user = s.user;
      open.onclick = () => adminRun(() => adminShow(s.user));
      const methods = s.factors.filter((f) => f.factor.status === 'active').length;
      return el('li', { className: 'factor' }, open, ' ',
        el('span', { className: 'muted', textContent: methods ? `2-step verification on · ${methods} methods` : '2-step verification off' }));
    }));
    if (!found.length) $('admin-error').textContent = 'No user found.';
    if (found.length === 1) await adminShow(found[0].user);
  });
};
$('admin-reset').onclick = async () => {
  const text = `Reset ${admin.user}'s 2-step verification? Every sign-in method, recovery code and remembered browser of theirs `
    + 'is removed: they sign in with their password alone until they set it up again.';
  if (!(await confirmed(text, 'Reset'))) return;
  adminAct(() => mfa.resetUser(admin.user), `${admin.user}'s 2-step verification was reset.`);
};
$('admin-unlock').onclick = () => adminAct(() => mfa.unlockUser(admin.user), 'Every lock was cleared.');
$('admin-issue').onclick = () => adminRun(async () => {
  clear('admin-notice');
  const issued = await mfa.issueTemporaryAccess(admin.user);
  await adminShow(admin.user);
  $('admin-issued-code').textContent = issued.temporary_access_code;
  $('admin-issued-until').textContent = when(issued.expires_at);
  $('admin-issued').hidden = false;
});
$('admin-revoke').onclick = () => adminAct(() => mfa.revokeTemporaryAccess(admin.user), 'The temporary access code was revoked.');

fillCountries($('setup-country'));
fillCountries($('phone-country'), 'phone-hint');
load().catch((e) => { $('signin-error').textContent = e.message; show('view-signin'); });
