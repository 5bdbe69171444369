// Browser journeys through the My Account example (built on mfa-axum) in headless Chromium
// (Debian's, driven by playwright-core), step for step with the seed flows: Casdoor's "add a
// method" (password again, set up, code, recovery codes above Enable, preferred), WSO2's SMS
// number (Edit, Update, code) and security devices (USB key or built-in sensor, Continue, a
// name, delete with a confirmation, "Try with an older device"), and the sign-in step with
// its other ways in. DevTools virtual authenticators stand in for the passkey, two USB
// security keys (CTAP2 and U2F) and an older U2F key; only the one a step is about answers.
// Usage: node journeys.mjs BASE_URL SCREENSHOT_DIR
import fs from "node:fs";
import path from "node:path";
import { chromium } from "playwright-core";
import * as OTPAuth from "otpauth";

const [base, shots = "screenshots"] = process.argv.slice(2);
if (!base) throw new Error("usage: node journeys.mjs BASE_URL [SCREENSHOT_DIR]");
// The same app on two more ports (run.sh starts it so): passkeys are accepted from the
// second origin, which the service lists, and refused from the third, which it does not.
const secondOrigin = process.env.MYACCOUNT_SECOND_ORIGIN;
const unlistedOrigin = process.env.MYACCOUNT_UNLISTED_ORIGIN;
fs.mkdirSync(shots, { recursive: true });
const profile = fs.mkdtempSync("/tmp/myaccount-chromium-");
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
});
const page = context.pages()[0] || (await context.newPage());
page.setDefaultTimeout(15000);
page.on("pageerror", (e) => console.log("page error:", e.message));
await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: base });

const cdp = await context.newCDPSession(page);
await cdp.send("WebAuthn.enable", { enableUI: false });
const KINDS = {
  u2f: { protocol: "u2f", transport: "usb" },
  "usb-ctap2": { protocol: "ctap2", ctap2Version: "ctap2_1", transport: "usb", hasResidentKey: true, hasUserVerification: false },
  "usb-u2f": { protocol: "u2f", transport: "usb", hasResidentKey: false, hasUserVerification: false },
  passkey: { protocol: "ctap2", transport: "internal", hasResidentKey: true, hasUserVerification: true, isUserVerified: true },
};
// Authenticators are plugged in as the journeys first need them; only the one a step is
// about answers (the sign-in page asks for passkeys through autofill in the background).
const authenticators = {};
async function use(which) {
  if (which && !authenticators[which]) {
    const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
      options: { ...KINDS[which], automaticPresenceSimulation: false },
    });
    authenticators[which] = authenticatorId;
  }
  for (const [name, authenticatorId] of Object.entries(authenticators)) {
    await cdp.send("WebAuthn.setAutomaticPresenceSimulation", { authenticatorId, enabled: name === which });
  }
}

/** The platform authenticator (Chromium has one), emptied: a new phone, say. */
async function newPlatformAuthenticator() {
  await use("passkey");
  await cdp.send("WebAuthn.clearCredentials", { authenticatorId: authenticators.passkey });
  await use(null);
}

let passed = 0;
async function journey(name, steps) {
  const started = Date.now();
  try {
    await steps();
  } catch (e) {
    console.log(`not ok ${passed + 1} ${name}: ${e.message.split("\n")[0]}`);
    console.log(`${passed} passed, 1 failed`);
    throw e;
  } finally {
    await page.screenshot({ path: path.join(shots, `${String(passed + 1).padStart(2, "0")}-${name}.png`), fullPage: true });
  }
  passed += 1;
  console.log(`ok ${passed} ${name} (${Date.now() - started} ms)`);
}
function check(condition, message) {
  if (!condition) throw new Error(message);
}
const text = async (selector) => ((await page.textContent(selector)) || "").trim();
async function expectText(selector, fragment) {
  await page.locator(`${selector}:has-text(${JSON.stringify(fragment)})`).waitFor();
}
const row = (kind) => page.locator(`li.factor[data-kind="${kind}"]`);
/** What the server says of this browser's sign-in (`GET /mfa/session`), from `origin`. */
async function sessionNow(origin = base) {
  const response = await page.request.get(`${origin}/mfa/session`);
  return response.ok() ? response.json() : { status: response.status(), ...(await response.json()) };
}
const security = () => page.locator("#view-security:not([hidden])").waitFor();
const secondStep = () => page.locator("#view-step:not([hidden])").waitFor();

