// The peer of the Tessera benchmark: node oidc-provider 9, configured like the Tessera
// installation bench/run sets up (same client ids and secrets, client_secret_basic,
// ES256 or EdDSA JWT access tokens or opaque ones, ES256 ID tokens, the same lifetimes),
// with oidc-provider's in-memory storage.
//
//   node server.mjs CONFIG.json
//
// CONFIG.json (written by bench/run from what Tessera generated):
//   { "port": 18090, "issuer": "http://127.0.0.1:18090", "resource": "urn:bench:api",
//     "resource_secret": "...",            // the introspecting resource server's secret
//     "machine": [ { "client_id": "bench-es256", "client_secret": "...",
//                    "format": "jwt", "alg": "ES256" }, ... ],
//     "web": { "client_id": "bench-web", "client_secret": "...", "redirect_uri": "..." },
//     "user": "bench" }
//
// Interactions (sign-in and consent) are completed automatically for the bench user at
// /interaction/:uid: the benchmark does not measure the peer's sign-in, only needs codes
// from its real authorization endpoint.

import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';

import Provider from 'oidc-provider';
// oidc-provider's own in-memory adapter and LRU store. By default the provider creates
// that store with room for 1000 entries, too few for the codes and refresh tokens a
// benchmark run pre-issues (they would be evicted before use); the same adapter is used
// here over the same kind of store with room for two million entries.
import MemoryAdapter from './node_modules/oidc-provider/lib/adapters/memory_adapter.js';
import LRU from './node_modules/oidc-provider/lib/helpers/lru.js';

const store = new LRU({ maxSize: 2_000_000 });

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));

function signingKey(alg) {
  const { privateKey } = alg === 'ES256'
    ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
    : generateKeyPairSync('ed25519');
  const jwk = privateKey.export({ format: 'jwk' });
  return { ...jwk, alg, use: 'sig', kid: `bench-${alg.toLowerCase()}` };
}

const machine = new Map(config.machine.map((m) => [m.client_id, m]));

const clients = [
  ...config.machine.map((m) => ({
    client_id: m.client_id,
    client_secret: m.client_secret,
    token_endpoint_auth_method: 'client_secret_basic',
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
  })),
  {
    client_id: config.web.client_id,
    client_secret: config.web.client_secret,
    token_endpoint_auth_method: 'client_secret_basic',
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    redirect_uris: [config.web.redirect_uri],
    id_token_signed_response_alg: 'ES256',
  },
  {
    // The resource server calling introspection (Tessera: the API connection).
    client_id: config.resource,
    client_secret: config.resource_secret,
    token_endpoint_auth_method: 'client_secret_basic',
    grant_types: [],
    response_types: [],
    redirect_uris: [],
  },
];

const provider = new Provider(config.issuer, {
  clients,
  adapter: (model) => new MemoryAdapter(model, store),
  // No RSA key is configured: ID tokens (and anything else) default to ES256, as in Tessera.
  clientDefaults: { id_token_signed_response_alg: 'ES256' },
  jwks: { keys: [signingKey('ES256'), signingKey('EdDSA')] },
  findAccount: async (_ctx, sub) => ({ accountId: sub, claims: async () => ({ sub }) }),
  cookies: { keys: ['tessera-bench-peer-cookie-key-0001'] },
  pkce: { required: () => false },
  // Tessera's web application is registered with --always-issue-refresh-token.
  issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
  rotateRefreshToken: true,
  ttl: {
    AccessToken: 3600,
    ClientCredentials: 3600,
    AuthorizationCode: 600,
    IdToken: 3600,
    RefreshToken: 30 * 24 * 3600,
    Grant: 30 * 24 * 3600,
    Session: 12 * 3600,
    Interaction: 3600,
  },
  routes: {
    authorization: '/connect/authorize',
    token: '/connect/token',
    introspection: '/connect/introspect',
    userinfo: '/connect/userinfo',
    jwks: '/.well-known/openid-configuration/jwks',
    end_session: '/connect/endsession',
    revocation: '/connect/revocation',
  },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: {
      enabled: true,
      // Like Tessera: the resource server, or the token's own client.
      allowedPolicy: async (_ctx, client, token) => (
        client.clientId === config.resource || client.clientId === token.clientId
      ),
    },
    revocation: { enabled: true },
    resourceIndicators: {
      enabled: true,
      // Client credentials are for the benchmark API; user tokens are for userinfo.
      defaultResource: async (_ctx, client, oneOf) => {
        if (oneOf) return oneOf;
        return machine.has(client.clientId) ? config.resource : undefined;
      },
      useGrantedResource: async () => false,
      getResourceServerInfo: async (_ctx, resource, client) => {
        if (resource !== config.resource) throw new Provider.errors.InvalidTarget();
        const m = machine.get(client.clientId) ?? { format: 'opaque' };
        const info = {
          scope: config.resource,
          audience: config.resource,
          accessTokenTTL: 3600,
          accessTokenFormat: m.format === 'jwt' ? 'jwt' : 'opaque',
        };
        if (m.format === 'jwt') info.jwt = { sign: { alg: m.alg } };
        return info;
      },
    },
  },
});
provider.proxy = false;

// Completes every interaction for the bench user: sign-in, then consent to what was asked.
provider.use(async (ctx, next) => {
  const match = /^\/interaction\/([^/]+)$/.exec(ctx.path);
  if (!match || ctx.method !== 'GET') return next();
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  const { prompt, params, session } = details;
  let result;
  if (prompt.name === 'login') {
    result = { login: { accountId: config.user } };
  } else {
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    const missing = prompt.details;
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    if (missing.missingResourceScopes) {
      for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes)) {
        grant.addResourceScope(indicator, scopes.join(' '));
      }
    }
    result = { consent: { grantId: await grant.save() } };
  }
  const to = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: false });
  ctx.status = 303;
  ctx.redirect(to);
});

if (process.env.PEER_DEBUG) {
  provider.on('grant.error', (_ctx, err) => process.stderr.write(`grant.error: ${err.error_description} ${err.error_detail ?? ''}\n`));
  provider.on('server_error', (_ctx, err) => process.stderr.write(`server_error: ${err.stack}\n`));
}

provider.listen(config.port, '127.0.0.1', () => {
  process.stderr.write(`oidc-provider listening on ${config.issuer}\n`);
});
