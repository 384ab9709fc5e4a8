'use strict';
// A real Sentry producer for t/41-sentry-receiver.t: initialises @sentry/node
// (t/package.json, installed by `npm ci --prefix t`) with the DSN given on
// the command line, captures one exception, flushes and exits: 0 when the
// SDK reports everything was sent, 1 otherwise, 2 on a usage error.
//
//   node t/sentry-node-send.js DSN [MARKER]
//
// The exception is a TypeError whose message holds MARKER (default
// "sentry-node-send"); the event carries the tag audit_test=MARKER and the
// fingerprint ["sentry-node-send", MARKER].

const Sentry = require('@sentry/node');

async function main() {
  const [dsn, marker = 'sentry-node-send'] = process.argv.slice(2);
  if (!dsn) {
    console.error('usage: node sentry-node-send.js DSN [MARKER]');
    return 2;
  }
  Sentry.init({
    dsn,
    release: 'audit-test@1.0.0',
    environment: 'test',
    tracesSampleRate: 0,
    debug: !!process.env.SENTRY_DEBUG,
  });
  Sentry.withScope((scope) => {
    scope.setTag('audit_test', marker);
    scope.setFingerprint(['sentry-node-send', marker]);
    Sentry.captureException(new TypeError(`audit test exception ${marker}`));
  });
  const sent = await Sentry.close(5000);
  return sent ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
