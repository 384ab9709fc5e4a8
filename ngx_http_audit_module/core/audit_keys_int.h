
/*
 * Core-internal: what the key-set files share (audit_keys.c,
 * audit_keys_jwk.c, audit_keys_pem.c, audit_keys_policy.c).  The nginx
 * layer sees only the opaque audit_keyset_t of audit_keys.h.
 *
 * While a set is parsed, every function here reports a failure once,
 * through audit_keys_fail(), and returns -1 (or NULL, or 0 for an alg);
 * the caller frees the half-built set.
 */


#ifndef AUDIT_KEYS_INT_H
#define AUDIT_KEYS_INT_H


#include <stddef.h>

#include <openssl/evp.h>

#include "audit_keys.h"


#define AUDIT_HS256_SIG_LEN   32
#define AUDIT_ES256_SIG_LEN   64


typedef struct {
    unsigned       alg;          /* the one AUDIT_ALG_* this key verifies */
    int            has_kid;
    size_t         kid_len;
    char           kid[AUDIT_KID_MAX + 1];
    size_t         sig_len;      /* the only signature length it accepts */
    EVP_MAC_CTX   *mac;          /* HS256: keyed, duplicated per verify */
    EVP_PKEY      *pkey;         /* RS256, ES256 */
} audit_key_t;


struct audit_keyset_s {
    audit_key_t   *keys;
    size_t         nkeys;
    size_t         nalloc;
    unsigned       algs;
    int            has_kids;
    EVP_MAC       *hmac;         /* fetched once: fetching is slow */
    EVP_MD        *sha256;
};


/* state of one audit_keyset_parse() call */
typedef struct {
    audit_keyset_t  *ks;
    char            *err;
    size_t           errlen;
    const char      *what;       /* "JWKS key", "PEM key" or NULL */
    size_t           index;      /* of that key, from 1 */
} audit_keys_parse_t;


/* The reason into p->err, on one line, after "WHAT #INDEX: " when
 * p->what is set. */
void audit_keys_fail(audit_keys_parse_t *p, const char *fmt, ...);

/* src made printable on one line, for messages */
void audit_keys_printable(char *dst, size_t size, const char *src,
    size_t len);

/* The key named kid, or NULL */
const audit_key_t *audit_keys_find(const audit_keyset_t *ks,
    const char *kid, size_t kid_len);

/* The three kinds of key file; 0, or -1 after audit_keys_fail() */
int audit_keys_parse_jwks(audit_keys_parse_t *p,
    const unsigned char *data, size_t len);
int audit_keys_parse_pem(audit_keys_parse_t *p,
    const unsigned char *data, size_t len);
int audit_keys_parse_secret(audit_keys_parse_t *p,
    const unsigned char *data, size_t len);

/* A file that holds PEM blocks, never to be taken as a secret. */
int audit_keys_is_pem(const unsigned char *data, size_t len);

/* The key policy (audit_keys_policy.c) */
EVP_MAC_CTX *audit_keys_hmac_new(audit_keys_parse_t *p,
    const unsigned char *secret, size_t len);
unsigned audit_keys_pkey_alg(audit_keys_parse_t *p, EVP_PKEY *pkey);
int audit_keys_add(audit_keys_parse_t *p, unsigned alg,
    const char *kid, size_t kid_len, EVP_MAC_CTX *mac, EVP_PKEY *pkey);


#endif /* AUDIT_KEYS_INT_H */
