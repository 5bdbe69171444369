// My Account on SQLite survives a restart: before it, a new user signs up and adds an
// authenticator app; after it (same database, a new process), the same user signs in with
// the password and a code, and finds the app listed. The instance after the restart keeps a
// password fresh for 5 s only (`--reauth-window 5`), so a change asks for it again.
// Usage: node restart-journey.mjs before|after BASE_URL STATE_FILE SCREENSHOT_DIR
import fs from "node:fs";
import path from "node:path";
import { chromium } from "playwright-core";
import * as OTPAuth from "otpauth";

const [phase, base, stateFile, shots = "screenshots"] = process.argv.slice(2);
if (!["before", "after"].includes(phase) || !base || !stateFile) {
  throw new Error("usage: node restart-journey.mjs before|after BASE_URL STATE_FILE [SCREENSHOT_DIR]");
}
fs.mkdirSync(shots, { recursive: true });
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--no-first-run"],
});
const page = await browser.newPage();
page.setDefaultTimeout(15000);
function check(condition, message) {
  if (!condition) throw new Error(message);
}
const code = (secret, step) =>
  new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(secret), digits: 6, period: 30 }).generate({ timestamp: step * 30000 });

const security = () => page.locator("#view-security:not([hidden])").waitFor();

try {
  if (phase === "before") {
    const state = { username: `restart${Date.now()}`, password: "correct horse battery staple" };
    await page.goto(base);
    await page.fill("#username", state.username);
    await page.fill("#password", state.password);
    await page.click("#sign-up");
    await security();
    await page.selectOption("#add-kind", "totp");
    await page.click("#add-method");
    await page.fill("#setup-password", state.password);
    await page.click("#setup-password-next");
    await page.locator("#qr svg").waitFor();
    state.secret = (await page.textContent("#totp-key")).trim();
    state.step = Math.floor(Date.now() / 30000);
    await page.fill("#setup-code", code(state.secret, state.step));
    await page.click("#setup-next");
    await page.click("#enable");
    await page.locator('li.factor[data-kind="totp"]').waitFor();
    fs.writeFileSync(stateFile, JSON.stringify(state));
  } else {
    const state = JSON.parse(fs.readFileSync(stateFile, "utf8"));
    // Two codes are used below (sign-in, then the step-up): start in a step after the
    // enrolment's, so both fall in the window (this step and the next).
    while (Math.floor(Date.now() / 30000) <= state.step) await page.waitForTimeout(500);
    await page.goto(base);
    await page.fill("#username", state.username);
    await page.fill("#password", state.password);
    await page.click("#sign-in");
    await page.locator("#view-step:not([hidden])").waitFor();
    // A step after the one used at enrolment (the replay marker survived the restart too).
    const step = Math.max(Math.floor(Date.now() / 30000), state.step + 1);
    await page.fill("#code", code(state.secret, step));
    await page.click("#verify");
    await security();
    check((await page.locator('li.factor[data-kind="totp"]').count()) === 1, "the app is still listed");

    // This instance keeps a password fresh for 5 s: a change after that asks for it again in
    // a dialog that says why, and goes on with what the user had typed.
    await page.waitForTimeout(5500);
    await page.click("#edit-phone");
    await page.fill("#phone-number", "415 555 2671");
    await page.click("#update-phone");
    await page.locator("#reauth-dialog[open]").waitFor();
    check((await page.textContent("#reauth-why")).includes("What you entered is kept"), "it says why, and that nothing is lost");
    await page.fill("#reauth-password", state.password);
    await page.click("#reauth-continue");
    // The second step is stale too: the page asks for it, then goes on.
    await page.locator("#step-title:has-text('Confirm it is you')").waitFor();
    await page.fill("#code", code(state.secret, step + 1));
    await page.click("#verify");
    await page.locator("#phone-sent:has-text('We sent a code to')").waitFor();
    check((await page.inputValue("#phone-number")) === "415 555 2671", "the number typed is still there");
  }
  console.log(`ok restart-${phase}`);
} finally {
  await page.screenshot({ path: path.join(shots, `restart-${phase}.png`), fullPage: true });
  await browser.close();
}
