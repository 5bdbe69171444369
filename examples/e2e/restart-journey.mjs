// My Account on SQLite survives a restart: before it, a new user signs up and adds an
// authenticator app; after it (same database, a new process), the same user signs in with
// the password and a code, and finds the app listed.
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

try {
  if (phase === "before") {
    const state = { username: `restart${Date.now()}`, password: "correct horse battery staple" };
    await page.goto(`${base}/signup`);
    await page.fill("#username", state.username);
    await page.fill("#password", state.password);
    await page.click("#create-account");
    await page.waitForURL(/\/security$/);
    await page.click("#add-totp");
    await page.locator("#qr").waitFor();
    state.secret = await page.getAttribute("#manual-key", "data-key");
    state.step = Math.floor(Date.now() / 30000);
    await page.fill("#code", code(state.secret, state.step));
    await page.click("#confirm");
    await page.waitForURL(/\/security$/);
    check((await page.locator('li.factor[data-kind="totp"]').count()) === 1, "the app is listed");
    fs.writeFileSync(stateFile, JSON.stringify(state));
  } else {
    const state = JSON.parse(fs.readFileSync(stateFile, "utf8"));
    await page.goto(`${base}/signin`);
    await page.fill("#username", state.username);
    await page.fill("#password", state.password);
    await page.click("#sign-in");
    await page.waitForURL(/\/mfa$/);
    // A step after the one used at enrolment (the replay marker survived the restart too).
    const step = Math.max(Math.floor(Date.now() / 30000), state.step + 1);
    await page.fill("#code", code(state.secret, step));
    await page.click("#verify");
    await page.waitForURL(/\/security$/);
    check((await page.locator('li.factor[data-kind="totp"]').count()) === 1, "the app is still listed");
  }
  console.log(`ok restart-${phase}`);
} finally {
  await page.screenshot({ path: path.join(shots, `restart-${phase}.png`), fullPage: true });
  await browser.close();
}