const username = `alice${Date.now()}`;
let password = "correct horse battery staple";
const phone = "+14155552671";
const newPhone = "+16502530000";
const email = `${username}@example.com`;
let totp;
let lastStep = -1;
// The authenticator app: a code for a time step not used yet (the window allows the next;
// past that, wait for the clock, as a user would).
async function totpCode() {
  for (;;) {
    const now = Math.floor(Date.now() / 30000);
    const step = Math.max(now, lastStep + 1);
    if (step <= now + 1) {
      lastStep = step;
      return totp.generate({ timestamp: step * 30000 });
    }
    await page.waitForTimeout((now + 1) * 30000 - Date.now() + 100);
  }
}
async function outboxCode(to) {
  const response = await page.request.get(`${base}/dev/outbox?to=${encodeURIComponent(to)}`);
  const { code } = await response.json();
  check(code, `no code was sent to ${to}`);
  return code;
}
/**
 * Signed out, opens `url` (this page by default) with the passkey authenticator present and
 * returns the answer to the autofill sign-in it starts. The page is left first: a sign-in
 * field already waiting would take the passkey the moment it is present, before anyone
 * listens for the answer.
 */
async function autofillFrom(url = page.url()) {
  await page.goto("about:blank");
  await use("passkey");
  const finished = page.waitForResponse((r) => r.url().endsWith("/signin/passwordless/finish"));
  await page.goto(url);
  return finished;
}
async function signOut() {
  await use(null);
  if (await page.isVisible("#sign-out")) await page.click("#sign-out");
  else if (await page.isVisible("#step-cancel")) await page.click("#step-cancel"); // a second step left waiting
  await page.locator("#view-signin:not([hidden])").waitFor();
}
// Removes a listed method: its trash icon, the confirmation, and the password if the page
// asks for it again.
async function remove(kind, label) {
  await row(kind).filter({ hasText: label }).locator(".remove").click();
  await page.locator("#confirm-dialog[open]").waitFor();
  check((await text("#confirm-text")).startsWith(`Remove ${label}?`), "the confirmation names it");
  await page.click("#confirm-yes");
  await page.locator(`#reauth-dialog[open], #notice:has-text("${label} was removed")`).first().waitFor();
  if (await page.isVisible("#reauth-dialog")) {
    await page.fill("#reauth-password", password);
    await page.click("#reauth-continue");
  }
  await expectText("#notice", `${label} was removed`);
  await row(kind).filter({ hasText: label }).waitFor({ state: "detached" });
}
async function signInWithPassword() {
  await page.goto(base);
  await page.fill("#username", username);
  await page.fill("#password", password);
  await page.click("#sign-in");
}
async function anotherWay(kind, label) {
  const link = page.locator(`#alternatives button[data-kind="${kind}"]`);
  await (label ? link.filter({ hasText: label }) : link).click();
}
// Casdoor's setup: choose, Add, the password again, Next Step.
async function startSetup(kind, secret = password) {
  await page.selectOption("#add-kind", kind);
  await page.click("#add-method");
  await page.fill("#setup-password", secret);
  await page.click("#setup-password-next");
}

await journey("sign-up", async () => {
  await page.goto(base);
  await page.fill("#username", username);
  await page.fill("#password", password);
  await page.click("#sign-up");
  await security();
  check((await text("#mfa-status")).includes("off"), "2-step verification is off");
  check(await page.isHidden("#codes-section"), "no recovery codes are offered before MFA");
});

let codes;
await journey("add-authenticator-app-casdoor-steps", async () => {
  await startSetup("totp");
  await page.locator("#qr svg").waitFor();
  const key = await text("#totp-key");
  totp = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(key), digits: 6, period: 30 });
  // A wrong code: refused next to the field, and the QR code and key stay to scan again.
  await page.fill("#setup-code", "000000" === totp.generate() ? "111111" : "000000");
  await page.click("#setup-next");
  await expectText("#setup-error", "not right");
  check(await page.isVisible("#qr svg"), "the QR code is still shown");
  check((await text("#totp-key")) === key, "the key is still shown");
  await page.fill("#setup-code", await totpCode());
  await page.click("#setup-next");
  // The recovery codes above Enable, with copy and download.
  await page.locator("#setup-done:not([hidden])").waitFor();
  codes = (await text("#setup-codes")).split("\n");
  check(codes.length === 10, `10 codes shown, got ${codes.length}`);
  check((await page.locator("#setup-done button").allTextContents()).join(",") === "Copy,Download,Enable", "codes, then Enable");
  await page.click("#copy-codes");
  check((await page.evaluate(() => navigator.clipboard.readText())).split("\n").length === 10, "copied");
  const download = page.waitForEvent("download");
  await page.click("#download-codes");
  check((await download).suggestedFilename().endsWith(".txt"), "a .txt download");
  await page.click("#enable");
  await expectText("#notice", "Authenticator app is on");
  await row("totp").waitFor();
  check((await text("#mfa-status")).includes("is on"), "2-step verification is on");
  check(!(await row("totp").locator(".muted").textContent()).includes("Authenticator app"), "the name is not repeated");
  check((await text("#codes-remaining")).startsWith("10"), "10 recovery codes");
});

