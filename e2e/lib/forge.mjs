// A forged approval token: the right shape and claims, signed with a key
// that is not the control plane's.

import { generateKeyPairSync, sign, randomUUID } from 'node:crypto';

const b64 = (x) => Buffer.from(typeof x === 'string' ? x : JSON.stringify(x)).toString('base64url');

export function forgedApproval({ issuer, kid, workflow, gate, approver = 'bob', decision = 'approve' }) {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const now = Math.floor(Date.now() / 1000);
  // The control plane's own key id, so the signature is what gives it away.
  const header = { alg: 'ES256', typ: 'JWT', kid };
  const claims = {
    iss: issuer, aud: 'orchestrator-approval', sub: approver, roles: ['approver'],
    workflow, gate, decision, comment: 'looks fine', iat: now, exp: now + 120,
    jti: randomUUID(), typ: 'gate-approval',
  };
  const input = `${b64(header)}.${b64(claims)}`;
  const signature = sign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' });
  return `${input}.${signature.toString('base64url')}`;
}
