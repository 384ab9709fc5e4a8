
/*
 * Signed checkpoints (see audit_checkpoint.h): the canonical string,
 * Ed25519 through OpenSSL 3's EVP one-shot interface (EVP_DigestSign with
 * no digest: Ed25519 hashes the message itself), key ids.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "audit_checkpoint.h"
#include "audit_ed25519.h"
#include "audit_file.h"
#include "audit_int.h"


/* a PEM key file is a few hundred bytes */
#define AUDIT_CHECKPOINT_KEY_FILE_MAX  16384


struct audit_checkpoint_key_s {
    EVP_PKEY            *pkey;
    int                  private;
    unsigned char        raw[32];
    char                 kid[AUDIT_CHECKPOINT_KID_LEN + 1];
};


static audit_checkpoint_key_t *audit_checkpoint_key_wrap(EVP_PKEY *pkey,
    int private);
static int audit_checkpoint_put(char *buf, size_t size, size_t *n,
    const char *p, size_t len);


audit_checkpoint_key_t *
audit_checkpoint_key_load(const char *path, int private, char *err,
    size_t errlen)
{
    BIO                     *bio;
    int                      found;
    size_t                   len;
    EVP_PKEY                *pkey;
    unsigned char           *text;
    audit_checkpoint_key_t  *key;

    text = audit_file_read(path, AUDIT_CHECKPOINT_KEY_FILE_MAX, &len, err,
                           errlen);
    if (text == NULL) {
        return NULL;
    }

    pkey = NULL;
    found = 0;
    bio = BIO_new_mem_buf(text, (int) len);

    if (bio != NULL) {
        pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
        found = (pkey != NULL);

        if (pkey == NULL && !private) {
            (void) BIO_reset(bio);
            pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
        }

        BIO_free(bio);
    }

    /* what failed to parse must not linger in OpenSSL's error queue */
    ERR_clear_error();

    /* the file's bytes held a private key: not left in freed memory */
    OPENSSL_cleanse(text, len);
    free(text);

    if (pkey == NULL) {
        snprintf(err, errlen, "\"%s\" holds no %s PEM key", path,
                 private ? "private" : "public or private");
        return NULL;
    }

    if (EVP_PKEY_get_id(pkey) != EVP_PKEY_ED25519) {
        EVP_PKEY_free(pkey);
        snprintf(err, errlen, "\"%s\" holds no Ed25519 key", path);
        return NULL;
    }

    key = audit_checkpoint_key_wrap(pkey, private && found);
    if (key == NULL) {
        snprintf(err, errlen, "out of memory for \"%s\"", path);
    }

    return key;
}


audit_checkpoint_key_t *
audit_checkpoint_key_raw(const unsigned char *raw, size_t len)
{
    EVP_PKEY  *pkey;

    if (len != 32) {
        return NULL;
    }

    pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw, len);
    if (pkey == NULL) {
        return NULL;
    }

    return audit_checkpoint_key_wrap(pkey, 0);
}


/* takes pkey (freed on failure); the key id from the raw public key */

static audit_checkpoint_key_t *
audit_checkpoint_key_wrap(EVP_PKEY *pkey, int private)
{
    size_t                   len;
    unsigned char            md[32];
    audit_checkpoint_key_t  *key;

    key = calloc(1, sizeof(audit_checkpoint_key_t));
    if (key == NULL) {
        EVP_PKEY_free(pkey);
        return NULL;
    }

    len = sizeof(key->raw);

    if (EVP_PKEY_get_raw_public_key(pkey, key->raw, &len) != 1
        || len != sizeof(key->raw)
        || EVP_Digest(key->raw, len, md, NULL, EVP_sha256(), NULL) != 1)
    {
        EVP_PKEY_free(pkey);
        free(key);
        return NULL;
    }

    audit_hex(md, AUDIT_CHECKPOINT_KID_LEN / 2, key->kid);

    /* a private key loaded as a public one keeps only its public half */
    if (!private && EVP_PKEY_get_raw_private_key(pkey, NULL, &len) == 1) {
        EVP_PKEY_free(pkey);
        pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, key->raw,
                                           sizeof(key->raw));
        if (pkey == NULL) {
            free(key);
            return NULL;
        }
    }

    ERR_clear_error();

    key->pkey = pkey;
    key->private = private;

    return key;
}


void
audit_checkpoint_key_free(audit_checkpoint_key_t *key)
{
    if (key == NULL) {
        return;
    }

    EVP_PKEY_free(key->pkey);
    free(key);
}


const char *
audit_checkpoint_key_id(const audit_checkpoint_key_t *key)
{
    return key->kid;
}


const unsigned char *
audit_checkpoint_key_public(const audit_checkpoint_key_t *key)
{
    return key->raw;
}


