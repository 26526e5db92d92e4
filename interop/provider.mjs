// provider.mjs runs panva's oidc-provider on 127.0.0.1 as Keyway's interop test bed.
//
// It listens on PORT (default 0: a free port), then prints exactly one JSON line to
// stdout, {"issuer":"http://127.0.0.1:<port>"}, and nothing else: everything the
// library or this script has to say goes to stderr. It exits on SIGTERM, SIGINT and
// when stdin closes (set IGNORE_STDIN=1 to run it detached with stdin at /dev/null).
//
// Environment: PORT, INTEROP_CLIENTS (JSON array of client metadata replacing the
// default clients), ACCESS_TOKEN_TTL, ID_TOKEN_TTL, REFRESH_TOKEN_TTL (seconds),
// DPOP_NONCES (1: every DPoP proof must carry a server nonce, RFC 9449 §8).
// See README.md for what the default clients and the enabled features are.

import { randomBytes, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer } from 'node:http';

import { exportJWK, generateKeyPair } from 'jose';
import Provider, { errors } from 'oidc-provider';

// oidc-provider prints its notices with console.info (stdout). Keep stdout for the
// ready line alone, and drop the warnings about quick-start features we use on purpose.
console.log = console.info = console.error;
const warn = console.warn;
console.warn = (msg, ...rest) => {
  if (!String(msg).includes('development-only')) warn(msg, ...rest);
};

function seconds(name, fallback) {
  const value = Number(process.env[name] || fallback);
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new TypeError(`${name} must be a positive number of seconds`);
  }
  return value;
}

const accessTokenTTL = seconds('ACCESS_TOKEN_TTL', 300);
const idTokenTTL = seconds('ID_TOKEN_TTL', 300);
const refreshTokenTTL = seconds('REFRESH_TOKEN_TTL', 24 * 60 * 60);

// Signing keys are new on every start, so no test can depend on a fixed key.
async function signingKey(alg) {
  const { privateKey } = await generateKeyPair(alg, { extractable: true });
  const kid = `${alg.toLowerCase()}-${randomUUID().slice(0, 8)}`;
  return { ...(await exportJWK(privateKey)), alg, use: 'sig', kid };
}
const jwks = { keys: await Promise.all(['RS256', 'ES256', 'EdDSA'].map(signingKey)) };

const defaultClients = [
  {
    client_id: 'webapp',
    client_secret: 'webapp-secret',
    token_endpoint_auth_method: 'client_secret_basic',
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    redirect_uris: ['http://127.0.0.1:8080/callback'],
    post_logout_redirect_uris: ['http://127.0.0.1:8080/'],
    backchannel_logout_uri: 'http://127.0.0.1:8080/backchannel-logout',
  },
  {
    client_id: 'service',
    client_secret: 'service-secret',
    token_endpoint_auth_method: 'client_secret_basic',
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
  },
  {
    // A resource server: it only authenticates to the introspection endpoint.
    client_id: 'api',
    client_secret: 'api-secret',
    token_endpoint_auth_method: 'client_secret_basic',
    grant_types: [],
    response_types: [],
    redirect_uris: [],
  },
  {
    // A native client's loopback redirect URI matches on any port (RFC 8252 7.3).
    client_id: 'cli',
    application_type: 'native',
    token_endpoint_auth_method: 'none',
    grant_types: [
      'authorization_code',
      'refresh_token',
      'urn:ietf:params:oauth:grant-type:device_code',
    ],
    response_types: ['code'],
    redirect_uris: ['http://127.0.0.1/callback'],
  },
];
const clients = process.env.INTEROP_CLIENTS
  ? JSON.parse(process.env.INTEROP_CLIENTS)
  : defaultClients;

// Any resource on http://127.0.0.1 (any port) or under urn:keyway: is an API that
// takes RFC 9068 JWT access tokens with aud = the resource indicator, except those
// under urn:keyway:opaque:, which take opaque tokens checked by introspection.
function isOpaqueResource(resource) {
  return resource.startsWith('urn:keyway:opaque:');
}
function isKnownResource(resource) {
  if (resource.startsWith('urn:keyway:')) return true;
  const url = URL.parse(resource);
  return url?.protocol === 'http:' && url.hostname === '127.0.0.1';
}

// Outgoing requests (back-channel logout, jwks_uri, ...) go to loopback only. The
// SSRF-protecting dispatcher oidc-provider passes in would refuse loopback, so drop it.
function loopbackFetch(url, { dispatcher, ...options }) {
  const { hostname } = new URL(url);
  if (hostname !== '127.0.0.1' && hostname !== 'localhost' && hostname !== '[::1]') {
    return Promise.reject(new Error(`interop provider: refusing to fetch ${url}`));
  }
  return globalThis.fetch(url, options);
}

