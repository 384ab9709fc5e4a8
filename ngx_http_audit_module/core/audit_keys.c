
/*
 * Verification key sets: parsing dispatch, loading, and verifying with
 * the key a token names (see audit_keys.h).  A set is immutable once
 * parsed; errors are one line in the caller's buffer.
 */


#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "audit_file.h"
#include "audit_keys.h"
#include "audit_keys_int.h"


/* DER of two 33-byte INTEGERs in a SEQUENCE is 72 bytes at most */
#define AUDIT_ES256_DER_MAX   80


static audit_keyset_t *audit_keys_new(audit_keys_parse_t *p);
static int audit_keys_is_space(unsigned char c);
static audit_key_status_t audit_keys_run(const audit_keyset_t *ks,
    unsigned alg, const char *kid, size_t kid_len, const unsigned char *in,
    size_t inlen, const unsigned char *sig, size_t siglen, int compute);
static int audit_keys_verify_one(const audit_keyset_t *ks,
    const audit_key_t *key, const unsigned char *in, size_t inlen,
    const unsigned char *sig, size_t siglen);
static int audit_keys_verify_hmac(const audit_key_t *key,
    const unsigned char *in, size_t inlen, const unsigned char *sig);
static int audit_keys_verify_pkey(const audit_keyset_t *ks,
    const audit_key_t *key, const unsigned char *in, size_t inlen,
    const unsigned char *sig, size_t siglen);
static int audit_keys_es256_der(const unsigned char *sig, unsigned char *der,
    size_t *len);


unsigned
audit_alg_from_name(const char *name, size_t len)
{
    if (name == NULL || len != 5) {
        return 0;
    }

    if (memcmp(name, "HS256", 5) == 0) {
        return AUDIT_ALG_HS256;
    }

    if (memcmp(name, "RS256", 5) == 0) {
        return AUDIT_ALG_RS256;
    }

    if (memcmp(name, "ES256", 5) == 0) {
        return AUDIT_ALG_ES256;
    }

    return 0;
}


const char *
audit_alg_name(unsigned alg)
{
    switch (alg) {
    case AUDIT_ALG_HS256:
        return "HS256";
    case AUDIT_ALG_RS256:
        return "RS256";
    case AUDIT_ALG_ES256:
        return "ES256";
    default:
        return "";
    }
}


audit_keyset_t *
audit_keyset_parse(const unsigned char *data, size_t len, char *err,
    size_t errlen)
{
    size_t               i, bom;
    int                  rc;
    audit_keys_parse_t   p;

    if (err != NULL && errlen > 0) {
        err[0] = '\0';
    }

    memset(&p, 0, sizeof(p));
    p.err = err;
    p.errlen = errlen;

    if (data == NULL || len == 0) {
        audit_keys_fail(&p, "empty key data");
        return NULL;
    }

    /* also keeps every length below handed to OpenSSL within an int */
    if (len > AUDIT_KEYS_FILE_MAX) {
        audit_keys_fail(&p, "key data larger than %d bytes",
                        AUDIT_KEYS_FILE_MAX);
        return NULL;
    }

    p.ks = audit_keys_new(&p);
    if (p.ks == NULL) {
        return NULL;
    }

    /* a UTF-8 byte order mark, as some editors save JSON, before a JWKS */

    bom = (len >= 3 && data[0] == 0xEF && data[1] == 0xBB && data[2] == 0xBF)
          ? 3 : 0;

    for (i = bom; i < len && audit_keys_is_space(data[i]); i++) {
        /* void */
    }

    /*
     * Whatever looks like a JWKS or PEM is parsed as that or refused:
     * treating a public key as an HMAC secret is the classic RS/HS
     * confusion.
     */
    if (i < len && data[i] == '{') {
        rc = audit_keys_parse_jwks(&p, data + bom, len - bom);

    } else if (audit_keys_is_pem(data, len)) {
        rc = audit_keys_parse_pem(&p, data, len);

    } else {
        rc = audit_keys_parse_secret(&p, data, len);
    }

    /* a stale OpenSSL error would be reported later by unrelated code */
    ERR_clear_error();

    if (rc != 0) {
        audit_keyset_free(p.ks);
        return NULL;
    }

    return p.ks;
}


audit_keyset_t *
audit_keyset_load(const char *path, char *err, size_t errlen)
{
    size_t           n;
    char             reason[256];
    unsigned char   *buf;
    audit_keyset_t  *ks;

    if (err == NULL) {
        errlen = 0;

    } else if (errlen > 0) {
        err[0] = '\0';
    }

    buf = audit_file_read(path, AUDIT_KEYS_FILE_MAX, &n, err, errlen);
    if (buf == NULL) {
        return NULL;
    }

    ks = audit_keyset_parse(buf, n, reason, sizeof(reason));
    if (ks == NULL) {
        snprintf(err, errlen, "\"%s\": %s", path, reason);
    }

    /* the file may be a secret */
    OPENSSL_cleanse(buf, n);
    free(buf);

    return ks;
}


