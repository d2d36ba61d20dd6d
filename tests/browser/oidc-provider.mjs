// oidc-provider.mjs: a real OpenID provider (npm's certified oidc-provider) for
// nbgate's OIDC tests, over HTTPS on 127.0.0.1.
//
//   node oidc-provider.mjs PORT CERT.pem KEY.pem SECRET_FILE REDIRECT_URI [ALG:KID]
//
// With ALG:KID (RS256 or ES256) ID tokens are signed with a key of that kind
// made at start, named KID; without it, with the package's quick-start key.
// With OIDC_TEST_AUTH=client_secret_post in the environment the token
// endpoint takes (and the discovery document offers) only client_secret_post.
// Each token request logs whether it came with HTTP Basic authentication,
// each userinfo request that it came.
// One confidential client "nbgate" (client_secret_basic, secret read from
// SECRET_FILE, never from argv), redirect URI REDIRECT_URI, PKCE required.
// Users (password = name + "-pw"): alice, bob, and mallory whose
// preferred_username is not a Unix name, and those OIDC_TEST_USERS adds
// (a JSON map of login to claims; sub is the login). The login page is a plain form
// (login, password; a "deny" button ends with access_denied); consent is
// granted with the login. Prints "ready ISSUER" when listening.
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import Provider from 'oidc-provider';

const [port, certFile, keyFile, secretFile, redirectUri, signing] = process.argv.slice(2);
if (!redirectUri) {
  console.error('usage: oidc-provider.mjs PORT CERT KEY SECRET_FILE REDIRECT_URI');
  process.exit(2);
}
const issuer = `https://127.0.0.1:${port}`;
const secret = fs.readFileSync(secretFile, 'utf8').trim();

const users = {
  alice: { preferred_username: 'alice', name: 'Alice A.', email: 'alice@example.org' },
  bob: { preferred_username: 'bob', name: 'Bob B.', email: 'bob@example.org' },
  mallory: { preferred_username: 'Mallory Doe!', name: 'Mallory', email: 'm@evil.example' },
};
// More accounts from OIDC_TEST_USERS: {"login": {claims...}, ...} (sub = login).
Object.assign(users, JSON.parse(process.env.OIDC_TEST_USERS || '{}'));

let jwks;
let alg = 'RS256';
if (signing) {
  const [a, kid] = signing.split(':');
  const pair = a === 'ES256'
    ? crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' })
    : crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  jwks = { keys: [{ ...pair.privateKey.export({ format: 'jwk' }), kid, use: 'sig', alg: a }] };
  alg = a;
}

const auth = process.env.OIDC_TEST_AUTH || 'client_secret_basic';

const provider = new Provider(issuer, {
  ...(jwks ? { jwks } : {}),
  clientAuthMethods: auth === 'client_secret_basic'
    ? ['client_secret_basic', 'client_secret_post', 'none'] : [auth],
  clients: [{
    id_token_signed_response_alg: alg,
    client_id: 'nbgate',
    client_secret: secret,
    redirect_uris: [redirectUri],
    response_types: ['code'],
    grant_types: ['authorization_code'],
    token_endpoint_auth_method: auth,
  }],
  claims: {
    openid: ['sub'],
    profile: ['preferred_username', 'name'],
    email: ['email'],
  },
  // The scopes' claims go into the ID token too, unless OIDC_TEST_CONFORM=1:
  // then only into userinfo (oidc-provider's default).
  conformIdTokenClaims: process.env.OIDC_TEST_CONFORM === '1',
  pkce: { required: () => true },
  features: { devInteractions: { enabled: false } },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  cookies: { keys: ['nbgate-test-provider-cookie-key'] },
  async findAccount(ctx, id) {
    if (!Object.hasOwn(users, id)) return undefined;
    return { accountId: id, claims: async () => ({ sub: id, ...users[id] }) };
  },
});

const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(res, code, uid, error) {
  res.writeHead(code, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(`<!DOCTYPE html><html><head><title>Test provider sign-in</title></head><body>
<h1>Test provider</h1>${error ? `<p id="error">${esc(error)}</p>` : ''}
<form method="post" action="/interaction/${esc(uid)}/login">
<label>Login <input name="login" id="login" autocomplete="username"></label>
<label>Password <input name="password" id="password" type="password"></label>
<button type="submit" name="action" value="login" id="submit">Sign in</button>
<button type="submit" name="action" value="deny" id="deny">Deny</button>
</form></body></html>`);
}

async function body(req) {
  let data = '';
  for await (const chunk of req) {
    data += chunk;
    if (data.length > 8192) throw new Error('body too large');
  }
  return new URLSearchParams(data);
}

async function interaction(req, res) {
  const m = /^\/interaction\/([\w-]+)(\/login)?$/.exec(new URL(req.url, issuer).pathname);
  if (!m) return false;
  const details = await provider.interactionDetails(req, res);
  if (req.method === 'GET') {
    page(res, 200, details.uid);
    return true;
  }
  const form = await body(req);
  if (form.get('action') === 'deny') {
    await provider.interactionFinished(req, res, {
      error: 'access_denied', error_description: 'The user said no.',
    }, { mergeWithLastSubmission: false });
    return true;
  }
  const login = form.get('login') || '';
  if (!Object.hasOwn(users, login) || form.get('password') !== `${login}-pw`) {
    page(res, 401, details.uid, 'Wrong login or password.');
    return true;
  }
  const grant = new provider.Grant({ accountId: login, clientId: details.params.client_id });
  grant.addOIDCScope(details.params.scope);
  const grantId = await grant.save();
  await provider.interactionFinished(req, res, {
    login: { accountId: login },
    consent: { grantId },
  }, { mergeWithLastSubmission: false });
  return true;
}

const callback = provider.callback();
const server = https.createServer({
  cert: fs.readFileSync(certFile), key: fs.readFileSync(keyFile),
}, async (req, res) => {
  if (new URL(req.url, issuer).pathname === '/token') {
    // oidc-provider takes basic and post alike: say which one came.
    const basic = /^Basic /i.test(req.headers.authorization || '');
    console.log(`token request: ${basic ? 'client_secret_basic' : 'no Authorization header'}`);
  } else if (new URL(req.url, issuer).pathname === '/me') {
    console.log('userinfo request');
  }
  try {
    if (await interaction(req, res)) return;
  } catch (e) {
    res.writeHead(400, { 'content-type': 'text/plain' });
    res.end(`interaction failed: ${e.message}\n`);
    return;
  }
  callback(req, res);
});
server.listen(Number(port), '127.0.0.1', () => console.log(`ready ${issuer}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
