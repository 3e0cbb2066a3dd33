// Passkeys in headless Chromium with a virtual authenticator (issue 18): register a
// passkey on the account page, sign out, sign in to an application with the passkey
// alone, then with the password and the passkey as the second factor. Prints each ID
// token's claims as a line `CLAIMS <what> <json>`.
//
// Driven by crates/tessera/tests/it/passkeys.rs, which passes: TESSERA_URL (the issuer,
// http://localhost:PORT: an IP address is no WebAuthn relying party), CHROMIUM,
// SCREENSHOTS (a folder), CLIENT_SECRET, WEBAPP (`client_id redirect_uri`; the test answers
// at the redirect URI), LOGIN and PASSWORD. Exits non-zero on the first failed check.

import { chromium } from "playwright-core";
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

const base = process.env.TESSERA_URL;
const shots = process.env.SCREENSHOTS;
const secret = process.env.CLIENT_SECRET;
const [client, redirect] = process.env.WEBAPP.split(" ");
const login = process.env.LOGIN;
const password = process.env.PASSWORD;
mkdirSync(shots, { recursive: true });

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

/** Starts an authorization in `page`: the PKCE verifier, and the HTML of the page it
 * lands on. */
async function authorize(page) {
  const verifier = randomBytes(32).toString("base64url");
  const url = new URL(`${base}/connect/authorize`);
  for (const [k, v] of Object.entries({
    response_type: "code", client_id: client, redirect_uri: redirect, scope: "openid", state: randomBytes(8).toString("hex"),
    code_challenge: createHash("sha256").update(verifier).digest("base64url"), code_challenge_method: "S256",
  })) {
    url.searchParams.set(k, v);
  }
  const response = await page.goto(url.toString());
  return { verifier, html: await response.text() };
}

/** The code at the redirect URI, redeemed: the ID token's claims. */
async function claims(page, verifier) {
  await page.waitForURL((url) => url.href.startsWith(`${redirect}?`), { timeout: 15000 });
  const code = new URL(page.url()).searchParams.get("code");
  check(code, `a code came back: ${page.url()}`);
  const basic = Buffer.from(`${encodeURIComponent(client)}:${encodeURIComponent(secret)}`).toString("base64");
  const answer = await fetch(`${base}/connect/token`, {
    method: "POST",
    headers: { authorization: `Basic ${basic}`, "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ grant_type: "authorization_code", code, redirect_uri: redirect, code_verifier: verifier }),
  });
  const body = await answer.json();
  check(answer.status === 200 && body.id_token, `tokens were issued: ${JSON.stringify(body)}`);
  return JSON.parse(Buffer.from(body.id_token.split(".")[1], "base64url").toString());
}

async function signOut(page) {
  await page.goto(`${base}/account`);
  await submitForm(page, "Sign out");
}

const started = Date.now();
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM,
  args: ["--no-sandbox", "--disable-background-networking", "--disable-dev-shm-usage"],
});
try {
  const context = await browser.newContext({ viewport: { width: 1000, height: 900 } });
  const page = await context.newPage();
  // The Chrome DevTools Protocol's virtual authenticator: a platform authenticator that
  // keeps discoverable credentials, verifies the user and is always touched.
  const cdp = await context.newCDPSession(page);
  await cdp.send("WebAuthn.enable");
  const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: {
      protocol: "ctap2",
      transport: "internal",
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });

  // ---- Register a passkey on the account page --------------------------------------
  await page.goto(`${base}/account/sign-in`);
  await page.fill("#login", login);
  await page.fill("#password", password);
  await submitForm(page, "Sign in");
  check(page.url().includes("/account?notice=signed-in"), `signed in to the account page: ${page.url()}`);
  await page.fill("#passkey_name", "Virtual authenticator");
  await Promise.all([
    page.waitForURL((url) => url.href.includes("notice=passkey-added"), { timeout: 15000 }),
    page.getByRole("button", { name: "Add a passkey", exact: true }).click(),
  ]);
  check((await page.textContent("main")).includes("Virtual authenticator"), "the passkey is listed");
  const { credentials } = await cdp.send("WebAuthn.getCredentials", { authenticatorId });
  check(credentials.length === 1 && credentials[0].isResidentCredential, `one discoverable credential: ${JSON.stringify(credentials)}`);
  await shot(page, "passkey-account");
  await signOut(page);

  // ---- Sign in with the passkey alone: conditional UI ------------------------------
  // The sign-in page starts a conditional request at load; the virtual authenticator
  // answers it at once, as a user picking the passkey in the login field's autofill.
  let { verifier, html } = await authorize(page);
  check(html.includes('autocomplete="username webauthn"'), "conditional UI on the login field");
  check(html.includes('data-passkey-conditional="true"'), "a conditional request at load");
  const conditional = await claims(page, verifier);
  console.log(`CLAIMS passkey-conditional ${JSON.stringify(conditional)}`);
  check(conditional.amr.includes("user") && (conditional.amr.includes("hwk") || conditional.amr.includes("swk")), `amr of a passkey: ${conditional.amr}`);
  check(!conditional.amr.includes("pwd"), "no password");
  await signOut(page);

  // ---- The password, then the passkey as the second factor -------------------------
  // Without conditional UI from here on (as in a browser that has none), so that the
  // password form and the buttons are what is used.
  await page.addInitScript(() => {
    if (window.PublicKeyCredential) window.PublicKeyCredential.isConditionalMediationAvailable = async () => false;
  });
  ({ verifier } = await authorize(page));
  await page.fill("#login", login);
  await page.fill("#password", password);
  await submitForm(page, "Sign in");
  check(page.url().startsWith(`${base}/login/factor?`), `the factor page after the password: ${page.url()}`);
  await shot(page, "passkey-second-factor");
  await page.getByRole("button", { name: "Use your passkey", exact: true }).click();
  const second = await claims(page, verifier);
  console.log(`CLAIMS password-then-passkey ${JSON.stringify(second)}`);
  check(second.amr.includes("pwd") && second.amr.includes("mfa"), `amr of both factors: ${second.amr}`);
  check(second.amr.includes("hwk") || second.amr.includes("swk"), `amr of the passkey: ${second.amr}`);
  await signOut(page);

  // ---- "Sign in with a passkey" ----------------------------------------------------
  ({ verifier } = await authorize(page));
  check(page.url().startsWith(`${base}/login?`), `the sign-in page: ${page.url()}`);
  await shot(page, "passkey-sign-in");
  await page.getByRole("button", { name: "Sign in with a passkey", exact: true }).click();
  const alone = await claims(page, verifier);
  console.log(`CLAIMS passkey-alone ${JSON.stringify(alone)}`);
  check(alone.amr.includes("user") && (alone.amr.includes("hwk") || alone.amr.includes("swk")), `amr of a passkey: ${alone.amr}`);
  check(!alone.amr.includes("pwd"), "no password");

  console.log(`passkeys passed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
} finally {
  await browser.close();
}