await journey("add-sms-with-country-code", async () => {
  await startSetup("sms");
  await page.locator("#setup-destination:not([hidden])").waitFor();
  check((await page.getAttribute("#setup-number", "placeholder")) === "415 555 2671", "an example number for the country");
  await page.fill("#setup-number", "555 01");
  await page.click("#send-code");
  await expectText("#setup-error", "doesn't look like a number");
  check((await page.inputValue("#setup-number")) === "555 01", "what was typed is kept");
  await page.fill("#setup-number", "415 555 2671"); // national: the selected +1 goes in front
  await page.click("#send-code");
  await expectText("#sent-to", "We sent a code to");
  await page.fill("#setup-code", await outboxCode(phone));
  await page.click("#setup-next");
  await page.locator("#setup-codes-kept:not([hidden])").waitFor(); // the codes from before still work
  await page.click("#enable");
  await row("sms").waitFor();
  check((await text("#sms-number")).includes("71"), "the SMS number section shows it");
});

await journey("add-email", async () => {
  await startSetup("email");
  await page.fill("#setup-email", "not an address");
  await page.click("#send-code");
  await page.locator("#setup-error:not(:empty)").waitFor();
  check((await page.inputValue("#setup-email")) === "not an address", "what was typed is kept");
  await page.fill("#setup-email", email);
  await page.click("#send-code");
  await page.fill("#setup-code", await outboxCode(email));
  await page.click("#setup-next");
  await page.click("#enable");
  await row("email").waitFor();
  check(!(await row("email").textContent()).includes("Email: Email"), "no repeated default name");
});

await journey("sms-number-edit-update-confirm", async () => {
  const label = (await row("sms").locator(".name").textContent()).trim();
  await page.click("#edit-phone");
  check((await text("#phone-hint")).includes("without the country code"), "a hint for national numbers");
  await page.fill("#phone-number", newPhone);
  await page.click("#update-phone");
  await expectText("#phone-sent", "We sent a code to");
  // The old number is still the one in use until the new one is confirmed.
  check((await row("sms").count()) === 1 && (await text("#sms-number")).includes("71"), "the old number stays until confirmed");
  await page.fill("#phone-code", await outboxCode(newPhone));
  await page.click("#confirm-phone");
  await expectText("#notice", "Your SMS number was updated");
  await expectText("#sms-number", "00");
  check((await row("sms").count()) === 1, "one SMS method");
  check((await row("sms").locator(".name").textContent()).trim() === label, "its name is kept");
  const account = await (await page.request.get(`${base}/api/account`)).json();
  check(account.phone === newPhone, `the host's profile number follows, got ${account.phone}`);
});

await journey("older-key-refused-as-passkey-then-try-with-an-older-device", async () => {
  await use("u2f");
  await page.click("#add-device");
  await page.check('input[name=device][value="passkey"]');
  await page.click("#device-continue");
  await page.locator("#device-error:not(:empty)").waitFor();
  check(await page.isVisible("#device-error"), "the error is shown in the section, in view");
  await page.click("#try-older");
  await page.locator("#device-naming:not([hidden])").waitFor();
  await page.fill("#device-name", "Old key");
  await page.click("#device-save");
  await expectText("#notice", "Old key was added");
  await row("older-device").filter({ hasText: "Old key" }).waitFor();
  check((await page.locator("li.factor:has-text('not finished')").count()) === 0, "the refused attempt left nothing behind");
  await use(null);
});

await journey("add-usb-security-key", async () => {
  await use("usb-ctap2");
  await page.click("#add-device");
  await page.check('input[name=device][value="security-key"]');
  await page.click("#device-continue");
  await page.fill("#device-name", "YubiKey 5");
  await page.click("#device-save");
  await row("security-key").filter({ hasText: "YubiKey 5" }).waitFor();
  check((await row("security-key").locator(".muted").textContent()).includes("USB security key"), "listed as a USB key");
  await use(null);
});

await journey("add-usb-security-key-u2f", async () => {
  // A U2F-era USB key registers as a USB security key too (not only as an older device).
  await use("usb-u2f");
  await page.click("#add-device");
  await page.check('input[name=device][value="security-key"]');
  await page.click("#device-continue");
  await page.fill("#device-name", "Blue U2F key");
  await page.click("#device-save");
  await row("security-key").filter({ hasText: "Blue U2F key" }).waitFor();
  check((await row("security-key").count()) === 2, "both USB keys are listed");
  await use(null);
});

await journey("choose-another-option-then-built-in-sensor", async () => {
  await use("usb-u2f");
  await page.click("#add-device");
  await page.check('input[name=device][value="passkey"]');
  await page.click("#device-continue");
  await page.locator("#device-error:not(:empty)").waitFor();
  await page.click("#choose-other");
  await page.locator("#device-choice:not([hidden])").waitFor();
  await use("passkey");
  await page.check('input[name=device][value="passkey"]');
  await page.click("#device-continue");
  await page.fill("#device-name", "Laptop sensor");
  await page.click("#device-save");
  await row("passkey").filter({ hasText: "Laptop sensor" }).waitFor();
  // The device list says whether the passkey syncs: this one reported no backup eligibility.
  await row("passkey").filter({ hasText: "Laptop sensor" }).filter({ hasText: "on this device only" }).waitFor();
  await use(null);
});

