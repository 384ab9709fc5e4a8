/*
 * Unit tests of signed checkpoints: Ed25519 against RFC 8032's vectors,
 * the canonical string byte for byte, sign/verify, every signed field
 * changed one at a time, key loading and the event member.
 */

#include <stdlib.h>

#include <jansson.h>

#include "../audit_checkpoint.h"
#include "../audit_event.h"
#include "tap.h"


#define V(name)  AUDIT_TEST_VECTORS "/" name


static void
unhex(const char *s, unsigned char *out, size_t len)
{
    size_t        i;
    unsigned int  b;

    for (i = 0; i < len; i++) {
        sscanf(s + 2 * i, "%2x", &b);
        out[i] = (unsigned char) b;
    }
}


static void
test_rfc8032(void)
{
    unsigned char  pub[32], sig[64], msg[2];

    /* RFC 8032, 7.1, TEST 1 (empty message) and TEST 3 (two bytes) */
    unhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
          pub, 32);
    unhex("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
          "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
          sig, 64);
    ok(audit_ed25519_verify(pub, 32, (const unsigned char *) "", 0, sig, 64),
       "RFC 8032 test 1 verifies");

    sig[10] ^= 1;
    ok(!audit_ed25519_verify(pub, 32, (const unsigned char *) "", 0, sig, 64),
       "... not with a flipped bit");
    ok(!audit_ed25519_verify(pub, 31, (const unsigned char *) "", 0, sig, 64),
       "... a short key is refused");
    ok(!audit_ed25519_verify(pub, 32, (const unsigned char *) "", 0, sig, 63),
       "... a short signature is refused");

    unhex("fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
          pub, 32);
    unhex("6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac"
          "18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
          sig, 64);
    msg[0] = 0xaf;
    msg[1] = 0x82;
    ok(audit_ed25519_verify(pub, 32, msg, 2, sig, 64),
       "RFC 8032 test 3 verifies");
    msg[1] = 0x83;
    ok(!audit_ed25519_verify(pub, 32, msg, 2, sig, 64),
       "... not for another message");
}


static void
sample(audit_checkpoint_t *c)
{
    memset(c, 0, sizeof(*c));
    c->producer.data = "web1/1763866800123-42/0";
    c->producer.len = strlen(c->producer.data);
    c->seq = 41;
    memset(c->head, 0xab, sizeof(c->head));
    c->count = 41;
    c->has_prev_sig = 1;
    memset(c->prev_sig, 0x01, sizeof(c->prev_sig));
    c->ts_ms = 1763866860123ULL;
    c->interval_ms = 60000;
    c->final = 0;
    memcpy(c->kid, "0123456789abcdef", 17);
}


static void
test_canonical(void)
{
    long                n;
    char                buf[AUDIT_CHECKPOINT_CANONICAL_MAX + 1], want[1024];
    audit_checkpoint_t  c;

    sample(&c);

    snprintf(want, sizeof(want),
             "audit-checkpoint-v1\n"
             "producer=web1/1763866800123-42/0\n"
             "seq=41\n"
             "head=%s\n"
             "count=41\n"
             "prev_sig=%s\n"
             "ts=2025-11-23T03:01:00.123Z\n"
             "interval=60000\n"
             "final=0\n"
             "kid=0123456789abcdef\n",
             "abababababababababababababababababababababababababababababababab",
             "0101010101010101010101010101010101010101010101010101010101010101"
             "0101010101010101010101010101010101010101010101010101010101010101");

    n = audit_checkpoint_canonical(&c, buf, sizeof(buf) - 1);
    ok(n > 0, "canonical string");
    buf[n > 0 ? n : 0] = '\0';
    is_str(buf, want, "... byte for byte as documented");

    c.has_prev_sig = 0;
    c.final = 1;
    n = audit_checkpoint_canonical(&c, buf, sizeof(buf) - 1);
    buf[n > 0 ? n : 0] = '\0';
    ok(strstr(buf, "\nprev_sig=\nts=") != NULL && strstr(buf, "\nfinal=1\n"),
       "... a first checkpoint has an empty prev_sig; final=1");

    ok(audit_checkpoint_canonical(&c, buf, 100) == -1,
       "... -1 when the buffer is too small");

    c.producer.data = "web1\nseq=1";
    c.producer.len = strlen(c.producer.data);
    ok(audit_checkpoint_canonical(&c, buf, sizeof(buf)) == -1,
       "... none for a producer with a newline");

    c.producer.data = "web1/0";
    c.producer.len = 6;
    memcpy(c.kid, "short", 6);
    ok(audit_checkpoint_canonical(&c, buf, sizeof(buf)) == -1,
       "... none for a key id that is not 16 characters");
}


