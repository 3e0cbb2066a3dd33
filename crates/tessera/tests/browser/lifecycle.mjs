// An account's whole life in headless Chromium, through Tessera's real pages (issue 17):
// register → the verification mail → its link followed → sign in → forgot password →
// the recovery mail → a new password → the old refresh tokens refused at the token
// endpoint → the account page lists the sessions and the consents → revoking a consent
// → that application's refresh token refused; then the account page's own forms
// (bad input beside its field, ending another session, deleting the account).
//
// Driven by crates/tessera/tests/it/lifecycle.rs, which passes: TESSERA_URL, CHROMIUM,
// SCREENSHOTS (a folder), CLIENT_SECRET (of both applications), WEBAPP and GALLERY (each
// `client_id redirect_uri`; the test answers at the redirect URIs). The test's SMTP server is in that process: a line
// `MAIL? n` on stdout asks it for the n-th message received, which comes back on stdin
// as one JSON line `{"text": …}`. Exits non-zero on the first failed check.

import { chromium } from "playwright-core";
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";

const base = process.env.TESSERA_URL;
const shots = process.env.SCREENSHOTS;
const secret = process.env.CLIENT_SECRET;
const [webapp, webappRedirect] = process.env.WEBAPP.split(" ");
const [gallery, galleryRedirect] = process.env.GALLERY.split(" ");
mkdirSync(shots, { recursive: true });
const replies = createInterface({ input: process.stdin })[Symbol.asyncIterator]();

const PASSWORD = "violet anchor drifting lantern";
const NEW_PASSWORD = "copper meadow whistle harbour";

function check(condition, message) {
  if (!condition) {
    throw new Error(`check failed: ${message}`);
  }
}

async function shot(page, name) {
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
}

async function submitForm(page, buttonText) {
  await Promise.all([page.waitForNavigation(), page.getByRole("button", { name: buttonText, exact: true }).first().click()]);
}

/** The n-th message the test's SMTP server received (1-based), decoded. */
async function mail(n) {
  process.stdout.write(`MAIL? ${n}\n`);
  const { value, done } = await replies.next();
  check(!done, "the test answers mail requests");
  return JSON.parse(value).text;
}

function linkIn(text, path) {
  const found = text.match(new RegExp(`${path.replaceAll("/", "\\/")}[A-Za-z0-9_-]{20,}`));
  check(found, `a ${path} link in the mail: ${text}`);
  return `${base}${found[0]}`;
}

/** Someone in a browser of their own (a context: cookies of their own). */
async function person(browser) {
  const context = await browser.newContext({ viewport: { width: 1000, height: 900 } });
  return { context, page: await context.newPage() };
}

/** Starts an authorization of `client` in `page`; the PKCE verifier. */
async function authorize(page, client, redirect, scope) {
  const verifier = randomBytes(32).toString("base64url");
  const url = new URL(`${base}/connect/authorize`);
  for (const [k, v] of Object.entries({
    response_type: "code", client_id: client, redirect_uri: redirect, scope, state: randomBytes(8).toString("hex"),
    code_challenge: createHash("sha256").update(verifier).digest("base64url"), code_challenge_method: "S256",
  })) {
    url.searchParams.set(k, v);
  }
  await page.goto(url.toString());
  return verifier;
}