void
audit_keyset_free(audit_keyset_t *ks)
{
    size_t  i;

    if (ks == NULL) {
        return;
    }

    for (i = 0; i < ks->nkeys; i++) {
        EVP_MAC_CTX_free(ks->keys[i].mac);
        EVP_PKEY_free(ks->keys[i].pkey);
    }

    free(ks->keys);
    EVP_MAC_free(ks->hmac);
    EVP_MD_free(ks->sha256);
    free(ks);
}


size_t
audit_keyset_size(const audit_keyset_t *ks)
{
    return ks != NULL ? ks->nkeys : 0;
}


unsigned
audit_keyset_algs(const audit_keyset_t *ks)
{
    return ks != NULL ? ks->algs : 0;
}


audit_key_status_t
audit_keyset_verify(const audit_keyset_t *ks, unsigned alg, const char *kid,
    size_t kid_len, const unsigned char *in, size_t inlen,
    const unsigned char *sig, size_t siglen)
{
    return audit_keys_run(ks, alg, kid, kid_len, in, inlen, sig, siglen, 1);
}


audit_key_status_t
audit_keyset_select(const audit_keyset_t *ks, unsigned alg, const char *kid,
    size_t kid_len)
{
    return audit_keys_run(ks, alg, kid, kid_len, NULL, 0, NULL, 0, 0);
}


static audit_keyset_t *
audit_keys_new(audit_keys_parse_t *p)
{
    audit_keyset_t  *ks;

    ks = calloc(1, sizeof(audit_keyset_t));
    if (ks == NULL) {
        audit_keys_fail(p, "out of memory");
        return NULL;
    }

    ks->hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    ks->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);

    if (ks->hmac == NULL || ks->sha256 == NULL) {
        audit_keys_fail(p, "OpenSSL provides no HMAC or SHA256");
        audit_keyset_free(ks);
        return NULL;
    }

    return ks;
}


void
audit_keys_fail(audit_keys_parse_t *p, const char *fmt, ...)
{
    int      n;
    char    *s;
    va_list  args;

    if (p->err == NULL || p->errlen == 0) {
        return;
    }

    n = 0;

    if (p->what != NULL) {
        n = snprintf(p->err, p->errlen, "%s #%zu: ", p->what, p->index);
        if (n < 0 || (size_t) n >= p->errlen) {
            return;
        }
    }

    va_start(args, fmt);
    vsnprintf(p->err + n, p->errlen - n, fmt, args);
    va_end(args);

    /* jansson quotes the input in its messages: keep them on one line */
    for (s = p->err; *s != '\0'; s++) {
        if ((unsigned char) *s < 0x20 || *s == 0x7f) {
            *s = '?';
        }
    }
}


static int
audit_keys_is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}


/* for error messages, which must stay on one line */
void
audit_keys_printable(char *dst, size_t size, const char *src, size_t len)
{
    size_t  i;

    for (i = 0; i < len && i + 1 < size; i++) {
        dst[i] = (src[i] >= 0x20 && src[i] < 0x7f) ? src[i] : '?';
    }

    dst[i] = '\0';
}


/* the key selection; with compute == 0 a selected key counts as a match */
static audit_key_status_t
audit_keys_run(const audit_keyset_t *ks, unsigned alg, const char *kid,
    size_t kid_len, const unsigned char *in, size_t inlen,
    const unsigned char *sig, size_t siglen, int compute)
{
    size_t              i;
    int                 found;
    const audit_key_t  *key;

    if (ks == NULL) {
        return AUDIT_KEY_NOT_FOUND;
    }

    /*
     * A kid picks exactly one key: trying the others as well would let
     * a token name one key and be checked against another.
     */
    if (kid != NULL && ks->has_kids) {
        key = audit_keys_find(ks, kid, kid_len);
        if (key == NULL) {
            return AUDIT_KEY_NOT_FOUND;
        }

        if (key->alg != alg) {
            return AUDIT_KEY_WRONG_ALG;
        }

        if (!compute
            || audit_keys_verify_one(ks, key, in, inlen, sig, siglen))
        {
            return AUDIT_KEY_VERIFIED;
        }

        return AUDIT_KEY_BAD_SIGNATURE;
    }

    found = 0;

    for (i = 0; i < ks->nkeys; i++) {
        key = &ks->keys[i];

        if (key->alg != alg) {
            continue;
        }

        found = 1;

        if (!compute
            || audit_keys_verify_one(ks, key, in, inlen, sig, siglen))
        {
            return AUDIT_KEY_VERIFIED;
        }
    }

    return found ? AUDIT_KEY_BAD_SIGNATURE : AUDIT_KEY_NOT_FOUND;
}


