#!/usr/bin/python3
"""bench/auth-service.py - the tiny service behind `auth_request` in bench/run.

What a team would write instead of the audit module: nginx sends every
request's headers to this service (`auth_request /_auth;`, an upstream with
keepalive), which verifies the HS256 JWT in the `session` cookie (signature,
alg, exp, role) and answers 204 with the identity in X-User / X-Role, or 401.

    bench/auth-service.py PORT KEY_FILE ROLE

Standard library only (Debian's /usr/bin/python3). One process, asyncio,
HTTP/1.1 keep-alive; no request bodies (nginx sends none: proxy_pass_request_body
off). Exits when its parent (bench/run) goes away, or on SIGTERM.
"""

import asyncio
import base64
import hashlib
import hmac
import json
import os
import re
import signal
import sys
import time

PORT = int(sys.argv[1])
with open(sys.argv[2], 'rb') as f:
    KEY = f.read()
ROLE = sys.argv[3]
PARENT = os.getppid()

DENY = b'HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n'
SAFE = re.compile(r'\A[\x21-\x7e]{1,256}\Z')    # what may go into a header


def b64d(s):
    return base64.urlsafe_b64decode(s + '=' * (-len(s) % 4))


def verify(cookie):
    """The claims of a valid session cookie, else None."""
    token = None
    for part in cookie.split(';'):
        name, _, value = part.strip().partition('=')
        if name == 'session':
            token = value
            break
    if not token:
        return None
    parts = token.split('.')
    if len(parts) != 3:
        return None
    h, p, s = parts
    mac = hmac.new(KEY, (h + '.' + p).encode('ascii', 'replace'), hashlib.sha256).digest()
    try:
        if not hmac.compare_digest(mac, b64d(s)):
            return None
        header = json.loads(b64d(h))
        claims = json.loads(b64d(p))
    except ValueError:
        return None
    if not isinstance(header, dict) or header.get('alg') != 'HS256' or not isinstance(claims, dict):
        return None
    exp = claims.get('exp')
    if not isinstance(exp, (int, float)) or isinstance(exp, bool) or exp <= time.time():
        return None
    if claims.get('role') != ROLE:
        return None
    sub = claims.get('sub')
    if not isinstance(sub, str) or not SAFE.match(sub):
        return None
    return claims


def answer(head):
    cookie = None
    for line in head.split(b'\r\n')[1:]:
        if line[:7].lower() == b'cookie:':
            cookie = line[7:].decode('latin-1')
            break
    claims = verify(cookie) if cookie else None
    if claims is None:
        return DENY
    return ('HTTP/1.1 204 No Content\r\nX-User: %s\r\nX-Role: %s\r\n\r\n'
            % (claims['sub'], ROLE)).encode('ascii')


class Conn(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport
        self.buf = b''

    def data_received(self, data):
        self.buf += data
        out = []
        while True:
            end = self.buf.find(b'\r\n\r\n')
            if end < 0:
                break
            out.append(answer(self.buf[:end]))
            self.buf = self.buf[end + 4:]
        if out:
            self.transport.write(b''.join(out))
        if len(self.buf) > 65536:
            self.transport.close()


def watch_parent(loop):
    if os.getppid() != PARENT:
        loop.stop()
        return
    loop.call_later(1, watch_parent, loop)


def main():
    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(
        loop.create_server(Conn, '127.0.0.1', PORT, reuse_address=True, backlog=1024))
    loop.add_signal_handler(signal.SIGTERM, loop.stop)
    loop.call_later(1, watch_parent, loop)
    try:
        loop.run_forever()
    finally:
        server.close()


if __name__ == '__main__':
    main()
