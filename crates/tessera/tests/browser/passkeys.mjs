// Passkeys in headless Chromium with a virtual authenticator (issue 18): register a
// passkey on the account page; step the password session up to `phr` with it
// (`acr_values=phr`); sign out, sign in to an application with the passkey alone, then
// with the password and the passkey as the second factor, and to the account page itself
// with both; finally a second user, who has
// only a password, signs in to an application whose policy requires a passkey and is led
// through registering one. Prints each ID token's claims as a line
// `CLAIMS <what> <json>`, and each token response with the introspection of its access
// token as `TOKENS <what> <json>`.
//
// Driven by crates/tessera/tests/it/passkeys.rs, which passes: TESSERA_URL (the issuer,
// http://localhost:PORT: an IP address is no WebAuthn relying party), CHROMIUM,
// SCREENSHOTS (a folder), CLIENT_SECRET, WEBAPP (`client_id redirect_uri`; the test answers
// at the redirect URI), SCOPE, API (`name secret` of the API connection that introspects),
// LOGIN and PASSWORD, and NEWCOMER (`login client_id`: the second user and the
// passkey-policy application, same password and redirect URI). Exits non-zero on the first
// failed check.

import { chromium } from "playwright-core";
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

const base = process.env.TESSERA_URL;
const shots = process.env.SCREENSHOTS;
const secret = process.env.CLIENT_SECRET;
const [client, redirect] = process.env.WEBAPP.split(" ");
const scope = process.env.SCOPE;
const [apiName, apiSecret] = process.env.API.split(" ");
const login = process.env.LOGIN;
const password = process.env.PASSWORD;
const [newcomer, strictClient] = process.env.NEWCOMER.split(" ");
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

/** Starts an authorization of `clientId` in `page` with the `extra` parameters: the PKCE
 * verifier, and the HTML of the page it lands on. */
async function authorize(page, { clientId = client, extra = {} } = {}) {
  const verifier = randomBytes(32).toString("base64url");
  const url = new URL(`${base}/connect/authorize`);
  for (const [k, v] of Object.entries({
    response_type: "code", client_id: clientId, redirect_uri: redirect, scope, state: randomBytes(8).toString("hex"),
    code_challenge: createHash("sha256").update(verifier).digest("base64url"), code_challenge_method: "S256",
    ...extra,
  })) {
    url.searchParams.set(k, v);
  }
  const response = await page.goto(url.toString());
  // Null when the page's script navigated on at once (conditional UI answered by the
  // virtual authenticator), taking the body with it.
  return { verifier, html: await response.text().catch(() => null) };
}

function basic(name, password) {
  return "Basic " + Buffer.from(`${encodeURIComponent(name)}:${encodeURIComponent(password)}`).toString("base64");
}

/** The code at the redirect URI, redeemed by `clientId`: the ID token's claims, printed
 * as `CLAIMS <what>`; the tokens and the introspection of the access token by the API
 * (right away: signing out later ends them) as `TOKENS <what>`. */
