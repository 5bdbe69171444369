// Browser journeys through the My Account example in headless Chromium (Debian's, driven
// by playwright-core), with DevTools virtual authenticators for the passkey, the USB
// security keys (a CTAP2 key and a U2F key) and the older U2F key.
// Usage: node journeys.mjs BASE_URL SCREENSHOT_DIR
import fs from "node:fs";
import path from "node:path";
import { chromium } from "playwright-core";
import * as OTPAuth from "otpauth";

const [base, shots = "screenshots"] = process.argv.slice(2);
if (!base) throw new Error("usage: node journeys.mjs BASE_URL [SCREENSHOT_DIR]");
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

// Four virtual authenticators: a platform passkey (CTAP2, internal, resident keys, user
// verification); two USB security keys added with "Add a USB security key", a modern CTAP2
// key without a PIN (no user verification) and a U2F key; and a U2F-era USB key added with
// "Try with an older device". Only the one a step is about answers.
const cdp = await context.newCDPSession(page);
await cdp.send("WebAuthn.enable", { enableUI: false });
async function addAuthenticator(options) {
  const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: { ...options, automaticPresenceSimulation: true },
  });
  return authenticatorId;
}
const authenticators = {
  passkey: await addAuthenticator({ protocol: "ctap2", transport: "internal", hasResidentKey: true,
    hasUserVerification: true, isUserVerified: true }),
  "usb-ctap2": await addAuthenticator({ protocol: "ctap2", ctap2Version: "ctap2_1", transport: "usb",
    hasResidentKey: true, hasUserVerification: false }),
  "usb-u2f": await addAuthenticator({ protocol: "u2f", transport: "usb", hasResidentKey: false,
    hasUserVerification: false }),
  u2f: await addAuthenticator({ protocol: "u2f", transport: "usb" }),
};
async function use(which) {
  check(which in authenticators, `no authenticator ${which}`);
  for (const [name, id] of Object.entries(authenticators)) {
    await cdp.send("WebAuthn.setAutomaticPresenceSimulation", { authenticatorId: id, enabled: name === which });
  }
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
async function flash() {
  return (await page.locator("#flash").count()) ? (await page.locator("#flash").textContent()).trim() : "";
}
async function expectFlash(fragment) {
  const text = await flash();
  check(text.includes(fragment), `expected a message with "${fragment}", got "${text}" at ${page.url()}`);
}
async function expectError(fragment) {
  await page.locator("#js-error:not([hidden])").waitFor();
  const text = await page.locator("#js-error").textContent();
  check(text.includes(fragment), `expected the error "${fragment}", got "${text}"`);
}
const row = (kind) => page.locator(`li.factor[data-kind="${kind}"]`);

const username = `alice${Date.now()}`;
const password = "correct horse battery staple";
const phone = "+14155552671";
let totp;
let smsSentAt = 0;
let lastStep = -1;
// The authenticator app: a code for a time step not used yet (the window allows the next).
function totpCode() {
  const now = Math.floor(Date.now() / 30000);
  const step = Math.max(now, lastStep + 1);
  check(step <= now + 1, "no unused TOTP step in the window");
  lastStep = step;
  return totp.generate({ timestamp: step * 30000 });
}
async function outboxCode(to) {
  const response = await page.request.get(`${base}/dev/outbox?to=${encodeURIComponent(to)}`);
  const { code } = await response.json();
  check(code, `no code was sent to ${to}`);
  return code;
}
async function signOut() {
  await page.click("#sign-out");
  await page.waitForURL(/\/signin$/);
}
async function signInWithPassword() {
  await page.goto(`${base}/signin`);
  await page.fill("#username", username);
  await page.fill("#password", password);
  await page.click("#sign-in");
  await page.waitForURL(/\/mfa$/);
}
async function tryAnotherWay(kind, label) {
  await page.click("#try-another-way summary");
  const link = page.locator(`a.alternative[data-kind="${kind}"]`);
  await (label ? link.filter({ hasText: label }) : link).click();
  await page.waitForURL(/\/mfa\?factor=/);
}
async function useKey(which) {
  await use(which);
  await page.click("#use-key");
  await page.waitForURL(/\/security$/);
}

await journey("sign-up", async () => {
  await page.goto(`${base}/signup`);
  await page.fill("#username", username);
  await page.fill("#password", password);
  await page.click("#create-account");
  await page.waitForURL(/\/security$/);
  check((await page.textContent("#mfa-status")).includes("off"), "2-step should be off");
});

await journey("add-authenticator-app", async () => {
  await page.click("#add-totp");
  await page.locator("#qr").waitFor();
  const key = await page.getAttribute("#manual-key", "data-key");
  totp = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(key), digits: 6, period: 30, algorithm: "SHA1" });
  await page.fill("#code", totpCode());
  await page.click("#confirm");
  await page.waitForURL(/\/security$/);
  await expectFlash("was added");
  check((await row("totp").count()) === 1, "the app is listed");
  check((await row("totp").locator(".preferred").count()) === 1, "the first factor is preferred");
});

