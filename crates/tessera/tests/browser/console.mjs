// The admin console and the login pages in headless Chromium, against a real Tessera.
//
// An administrator signs in, creates a custom claim, a custom identity scope carrying
// it, an API connection and an application that requires the claim, then a user; the
// user signs in through the real login pages, is asked for the required claim, consents,
// and the claim is checked in userinfo. Every console page is screenshotted.
//
// Driven by browser_console.rs, which passes: TESSERA_URL, ADMIN_LOGIN, ADMIN_PASSWORD,
// CHROMIUM, SCREENSHOTS (a folder). Exits non-zero on the first failed check.

import { chromium } from "playwright-core";
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import { createServer } from "node:http";
import { join } from "node:path";

const base = process.env.TESSERA_URL;
const shots = process.env.SCREENSHOTS;
mkdirSync(shots, { recursive: true });
// The application's redirect URI: a tiny server on loopback that keeps the code.
let code = null;
const receiver = createServer((request, response) => {
  code = new URL(request.url, "http://127.0.0.1").searchParams.get("code") ?? code;
  response.writeHead(200, { "content-type": "text/plain" }).end("signed in");
});
await new Promise((resolve) => receiver.listen(0, "127.0.0.1", resolve));
const callback = `http://127.0.0.1:${receiver.address().port}/callback`;

function check(condition, message) {
  if (!condition) {
    throw new Error(`check failed: ${message}`);
  }
}

async function shot(page, name) {
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
}

