// Browser journeys through the host example (examples/src/bin/host): an axum app that adds
// MFA with mfa-axum and its browser module, in headless Chromium with a DevTools virtual
// platform authenticator for the passkey.
// Usage: node host-journeys.mjs BASE_URL SCREENSHOT_DIR
import fs from "node:fs";
import path from "node:path";
import { chromium } from "playwright-core";
import * as OTPAuth from "otpauth";

const [base, shots = "screenshots"] = process.argv.slice(2);
if (!base) throw new Error("usage: node host-journeys.mjs BASE_URL [SCREENSHOT_DIR]");
fs.mkdirSync(shots, { recursive: true });
const profile = fs.mkdtempSync("/tmp/host-chromium-");
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-sync"],
});
const page = context.pages()[0] || (await context.newPage());
page.setDefaultTimeout(15000);
page.on("pageerror", (e) => console.log("page error:", e.message));
const cdp = await context.newCDPSession(page);
await cdp.send("WebAuthn.enable", { enableUI: false });
const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
  options: { protocol: "ctap2", transport: "internal", hasResidentKey: true, hasUserVerification: true,
    isUserVerified: true, automaticPresenceSimulation: false },
});
// The user touches the authenticator only in the steps about it (the sign-in page offers
// passkeys in the background, through autofill, and nobody picks one elsewhere).
async function presence(on) {
  await cdp.send("WebAuthn.setAutomaticPresenceSimulation", { authenticatorId, enabled: on });
}

let passed = 0;
async function journey(name, steps) {
  const started = Date.now();
  try {
    await steps();
  } catch (e) {
    console.log(`not ok ${passed + 1} host-${name}: ${e.message.split("\n")[0]}`);
    throw e;
  } finally {
    await page.screenshot({ path: path.join(shots, `host-${String(passed + 1).padStart(2, "0")}-${name}.png`), fullPage: true });
  }
  passed += 1;
  console.log(`ok ${passed} host-${name} (${Date.now() - started} ms)`);
}
function check(condition, message) {
  if (!condition) throw new Error(message);
}
let totp;
let lastStep = -1;
// The authenticator app: a code for a time step not used yet (the window allows the next).
function totpCode() {
  const step = Math.max(Math.floor(Date.now() / 30000), lastStep + 1);
  lastStep = step;
  return totp.generate({ timestamp: step * 30000 });
}
async function signInWithPassword(password = "wonderland") {
  await page.goto(base);
  await page.fill("#user", "alice");
  await page.fill("#password", password);
  await page.click("#password-form button");
}
// Signs out; the sign-in page then asks for passkeys through autofill, in the background.
async function signOut() {
  const autofill = page.waitForResponse((r) => r.url().endsWith("/signin/passwordless/start"));
  await page.click("#signout");
  await page.locator("#signin:not([hidden])").waitFor();
  await autofill;
}
const factors = () => page.locator("#factors li");

await journey("sign-in-with-a-password-alone-before-mfa", async () => {
  await signInWithPassword();
  await page.locator("#account:not([hidden])").waitFor();
  check((await page.textContent("#who")).includes("alice"), "signed in as alice");
});

await journey("add-authenticator-app", async () => {
  await page.click("#add-app");
  await page.locator("#setup svg").waitFor();
  const secret = (await page.textContent("#setup code")).trim();
  totp = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(secret), digits: 6, period: 30 });
  await page.fill("#first-code", "000000");
  await page.click("#confirm button");
  await page.locator("#error:has-text('not right')").waitFor();
  await page.fill("#first-code", totpCode());
  await page.click("#confirm button");
  await factors().filter({ hasText: "totp" }).waitFor();
  check((await factors().first().textContent()).includes("preferred"), "the first factor is preferred");
  check((await page.textContent("#error")) === "", "the error is gone once the code is right");
});

await journey("add-passkey", async () => {
  await presence(true);
  await page.click("#add-passkey");
  await factors().filter({ hasText: "passkey" }).waitFor();
  await presence(false);
});

await journey("recovery-codes", async () => {
  await page.click("#recovery");
  await page.locator("#setup pre").waitFor();
  const codes = (await page.textContent("#setup pre")).trim().split("\n");
  check(codes.length >= 8, `recovery codes shown (${codes.length})`);
});

await journey("second-step-with-the-authenticator-app", async () => {
  await signOut();
  await signInWithPassword();
  await page.locator("#second-step:not([hidden])").waitFor();
  await page.fill("#code", "000000");
  await page.click("#code-form button");
  await page.locator("#error:has-text('not right')").waitFor();
  await page.fill("#code", totpCode());
  await page.click("#code-form button");
  await page.locator("#account:not([hidden])").waitFor();
});

await journey("passkey-sign-in-without-a-password", async () => {
  await signOut();
  await page.waitForTimeout(300); // the autofill request is pending, and stays so
  await presence(true);
  await page.click("#passkey-signin"); // ends the autofill request, asks for a passkey
  await page.locator("#account:not([hidden])").waitFor();
  await presence(false);
  check((await page.textContent("#who")).includes("alice"), "the passkey named alice");
});

await journey("another-way-passkey-and-remember-this-browser", async () => {
  await signOut();
  await signInWithPassword();
  await page.locator("#second-step:not([hidden])").waitFor();
  await page.click('#alternatives button[data-kind="passkey"]');
  await page.locator("#use-key:not([hidden])").waitFor();
  await page.check("#remember");
  await presence(true);
  await page.click("#use-key");
  await page.locator("#account:not([hidden])").waitFor();
  await presence(false);
  await signOut();
  await signInWithPassword();
  await page.locator("#account:not([hidden])").waitFor(); // no second step on this browser
});

await journey("passkey-autofill", async () => {
  // The sign-in page asks for passkeys with conditional mediation as it loads; the user
  // picks the one the browser offers (the virtual authenticator answers the request).
  await presence(true);
  const autofill = page.waitForResponse((r) => r.url().endsWith("/signin/passwordless/finish"));
  await page.click("#signout"); // the page reloads: wait for its autofill, not the old page
  check((await autofill).ok(), "the passkey signed in");
  await page.locator("#account:not([hidden])").waitFor();
  await presence(false);
  check(await page.evaluate(() => PublicKeyCredential.isConditionalMediationAvailable()), "conditional mediation");
  check((await page.textContent("#who")).includes("alice"), "the passkey named alice");
});

await journey("wrong-password-is-refused", async () => {
  await signOut();
  await signInWithPassword("not the password");
  await page.locator("#error:has-text('password')").waitFor();
  check(!(await page.isVisible("#account")), "not signed in");
});

console.log(`all ${passed} host journeys passed`);
await context.close();