await journey("add-sms", async () => {
  await page.fill("#new-phone", "+1 415 555 2671");
  await page.click("#add-phone");
  await page.locator("#sent-to").waitFor();
  await page.fill("#code", await outboxCode(phone));
  smsSentAt = Date.now();
  await page.click("#confirm");
  await page.waitForURL(/\/security$/);
  await expectFlash("was added");
  check((await row("sms").count()) === 1, "the phone is listed");
});

await journey("add-passkey", async () => {
  await use("passkey");
  await page.fill("#key-label", "Laptop sensor");
  await page.click("#add-passkey");
  await page.waitForURL(/\/security$/);
  await row("passkey").waitFor();
  await expectFlash("Laptop sensor was added");
});

await journey("add-older-u2f-key", async () => {
  await use("u2f");
  await page.fill("#key-label", "Old key");
  await page.click("#add-older-device");
  await row("older-device").waitFor();
  await expectFlash("Old key was added");
});

// "Add a USB security key": registers as a security key (not an "Older security key"), or
// fails at once with the browser's error shown on the page.
async function addUsbSecurityKey(which, label) {
  await use(which);
  await page.fill("#key-label", label);
  await page.click("#add-security-key");
  const listed = row("security-key").filter({ hasText: label });
  await page.locator(`li.factor[data-kind="security-key"]:has-text("${label}"), #js-error:not([hidden])`).first()
    .waitFor();
  if (!(await listed.count())) throw new Error(`the key was refused: "${await page.textContent("#js-error")}"`);
  await expectFlash(`${label} was added`);
  const kindShown = (await listed.locator(".muted").first().textContent()).trim();
  check(kindShown.startsWith("Security key"), `listed as a security key, got "${kindShown}"`);
  check((await row("older-device").filter({ hasText: label }).count()) === 0, "not an older security key");
}

await journey("add-usb-security-key-ctap2", async () => {
  await addUsbSecurityKey("usb-ctap2", "YubiKey 5");
});

await journey("add-usb-security-key-u2f", async () => {
  await addUsbSecurityKey("usb-u2f", "Blue U2F key");
  check((await row("security-key").count()) === 2, "both USB keys are listed");
  check((await row("older-device").count()) === 1, "the older key is still listed");
});

await journey("rename", async () => {
  await row("older-device").locator(".new-label").fill("Desk drawer key");
  await row("older-device").locator(".rename").click();
  await expectFlash("Renamed to Desk drawer key");
  check((await row("older-device").locator(".label").textContent()) === "Desk drawer key", "new name shown");
});

await journey("set-preferred", async () => {
  await row("sms").locator(".set-preferred").click();
  await expectFlash("preferred");
  check((await row("sms").locator(".preferred").count()) === 1, "the phone is preferred");
  check((await row("totp").locator(".preferred").count()) === 0, "only one is preferred");
});

let codes;
await journey("recovery-codes", async () => {
  await page.click("#get-recovery-codes");
  codes = await page.locator(".recovery-code").allTextContents();
  check(codes.length === 10, `10 codes shown, got ${codes.length}`);
  check((await page.getAttribute("#download-codes", "download")).endsWith(".txt"), "a .txt download");
  await page.click("#codes-done");
  check((await page.textContent("#recovery-remaining")) === "10", "10 remain");
});

