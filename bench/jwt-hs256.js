// bench/jwt-hs256.js - the njs alternative in bench/run: an HS256 JWT
// session check as a user would write it for Debian's libnginx-mod-http-js
// (njs 0.7), used as
//
//     js_import jwt from jwt-hs256.js;
//     js_set $jwt_ok jwt.check;
//     js_var $jwt_sub;
//     js_var $jwt_role;
//     ...
//     if ($jwt_ok != 1) { return 401; }
//     proxy_set_header X-Audit-User-Id $jwt_sub;
//
// bench/run copies it next to nginx.conf with the HMAC secret and the
// required role filled in. The secret is inlined rather than read with
// fs.readFileSync(): njs 0.7 runs a module's top-level code again for every
// request (each request gets a fresh VM), so a file read there would be a
// file read per request.

import crypto from 'crypto';

const KEY = '%%KEY%%';
const ROLE = '%%ROLE%%';

function decode(part) {
    return JSON.parse(Buffer.from(part, 'base64url').toString());
}

// "1" for a valid session cookie with the role, else "0"; sets $jwt_sub
// and $jwt_role for the upstream.
function check(r) {
    const token = r.variables.cookie_session;
    if (!token) {
        return '0';
    }
    const parts = token.split('.');
    if (parts.length !== 3) {
        return '0';
    }
    const sig = crypto.createHmac('sha256', KEY)
                      .update(parts[0] + '.' + parts[1])
                      .digest('base64url');
    if (sig !== parts[2]) {
        return '0';
    }
    let header, claims;
    try {
        header = decode(parts[0]);
        claims = decode(parts[1]);
    } catch (e) {
        return '0';
    }
    if (header.alg !== 'HS256') {
        return '0';
    }
    if (typeof claims.exp !== 'number' || claims.exp <= Date.now() / 1000) {
        return '0';
    }
    if (claims.role !== ROLE || typeof claims.sub !== 'string') {
        return '0';
    }
    r.variables.jwt_sub = claims.sub;
    r.variables.jwt_role = claims.role;
    return '1';
}

export default { check };
