/*
 * Unit tests of the offline verifier: chains built here exactly as the
 * nginx layer builds them (events encoded, chained by SHA-256, signed
 * with test/vectors/ed25519.key), then tampered with the way an attacker
 * would, and the verdicts checked.
 */

#include <stdlib.h>

#include <openssl/evp.h>

#include "../audit_checkpoint.h"
#include "../audit_event.h"
#include "../audit_verify.h"
#include "tap.h"


#define V(name)   AUDIT_TEST_VECTORS "/" name
#define N         40                /* events per chain */
#define EVERY     10                /* a checkpoint after each 10 */
#define PRODUCER  "web1/1796232869238-9440/0"


static char                     lines[64][AUDIT_EVENT_MAX];
static size_t                   nlines;
static audit_checkpoint_key_t  *priv;


/* appends ev to the chain: seq, prev from the last line */

static void
chain(audit_event_t *ev)
{
    unsigned char  prev[32];
    size_t         len;

    ev->producer.data = PRODUCER;
    ev->producer.len = sizeof(PRODUCER) - 1;
    ev->seq = nlines;
    ev->has_prev = nlines > 0;

    if (nlines) {
        len = strlen(lines[nlines - 1]) - 1;
        EVP_Digest(lines[nlines - 1], len, prev, NULL, EVP_sha256(), NULL);
        memcpy(ev->prev, prev, 32);
    }

    if (audit_event_encode(ev, NULL, lines[nlines], AUDIT_EVENT_MAX) < 0) {
        diag("encode failed");
        exit(1);
    }

    nlines++;
}


/* a chain of N events with a checkpoint after each EVERY, the last final */

static void
build(audit_checkpoint_key_t *key, int close)
{
    size_t              i, last_cp;
    audit_event_t       ev;
    audit_checkpoint_t  c, prev;
    int                 has_prev;

    nlines = 0;
    has_prev = 0;
    last_cp = 0;

    for (i = 0; i < N; i++) {
        memset(&ev, 0, sizeof(ev));
        ev.action = AUDIT_RECORD_ACCESS;
        ev.ts_ms = 1796232870000ULL + i;
        ev.user_id = (audit_str_t) { "u-ann", 5 };
        chain(&ev);

        if ((i + 1) % EVERY != 0 || (i + 1 == N && !close)) {
            continue;
        }

        memset(&ev, 0, sizeof(ev));
        memset(&c, 0, sizeof(c));
        ev.action = AUDIT_CHECKPOINT;
        ev.ts_ms = 1796232870000ULL + i;
        c.producer = (audit_str_t) { PRODUCER, sizeof(PRODUCER) - 1 };
        c.seq = nlines - 1;
        EVP_Digest(lines[nlines - 1], strlen(lines[nlines - 1]) - 1, c.head,
                   NULL, EVP_sha256(), NULL);
        c.count = has_prev ? c.seq - last_cp : nlines;
        c.has_prev_sig = has_prev;
        if (has_prev) {
            memcpy(c.prev_sig, prev.sig, sizeof(c.sig));
        }
        c.ts_ms = ev.ts_ms;
        c.interval_ms = 60000;
        c.final = (i + 1 == N);
        audit_checkpoint_sign(key, &c);
        ev.checkpoint = &c;
        last_cp = nlines;
        chain(&ev);

        prev = c;
        has_prev = 1;
    }
}


/* re-chains lines [from, nlines) after an edit of line from */

static void
rehash(size_t from)
{
    size_t         i;
    char          *p;
    char           hex[65];
    unsigned char  h[32];

    for (i = from + 1; i < nlines; i++) {
        EVP_Digest(lines[i - 1], strlen(lines[i - 1]) - 1, h, NULL,
                   EVP_sha256(), NULL);
        for (int k = 0; k < 32; k++) {
            sprintf(hex + 2 * k, "%02x", h[k]);
        }
        p = strstr(lines[i], "\"prev\":\"");
        memcpy(p + 8, hex, 64);
    }
}


