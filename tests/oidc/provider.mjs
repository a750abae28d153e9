// Development OpenID Connect provider: the upstream identity provider of the tests and of native mode
// (`just run`). It is `oidc-provider` (a certified OpenID Connect implementation) with one confidential
// client, users from the environment, a real login form that checks the password, and a consent step.
// It is NOT for production: plain http on loopback, in-memory storage, keys generated at every start.
//
// Usage: node provider.mjs [PORT]   (PORT also from OIDC_PORT; 0 picks a free port)
// Prints one line `oidc-provider ready issuer=http://127.0.0.1:PORT` on stdout once it serves.
// See tests/oidc/README.md for every environment variable.

import { createServer } from 'node:http';
import { generateKeyPairSync, randomBytes, createHash, timingSafeEqual } from 'node:crypto';
import Provider from 'oidc-provider';

const MAX_FORM_BYTES = 16 * 1024;

function fail(message) {
  process.stderr.write(`oidc-provider: ${message}\n`);
  process.exit(64);
}

// --- configuration: one pass, every problem named --------------------------------------------------
function readConfig(env, argv) {
  const problems = [];
  const portText = argv[2] ?? env.OIDC_PORT ?? '0';
  const port = Number(portText);
  if (!Number.isInteger(port) || port < 0 || port > 65535) problems.push(`OIDC_PORT: not a port: ${portText}`);
  const host = env.OIDC_HOST ?? '127.0.0.1';
  // Behind a TLS-terminating proxy (the compose test stack) the public issuer differs from the
  // listening address; X-Forwarded-Proto/Host are then trusted.
  const publicIssuer = env.OIDC_PUBLIC_ISSUER ?? '';
  if (publicIssuer && !/^https?:\/\/[^/]+$/.test(publicIssuer)) problems.push(`OIDC_PUBLIC_ISSUER: not an origin: ${publicIssuer}`);
  const clientId = env.OIDC_CLIENT_ID ?? '';
  const clientSecret = env.OIDC_CLIENT_SECRET ?? '';
  const redirectUris = (env.OIDC_REDIRECT_URIS ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  const authMethod = env.OIDC_CLIENT_AUTH_METHOD ?? 'client_secret_basic';
  if (!clientId) problems.push('OIDC_CLIENT_ID: missing');
  if (clientSecret.length < 16) problems.push('OIDC_CLIENT_SECRET: missing or shorter than 16 characters');
  if (redirectUris.length === 0) problems.push('OIDC_REDIRECT_URIS: missing (comma-separated URLs)');
  if (!['client_secret_basic', 'client_secret_post'].includes(authMethod)) {
    problems.push(`OIDC_CLIENT_AUTH_METHOD: must be client_secret_basic or client_secret_post, got ${authMethod}`);
  }
  const users = new Map();
  const addUser = (login, password, email, source) => {
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(login ?? '')) problems.push(`${source}: invalid login ${JSON.stringify(login)}`);
    else if (!password) problems.push(`${source}: user ${login} has no password`);
    else users.set(login, { login, password, email: email || `${login}@example.com` });
  };
  if (env.DEV_LOGIN_USER || env.DEV_LOGIN_PASSWORD) {
    addUser(env.DEV_LOGIN_USER, env.DEV_LOGIN_PASSWORD, env.DEV_LOGIN_EMAIL, 'DEV_LOGIN_USER/DEV_LOGIN_PASSWORD');
  }
  // Further users: `login:password[:email]`, comma-separated.
  for (const entry of (env.OIDC_USERS ?? '').split(',').map((s) => s.trim()).filter(Boolean)) {
    const [login, password, email] = entry.split(':');
    addUser(login, password, email, 'OIDC_USERS');
  }
  if (users.size === 0) problems.push('DEV_LOGIN_USER/DEV_LOGIN_PASSWORD or OIDC_USERS: at least one user is needed');
  if (problems.length) fail(`invalid configuration:\n  ${problems.join('\n  ')}`);
  return { port, host, publicIssuer, clientId, clientSecret, redirectUris, authMethod, users };
}

// --- helpers ------------------------------------------------------------------------------------------
const escapeHtml = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

// Constant-time password check: compare digests of equal length.
function passwordMatches(expected, given) {
  const a = createHash('sha256').update(String(expected)).digest();
  const b = createHash('sha256').update(String(given)).digest();
  return timingSafeEqual(a, b);
}

function readForm(req) {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks = [];
    req.on('data', (chunk) => {
      size += chunk.length;
      if (size > MAX_FORM_BYTES) {
        reject(Object.assign(new Error('form too large'), { status: 413 }));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(new URLSearchParams(Buffer.concat(chunks).toString('utf8'))));
    req.on('error', reject);
  });
}

function page(res, status, title, body) {
  const html = `<!doctype html><html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head>`
    + `<body><p><strong>Development login</strong> (tests/oidc/provider.mjs): not for production.</p>`
    + `<h1>${escapeHtml(title)}</h1>${body}</body></html>`;
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
    // Browsers apply form-action to the redirects that follow a form post too (CSP3 §6.4.1), and
    // the consent form's answer ends in a redirect to the client (authd's /callback, another origin).
    'content-security-policy': `default-src 'none'; form-action 'self' ${clientOrigins()}`,
  });
  res.end(html);
}