async function ownTokensUnlessAuthenticated(ctx, client, token) {
  return client.clientAuthMethod !== 'none' || token.clientId === client.clientId;
}

const configuration = {
  clients,
  jwks,
  fetch: loopbackFetch,

  // Any login name is an account; "ada" is Ada Lovelace.
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        return {
          sub: id,
          name: id === 'ada' ? 'Ada Lovelace' : id,
          email: `${id}@example.com`,
          email_verified: true,
        };
      },
    };
  },
  claims: {
    openid: ['sub'],
    profile: ['name'],
    email: ['email', 'email_verified'],
  },

  // PKCE (S256, the only method v9 knows) for every client, not only public ones.
  pkce: { required: () => true },
  rotateRefreshToken: true,

  // Without prompt=consent oidc-provider drops offline_access, so a client that
  // does not send it gets no refresh token. A client registered with
  // interop_issue_refresh_token: true gets one from every authorization code
  // anyway (tied to the provider session, as offline_access was not granted).
  extraClientMetadata: {
    properties: ['interop_issue_refresh_token'],
    validator(ctx, key, value) {
      if (value !== undefined && typeof value !== 'boolean') {
        throw new errors.InvalidClientMetadata(`${key} must be a boolean`);
      }
    },
  },
  async issueRefreshToken(ctx, client, code) {
    return client.grantTypeAllowed('refresh_token')
      && (code.scopes.has('offline_access') || client.interop_issue_refresh_token === true);
  },

  ttl: {
    AccessToken: accessTokenTTL,
    ClientCredentials: accessTokenTTL,
    IdToken: idTokenTTL,
    RefreshToken: refreshTokenTTL,
    AuthorizationCode: 60,
    DeviceCode: 600,
    Interaction: 600,
    Session: 24 * 60 * 60,
    Grant: 24 * 60 * 60,
  },

  features: {
    devInteractions: { enabled: true },
    clientCredentials: { enabled: true },
    // Any authenticated client may introspect or revoke; a public client only its own
    // tokens (oidc-provider's default, spelled out).
    introspection: { enabled: true, allowedPolicy: ownTokensUnlessAuthenticated },
    revocation: { enabled: true, allowedPolicy: ownTokensUnlessAuthenticated },
    backchannelLogout: { enabled: true },
    rpInitiatedLogout: { enabled: true },
    deviceFlow: { enabled: true },
    dPoP: {
      enabled: true,
      nonceSecret: randomBytes(32),
      requireNonce: () => process.env.DPOP_NONCES === '1',
    },
    claimsParameter: { enabled: true },
    registration: { enabled: true }, // open: no initial access token
    resourceIndicators: {
      enabled: true,
      // A grant holding exactly one resource issues its tokens for it when the token
      // request names none; with several, the token request must pick one.
      async defaultResource(ctx, client, oneOf) {
        return oneOf?.length === 1 ? oneOf[0] : oneOf;
      },
      // Use the granted resource even when openid was asked (otherwise oidc-provider
      // issues an opaque token for userinfo instead).
      async useGrantedResource() {
        return true;
      },
      async getResourceServerInfo(ctx, resource) {
        if (!isKnownResource(resource)) throw new errors.InvalidTarget();
        return {
          scope: 'api:read api:write admin',
          audience: resource,
          accessTokenTTL,
          ...(isOpaqueResource(resource)
            ? { accessTokenFormat: 'opaque' }
            : { accessTokenFormat: 'jwt', jwt: { sign: { alg: 'RS256' } } }),
        };
      },
    },
  },
};

const server = createServer();
server.listen(Number(process.env.PORT || 0), '127.0.0.1');
await once(server, 'listening');

const issuer = `http://127.0.0.1:${server.address().port}`;
const provider = new Provider(issuer, configuration);
for (const event of ['server_error', 'backchannel.error']) {
  provider.on(event, (ctx, err) => console.error(`interop provider: ${event}:`, err));
}
server.on('request', provider.callback());

// oidc-provider checks static clients on first use; check them now, so that a bad
// INTEROP_CLIENTS stops the start instead of failing some later request.
for (const { client_id: id } of clients) {
  try {
    await provider.Client.find(id);
  } catch (err) {
    console.error(`interop provider: client ${id}: ${err.message}: ${err.error_description}`);
    process.exit(1);
  }
}

process.stdout.write(`${JSON.stringify({ issuer })}\n`);

function shutdown() {
  server.closeAllConnections();
  server.close();
  process.exit(0);
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
if (process.env.IGNORE_STDIN !== '1') {
  process.stdin.on('end', shutdown);
  process.stdin.on('close', shutdown);
  process.stdin.resume();
}
