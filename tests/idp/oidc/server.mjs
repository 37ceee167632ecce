// Loopback OpenID Connect identity provider for integration tests.
//
// Usage: node server.mjs <config.json>
//
// Prints exactly one line on stdout once listening:
//   READY http://127.0.0.1:<port>
// Everything else (warnings, errors) goes to stderr.
//
// Exits on SIGTERM / SIGINT, and when stdin reaches EOF or is closed (so the
// IdP dies with the test process that spawned it with a piped stdin). Set
// OIDC_IDP_IGNORE_STDIN=1 to disable the stdin watch (e.g. when started by
// hand in the background with stdin at /dev/null).
//
// See README.md for the config format and the exact user-agent sequence.

import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { generateKeyPairSync, randomUUID } from 'node:crypto';

import Provider, { errors } from 'oidc-provider';

const log = (...args) => console.error('[oidc-idp]', ...args);

function fail(msg) {
  log(`fatal: ${msg}`);
  process.exit(2);
}

// ---------------------------------------------------------------- config ---

const configPath = process.argv[2];
if (!configPath) fail('usage: node server.mjs <config.json>');

let config;
try {
  config = JSON.parse(readFileSync(configPath, 'utf8'));
} catch (err) {
  fail(`cannot read config ${configPath}: ${err.message}`);
}

const port = Number(config.port ?? 0);
if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`invalid port ${config.port}`);

const clients = (config.clients ?? []).map((c, i) => {
  if (!c.client_id || !c.client_secret || !Array.isArray(c.redirect_uris)) {
    fail(`clients[${i}] needs client_id, client_secret and redirect_uris[]`);
  }
  return {
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
    id_token_signed_response_alg: 'RS256',
    ...c,
  };
});

const users = config.users ?? [];
users.forEach((u, i) => {
  if (!u.sub || !u.login || typeof u.password !== 'string') {
    fail(`users[${i}] needs sub, login and password`);
  }
});
const usersBySub = new Map(users.map((u) => [String(u.sub), u]));
const usersByLogin = new Map(users.map((u) => [String(u.login), u]));

function signingKeys() {
  if (config.jwks) {
    const keys = Array.isArray(config.jwks) ? config.jwks : config.jwks.keys;
    if (!Array.isArray(keys) || keys.length === 0) fail('jwks must be {"keys":[...]} or [...]');
    return { keys };
  }
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  return { keys: [{ ...jwk, kid: `test-${randomUUID()}`, alg: 'RS256', use: 'sig' }] };
}

// Claims released per scope. With conformIdTokenClaims=false they all end up
// in the ID token (and in userinfo) when the scope was requested and granted.
const CLAIMS = {
  openid: ['sub'],
  email: ['email', 'email_verified'],
  profile: ['name', 'given_name', 'family_name', 'preferred_username'],
  groups: ['groups'],
};
const ALL_CLAIM_NAMES = new Set(Object.values(CLAIMS).flat());

function accountClaims(user) {
  const out = { sub: String(user.sub) };
  for (const [k, v] of Object.entries(user)) {
    if (ALL_CLAIM_NAMES.has(k) && v !== undefined && v !== null) out[k] = v;
  }
  if (out.preferred_username === undefined) out.preferred_username = String(user.login);
  return out;
}

// ------------------------------------------------------------------ html ---

const esc = (s) => String(s).replace(/[&<>"']/g, (ch) => ({
  '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
}[ch]));

function loginPage(uid, { error, clientId } = {}) {
  return `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Sign-in</title></head>
<body>
<h1>Sign-in${clientId ? ` to ${esc(clientId)}` : ''}</h1>
${error ? `<p class="error">${esc(error)}</p>\n` : ''}<form method="post" action="/interaction/${esc(uid)}/login">
<input type="text" name="login" autocomplete="username" autofocus>
<input type="password" name="password" autocomplete="current-password">
<button type="submit">Sign-in</button>
</form>
</body></html>
`;
}

function send(res, status, body, type = 'text/html; charset=utf-8') {
  res.statusCode = status;
  res.setHeader('Content-Type', type);
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('Content-Length', Buffer.byteLength(body));
  res.end(body);
}

function readForm(req, limit = 64 * 1024) {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks = [];
    req.on('data', (chunk) => {
      size += chunk.length;
      if (size > limit) {
        reject(Object.assign(new Error('request body too large'), { status: 413 }));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(new URLSearchParams(Buffer.concat(chunks).toString('utf8'))));
    req.on('error', reject);
  });
}

// ------------------------------------------------------------- listening ---

// Listen first (port 0 = ephemeral) so the issuer can carry the real port.
const server = createServer();
server.on('error', (err) => fail(`listen failed: ${err.message}`));
server.listen(port, '127.0.0.1', start);