static audit_verify_report_t  got;
static int                    reports;
static unsigned long long     as_of;                   /* run()'s */
static unsigned long long     key_from, key_until = AUDIT_VERIFY_FOREVER;


static void
keep(const audit_verify_report_t *r, void *data)
{
    (void) data;
    got = *r;
    reports++;
}


/* inserts text after the first "after" in line i (no rehash) */

static void
insert(size_t i, const char *after, const char *text)
{
    char    *p;
    size_t   n;

    p = strstr(lines[i], after) + strlen(after);
    n = strlen(text);
    memmove(p + n, p, strlen(p) + 1);
    memcpy(p, text, n);
}


/* appends an event at ts_ms */

static void
event_at(unsigned long long ts_ms)
{
    audit_event_t  ev;

    memset(&ev, 0, sizeof(ev));
    ev.action = AUDIT_RECORD_ACCESS;
    ev.ts_ms = ts_ms;
    ev.user_id = (audit_str_t) { "u-ann", 5 };
    chain(&ev);
}


/* verifies lines[] except skip (or -1) with key(s); returns finish() */

static long
run(const char *pub, long skip, int allow_open)
{
    long             rc;
    char             err[256];
    size_t           i;
    audit_verify_t  *v;

    v = audit_verify_new();
    audit_verify_add_key_valid(v, audit_checkpoint_key_load(pub, 0, err,
                                                            sizeof(err)),
                               key_from, key_until);
    audit_verify_as_of(v, as_of);

    for (i = 0; i < nlines; i++) {
        if ((long) i != skip) {
            audit_verify_line(v, lines[i], strlen(lines[i]));
        }
    }

    reports = 0;
    rc = audit_verify_finish(v, allow_open, keep, NULL);
    audit_verify_free(v);

    return rc;
}


/* lines[0..upto) and the line next; named: the report of PRODUCER */

static audit_verify_report_t  named;
static char                   named_producer[64];

static void
keep_named(const audit_verify_report_t *r, void *data)
{
    (void) data;
    reports++;

    if (strcmp(r->producer, PRODUCER) == 0) {
        named = *r;
        snprintf(named_producer, sizeof(named_producer), "%s", r->producer);
    }
}


static long
after_run(const char *next, size_t upto)
{
    long             rc;
    char             err[256];
    size_t           i;
    audit_verify_t  *v;

    v = audit_verify_new();
    audit_verify_add_key(v, audit_checkpoint_key_load(V("ed25519.pub"), 0,
                                                      err, sizeof(err)));

    for (i = 0; i < upto; i++) {
        audit_verify_line(v, lines[i], strlen(lines[i]));
    }

    audit_verify_line(v, next, strlen(next));

    reports = 0;
    memset(&named, 0, sizeof(named));
    named_producer[0] = '\0';
    rc = audit_verify_finish(v, 1, keep_named, NULL);
    audit_verify_free(v);

    return rc;
}