await journey("set-preferred", async () => {
  await row("sms").locator(".set-preferred").click();
  await expectText("#notice", "will be asked first");
  await row("sms").locator(".preferred").waitFor();
  check((await page.locator(".preferred").count()) === 1, "only one is preferred");
});

await journey("sign-in-preferred-sms-context-kept-through-errors", async () => {
  await signOut();
  await signInWithPassword();
  await secondStep();
  await expectText("#step-text", "We sent a code to");
  const context = await text("#step-text");
  const ways = await page.locator("#alternatives button").count();
  check(ways >= 5, `the other ways are offered, got ${ways}`);
  await page.fill("#code", "000000");
  await page.click("#verify");
  await expectText("#step-error", "not right");
  check((await text("#step-text")) === context, "still says where the code went");
  check((await page.locator("#alternatives button").count()) === ways, "still offers the other ways");
  await page.click("#resend");
  await expectText("#step-error", "Try again in");
  check(await page.isVisible("#code-form"), "the code field stays");
  await page.fill("#code", await outboxCode(newPhone));
  await page.click("#verify");
  await security();
});

await journey("sign-in-with-authenticator-app", async () => {
  await signOut();
  await signInWithPassword();
  await secondStep();
  await anotherWay("totp");
  await expectText("#step-text", "authenticator app");
  check(!(await text("#step-text")).includes("(Authenticator app)"), "the app's name is not repeated");
  await page.fill("#code", await totpCode());
  await page.click("#verify");
  await security();
});

await journey("sign-in-with-email", async () => {
  await signOut();
  await signInWithPassword();
  await secondStep();
  await anotherWay("email");
  await expectText("#step-text", "We sent a code to");
  await page.fill("#code", await outboxCode(email));
  await page.click("#verify");
  await security();
});

// The second step with one USB security key; the key that answered shows as used.
async function signInWithUsbSecurityKey(which, label) {
  const used = () => row("security-key").filter({ hasText: label }).locator(".muted").textContent();
  check((await used()).includes("not used yet"), `${label} was not used yet`);
  await signOut();
  await signInWithPassword();
  await secondStep();
  await anotherWay("security-key", label);
  await page.locator(`#step-text:has-text("${label}")`).waitFor();
  await page.locator("#use-key:text-is('Use your security key')").waitFor();
  await use(which);
  await page.click("#use-key");
  await security();
  check((await used()).includes("last used"), `${label} shows as used`);
}

await journey("sign-in-with-usb-security-key", async () => {
  await signInWithUsbSecurityKey("usb-ctap2", "YubiKey 5");
});

await journey("sign-in-with-usb-security-key-u2f", async () => {
  await signInWithUsbSecurityKey("usb-u2f", "Blue U2F key");
});

await journey("sign-in-with-older-u2f-key", async () => {
  await signOut();
  await signInWithPassword();
  await secondStep();
  await anotherWay("older-device");
  await page.locator("#use-key:not([hidden])").waitFor();
  await use("u2f");
  await page.click("#use-key");
  await security();
});

await journey("sign-in-with-passkey-as-second-step", async () => {
  await signOut();
  // The platform's passkey provider makes it syncable: the next assertion reports backup
  // eligibility (webauthn-rs takes that upgrade; a backup state without it, never), and the
  // device list follows at that sign-in.
  const { credentials } = await cdp.send("WebAuthn.getCredentials", { authenticatorId: authenticators.passkey });
  check(credentials.length > 0, "the passkey is on the authenticator");
  for (const { credentialId } of credentials) {
    await cdp.send("WebAuthn.setCredentialProperties", {
      authenticatorId: authenticators.passkey, credentialId, backupEligibility: true, backupState: false,
    });
  }
  await signInWithPassword();
  await secondStep();
  await anotherWay("passkey");
  await page.locator("#use-key:text-is('Use your passkey')").waitFor();
  await use("passkey");
  await page.click("#use-key");
  await security();
  await row("passkey").filter({ hasText: "Laptop sensor" }).filter({ hasText: "can sync to your other devices" }).waitFor();
});

await journey("remember-this-browser-then-forget-it", async () => {
  await signOut();
  await signInWithPassword();
  await secondStep();
  await anotherWay("totp");
  await page.fill("#code", await totpCode());
  await page.check("#remember");
  await page.click("#verify");
  await security();
  await signOut();
  await signInWithPassword();
  await security(); // no second step on this browser
  check((await page.locator("#browsers li").count()) === 1, "the browser is listed");
  await page.click("#forget-all");
  await expectText("#notice", "ask for the second step again");
  await signOut();
  await signInWithPassword();
  await secondStep();
});