async function claims(page, verifier, what, clientId = client) {
  await page.waitForURL((url) => url.href.startsWith(`${redirect}?`), { timeout: 15000 });
  const code = new URL(page.url()).searchParams.get("code");
  check(code, `a code came back: ${page.url()}`);
  const form = { "content-type": "application/x-www-form-urlencoded" };
  const answer = await fetch(`${base}/connect/token`, {
    method: "POST",
    headers: { authorization: basic(clientId, secret), ...form },
    body: new URLSearchParams({ grant_type: "authorization_code", code, redirect_uri: redirect, code_verifier: verifier }),
  });
  const tokens = await answer.json();
  check(answer.status === 200 && tokens.id_token, `tokens were issued: ${JSON.stringify(tokens)}`);
  const introspected = await fetch(`${base}/connect/introspect`, {
    method: "POST",
    headers: { authorization: basic(apiName, apiSecret), ...form },
    body: new URLSearchParams({ token: tokens.access_token }),
  });
  const introspection = await introspected.json();
  check(introspection.active === true, `the access token is active: ${JSON.stringify(introspection)}`);
  const idClaims = JSON.parse(Buffer.from(tokens.id_token.split(".")[1], "base64url").toString());
  console.log(`CLAIMS ${what} ${JSON.stringify(idClaims)}`);
  console.log(`TOKENS ${what} ${JSON.stringify({ ...tokens, introspection })}`);
  return idClaims;
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

  // ---- Step up to phr with the passkey ---------------------------------------------
  // The account page's sign-in was a password: 1fa. acr_values=phr asks only for the
  // passkey, in the same session.
  let { verifier } = await authorize(page);
  const before = await claims(page, verifier, "before-step-up");
  check(before.acr === "1fa", `a password session: ${before.acr}`);
  let html;
  ({ verifier, html } = await authorize(page, { extra: { acr_values: "phr" } }));
  check(page.url().startsWith(`${base}/login/factor?`), `the factor page for phr: ${page.url()}`);
  check(!html.includes('name="password"'), "no password asked when stepping up");
  await shot(page, "passkey-step-up");
  await page.getByRole("button", { name: "Use your passkey", exact: true }).click();
  const stepped = await claims(page, verifier, "step-up-phr");
  check(stepped.acr === "phr" && stepped.sid === before.sid, `stepped up in the same session: ${JSON.stringify(stepped)}`);
  await signOut(page);

  // ---- Sign in with the passkey alone: conditional UI ------------------------------
  // The sign-in page starts a conditional request at load; the virtual authenticator
  // answers it at once, as a user picking the passkey in the login field's autofill.
  // (The markup that asks for it is checked below, where the page stays put.)
  ({ verifier } = await authorize(page));
  const conditional = await claims(page, verifier, "passkey-conditional");
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
  const second = await claims(page, verifier, "password-then-passkey");
  check(second.amr.includes("pwd") && second.amr.includes("mfa"), `amr of both factors: ${second.amr}`);
  check(second.amr.includes("hwk") || second.amr.includes("swk"), `amr of the passkey: ${second.amr}`);
  await signOut(page);

  // ---- "Sign in with a passkey" ----------------------------------------------------
  ({ verifier, html } = await authorize(page));
  check(page.url().startsWith(`${base}/login?`), `the sign-in page: ${page.url()}`);
  check(html.includes('autocomplete="username webauthn"'), "conditional UI on the login field");
  check(html.includes('data-passkey-conditional="true"'), "a conditional request at load");
  await shot(page, "passkey-sign-in");
  await page.getByRole("button", { name: "Sign in with a passkey", exact: true }).click();
  const alone = await claims(page, verifier, "passkey-alone");
  check(alone.amr.includes("user") && (alone.amr.includes("hwk") || alone.amr.includes("swk")), `amr of a passkey: ${alone.amr}`);
  check(!alone.amr.includes("pwd"), "no password");
  await signOut(page);

  // ---- The account page's own sign-in: the password, then the passkey --------------
  await page.goto(`${base}/account/sign-in`);
  await page.fill("#login", login);
  await page.fill("#password", password);
  await submitForm(page, "Sign in");
  check((await page.textContent("main")).includes("to sign in to your account as"), "the account page's factor form");
  await shot(page, "passkey-account-second-factor");
  await Promise.all([
    page.waitForURL((url) => url.href.includes("/account?notice=signed-in"), { timeout: 15000 }),
    page.getByRole("button", { name: "Use your passkey", exact: true }).click(),
  ]);
  check((await page.textContent("main")).includes("Virtual authenticator"), "signed in to the account page");
  await signOut(page);

  // ---- A passkey registered during sign-in -----------------------------------------
  // The newcomer has only a password; the application's policy requires a passkey, so
  // the sign-in pages lead them through adding one, then offer recovery codes.
  ({ verifier } = await authorize(page, { clientId: strictClient }));
  await page.fill("#login", newcomer);
  await page.fill("#password", password);
  await submitForm(page, "Sign in");
  check(page.url().startsWith(`${base}/login/enrol?`), `the enrolment page: ${page.url()}`);
  await shot(page, "passkey-enrol");
  await Promise.all([
    page.waitForURL((url) => url.pathname === "/login/enrol/recovery-codes", { timeout: 15000 }),
    page.getByRole("button", { name: "Add a passkey", exact: true }).click(),
  ]);
  await submitForm(page, "Make recovery codes");
  check((await page.locator("#recovery-codes li").count()) === 10, "ten recovery codes shown");
  await page.getByRole("link", { name: /^I have saved them, continue to/ }).click();
  const enrolled = await claims(page, verifier, "enrolled-at-sign-in", strictClient);
  check(enrolled.acr === "phr" && enrolled.amr.includes("pwd"), `the password and the new passkey: ${JSON.stringify(enrolled)}`);
  const { credentials: after } = await cdp.send("WebAuthn.getCredentials", { authenticatorId });
  check(after.length === 2, `a second discoverable credential: ${after.length}`);

  console.log(`passkeys passed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
} finally {
  await browser.close();
}