function loginForm(res, uid, clientId, error, login = '') {
  const err = error ? `<p role="alert">${escapeHtml(error)}</p>` : '';
  page(res, error ? 401 : 200, 'Sign in', `${err}<p>Signing in to ${escapeHtml(clientId)}</p>`
    + `<form method="post" action="/interaction/${escapeHtml(uid)}/login">`
    + `<label>Login <input name="login" value="${escapeHtml(login)}" autofocus></label>`
    + '<label>Password <input name="password" type="password"></label>'
    + '<button type="submit">Sign in</button></form>');
}

function consentForm(res, uid, clientId, scopes) {
  page(res, 200, 'Authorize', `<p>${escapeHtml(clientId)} asks for: ${escapeHtml(scopes.join(' '))}</p>`
    + `<form method="post" action="/interaction/${escapeHtml(uid)}/confirm">`
    + '<button type="submit">Allow</button></form>'
    + `<form method="post" action="/interaction/${escapeHtml(uid)}/abort">`
    + '<button type="submit">Deny</button></form>');
}

// --- the provider ---------------------------------------------------------------------------------------
const config = readConfig(process.env, process.argv);
// The origins of the client's redirect URIs (validated as URLs by oidc-provider at start).
const clientOrigins = () => config.redirectUris.map((u) => { try { return new URL(u).origin; } catch { return ''; } }).join(' ');

function providerFor(issuer) {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = { ...privateKey.export({ format: 'jwk' }), kid: randomBytes(8).toString('hex'), use: 'sig', alg: 'RS256' };
  const provider = new Provider(issuer, {
    clients: [{
      client_id: config.clientId,
      client_secret: config.clientSecret,
      redirect_uris: config.redirectUris,
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: config.authMethod,
    }],
    jwks: { keys: [jwk] },
    cookies: { keys: [randomBytes(32).toString('hex')] },
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name', 'preferred_username'],
    },
    scopes: ['openid', 'email', 'profile'],
    // The ID token carries the requested claims too, so a relying party may use either it or userinfo.
    conformIdTokenClaims: false,
    features: { devInteractions: { enabled: false } },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    async findAccount(_ctx, sub) {
      const user = config.users.get(sub);
      if (!user) return undefined;
      return {
        accountId: sub,
        async claims() {
          return {
            sub,
            email: user.email,
            email_verified: true,
            name: user.login,
            preferred_username: user.login,
          };
        },
      };
    },
    renderError(ctx, out) {
      ctx.type = 'html';
      ctx.body = `<!doctype html><html><body><h1>Error</h1><pre>${escapeHtml(JSON.stringify(out))}</pre></body></html>`;
    },
  });
  provider.on('server_error', (_ctx, err) => process.stderr.write(`oidc-provider: server_error ${err}\n`));
  return provider;
}

async function interaction(provider, req, res, url) {
  const [, , uid, action] = url.pathname.split('/');
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) {
    page(res, 400, 'Error', '<p>interaction does not match its cookie</p>');
    return;
  }
  const clientId = details.params.client_id;
  if (req.method === 'GET' && !action) {
    if (details.prompt.name === 'login') loginForm(res, uid, clientId);
    else consentForm(res, uid, clientId, String(details.params.scope ?? '').split(' '));
    return;
  }
  if (req.method !== 'POST') {
    page(res, 405, 'Error', '<p>method not allowed</p>');
    return;
  }
  const form = await readForm(req);
  if (action === 'login') {
    const login = form.get('login') ?? '';
    const user = config.users.get(login);
    // Compare against a dummy when the user is unknown, so timing does not reveal which logins exist.
    const ok = passwordMatches(user ? user.password : 'no-such-user', form.get('password') ?? '') && user;
    if (!ok) {
      loginForm(res, uid, clientId, 'Wrong login or password', login);
      return;
    }
    await provider.interactionFinished(req, res, { login: { accountId: login } }, { mergeWithLastSubmission: false });
  } else if (action === 'confirm') {
    const { prompt: { details: missing }, params, session } = details;
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    const grantId = await grant.save();
    await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  } else if (action === 'abort') {
    await provider.interactionFinished(req, res, {
      error: 'access_denied', error_description: 'the user denied the request',
    }, { mergeWithLastSubmission: false });
  } else {
    page(res, 404, 'Error', '<p>not found</p>');
  }
}

let provider;
let handle;
const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://localhost');
  if (!url.pathname.startsWith('/interaction/')) {
    handle(req, res);
    return;
  }
  interaction(provider, req, res, url).catch((err) => {
    const status = err.status ?? 400;
    process.stderr.write(`oidc-provider: interaction error ${err.name}: ${err.message}\n`);
    if (!res.headersSent) page(res, status, 'Error', `<p>${escapeHtml(err.message)}</p>`);
    else res.end();
  });
});

server.listen(config.port, config.host, () => {
  const { port } = server.address();
  const issuer = config.publicIssuer || `http://${config.host}:${port}`;
  provider = providerFor(issuer);
  provider.proxy = Boolean(config.publicIssuer);
  handle = provider.callback();
  process.stdout.write(`oidc-provider ready issuer=${issuer}\n`);
});

// Everything lives in memory: nothing to flush, so stop at once (keep-alive connections included).
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(0));