await journey("recovery-codes-the-few-left-warning-and-the-none-left-nudge", async () => {
  for (let used = 1; used <= 7; used++) {
    if (used > 1) {
      await signOut();
      await signInWithPassword();
      await secondStep();
    }
    await page.click("#use-recovery");
    await page.fill("#recovery-code", codes[used - 1]);
    await page.click("#use-recovery-code");
    await security();
  }
  check((await text("#codes-remaining")).startsWith("3"), "3 left");
  await expectText("#few-codes", "Only 3 recovery codes left");
  // The last three: with none left, the page nudges to get new ones.
  for (const code of codes.slice(7)) {
    await signOut();
    await signInWithPassword();
    await secondStep();
    await page.click("#use-recovery");
    await page.fill("#recovery-code", code);
    await page.click("#use-recovery-code");
    await security();
  }
  await expectText("#few-codes", "You have no recovery codes");
  await page.click("#generate-codes");
  await page.locator("#codes-panel:not([hidden])").waitFor();
  codes = (await text("#new-codes")).split("\n");
  check(codes.length === 10, "10 new codes");
  await page.reload();
  await security();
  check(await page.isHidden("#few-codes"), "no warning with 10");
});

await journey("step-up-on-a-sensitive-action", async () => {
  await page.fill("#new-password", "a brand new password");
  await page.click("#change-password");
  await secondStep();
  await expectText("#step-title", "Confirm it is you");
  await anotherWay("totp");
  await page.fill("#code", await totpCode());
  await page.click("#verify");
  await expectText("#notice", "Your password was changed");
  password = "a brand new password";
  await signOut();
  await signInWithPassword();
  await secondStep();
});

await journey("passkey-autofill-sign-in", async () => {
  // Back to the sign-in page, which offers passkeys in autofill as it loads; the user picks
  // the one the browser offers (the virtual authenticator answers the request).
  check(await page.evaluate(() => PublicKeyCredential.isConditionalMediationAvailable()), "conditional mediation");
  await use("passkey");
  const started = page.waitForRequest((r) => r.url().endsWith("/signin/passwordless/start"));
  const autofill = page.waitForResponse((r) => r.url().endsWith("/signin/passwordless/finish"));
  await page.click("#step-cancel");
  check(JSON.parse((await started).postData()).mediation === "conditional", "the start says it is for autofill");
  check((await page.getAttribute("#username", "autocomplete")) === "username webauthn", "the field offers passkeys");
  const finished = await autofill;
  check(finished.ok(), "the passkey signed in");
  check((await finished.json()).complete === true, "the sign-in is complete: no second step");
  await security();
  await use(null);
  check((await text("#who")).includes(username), "the passkey named the account");
  const session = await sessionNow();
  check(session.user === username && session.complete, `signed in, got ${JSON.stringify(session)}`);
  check(session.first_step === "passkey", `signed in with the passkey alone, got ${session.first_step}`);
  check(session.assurance === "phishing_resistant_multi_factor", `a passkey's assurance, got ${session.assurance}`);
  check(await page.isHidden("#passkey-offer"), "no passkey offered to a user who signed in with one");
});

await journey("passkey-sign-in-button", async () => {
  // A browser without passkey autofill: the page offers the button alone. (Until the flag
  // is taken away again: the passkey journeys at the end use autofill.)
  await page.addInitScript(() => {
    if (localStorage.getItem("journeys.no-autofill")) PublicKeyCredential.isConditionalMediationAvailable = async () => false;
  });
  await page.evaluate(() => localStorage.setItem("journeys.no-autofill", "1"));
  await signOut();
  await page.reload();
  await page.locator("#view-signin:not([hidden])").waitFor();
  await use("passkey");
  await page.click("#passkey-sign-in");
  await security();
  await use(null);
});

await journey("delete-a-device-with-the-icon-and-a-confirmation", async () => {
  await remove("older-device", "Old key");
});

await journey("a-removed-passkey-no-longer-signs-in", async () => {
  await remove("passkey", "Laptop sensor");
  await signOut();
  await use("passkey"); // the authenticator still holds the credential
  await page.click("#passkey-sign-in");
  await expectText("#signin-error", "isn't registered");
  check(await page.isVisible("#view-signin"), "still signed out");
  await use(null);
});

// A second user (the first has started close to the 30 challenges a user may start in
// five minutes): an authenticator app and an email address.
const bob = `bob${Date.now()}`;
let bobApp;
async function bobCode(step) {
  return bobApp.generate({ timestamp: step * 30000 });
}

