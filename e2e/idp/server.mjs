// The dev OIDC provider: node `oidc-provider` with the demo users and groups
// of JOURNEYS.md. `mlops up` starts it unless an external issuer is
// configured; the tests sign in through its login form as a person would.
//
// Configuration comes from the environment:
//   IDP_PORT                   port on 127.0.0.1 (required)
//   IDP_ISSUER                 issuer URL (default http://127.0.0.1:<port>)
//   IDP_CLIENT_ID              the control plane's client id (default mlops)
//   IDP_CLIENT_SECRET          its secret (required)
//   IDP_REDIRECT_URIS          comma-separated callback URLs (required)
//   IDP_POST_LOGOUT_URIS       comma-separated post-logout URLs
//   IDP_PASSWORD               the demo users' password (default "demo")
import http from 'node:http';
import crypto from 'node:crypto';
import Provider from 'oidc-provider';

const port = Number(process.env.IDP_PORT);
if (!Number.isInteger(port) || port <= 0) {
  console.error('dev idp: IDP_PORT must be a port number');
  process.exit(2);
}
const issuer = process.env.IDP_ISSUER || `http://127.0.0.1:${port}`;
const clientSecret = process.env.IDP_CLIENT_SECRET;
const redirectUris = (process.env.IDP_REDIRECT_URIS || '').split(',').filter(Boolean);
if (!clientSecret || redirectUris.length === 0) {
  console.error('dev idp: IDP_CLIENT_SECRET and IDP_REDIRECT_URIS are required');
  process.exit(2);
}
const postLogoutUris = (process.env.IDP_POST_LOGOUT_URIS || '').split(',').filter(Boolean);
const password = process.env.IDP_PASSWORD || 'demo';

// The demo users (JOURNEYS.md): each one's group maps to one role.
const USERS = {
  alice: { name: 'Alice Martin', groups: ['ml-engineers'] },
  bob: { name: 'Bob Okafor', groups: ['approvers'] },
  carol: { name: 'Carol Chen', groups: ['oncall'] },
  dave: { name: 'Dave Novak', groups: ['admins'] },
  erin: { name: 'Erin Silva', groups: ['viewers'] },
  // A team lead who both deploys and approves: four-eyes still stops her
  // from approving her own release.
  frank: { name: 'Frank Moreau', groups: ['ml-engineers', 'approvers'] },
};

function account(id) {
  const user = USERS[id];
  if (!user) return undefined;
  return {
    accountId: id,
    async claims() {
      return {
        sub: id,
        name: user.name,
        preferred_username: id,
        email: `${id}@example.com`,
        email_verified: true,
        groups: user.groups,
      };
    },
  };
}

const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(title, body) {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escape(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:15px/1.5 system-ui,sans-serif;background:#f4f5f7;color:#1d2330;margin:0}
main{max-width:22rem;margin:4rem auto;background:#fff;padding:1.5rem 2rem;border-radius:6px;box-shadow:0 1px 3px #0002}
h1{font-size:1.25rem;margin:0 0 1rem}label{display:block;margin:.75rem 0 .25rem;font-weight:600}
input{width:100%;box-sizing:border-box;padding:.5rem;border:1px solid #767d8c;border-radius:4px;font:inherit}
button{margin-top:1rem;width:100%;padding:.6rem;border:0;border-radius:4px;background:#1f5fbf;color:#fff;font:inherit;font-weight:600;cursor:pointer}
.error{color:#a3211a;margin:.5rem 0}.hint{color:#4a5263;font-size:.85rem;margin-top:1rem}
</style></head><body><main>${body}</main></body></html>`;
}

function loginForm(uid, error, login) {
  return page('Sign in', `<h1>Sign in to mlops</h1>
${error ? `<p class="error" role="alert">${escape(error)}</p>` : ''}
<form method="post" action="/interaction/${escape(uid)}/login" autocomplete="off">
<label for="username">Username</label>
<input id="username" name="username" value="${escape(login || '')}" required autofocus>
<label for="password">Password</label>
<input id="password" name="password" type="password" required>
<button type="submit">Sign in</button>
</form>
<p class="hint">Demo users: alice, bob, carol, dave, erin, frank.</p>`);
}

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: process.env.IDP_CLIENT_ID || 'mlops',
      client_secret: clientSecret,
      redirect_uris: redirectUris,
      post_logout_redirect_uris: postLogoutUris,
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  findAccount: (_ctx, id) => account(id),
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'preferred_username'],
    groups: ['groups'],
  },
  scopes: ['openid', 'email', 'profile', 'groups'],
  // The control plane reads roles from the ID token, so the claims the
  // scopes grant go into it, not only into userinfo.
  conformIdTokenClaims: false,
  pkce: { required: () => true },
  cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  features: {
    devInteractions: { enabled: false },
    rpInitiatedLogout: {
      enabled: true,
      logoutSource: async (ctx, form) => {
        ctx.body = page('Sign out', `<h1>Sign out of the identity provider?</h1>${form}
<button type="submit" form="op.logoutForm" value="yes" name="logout">Yes, sign me out</button>`);
      },
      postLogoutSuccessSource: async (ctx) => {
        ctx.body = page('Signed out', '<h1>You are signed out.</h1>');
      },
    },
  },
  // mlops is a first-party client: a signed-in user is not asked for
  // consent, the grant covers the scopes the control plane asks for.
  loadExistingGrant: async (ctx) => {
    const existing = ctx.oidc.result?.consent?.grantId
      || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (existing) {
      const found = await ctx.oidc.provider.Grant.find(existing);
      if (found) return found;
    }
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope('openid email profile groups');
    await grant.save();
    return grant;
  },
  renderError: async (ctx, out) => {
    ctx.type = 'html';
    ctx.body = page('Sign-in error', `<h1>Sign-in error</h1><p class="error" role="alert">${escape(out.error)}: ${escape(out.error_description || '')}</p>`);
  },
});

async function readForm(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 16 * 1024) throw new Error('form too large');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function send(res, status, html) {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(html);
}

const oidc = provider.callback();

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, issuer);
  const match = url.pathname.match(/^\/interaction\/([\w-]+)(\/login)?$/);
  if (!match) return oidc(req, res);
  try {
    const details = await provider.interactionDetails(req, res);
    if (details.uid !== match[1]) return send(res, 400, page('Error', '<p role="alert">This sign-in link is stale.</p>'));
    if (!match[2] && req.method === 'GET') {
      return send(res, 200, loginForm(details.uid, null, details.params.login_hint));
    }
    if (match[2] && req.method === 'POST') {
      const form = await readForm(req);
      const username = (form.get('username') || '').trim();
      const ok = account(username) && crypto.timingSafeEqual(
        crypto.createHash('sha256').update(form.get('password') || '').digest(),
        crypto.createHash('sha256').update(password).digest(),
      );
      if (!ok) {
        console.log(`dev idp: refused sign-in for ${JSON.stringify(username)}`);
        return send(res, 200, loginForm(details.uid, 'Wrong username or password.', username));
      }
      console.log(`dev idp: ${username} signed in`);
      return provider.interactionFinished(req, res, { login: { accountId: username } }, { mergeWithLastSubmission: false });
    }
    return send(res, 405, page('Error', '<p role="alert">Method not allowed.</p>'));
  } catch (error) {
    return send(res, 400, page('Error', `<p role="alert">${escape(error.message)}</p>`));
  }
});

server.listen(port, '127.0.0.1', () => {
  console.log(`dev idp: listening at ${issuer}`);
});

const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