function start() {
  const issuer = `http://127.0.0.1:${server.address().port}`;

  const provider = new Provider(issuer, {
    clients,
    jwks: signingKeys(),
    findAccount(_ctx, sub) {
      const user = usersBySub.get(String(sub));
      if (!user) return undefined;
      return {
        accountId: String(user.sub),
        async claims() { return accountClaims(user); },
      };
    },
    scopes: Object.keys(CLAIMS),
    claims: CLAIMS,
    conformIdTokenClaims: false,
    responseTypes: ['code'],
    pkce: { required: () => true }, // S256 is the only method oidc-provider 9 supports
    clientAuthMethods: ['client_secret_basic', 'client_secret_post'],
    enabledJWA: { idTokenSigningAlgValues: ['RS256'] },
    features: {
      devInteractions: { enabled: false },
      userinfo: { enabled: true },
    },
    interactions: {
      url: (_ctx, interaction) => `/interaction/${interaction.uid}`,
    },
    clientBasedCORS: () => false,
    ttl: {
      AccessToken: 3600,
      AuthorizationCode: 600,
      IdToken: 3600,
      Interaction: 3600,
      Session: 86400,
      Grant: 86400,
    },
  });
  // Plain-HTTP loopback: no reverse proxy, so X-Forwarded-* is never trusted.
  // Cookies are only marked Secure when the request itself is https, so they
  // work over http://127.0.0.1 as-is.
  provider.proxy = false;

  for (const ev of ['server_error', 'authorization.error', 'grant.error', 'userinfo.error']) {
    provider.on(ev, (_ctx, err) => log(`${ev}: ${err?.name}: ${err?.message}${err?.error_description ? ` (${err.error_description})` : ''}`));
  }

  // Create (or extend) the grant for exactly what the authorization request
  // asked for, so no consent prompt is ever shown.
  async function autoGrant(details, accountId) {
    const { params } = details;
    let grant;
    if (details.grantId) grant = await provider.Grant.find(details.grantId);
    if (!grant) grant = new provider.Grant({ accountId, clientId: params.client_id });

    if (params.scope) grant.addOIDCScope(String(params.scope));
    const missing = details.prompt?.details ?? {};
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    if (missing.missingResourceScopes) {
      for (const [indicator, scope] of Object.entries(missing.missingResourceScopes)) {
        grant.addResourceScope(indicator, scope.join(' '));
      }
    }
    if (params.claims) {
      try {
        const requested = JSON.parse(params.claims);
        grant.addOIDCClaims(Object.keys({ ...requested.id_token, ...requested.userinfo }));
      } catch { /* provider already validated it */ }
    }
    const grantId = await grant.save();
    return details.grantId === grantId ? {} : { grantId };
  }

  async function interactionRoute(req, res, url) {
    const m = /^\/interaction\/([^/]+)(\/login)?\/?$/.exec(url.pathname);
    if (!m) return send(res, 404, 'not found\n', 'text/plain; charset=utf-8');
    const [, uid, isLogin] = m;

    const details = await provider.interactionDetails(req, res);
    if (details.uid !== uid) {
      return send(res, 400, 'interaction uid does not match the interaction cookie\n', 'text/plain; charset=utf-8');
    }
    const promptName = details.prompt?.name;
    const clientId = details.params?.client_id;

    if (!isLogin) {
      if (req.method !== 'GET') return send(res, 405, 'method not allowed\n', 'text/plain; charset=utf-8');
      if (process.env.OIDC_IDP_DEBUG) log('interaction', uid, JSON.stringify(details.prompt));
      if (promptName === 'consent') {
        // Already logged in; grant and continue without user input.
        const consent = await autoGrant(details, details.session.accountId);
        return provider.interactionFinished(req, res, { consent }, { mergeWithLastSubmission: true });
      }
      return send(res, 200, loginPage(uid, { clientId }));
    }

    if (req.method !== 'POST') return send(res, 405, 'method not allowed\n', 'text/plain; charset=utf-8');
    const form = await readForm(req);
    const user = usersByLogin.get(form.get('login') ?? '');
    if (!user || user.password !== (form.get('password') ?? '')) {
      // Wrong login/password: re-render the form with 401; the interaction
      // stays open so the user agent may retry.
      return send(res, 401, loginPage(uid, { clientId, error: 'Invalid login or password.' }));
    }
    const accountId = String(user.sub);
    const consent = await autoGrant(details, accountId);
    return provider.interactionFinished(
      req,
      res,
      { login: { accountId }, consent },
      { mergeWithLastSubmission: false },
    );
  }

  const providerCallback = provider.callback();
  server.on('request', (req, res) => {
    const url = new URL(req.url, issuer);
    if (url.pathname === '/interaction' || url.pathname.startsWith('/interaction/')) {
      interactionRoute(req, res, url).catch((err) => {
        if (res.headersSent) { res.destroy(); return; }
        if (err instanceof errors.SessionNotFound) {
          send(res, 400, `${err.message}: ${err.error_description ?? ''}\n`, 'text/plain; charset=utf-8');
        } else {
          log('interaction error:', err);
          send(res, err.status ?? 500, `${err.message}\n`, 'text/plain; charset=utf-8');
        }
      });
      return;
    }
    providerCallback(req, res);
  });

  process.stdout.write(`READY ${issuer}\n`);
}

// ------------------------------------------------------------- shutdown ---

let stopping = false;
function shutdown(reason) {
  if (stopping) return;
  stopping = true;
  log(`shutting down (${reason})`);
  server.close(() => process.exit(0));
  server.closeAllConnections?.();
  setTimeout(() => process.exit(0), 1000).unref();
}

process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));

if (process.env.OIDC_IDP_IGNORE_STDIN !== '1') {
  process.stdin.on('end', () => shutdown('stdin closed'));
  process.stdin.on('close', () => shutdown('stdin closed'));
  process.stdin.on('error', () => shutdown('stdin error'));
  process.stdin.resume();
}