await journey("lockout-offers-the-other-ways", async () => {
  await signOut();
  await page.fill("#username", bob);
  await page.fill("#password", password);
  await page.click("#sign-up");
  await security();
  await startSetup("totp");
  await page.locator("#qr svg").waitFor();
  bobApp = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(await text("#totp-key")), digits: 6, period: 30 });
  await page.fill("#setup-code", await bobCode(Math.floor(Date.now() / 30000)));
  await page.click("#setup-next");
  await page.click("#enable");
  await row("totp").waitFor();
  await startSetup("email");
  await page.fill("#setup-email", `${bob}@example.com`);
  await page.click("#send-code");
  await page.fill("#setup-code", await outboxCode(`${bob}@example.com`));
  await page.click("#setup-next");
  await page.click("#enable");
  await row("email").waitFor();
  await signOut();
  await page.fill("#username", bob);
  await page.fill("#password", password);
  await page.click("#sign-in");
  await secondStep();
  await expectText("#step-text", "authenticator app"); // the first method is preferred
  // Wrong codes until the app is locked; a used-up challenge offers to start it again,
  // which then says how long the lock lasts.
  for (let i = 1; i <= 8; i++) {
    await page.fill("#code", "000000" === bobApp.generate() ? "111111" : "000000");
    await page.click("#verify");
    await page.locator("#step-error:not(:empty)").waitFor();
    const said = await text("#step-error");
    if (said.includes("Try again in")) break;
    if (said.includes("expired")) {
      await page.click("#start-again");
      await page.locator("#step-error:not(:empty)").waitFor();
      break;
    }
  }
  await expectText("#step-error", "Try again in");
  check((await page.locator("#alternatives button[data-kind=email]").count()) === 1, "the other way is still offered");
  await anotherWay("email");
  await page.fill("#code", await outboxCode(`${bob}@example.com`));
  await page.click("#verify");
  await security();
});

await journey("removing-the-last-method-warns-that-mfa-turns-off", async () => {
  await remove("email", "Email");
  await row("totp").locator(".remove").click();
  check((await text("#confirm-text")).includes("turns 2-step verification off"), "the warning");
  await page.click("#confirm-yes");
  await expectText("#notice", "2-step verification is off");
  await expectText("#mfa-status", "is off");
  await page.locator("#codes-section").waitFor({ state: "hidden" }); // no recovery codes offered without MFA
});

// The help desk: the administrator (`admin`, with the password run.sh sets in
// MYACCOUNT_ADMIN_PASSWORD) needs 2-step verification of its own: it adds an authenticator
// app and signs in with it; then it finds a user, resets her 2-step verification, and
// issues a temporary access code that signs her in once.
const adminPassword = process.env.MYACCOUNT_ADMIN_PASSWORD;
const alice = `alice.${Date.now()}`;
async function signInAs(user, secret) {
  await signOut();
  await page.fill("#username", user);
  await page.fill("#password", secret);
  await page.click("#sign-in");
}
async function findInAdministration(user) {
  await page.locator("#admin-section:not([hidden])").waitFor();
  await page.fill("#admin-query", user);
  await page.click("#admin-search");
  await expectText("#admin-user-name", user);
}
// An authenticator app for `key`: each call a code for a time step it has not used yet
// (as totpCode does).
function authenticatorApp(key) {
  const app = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(key), digits: 6, period: 30 });
  let last = -1;
  return async () => {
    for (;;) {
      const now = Math.floor(Date.now() / 30000);
      const step = Math.max(now, last + 1);
      if (step <= now + 1) {
        last = step;
        return app.generate({ timestamp: step * 30000 });
      }
      await page.waitForTimeout((now + 1) * 30000 - Date.now() + 100);
    }
  };
}
// Adds an authenticator app for the signed-in user (whose password is `secret`); returns
// the app.
async function addAuthenticatorApp(secret = password) {
  await startSetup("totp", secret);
  await page.locator("#qr svg").waitFor();
  const app = authenticatorApp(await text("#totp-key"));
  await page.fill("#setup-code", await app());
  await page.click("#setup-next");
  await page.click("#enable");
  await row("totp").waitFor();
  return app;
}
let adminApp;

await journey("help-desk-finds-alice-and-resets-her-mfa", async () => {
  check(adminPassword, "MYACCOUNT_ADMIN_PASSWORD holds the help desk's password (run.sh sets it)");
  await signOut();
  await page.fill("#username", alice);
  await page.fill("#password", password);
  await page.click("#sign-up");
  await security();
  await addAuthenticatorApp();
  check(await page.isHidden("#admin-section"), "no administration for Alice");

  // The help desk's password alone opens its account page, but not the Administration.
  await signInAs("admin", adminPassword);
  await security();
  await page.locator("#admin-section:not([hidden])").waitFor();
  await expectText("#admin-mfa", "Administration needs 2-step verification");
  await page.fill("#admin-query", alice);
  const searching = page.waitForResponse((r) => r.url().includes("/mfa/admin/users?"));
  await page.click("#admin-search");
  const refused = await searching;
  check(refused.status() === 403 && (await refused.json()).code === "enrolment_required", "the server refuses: no factor");
  await expectText("#admin-mfa-text", "email does not count");
  check(await page.isVisible("#admin-mfa"), "the page says why");
  check(await page.isHidden("#admin-user"), "nobody is shown");
  check((await page.locator("#admin-results li").count()) === 0, "nobody is listed");

  // It adds an authenticator app, then signs in with it (this browser remembered).
  adminApp = await addAuthenticatorApp(adminPassword);
  await page.locator("#admin-mfa").waitFor({ state: "hidden" });
  await signInAs("admin", adminPassword);
  await secondStep();
  await page.fill("#code", await adminApp());
  await page.check("#remember");
  await page.click("#verify");
  await security();
  await findInAdministration(alice);
  check(await page.isHidden("#admin-mfa"), "nothing more is asked");
  await expectText("#admin-summary", "2-step verification is on");
  check((await page.locator('#admin-factors li.factor[data-kind="totp"]').count()) === 1, "her authenticator app is listed");
  check((await text("#admin-codes")).startsWith("10 recovery codes left"), "and her recovery codes");
  await page.click("#admin-reset");
  await page.locator("#confirm-dialog[open]").waitFor();
  check((await text("#confirm-text")).startsWith(`Reset ${alice}'s 2-step verification?`), "the confirmation names her");
  await page.click("#confirm-yes");
  await expectText("#admin-notice", "was reset");
  await expectText("#admin-summary", "2-step verification is off");
  check((await page.locator("#admin-factors li.factor[data-kind]").count()) === 0, "her app is gone from her status");
  check((await text("#admin-codes")).startsWith("0 recovery codes left"), "and her recovery codes");

  // Alice signs in with her password alone now.
  await signInAs(alice, password);
  await security();
  await expectText("#mfa-status", "is off");
});