int
main(void)
{
    char                     err[256];
    char                    *p;
    audit_verify_t          *v;

    priv = audit_checkpoint_key_load(V("ed25519.key"), 1, err, sizeof(err));
    if (!ok(priv != NULL, "the test key loads (%s)", err)) {
        return done_testing();
    }

    build(priv, 1);
    is_int(nlines, N + N / EVERY, "a chain of %d events and %d checkpoints",
           N, N / EVERY);

    is_int(run(V("ed25519.pub"), -1, 0), 0, "intact and closed: ok");
    is_int(reports, 1, "... one report");
    ok(got.ok && got.closed && got.unsigned_tail == 0, "... closed, nothing unsigned");
    is_int(got.verified_seq, nlines - 2, "... verified up to the last event");
    is_int(got.checkpoints, N / EVERY, "... every checkpoint counted");

    is_int(run(V("ed25519-2.pub"), -1, 0), 1, "another key: not ok");
    is_int(got.unknown_keys, N / EVERY, "... every checkpoint's key unknown");

    /* the final checkpoint gone: open */
    is_int(run(V("ed25519.pub"), (long) nlines - 1, 0), 1,
           "the final checkpoint cut: not ok");
    ok(!got.closed && got.first_problem < 0, "... not closed, nothing wrong");
    is_int(run(V("ed25519.pub"), (long) nlines - 1, 1), 0, "... ok with allow_open");

    /* a middle line deleted */
    run(V("ed25519.pub"), 5, 0);
    ok(!got.ok && got.missing == 1 && got.first_problem == 5, "a deleted line: 1 missing at seq 5");
    ok(got.verified_seq < 0, "... nothing verified from there on");

    /* an edit, rehashed: links check, signed heads do not */
    p = strstr(lines[25], "u-ann");
    memcpy(p, "u-eve", 5);
    rehash(25);
    run(V("ed25519.pub"), -1, 0);
    ok(!got.ok && got.broken_links == 0, "an edit rehashed: every link checks");
    ok(got.rewritten > 0, "... but a signed head does not match: rewritten");
    is_int(got.verified_seq, 20, "... verified up to the checkpoint before it");

    /* a flipped byte in a checkpoint's signature */
    build(priv, 1);
    p = strstr(lines[21], "\"sig\":\"");
    p[7] = p[7] == 'a' ? 'b' : 'a';
    rehash(21);
    run(V("ed25519.pub"), -1, 0);
    ok(!got.ok && got.bad_signatures == 1 && got.first_problem == 21,
       "a flipped signature byte: a bad signature at seq 21");

    /* a checkpoint deleted and the chain relinked around it */
    build(priv, 1);
    memmove(lines[10], lines[11], (nlines - 11) * AUDIT_EVENT_MAX);
    nlines--;
    run(V("ed25519.pub"), -1, 0);
    ok(!got.ok && (got.missing || got.checkpoint_links), "a deleted checkpoint: reported");

    /* malformed and duplicate lines */
    build(priv, 1);
    v = audit_verify_new();
    audit_verify_add_key(v, audit_checkpoint_key_load(V("ed25519.pub"), 0,
                                                      err, sizeof(err)));
    is_int(audit_verify_line(v, "{\"producer\":1}", 14), -1, "a producer that is no string: malformed");
    is_int(audit_verify_line(v, "not json", 8), -1, "not JSON: malformed");
    is_int(audit_verify_line(v, "{\"id\":\"x\"}\n", 11), -1, "an event without a chain: malformed");
    is_int(audit_verify_line(v, "\r\n", 2), 1, "an empty line: skipped");
    is_int(audit_verify_malformed(v), 3, "... three malformed counted");
    for (size_t i = 0; i < nlines; i++) {
        audit_verify_line(v, lines[i], strlen(lines[i]));
        audit_verify_line(v, lines[i], strlen(lines[i]));
    }
    audit_verify_finish(v, 0, keep, NULL);
    ok(got.ok && got.events == nlines, "every line twice (two copies of a file): ok");
    audit_verify_free(v);

    /* many producers: the table grows */
    v = audit_verify_new();
    for (int i = 0; i < 1000; i++) {
        char  l[128];
        snprintf(l, sizeof(l), "{\"ts\":\"2026-12-02T17:15:32.686Z\","
                 "\"producer\":\"web1/%d/0\",\"seq\":0,\"prev\":null}", i);
        audit_verify_line(v, l, strlen(l));
    }
    reports = 0;
    is_int(audit_verify_finish(v, 1, keep, NULL), 0, "1000 open chains of one event: ok with allow_open");
    is_int(reports, 1000, "... one report each");
    is_str(got.producer, "web1/999/0", "... in name order");
    audit_verify_free(v);

    /* issue 18, 4: an open chain's unsigned tail, and no checkpoint */
    build(priv, 0);
    is_int(run(V("ed25519.pub"), -1, 1), 0, "open, a recent unsigned tail: ok with allow_open");
    ok(got.unsigned_tail > 0 && got.missing_intervals == 0, "... %llu unsigned, nothing missing", got.unsigned_tail);
    /* the last checkpoint: at 1796232870000 + 29, interval 60 s */
    event_at(1796232870029ULL + 120000);
    is_int(run(V("ed25519.pub"), -1, 1), 0, "an unsigned event two intervals after the last checkpoint: ok");
    event_at(1796232870029ULL + 120001);
    is_int(run(V("ed25519.pub"), -1, 1), 1, "one later (a forged tail): not ok");
    ok(got.missing_intervals == 1 && got.first_problem == (long long) nlines - 1,
       "... a missing interval at its seq %lld", got.first_problem);
    nlines--;
    as_of = 1796232870030ULL + 120000;
    is_int(run(V("ed25519.pub"), -1, 1), 0, "as of two intervals after the oldest unsigned event: ok");
    build(priv, 0);
    as_of = 1796232870030ULL + 120001;
    is_int(run(V("ed25519.pub"), -1, 1), 1, "as of later than that: silent, not ok");
    ok(got.missing_intervals == 1, "... a missing interval");
    as_of = 0;

    nlines = 0;
    event_at(1796232870000ULL);
    event_at(1796232870000ULL);
    is_int(run(V("ed25519.pub"), -1, 1), 0, "no checkpoint, no interval known, one instant: ok with allow_open");
    event_at(1796232870001ULL);
    is_int(run(V("ed25519.pub"), -1, 1), 1, "... spanning more: not ok");
    ok(got.missing_intervals == 1 && got.first_problem == 2, "... a missing interval at seq 2");
    as_of = 1796232870000ULL + 1;
    nlines--;
    is_int(run(V("ed25519.pub"), -1, 1), 1, "... as of later than it: not ok");
    as_of = 0;

    /* issue 18, 5: lines that are no chained event; nothing at all */
    v = audit_verify_new();
    is_int(audit_verify_line(v, "{\"id\":\"x\"}\n", 11), -1, "an object without a producer: malformed");
    is_int(audit_verify_line(v, "{\"id\":\"x\",\"ts\":\"2026-12-02T17:15:32.686Z\",\"action\":\"record_access\"}", 67), -1,
           "an event whose chain members were cut: malformed");
    is_int(audit_verify_malformed(v), 2, "... both counted");
    reports = 0;
    is_int(audit_verify_finish(v, 1, keep, NULL), 0, "no chain: no producer fails ...");
    is_int(reports, 0, "... and none is reported: the caller says \"no chain found\"");
    audit_verify_free(v);

    /* issue 18, 6: members outside the documented set in a checkpoint line */
    build(priv, 1);
    insert(nlines - 1, "\"severity\":\"info\",", "\"user_id\":\"u-mallory\",\"resource_id\":\"13\",");
    is_int(run(V("ed25519.pub"), -1, 0), 1, "the final checkpoint with a user_id added: not ok");
    ok(got.bad_signatures == 1 && !got.closed && got.first_problem == (long long) nlines - 1,
       "... a bad checkpoint at its seq, not closed");
    build(priv, 1);
    insert(nlines - 1, "\"checkpoint\":{", "\"note\":\"x\",");
    run(V("ed25519.pub"), -1, 0);
    ok(!got.ok && got.bad_signatures == 1, "a member added in \"checkpoint\": a bad checkpoint");
    build(priv, 1);
    p = strstr(lines[nlines - 1], "\"action\":\"checkpoint\"");
    memcpy(p + 10, "logout\"    ", 11);
    memmove(p + 17, p + 21, strlen(p + 21) + 1);
    run(V("ed25519.pub"), -1, 0);
    ok(!got.ok && got.bad_signatures == 1, "a checkpoint member in another action's line: a bad checkpoint");
    build(priv, 1);
    p = strstr(lines[nlines - 1], ",\"checkpoint\":");
    strcpy(p, "}\n");
    run(V("ed25519.pub"), -1, 0);
    ok(!got.ok && got.bad_signatures == 1 && !got.closed, "an action checkpoint without its member: a bad checkpoint");

    /* issue 18, 7: a key only within its validity */
    build(priv, 1);
    key_from = 1796232870000ULL + 20;
    is_int(run(V("ed25519.pub"), -1, 0), 1, "a key valid from after the first checkpoint: not ok");
    ok(got.unknown_keys == 2 && got.first_problem == 10, "... its checkpoints before that: unknown keys, at seq 10");
    key_from = 0;
    key_until = 1796232870000ULL + 39;
    is_int(run(V("ed25519.pub"), -1, 0), 1, "a key valid until the final checkpoint's ts (excluded): not ok");
    ok(got.unknown_keys == 1 && !got.closed, "... that one an unknown key");
    key_until = 1796232870000ULL + 40;
    is_int(run(V("ed25519.pub"), -1, 0), 0, "valid through it: ok");
    key_until = AUDIT_VERIFY_FOREVER;

    /* the ts: only the exact form the module writes, in both verifiers */
    {
        unsigned long long  ms;

        is_int(audit_verify_ts("2026-12-02T18:23:32.205Z", &ms), 0, "a ts the module writes parses");
        is_int(ms, 1796235812205ULL, "... to its unix ms");
        is_int(audit_verify_ts("2026-12-02T18:23:32.2059Z", &ms), -1, "a fourth digit: refused");
        is_int(audit_verify_ts("2026-12-02T18:23:32Z", &ms), -1, "no milliseconds: refused");
        is_int(audit_verify_ts("2026-12-02T23:59:60.000Z", &ms), -1, "a leap second: refused");
        is_int(audit_verify_ts("2026-02-31T00:00:00.000Z", &ms), -1, "the 31st of February: refused");
        is_int(audit_verify_ts("2026-12-02T18:23:32.205+00:00", &ms), -1, "an offset: refused");
    }
    build(priv, 1);
    p = strstr(lines[nlines - 1], "Z\",\"action\"");
    memmove(p + 1, p, strlen(p) + 1);
    *p = '9';
    run(V("ed25519.pub"), -1, 0);
    ok(!got.ok && !got.closed, "a final checkpoint whose ts has a fourth digit: not closed");

    /* a whole chain deleted: the chain after it names it ("after") */
    build(priv, 1);
    {
        long             rc;
        char             after[128], next[AUDIT_EVENT_MAX];
        audit_event_t    ev;

        memset(&ev, 0, sizeof(ev));
        ev.action = AUDIT_RECORD_ACCESS;
        ev.ts_ms = 1796232880000ULL;
        ev.user_id = (audit_str_t) { "u-ann", 5 };
        ev.producer = (audit_str_t) { "a-next/1796232879000-1/0", 24 };
        snprintf(after, sizeof(after), "%s:%zu", PRODUCER, nlines - 1);
        ev.after = (audit_str_t) { after, strlen(after) };
        ok(audit_event_encode(&ev, NULL, next, sizeof(next)) > 0,
           "the next chain's first event names the last seq of this one");

        rc = after_run(next, nlines);
        is_int(rc, 0, "both chains: ok");
        is_int(reports, 2, "... two reports");

        rc = after_run(next, 20);
        is_int(rc, 1, "the named chain cut after 20 lines: not ok");
        is_int(named.missing, nlines - 20,
               "... the seqs named but absent are missing");

        rc = after_run(next, 0);
        is_int(rc, 1, "the named chain deleted whole: not ok");
        is_str(named_producer, PRODUCER, "... it is reported");
        is_int(named.missing, nlines,
               "... every seq up to the one named is missing");
        is_int(named.events, 0, "... none of its events here");
    }

    (void) p;
    audit_checkpoint_key_free(priv);

    return done_testing();
}
