
/*
 * Signed checkpoints of a producer's hash chain (docs/checkpoints.md).
 *
 * A checkpoint is an event of the chain it signs: it names the last event
 * it covers (seq and the SHA-256 "head" of its line), how many events
 * came since the previous checkpoint, that checkpoint's signature, its
 * time, the checkpoint interval, whether it is the chain's last one, and
 * the key's id; an Ed25519 signature covers all of it as the canonical
 * byte string of audit_checkpoint_canonical():
 *
 *     audit-checkpoint-v1\n
 *     producer=<producer>\n
 *     seq=<decimal>\n
 *     head=<64 lowercase hex>\n
 *     count=<decimal>\n
 *     prev_sig=<128 lowercase hex, or nothing for a chain's first>\n
 *     ts=<RFC 3339 UTC with milliseconds, as the event's "ts">\n
 *     interval=<decimal milliseconds>\n
 *     final=<0 or 1>\n
 *     kid=<16 lowercase hex>\n
 *
 * A producer holding a byte below 0x20, 0x7f or more than
 * AUDIT_CHECKPOINT_PRODUCER_MAX bytes has no canonical form.  The key id
 * is the first 8 bytes of the SHA-256 of the raw 32-byte public key, in
 * hex.
 *
 * Keys are opaque and own an OpenSSL EVP_PKEY; nothing here keeps state
 * between calls or allocates but a key.
 */

#ifndef AUDIT_CHECKPOINT_H
#define AUDIT_CHECKPOINT_H


#include <stddef.h>

#include "audit_ed25519.h"
#include "audit_event.h"


#define AUDIT_CHECKPOINT_PRODUCER_MAX  200
#define AUDIT_CHECKPOINT_SIG_LEN       64
#define AUDIT_CHECKPOINT_KID_LEN       16      /* hex characters */

/* the canonical string is never longer */
#define AUDIT_CHECKPOINT_CANONICAL_MAX  (AUDIT_CHECKPOINT_PRODUCER_MAX + 512)

/* the "checkpoint" member of an event line is never longer */
#define AUDIT_CHECKPOINT_MEMBER_MAX  512


struct audit_checkpoint_s {
    audit_str_t          producer;
    unsigned long long   seq;             /* the last event covered */
    unsigned char        head[32];        /* SHA-256 of its line */
    unsigned long long   count;           /* events after the previous
                                             checkpoint up to seq */
    int                  has_prev_sig;    /* 0: the chain's first */
    unsigned char        prev_sig[AUDIT_CHECKPOINT_SIG_LEN];
    unsigned long long   ts_ms;           /* the event's "ts" */
    unsigned long long   interval_ms;
    int                  final;           /* the chain's last checkpoint */
    char                 kid[AUDIT_CHECKPOINT_KID_LEN + 1];
    unsigned char        sig[AUDIT_CHECKPOINT_SIG_LEN];
};

typedef struct audit_checkpoint_s      audit_checkpoint_t;
typedef struct audit_checkpoint_key_s  audit_checkpoint_key_t;


/*
 * Reads an Ed25519 key from a PEM file: a private key (PKCS#8, "BEGIN
 * PRIVATE KEY", as `openssl genpkey -algorithm ed25519` writes it) when
 * private is set, else a public key ("BEGIN PUBLIC KEY") or a private one
 * (of which only the public half is kept).  NULL with a one-line reason
 * in err otherwise (a file that is no Ed25519 key, unreadable, too big).
 */
audit_checkpoint_key_t *audit_checkpoint_key_load(const char *path,
    int private, char *err, size_t errlen);

/* a public key from its 32 raw bytes; NULL on OOM */
audit_checkpoint_key_t *audit_checkpoint_key_raw(const unsigned char *raw,
    size_t len);

void audit_checkpoint_key_free(audit_checkpoint_key_t *key);

/* the key id: 16 hex characters, NUL-terminated, owned by the key */
const char *audit_checkpoint_key_id(const audit_checkpoint_key_t *key);

/* the raw public key, 32 bytes, owned by the key */
const unsigned char *audit_checkpoint_key_public(
    const audit_checkpoint_key_t *key);

/*
 * Writes the canonical byte string of c (not NUL-terminated) into buf of
 * size bytes.  Returns its length, or -1 when it has no canonical form
 * (see above) or buf is too small.
 */
long audit_checkpoint_canonical(const audit_checkpoint_t *c, char *buf,
    size_t size);

/*
 * Sets c->kid from the key and c->sig to the signature of c's canonical
 * string; the key must be a private one.  0, or -1 (no canonical form, no
 * private key, OpenSSL failed).
 */
int audit_checkpoint_sign(const audit_checkpoint_key_t *key,
    audit_checkpoint_t *c);

/* 1 when c->sig is key's valid signature of c (c->kid included), else 0 */
int audit_checkpoint_verify(const audit_checkpoint_key_t *key,
    const audit_checkpoint_t *c);

/*
 * Writes the member ,"checkpoint":{"seq":..,"head":"..","count":..,
 * "prev_sig":".."|null,"interval":..,"final":true|false,"kid":"..",
 * "sig":".."} into buf (NUL-terminated).  Returns its length, or -1 when
 * buf is too small.  (audit_event_encode() calls it.)
 */
long audit_checkpoint_member(const audit_checkpoint_t *c, char *buf,
    size_t size);


#endif /* AUDIT_CHECKPOINT_H */