async function tokenRequest(client, form) {
  const basic = Buffer.from(`${encodeURIComponent(client)}:${encodeURIComponent(secret)}`).toString("base64");
  const response = await fetch(`${base}/connect/token`, {
    method: "POST",
    headers: { authorization: `Basic ${basic}`, "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams(form),
  });
  return { status: response.status, body: await response.json() };
}

/** The code at the application's redirect URI (answered by the test), redeemed. */
async function redeem(who, client, redirect, verifier) {
  await who.page.waitForURL((url) => url.href.startsWith(`${redirect}?`));
  const code = new URL(who.page.url()).searchParams.get("code");
  check(code, "a code came back");
  const { status, body } = await tokenRequest(client, { grant_type: "authorization_code", code, redirect_uri: redirect, code_verifier: verifier });
  check(status === 200 && body.refresh_token, `tokens were issued: ${JSON.stringify(body)}`);
  return body.refresh_token;
}

async function refused(client, refreshToken, what) {
  const { status, body } = await tokenRequest(client, { grant_type: "refresh_token", refresh_token: refreshToken });
  check(status === 400 && body.error === "invalid_grant", `${what} is refused: ${status} ${JSON.stringify(body)}`);
}

async function signIn(page, login, password) {
  await page.fill("#login", login);
  await page.fill("#password", password);
  await submitForm(page, "Sign in");
}

const started = Date.now();
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM,
  args: ["--no-sandbox", "--disable-background-networking", "--disable-dev-shm-usage"],
});
try {
  // ---- Registration and the verification mail --------------------------------------
  const first = await person(browser);
  let verifier = await authorize(first.page, gallery, galleryRedirect, "openid profile offline_access");
  await Promise.all([first.page.waitForNavigation(), first.page.getByRole("link", { name: "Create an account" }).click()]);
  await first.page.fill("#username", "dora");
  await first.page.fill("#email", "Dora@Example.test");
  await first.page.fill("#password", PASSWORD);
  await shot(first.page, "lifecycle-register");
  await submitForm(first.page, "Create account");
  await shot(first.page, "lifecycle-consent");
  await first.page.getByRole("button", { name: "Allow" }).click();
  const galleryBefore = await redeem(first, gallery, galleryRedirect, verifier);

  const verification = linkIn(await mail(1), "/account/verify/");
  await first.page.goto(verification);
  await shot(first.page, "lifecycle-verify");
  await submitForm(first.page, "Yes, confirm it");
  check((await first.page.textContent("main")).includes("is confirmed"), "the address is confirmed");

  // ---- Signed in elsewhere, then a forgotten password ------------------------------
  const second = await person(browser);
  verifier = await authorize(second.page, webapp, webappRedirect, "openid offline_access");
  await signIn(second.page, "dora", PASSWORD);
  const webappBefore = await redeem(second, webapp, webappRedirect, verifier);

  const third = await person(browser);
  await authorize(third.page, webapp, webappRedirect, "openid");
  await Promise.all([third.page.waitForNavigation(), third.page.getByRole("link", { name: "Forgot your password?" }).click()]);
  await third.page.fill("#login", "dora@example.test");
  await submitForm(third.page, "Send me a link");
  check((await third.page.textContent(".notice")).includes("on its way"), "the same answer for every name");
  const recovery = linkIn(await mail(2), "/account/recover/");
  await third.page.goto(recovery);
  await third.page.fill("#password", NEW_PASSWORD);
  await third.page.fill("#password_confirm", NEW_PASSWORD);
  await shot(third.page, "lifecycle-recover");
  await submitForm(third.page, "Set the new password");
  check((await third.page.textContent(".notice")).includes("Your password was changed"), "the password is changed");
  await refused(webapp, webappBefore, "the refresh token issued before the recovery");
  await refused(gallery, galleryBefore, "the other application's refresh token issued before the recovery");

  // ---- The account page -------------------------------------------------------------
  const fourth = await person(browser);
  verifier = await authorize(fourth.page, gallery, galleryRedirect, "openid profile offline_access");
  await signIn(fourth.page, "dora", NEW_PASSWORD);
  const galleryAfter = await redeem(fourth, gallery, galleryRedirect, verifier);

  const fifth = await person(browser);
  await fifth.page.goto(`${base}/account`);
  check(fifth.page.url().endsWith("/account/sign-in"), `not signed in: the account page's sign-in (${fifth.page.url()})`);
  await shot(fifth.page, "account-sign-in");
  await signIn(fifth.page, "dora", NEW_PASSWORD);
  check(fifth.page.url().includes("/account?notice=signed-in"), "back to the account page");

  const account = fourth.page;
  await account.goto(`${base}/account`);
  const listed = await account.evaluate(() => ({
    sessions: [...document.querySelectorAll("#sessions li")].map((li) => li.textContent.replace(/\s+/g, " ").trim()),
    consents: [...document.querySelectorAll("#applications li")].map((li) => li.textContent.replace(/\s+/g, " ").trim()),
    email: document.querySelector(".facts").textContent.replace(/\s+/g, " "),
  }));
  check(listed.sessions.length === 2 && listed.sessions.filter((s) => s.includes("this browser")).length === 1,
    `two sessions, this one marked: ${JSON.stringify(listed)}`);
  check(listed.sessions.every((s) => s.includes("HeadlessChrome") && s.includes("127.0.0.1")), `device and address: ${JSON.stringify(listed)}`);
  check(listed.consents.length === 1 && listed.consents[0].includes("Photo Gallery") && listed.consents[0].includes("offline_access"),
    `the consent and its scopes: ${JSON.stringify(listed)}`);
  check(listed.email.includes("dora@example.test verified"), `the verified address: ${listed.email}`);
  await shot(account, "account");

  // Bad input: the message beside its field, nothing saved.
  await account.fill("#claim-name", "Dora Explorer");
  await account.fill("#email", "not an address");
  await submitForm(account, "Change email");
  check((await account.textContent("#email-error")).length > 0, "the email error is beside its field");
  await account.fill("#current_password", "not my password");
  await account.fill("#password", "another long passphrase here");
  await account.fill("#password_confirm", "another long passphrase here");
  await submitForm(account, "Change password");
  check((await account.textContent("#current_password-error")).includes("not your current password"), "a wrong current password");
  await shot(account, "account-errors");
  await account.fill("#claim-name", "Dora Explorer");
  await submitForm(account, "Save profile");
  check((await account.textContent(".notice")).includes("profile was saved"), "the profile is saved");
  check((await account.inputValue("#claim-name")) === "Dora Explorer", "and shown");

  // Revoking the consent: that application's refresh token is refused.
  await submitForm(account, "Revoke");
  check((await account.textContent(".notice")).includes("access was revoked"), "the consent is revoked");
  check((await account.locator("#applications li").count()) === 0, "and no longer listed");
  await shot(account, "account-consent-revoked");
  await refused(gallery, galleryAfter, "the refresh token of the application whose consent was revoked");

  // Every other session ends; that browser is asked to sign in again.
  await submitForm(account, "Sign out everywhere else");
  check((await account.locator("#sessions li").count()) === 1, "only this session is left");
  await fifth.page.goto(`${base}/account`);
  check(fifth.page.url().endsWith("/account/sign-in"), "the other browser is signed out");

  // Deleting the account.
  await account.fill("#delete_password", NEW_PASSWORD);
  await submitForm(account, "Delete my account");
  check((await account.textContent("h1")).includes("Your account was deleted"), "the account is deleted");
  await shot(account, "account-deleted");
  await account.goto(`${base}/account`);
  check(account.url().endsWith("/account/sign-in"), "and signed out");
  console.log(`lifecycle passed in ${((Date.now() - started) / 1000).toFixed(1)} s; screenshots in ${shots}`);
} finally {
  await browser.close();
  replies.return?.();
  process.stdin.destroy();
}