static void
test_sign_verify(void)
{
    char                     err[256];
    unsigned char            b;
    audit_checkpoint_t       c, d;
    audit_checkpoint_key_t  *priv, *pub, *half, *other;

    err[0] = '\0';
    priv = audit_checkpoint_key_load(V("ed25519.key"), 1, err, sizeof(err));
    ok(priv != NULL, "private key loads (%s)", err);
    pub = audit_checkpoint_key_load(V("ed25519.pub"), 0, err, sizeof(err));
    ok(pub != NULL, "public key loads (%s)", err);
    half = audit_checkpoint_key_load(V("ed25519.key"), 0, err, sizeof(err));
    ok(half != NULL, "a private key loads as a public one");
    other = audit_checkpoint_key_load(V("ed25519-2.pub"), 0, err,
                                      sizeof(err));
    ok(other != NULL, "a second public key loads");

    if (priv == NULL || pub == NULL || half == NULL || other == NULL) {
        return;
    }

    is_str(audit_checkpoint_key_id(priv), audit_checkpoint_key_id(pub),
           "the private and the public key have one id");
    is_int(strlen(audit_checkpoint_key_id(pub)), 16, "... 16 characters");
    ok(strcmp(audit_checkpoint_key_id(pub), audit_checkpoint_key_id(other)),
       "... another key has another id");

    ok(audit_checkpoint_key_load(V("ed25519.pub"), 1, err, sizeof(err))
       == NULL, "a public key is no private key");
    ok(strstr(err, "no private PEM key") != NULL, "... says so: %s", err);
    ok(audit_checkpoint_key_load(V("ec1.key"), 1, err, sizeof(err)) == NULL,
       "an EC key is refused");
    ok(strstr(err, "no Ed25519 key") != NULL, "... says so: %s", err);
    ok(audit_checkpoint_key_load(V("garbage.txt"), 0, err, sizeof(err))
       == NULL, "garbage is refused");
    ok(audit_checkpoint_key_load(V("missing.key"), 1, err, sizeof(err))
       == NULL, "a missing file is refused");

    sample(&c);
    ok(audit_checkpoint_sign(pub, &c) == -1, "a public key cannot sign");
    ok(audit_checkpoint_sign(priv, &c) == 0, "signed");
    is_str(c.kid, audit_checkpoint_key_id(priv), "... the kid is the key's");
    ok(audit_checkpoint_verify(pub, &c), "... verifies with the public key");
    ok(audit_checkpoint_verify(half, &c), "... and with the private file's");
    ok(!audit_checkpoint_verify(other, &c), "... not with another key");

#define CHANGED(what, stmt)                                                 \
    d = c; stmt;                                                            \
    ok(!audit_checkpoint_verify(pub, &d), "a changed %s fails", what)

    CHANGED("producer", d.producer.data = "web1/1763866800123-42/1");
    CHANGED("seq", d.seq++);
    CHANGED("head", d.head[31] ^= 1);
    CHANGED("count", d.count--);
    CHANGED("prev_sig", d.prev_sig[0] ^= 0x80);
    CHANGED("first flag", d.has_prev_sig = 0);
    CHANGED("ts", d.ts_ms++);
    CHANGED("interval", d.interval_ms = 1000);
    CHANGED("final flag", d.final = 1);
    CHANGED("kid", d.kid[0] = d.kid[0] == 'a' ? 'b' : 'a');
    CHANGED("signature", d.sig[63] ^= 1);

#undef CHANGED

    d = c;
    b = d.sig[0];
    d.sig[0] = b;
    ok(audit_checkpoint_verify(pub, &d), "an unchanged copy verifies");

    audit_checkpoint_key_free(priv);
    audit_checkpoint_key_free(pub);
    audit_checkpoint_key_free(half);
    audit_checkpoint_key_free(other);
}


static void
test_member(void)
{
    long                n;
    char                line[AUDIT_EVENT_MAX];
    json_t             *root, *cp;
    json_error_t        jerr;
    audit_event_t       ev;
    audit_checkpoint_t  c;

    sample(&c);
    memset(c.sig, 0xcd, sizeof(c.sig));

    memset(&ev, 0, sizeof(ev));
    ev.action = AUDIT_CHECKPOINT;
    ev.ts_ms = c.ts_ms;
    ev.producer = c.producer;
    ev.seq = 42;
    ev.has_prev = 1;
    memcpy(ev.prev, c.head, 32);
    ev.checkpoint = &c;

    n = audit_event_encode(&ev, NULL, line, sizeof(line));
    ok(n > 0 && line[n - 1] == '\n', "a checkpoint event encodes");

    root = json_loads(line, 0, &jerr);
    ok(root != NULL, "... as JSON");
    if (root == NULL) {
        return;
    }

    is_str(json_string_value(json_object_get(root, "action")), "checkpoint",
           "... action checkpoint");
    cp = json_object_get(root, "checkpoint");
    ok(json_is_object(cp), "... a checkpoint object");
    is_int(json_integer_value(json_object_get(cp, "seq")), 41, "... seq");
    is_int(json_integer_value(json_object_get(cp, "count")), 41,
           "... count");
    is_int(json_integer_value(json_object_get(cp, "interval")), 60000,
           "... interval");
    ok(json_is_false(json_object_get(cp, "final")), "... final false");
    is_str(json_string_value(json_object_get(cp, "kid")), "0123456789abcdef",
           "... kid");
    is_int(strlen(json_string_value(json_object_get(cp, "sig"))), 128,
           "... sig in hex");
    is_int(strlen(json_string_value(json_object_get(cp, "prev_sig"))), 128,
           "... prev_sig in hex");
    is_str(json_string_value(json_object_get(cp, "head")),
           json_string_value(json_object_get(root, "prev")),
           "... head is the line's prev");
    json_decref(root);

    c.has_prev_sig = 0;
    n = audit_event_encode(&ev, NULL, line, sizeof(line));
    ok(n > 0 && strstr(line, "\"prev_sig\":null") != NULL,
       "a first checkpoint: prev_sig null");

    ok(audit_event_encode(&ev, NULL, line, 300) == -1,
       "... -1 in a buffer too small for the member");
}


int
main(void)
{
    test_rfc8032();
    test_canonical();
    test_sign_verify();
    test_member();

    return done_testing();
}