await journey("help-desk-temporary-access-code-signs-alice-in-once", async () => {
  // Alice sets up an authenticator app again; then the phone it is on is lost.
  await addAuthenticatorApp();

  // On the browser it remembered, the help desk's password skips the second step; the
  // Administration asks for it all the same, then carries on with the search.
  await signInAs("admin", adminPassword);
  await security();
  await page.locator("#admin-section:not([hidden])").waitFor();
  await page.fill("#admin-query", alice);
  await page.click("#admin-search");
  await expectText("#admin-mfa", "Administration needs 2-step verification");
  check(await page.isHidden("#admin-user"), "nobody is shown");
  await page.click("#admin-verify");
  await secondStep();
  await expectText("#step-title", "Confirm it is you");
  await page.fill("#code", await adminApp());
  await page.click("#verify");
  await expectText("#admin-user-name", alice);
  check(await page.isHidden("#admin-mfa"), "nothing more is asked");
  const issuing = page.waitForResponse((r) => r.url().endsWith("/temporary-access") && r.request().method() === "POST");
  await page.click("#admin-issue");
  const issued = await issuing;
  check(issued.status() === 201 && issued.headers()["cache-control"] === "no-store", "issued, and no cache keeps it");
  await page.locator("#admin-issued:not([hidden])").waitFor();
  const code = await text("#admin-issued-code");
  check(/^[A-Z2-7]{4}(-[A-Z2-7]{4}){4}$/.test(code), `a temporary access code is shown, got ${code}`);
  await expectText("#admin-temporary", "works until");

  // Alice: her password, then the code instead of her app; she reaches her account.
  await signInAs(alice, password);
  await secondStep();
  await page.click("#use-temporary");
  await page.fill("#temporary-code", code);
  await page.click("#use-temporary-code");
  await security();
  check((await text("#who")).includes(alice), "her account");
  // She adds a new method right away: the code counts as her second step.
  await startSetup("email");
  await page.fill("#setup-email", `${alice}@example.com`);
  await page.click("#send-code");
  await page.fill("#setup-code", await outboxCode(`${alice}@example.com`));
  await page.click("#setup-next");
  await page.click("#enable");
  await row("email").waitFor();

  // The same code a second time: refused.
  await signInAs(alice, password);
  await secondStep();
  await page.click("#use-temporary");
  await page.fill("#temporary-code", code);
  await page.click("#use-temporary-code");
  await expectText("#step-error", "not right");
  check(await page.isVisible("#view-step"), "still at the second step");
});