async function submitForm(page, buttonText) {
  await Promise.all([page.waitForNavigation(), page.getByRole("button", { name: buttonText, exact: true }).click()]);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM,
  args: ["--no-sandbox", "--disable-background-networking", "--disable-dev-shm-usage"],
});
try {
  // ---- The administrator ---------------------------------------------------------
  const admin = await browser.newContext();
  const page = await admin.newPage();
  page.on("dialog", (dialog) => dialog.accept());
  await page.goto(`${base}/admin`);
  check(page.url().includes("/admin/sign-in"), "the console asks to sign in");
  await shot(page, "console-sign-in");
  await page.fill("#login", process.env.ADMIN_LOGIN);
  await page.fill("#password", process.env.ADMIN_PASSWORD);
  await submitForm(page, "Sign in");
  check((await page.textContent("h1")).includes("Dashboard"), "the dashboard after sign-in");
  await shot(page, "console-dashboard");

  // A custom claim.
  await page.goto(`${base}/admin/claim-types/new`);
  await page.fill("#f-name", "employee_id");
  await page.fill("#f-display_name", "Employee ID");
  await page.selectOption("#f-value_type", "string");
  await page.fill("#f-description", "Your badge number");
  await submitForm(page, "Create claim");
  check((await page.textContent(".notice")).includes("saved"), "the claim is created");

  // A custom identity scope carrying it.
  await page.goto(`${base}/admin/identity-scopes/new`);
  await page.fill("#f-name", "employee");
  await page.fill("#f-display_name", "Your employee record");
  await page.check('input[name="claims"][value="employee_id"]');
  await submitForm(page, "Create identity scope");
  check((await page.textContent(".notice")).includes("saved"), "the scope is created");

  // An API connection: its scope appears, its secret is shown once.
  await page.goto(`${base}/admin/connections/new`);
  await page.fill("#f-name", "orders-api");
  await submitForm(page, "Create API connection");
  check((await page.textContent(".notice")).includes("API scope orders-api"), "the connection's scope");
  check((await page.inputValue(".secret input")).length >= 40, "the connection secret is shown");
  await shot(page, "console-connection-secret");

  // An application: first with a bad redirect URI (the error beside the field, the
  // input kept), then right, requiring the claim.
  await page.goto(`${base}/admin/applications/new`);
  await page.fill("#f-name", "Browser App");
  await page.selectOption("#f-app_type", "web");
  await page.fill("#f-redirect_uris", "http://evil.example/callback");
  for (const scope of ["profile", "employee", "orders-api"]) {
    await page.check(`input[name="allowed_scopes"][value="${scope}"]`);
  }
  await page.check('input[name="required_claims"][value="employee_id"]');
  await submitForm(page, "Create application");
  check((await page.textContent("#f-redirect_uris-error")).length > 0, "the redirect URI error is beside its field");
  check((await page.inputValue("#f-name")) === "Browser App", "what was typed is kept");
  check(await page.isChecked('input[name="required_claims"][value="employee_id"]'), "ticked boxes are kept");
  await shot(page, "console-application-error");
  await page.fill("#f-redirect_uris", callback);
  await submitForm(page, "Create application");
  const clientId = (await page.textContent(".facts dd")).trim();
  const clientSecret = await page.inputValue(".secret input");
  check(clientId.length > 10 && clientSecret.length >= 40, "client id and secret shown once");
  await shot(page, "console-application-secret");

  // A user without the claim.
  await page.goto(`${base}/admin/users/new`);
  await page.fill("#f-username", "carol");
  await page.fill("#f-email", "carol@example.com");
  await page.fill("#f-password", "carol's long password");
  await submitForm(page, "Create user");
  check((await page.textContent(".notice")).includes("created"), "the user is created");
  await shot(page, "console-user");

  // Every section, screenshotted.
  for (const section of [
    "applications", "connections", "identity-scopes", "claim-types", "users", "roles",
    "organizations", "signing-keys", "management-keys", "audit",
  ]) {
    await page.goto(`${base}/admin/${section}`);
    check((await page.locator("nav.sidebar [aria-current=page]").count()) === 1, `${section} is highlighted`);
    await shot(page, `console-${section}`);
  }
  const audit = await page.textContent("table");
  check(audit.includes("application.create") && audit.includes("user:"), "the audit log shows the console's changes");

  // ---- The user, through the real login pages --------------------------------------
  const user = await browser.newContext();
  const login = await user.newPage();
  const verifier = randomBytes(32).toString("base64url");
  const challenge = createHash("sha256").update(verifier).digest("base64url");
  const state = randomBytes(16).toString("base64url");
  const authorize = new URL(`${base}/connect/authorize`);
  for (const [k, v] of Object.entries({
    response_type: "code", client_id: clientId, redirect_uri: callback, scope: "openid employee orders-api",
    state, nonce: randomBytes(16).toString("base64url"), code_challenge: challenge, code_challenge_method: "S256",
  })) {
    authorize.searchParams.set(k, v);
  }
  await login.goto(authorize.toString());
  await shot(login, "login-sign-in");
  await login.fill("#login", "carol");
  await login.fill("#password", "carol's long password");
  await submitForm(login, "Sign in");
  check((await login.locator('[name="claim.employee_id"]').count()) === 1, "the required claim is asked for");
  await shot(login, "login-required-claim");
  await login.fill('[name="claim.employee_id"]', "E-1234");
  await submitForm(login, "Continue");
  await shot(login, "login-consent");
  await Promise.all([login.waitForURL(`${callback}**`), login.getByRole("button", { name: "Allow" }).click()]);
  check(code, "a code came back");

  const basic = Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString("base64");
  const tokens = await (await fetch(`${base}/connect/token`, {
    method: "POST",
    headers: { authorization: `Basic ${basic}`, "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ grant_type: "authorization_code", code, redirect_uri: callback, code_verifier: verifier }),
  })).json();
  check(tokens.access_token, `tokens were issued: ${JSON.stringify(tokens)}`);
  const userinfo = await (await fetch(`${base}/connect/userinfo`, {
    headers: { authorization: `Bearer ${tokens.access_token}` },
  })).json();
  check(userinfo.employee_id === "E-1234", `the claim is in userinfo: ${JSON.stringify(userinfo)}`);
  const payload = JSON.parse(Buffer.from(tokens.access_token.split(".")[1], "base64url").toString());
  check([payload.aud].flat().includes("orders-api"), "the API connection is the audience");

  // The value is now on the user's page in the console.
  await page.goto(`${base}/admin/users`);
  await Promise.all([page.waitForNavigation(), page.getByRole("link", { name: "carol" }).click()]);
  check((await page.inputValue("#f-claim-employee_id")) === "E-1234", "the console shows the value the user gave");
  console.log(`browser flow passed; screenshots in ${shots}`);
} finally {
  await browser.close();
  receiver.close();
}