const audit_key_t *
audit_keys_find(const audit_keyset_t *ks, const char *kid, size_t kid_len)
{
    size_t              i;
    const audit_key_t  *key;

    for (i = 0; i < ks->nkeys; i++) {
        key = &ks->keys[i];

        if (key->has_kid && key->kid_len == kid_len
            && memcmp(key->kid, kid, kid_len) == 0)
        {
            return key;
        }
    }

    return NULL;
}


static int
audit_keys_verify_one(const audit_keyset_t *ks, const audit_key_t *key,
    const unsigned char *in, size_t inlen, const unsigned char *sig,
    size_t siglen)
{
    int  ok;

    /* the length of a signature is no secret; a wrong one is no match */
    if (siglen != key->sig_len) {
        return 0;
    }

    if (key->alg == AUDIT_ALG_HS256) {
        ok = audit_keys_verify_hmac(key, in, inlen, sig);

    } else {
        ok = audit_keys_verify_pkey(ks, key, in, inlen, sig, siglen);
    }

    if (!ok) {
        /* keep the thread's OpenSSL error queue clean for its other users */
        ERR_clear_error();
    }

    return ok;
}


static int
audit_keys_verify_hmac(const audit_key_t *key, const unsigned char *in,
    size_t inlen, const unsigned char *sig)
{
    int             ok;
    size_t          len;
    EVP_MAC_CTX    *mac;
    unsigned char   md[EVP_MAX_MD_SIZE];

    /* the keyed template stays untouched: each check works on a copy */
    mac = EVP_MAC_CTX_dup(key->mac);
    if (mac == NULL) {
        return 0;
    }

    ok = EVP_MAC_update(mac, in, inlen) == 1
         && EVP_MAC_final(mac, md, &len, sizeof(md)) == 1
         && len == AUDIT_HS256_SIG_LEN
         && CRYPTO_memcmp(md, sig, AUDIT_HS256_SIG_LEN) == 0;

    EVP_MAC_CTX_free(mac);

    return ok;
}


static int
audit_keys_verify_pkey(const audit_keyset_t *ks, const audit_key_t *key,
    const unsigned char *in, size_t inlen, const unsigned char *sig,
    size_t siglen)
{
    int             ok;
    size_t          len;
    EVP_MD_CTX     *md;
    EVP_PKEY_CTX   *pctx;
    unsigned char   der[AUDIT_ES256_DER_MAX];

    if (key->alg == AUDIT_ALG_ES256) {
        /* JWS carries r||s (RFC 7518 section 3.4), OpenSSL wants DER */
        if (audit_keys_es256_der(sig, der, &len) != 0) {
            return 0;
        }

        sig = der;
        siglen = len;
    }

    md = EVP_MD_CTX_new();
    if (md == NULL) {
        return 0;
    }

    pctx = NULL;

    ok = EVP_DigestVerifyInit(md, &pctx, ks->sha256, NULL, key->pkey) == 1
         && (key->alg != AUDIT_ALG_RS256
             || EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) > 0)
         && EVP_DigestVerify(md, sig, siglen, in, inlen) == 1;

    EVP_MD_CTX_free(md);

    return ok;
}


static int
audit_keys_es256_der(const unsigned char *sig, unsigned char *der,
    size_t *len)
{
    int             n;
    BIGNUM         *r, *s;
    ECDSA_SIG      *es;
    unsigned char  *pos;

    r = BN_bin2bn(sig, AUDIT_ES256_SIG_LEN / 2, NULL);
    s = BN_bin2bn(sig + AUDIT_ES256_SIG_LEN / 2, AUDIT_ES256_SIG_LEN / 2,
                  NULL);
    es = ECDSA_SIG_new();

    if (r == NULL || s == NULL || es == NULL
        || ECDSA_SIG_set0(es, r, s) != 1)
    {
        BN_free(r);
        BN_free(s);
        ECDSA_SIG_free(es);
        return -1;
    }

    /* es owns r and s now */

    n = i2d_ECDSA_SIG(es, NULL);

    if (n <= 0 || n > AUDIT_ES256_DER_MAX) {
        ECDSA_SIG_free(es);
        return -1;
    }

    pos = der;
    n = i2d_ECDSA_SIG(es, &pos);
    ECDSA_SIG_free(es);

    if (n <= 0) {
        return -1;
    }

    *len = (size_t) n;

    return 0;
}