// Passkeys the way browsers offer them: after a sign-in with the password and a code, the
// page offers a passkey in one click ("Not now" lasts for the session); the passkey then
// signs in from the user-name field's autofill. And one relying party on several origins:
// the second origin, which the service lists, registers and signs in; the third, which it
// does not, is refused.
const carol = `carol${Date.now()}`;
await journey("passkey-upgrade-prompt-after-password-and-code", async () => {
  await page.evaluate(() => localStorage.removeItem("journeys.no-autofill")); // this browser has autofill again
  await signOut();
  await page.fill("#username", carol);
  await page.fill("#password", password);
  await page.click("#sign-up");
  await security();
  const carolApp = await addAuthenticatorApp();
  const carolCodes = (await text("#setup-codes")).split("\n");
  check(await page.isHidden("#passkey-offer"), "no offer before a sign-in with a second step");

  // Her password and her app: the offer. "Not now" puts it away for this session.
  await signInAs(carol, password);
  await secondStep();
  await page.fill("#code", await carolApp());
  await page.click("#verify");
  await security();
  await page.locator("#passkey-offer:not([hidden])").waitFor();
  await expectText("#passkey-offer-title", "Add a passkey to sign in faster");
  await page.click("#passkey-offer-dismiss");
  await page.locator("#passkey-offer").waitFor({ state: "hidden" });
  await page.reload();
  await security();
  check(await page.isHidden("#passkey-offer"), "not offered again in this session");

  // The next sign-in (her password and a recovery code) offers it again: one click adds it.
  await signInAs(carol, password);
  await secondStep();
  await page.click("#use-recovery");
  await page.fill("#recovery-code", carolCodes[0]);
  await page.click("#use-recovery-code");
  await security();
  await page.locator("#passkey-offer:not([hidden])").waitFor();
  await newPlatformAuthenticator(); // it holds her passkey alone
  await use("passkey");
  const finishing = page.waitForResponse((r) => /\/mfa\/factors\/[^/]+\/finish$/.test(r.url()));
  await page.click("#passkey-offer-add");
  check((await finishing).ok(), "the passkey was added");
  await expectText("#notice", "Passkey was added");
  await row("passkey").filter({ hasText: "Passkey" }).waitFor();
  await page.locator("#passkey-offer").waitFor({ state: "hidden" });
  check(await page.isHidden("#reauth-dialog"), "no password asked again: the sign-in was recent enough");
  check((await sessionNow()).offer_passkey === false, "the server no longer offers it");

  // Signed out, the sign-in page offers it in autofill: picked, it signs her in.
  await signOut();
  check((await autofillFrom()).ok(), "the passkey from autofill signed in");
  await security();
  await use(null);
  check((await text("#who")).includes(carol), "the passkey named her account");
  const session = await sessionNow();
  check(session.first_step === "passkey" && session.assurance === "phishing_resistant_multi_factor" && session.complete,
    `a passkey sign-in, got ${JSON.stringify(session)}`);
  check(await page.isHidden("#passkey-offer"), "no offer once she has a passkey");
});

const dave = `dave${Date.now()}`;
await journey("second-origin-accepted", async () => {
  check(secondOrigin, "MYACCOUNT_SECOND_ORIGIN names the second origin (run.sh sets it)");
  await signOut();
  await page.goto(secondOrigin);
  await page.locator("#view-signin:not([hidden])").waitFor();
  await page.fill("#username", dave);
  await page.fill("#password", password);
  await page.click("#sign-up");
  await security();
  // A passkey made on this origin: the service lists it, so it is accepted.
  await newPlatformAuthenticator(); // it holds his passkey alone
  await use("passkey");
  await page.click("#add-device");
  await page.check('input[name=device][value="passkey"]');
  const finishing = page.waitForResponse((r) => /\/mfa\/factors\/[^/]+\/finish$/.test(r.url()));
  await page.click("#device-continue");
  check((await finishing).ok(), "the server accepted the passkey from the second origin");
  await page.fill("#device-name", "Phone");
  await page.click("#device-save");
  await row("passkey").filter({ hasText: "Phone" }).waitFor();
  // And it signs in there, picked from autofill.
  await signOut();
  check((await autofillFrom()).ok(), "the passkey signed in on the second origin");
  await security();
  await use(null);
  check(page.url().startsWith(secondOrigin), `still on the second origin, at ${page.url()}`);
  check((await text("#who")).includes(dave), "the passkey named his account");
  check((await sessionNow(secondOrigin)).first_step === "passkey", "a passkey sign-in");
});

await journey("unlisted-origin-refused", async () => {
  check(unlistedOrigin, "MYACCOUNT_UNLISTED_ORIGIN names an origin the service does not list (run.sh sets it)");
  await signOut();
  await page.goto(unlistedOrigin);
  await page.locator("#view-signin:not([hidden])").waitFor();
  // The same app, the same relying party (localhost): the browser offers Dave's passkey in
  // autofill and hands it over, but the server refuses an answer signed for this origin.
  const refused = await autofillFrom(unlistedOrigin);
  check(refused.status() === 422 && (await refused.json()).code === "code_invalid", `the server refuses, got ${refused.status()}`);
  await page.locator("#signin-error:not(:empty)").waitFor();
  check(await page.isVisible("#view-signin"), "still signed out");
  check((await sessionNow(unlistedOrigin)).code === "unauthenticated", "nobody is signed in");
  await use(null);

  // A new account there: a passkey made on this origin is refused too, and nothing is added.
  await page.fill("#username", `erin${Date.now()}`);
  await page.fill("#password", password);
  await page.click("#sign-up");
  await security();
  await use("passkey");
  await page.click("#add-device");
  await page.check('input[name=device][value="passkey"]');
  const registering = page.waitForResponse((r) => /\/mfa\/factors\/[^/]+\/finish$/.test(r.url()));
  await page.click("#device-continue");
  check((await registering).status() === 422, "the server refuses the new passkey's origin");
  await page.locator("#device-error:not(:empty)").waitFor();
  check(await page.isVisible("#device-error"), "the refusal is shown");
  await use(null);
  await page.click("#device-cancel");
  await expectText("#mfa-status", "is off");
  check((await row("passkey").count()) === 0, "no passkey was added");
  check((await page.locator("li.factor:has-text('not finished')").count()) === 0, "the refused attempt left nothing behind");
});

await context.close();
console.log(`all ${passed} journeys passed; screenshots in ${shots}`);