await journey("sign-in-with-sms", async () => {
  // One code per 30 s to a number: wait out the enrolment code's cooldown.
  await page.waitForTimeout(Math.max(0, smsSentAt + 31000 - Date.now()));
  await signOut();
  await signInWithPassword();
  await page.locator("#sent-to").waitFor(); // the preferred factor is offered first
  await page.fill("#code", await outboxCode(phone));
  await page.click("#verify");
  await page.waitForURL(/\/security$/);
});

await journey("sign-in-with-authenticator-app", async () => {
  await signOut();
  await signInWithPassword();
  await tryAnotherWay("totp");
  await page.fill("#code", totpCode());
  await page.click("#verify");
  await page.waitForURL(/\/security$/);
});

await journey("sign-in-with-passkey-as-second-step", async () => {
  await signOut();
  await signInWithPassword();
  await tryAnotherWay("passkey");
  await useKey("passkey");
});

await journey("sign-in-with-older-u2f-key", async () => {
  await signOut();
  await signInWithPassword();
  await tryAnotherWay("older-device");
  await useKey("u2f");
});

// The second step with one USB security key; the key that answered shows as used.
const keyUse = async (label) =>
  (await row("security-key").filter({ hasText: label }).locator(".muted").first().textContent()).trim();
async function signInWithUsbSecurityKey(which, label) {
  check((await keyUse(label)).includes("never used"), `${label} was not used yet`);
  await signOut();
  await signInWithPassword();
  await tryAnotherWay("security-key", label);
  check((await page.textContent("main")).includes("Use your security key"), "a security key is asked for");
  await useKey(which);
  const used = await keyUse(label);
  check(used.includes("last used"), `${label} shows as used, got "${used}"`);
}

await journey("sign-in-with-usb-security-key-ctap2", async () => {
  await signInWithUsbSecurityKey("usb-ctap2", "YubiKey 5");
});

await journey("sign-in-with-usb-security-key-u2f", async () => {
  await signInWithUsbSecurityKey("usb-u2f", "Blue U2F key");
});

await journey("sign-in-with-recovery-code", async () => {
  await signOut();
  await signInWithPassword();
  await page.click("#try-another-way summary");
  await page.click("#use-recovery-code");
  await page.fill("#code", codes[0]);
  await page.click("#verify");
  await page.waitForURL(/\/security$/);
  await expectFlash("9 recovery codes left");
  check((await page.textContent("#recovery-remaining")) === "9", "the count dropped to 9");
});

await journey("passkey-sign-in-without-username", async () => {
  await signOut();
  await use("passkey");
  await page.click("#passkey-sign-in");
  await page.waitForURL(/\/security$/);
  check((await page.textContent("#who")) === username, "signed in as the passkey's owner");
});

await journey("delete-passkey-then-it-fails", async () => {
  await row("passkey").locator("a.remove").click();
  await page.click("#confirm-remove");
  if (page.url().endsWith("/reauth")) {
    // A passkey sign-in typed no password: changes ask for it.
    await page.fill("#password", password);
    await page.click("#confirm-password");
    await page.waitForURL(/\/security$/);
    await row("passkey").locator("a.remove").click();
    await page.click("#confirm-remove");
  }
  await page.waitForURL(/\/security$/);
  await expectFlash("was removed");
  check((await row("passkey").count()) === 0, "the passkey is gone");
  await signOut();
  await use("passkey"); // the authenticator still holds the credential
  await page.click("#passkey-sign-in");
  await expectError("isn't registered");
  check(page.url().endsWith("/signin"), "still signed out");
});

await journey("wrong-code-then-lockout", async () => {
  await signInWithPassword();
  await tryAnotherWay("totp");
  for (let i = 1; i <= 5; i++) {
    await page.fill("#code", "000000" === totp.generate() ? "111111" : "000000");
    await page.click("#verify");
    await expectFlash("isn't right");
  }
  await page.fill("#code", "000001");
  await page.click("#verify");
  await expectFlash("Too many wrong attempts. Try again in");
});

await context.close();
console.log(`all ${passed} journeys passed; screenshots in ${shots}`);