long
audit_checkpoint_canonical(const audit_checkpoint_t *c, char *buf,
    size_t size)
{
    size_t  i, n;
    char    num[64], ts[25], hex[2 * AUDIT_CHECKPOINT_SIG_LEN + 1];

    if (c->producer.data == NULL || c->producer.len == 0
        || c->producer.len > AUDIT_CHECKPOINT_PRODUCER_MAX
        || strlen(c->kid) != AUDIT_CHECKPOINT_KID_LEN)
    {
        return -1;
    }

    for (i = 0; i < c->producer.len; i++) {
        if ((unsigned char) c->producer.data[i] < 0x20
            || (unsigned char) c->producer.data[i] == 0x7f)
        {
            return -1;
        }
    }

    n = 0;

#define AUDIT_PUT(p, len)                                                   \
    if (audit_checkpoint_put(buf, size, &n, p, len) != 0) return -1
#define AUDIT_LIT(s)  AUDIT_PUT(s, sizeof(s) - 1)

    AUDIT_LIT("audit-checkpoint-v1\nproducer=");
    AUDIT_PUT(c->producer.data, c->producer.len);

    AUDIT_LIT("\nseq=");
    AUDIT_PUT(num, (size_t) snprintf(num, sizeof(num), "%llu", c->seq));

    AUDIT_LIT("\nhead=");
    audit_hex(c->head, sizeof(c->head), hex);
    AUDIT_PUT(hex, 64);

    AUDIT_LIT("\ncount=");
    AUDIT_PUT(num, (size_t) snprintf(num, sizeof(num), "%llu", c->count));

    AUDIT_LIT("\nprev_sig=");
    if (c->has_prev_sig) {
        audit_hex(c->prev_sig, sizeof(c->prev_sig), hex);
        AUDIT_PUT(hex, 2 * AUDIT_CHECKPOINT_SIG_LEN);
    }

    AUDIT_LIT("\nts=");
    audit_rfc3339_ms(c->ts_ms, ts);
    AUDIT_PUT(ts, 24);

    AUDIT_LIT("\ninterval=");
    AUDIT_PUT(num, (size_t) snprintf(num, sizeof(num), "%llu",
                                     c->interval_ms));

    AUDIT_LIT("\nfinal=");
    AUDIT_PUT(c->final ? "1" : "0", 1);

    AUDIT_LIT("\nkid=");
    AUDIT_PUT(c->kid, AUDIT_CHECKPOINT_KID_LEN);
    AUDIT_LIT("\n");

#undef AUDIT_LIT
#undef AUDIT_PUT

    return (long) n;
}


static int
audit_checkpoint_put(char *buf, size_t size, size_t *n, const char *p,
    size_t len)
{
    if (size - *n < len) {
        return -1;
    }

    memcpy(buf + *n, p, len);
    *n += len;

    return 0;
}


int
audit_checkpoint_sign(const audit_checkpoint_key_t *key,
    audit_checkpoint_t *c)
{
    int          rc;
    long         n;
    size_t       siglen;
    EVP_MD_CTX  *md;
    char         msg[AUDIT_CHECKPOINT_CANONICAL_MAX];

    if (key == NULL || !key->private) {
        return -1;
    }

    memcpy(c->kid, key->kid, sizeof(c->kid));

    n = audit_checkpoint_canonical(c, msg, sizeof(msg));
    if (n < 0) {
        return -1;
    }

    md = EVP_MD_CTX_new();
    if (md == NULL) {
        return -1;
    }

    siglen = sizeof(c->sig);

    rc = EVP_DigestSignInit(md, NULL, NULL, NULL, key->pkey) == 1
         && EVP_DigestSign(md, c->sig, &siglen, (const unsigned char *) msg,
                           (size_t) n) == 1
         && siglen == sizeof(c->sig);

    EVP_MD_CTX_free(md);

    return rc ? 0 : -1;
}


int
audit_checkpoint_verify(const audit_checkpoint_key_t *key,
    const audit_checkpoint_t *c)
{
    long  n;
    char  msg[AUDIT_CHECKPOINT_CANONICAL_MAX];

    if (key == NULL || strcmp(c->kid, key->kid) != 0) {
        return 0;
    }

    n = audit_checkpoint_canonical(c, msg, sizeof(msg));
    if (n < 0) {
        return 0;
    }

    return audit_ed25519_verify(key->raw, sizeof(key->raw),
                                (const unsigned char *) msg, (size_t) n,
                                c->sig, sizeof(c->sig));
}


long
audit_checkpoint_member(const audit_checkpoint_t *c, char *buf, size_t size)
{
    int   n;
    char  head[65], prev[2 * AUDIT_CHECKPOINT_SIG_LEN + 3],
          sig[2 * AUDIT_CHECKPOINT_SIG_LEN + 1];

    audit_hex(c->head, sizeof(c->head), head);
    audit_hex(c->sig, sizeof(c->sig), sig);

    if (c->has_prev_sig) {
        prev[0] = '"';
        audit_hex(c->prev_sig, sizeof(c->prev_sig), prev + 1);
        memcpy(prev + 1 + 2 * AUDIT_CHECKPOINT_SIG_LEN, "\"", 2);

    } else {
        memcpy(prev, "null", 5);
    }

    n = snprintf(buf, size,
                 ",\"checkpoint\":{\"seq\":%llu,\"head\":\"%s\","
                 "\"count\":%llu,\"prev_sig\":%s,\"interval\":%llu,"
                 "\"final\":%s,\"kid\":\"%.16s\",\"sig\":\"%s\"}",
                 c->seq, head, c->count, prev, c->interval_ms,
                 c->final ? "true" : "false", c->kid, sig);

    if (n < 0 || (size_t) n >= size) {
        return -1;
    }

    return n;
}
