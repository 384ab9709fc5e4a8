
/*
 * The key policy every key passes, whatever file it came from: HMAC
 * secrets of at least 32 bytes, RSA of 2048..8192 bits, EC on P-256 only,
 * a kid unique in its set; the accepted key joins the set.
 */


#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "audit_keys.h"
#include "audit_keys_int.h"


#define AUDIT_HMAC_MIN_LEN    32
#define AUDIT_RSA_MIN_BITS    2048
#define AUDIT_RSA_MAX_BITS    8192


EVP_MAC_CTX *
audit_keys_hmac_new(audit_keys_parse_t *p, const unsigned char *secret,
    size_t len)
{
    OSSL_PARAM    params[2];
    EVP_MAC_CTX  *mac;

    /* RFC 7518 section 3.2: a key at least as long as the hash output */
    if (len < AUDIT_HMAC_MIN_LEN) {
        audit_keys_fail(p, "HMAC secret of %zu bytes is too short "
                        "(minimum %d)", len, AUDIT_HMAC_MIN_LEN);
        return NULL;
    }

    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                                 (char *) "SHA256", 0);
    params[1] = OSSL_PARAM_construct_end();

    mac = EVP_MAC_CTX_new(p->ks->hmac);

    if (mac == NULL || EVP_MAC_init(mac, secret, len, params) != 1) {
        audit_keys_fail(p, "cannot set up HMAC-SHA256");
        EVP_MAC_CTX_free(mac);
        return NULL;
    }

    return mac;
}


/* the key policy for public keys; returns the alg, or 0 after an error */
unsigned
audit_keys_pkey_alg(audit_keys_parse_t *p, EVP_PKEY *pkey)
{
    int            bits, ok;
    char           group[64];
    size_t         glen;
    BIGNUM        *e;
    unsigned       alg;
    EVP_PKEY_CTX  *ctx;

    if (EVP_PKEY_is_a(pkey, "RSA")) {
        bits = EVP_PKEY_get_bits(pkey);

        if (bits < AUDIT_RSA_MIN_BITS) {
            audit_keys_fail(p, "RSA key of %d bits is too small "
                            "(minimum %d)", bits, AUDIT_RSA_MIN_BITS);
            return 0;
        }

        if (bits > AUDIT_RSA_MAX_BITS) {
            audit_keys_fail(p, "RSA key of %d bits is too large "
                            "(maximum %d)", bits, AUDIT_RSA_MAX_BITS);
            return 0;
        }

        /* with e == 1 (or even) a "signature" is trivial to make */
        e = NULL;
        ok = EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &e) == 1
             && BN_is_odd(e) && !BN_is_one(e);
        BN_free(e);

        if (!ok) {
            audit_keys_fail(p, "RSA key with an unusable exponent");
            return 0;
        }

        alg = AUDIT_ALG_RS256;

    } else if (EVP_PKEY_is_a(pkey, "EC")) {
        if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME,
                                           group, sizeof(group), &glen)
            != 1)
        {
            audit_keys_fail(p, "EC key without a named curve");
            return 0;
        }

        if (strcmp(group, "prime256v1") != 0) {
            audit_keys_fail(p, "EC curve \"%s\" is not supported "
                            "(only P-256)", group);
            return 0;
        }

        alg = AUDIT_ALG_ES256;

    } else {
        audit_keys_fail(p, "key type \"%s\" is not supported",
                        EVP_PKEY_get0_type_name(pkey));
        return 0;
    }

    ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    ok = ctx != NULL && EVP_PKEY_public_check(ctx) == 1;
    EVP_PKEY_CTX_free(ctx);

    if (!ok) {
        audit_keys_fail(p, "%s public key fails its consistency check",
                        alg == AUDIT_ALG_RS256 ? "RSA" : "EC");
        return 0;
    }

    return alg;
}


/* takes over mac and pkey, also when it fails */
int
audit_keys_add(audit_keys_parse_t *p, unsigned alg, const char *kid,
    size_t kid_len, EVP_MAC_CTX *mac, EVP_PKEY *pkey)
{
    char            name[AUDIT_KID_MAX + 1];
    size_t          n;
    audit_key_t    *key;
    audit_keyset_t *ks;

    ks = p->ks;

    if (kid != NULL && kid_len > AUDIT_KID_MAX) {
        audit_keys_fail(p, "kid longer than %d bytes", AUDIT_KID_MAX);
        goto failed;
    }

    if (kid != NULL && audit_keys_find(ks, kid, kid_len) != NULL) {
        audit_keys_printable(name, sizeof(name), kid, kid_len);
        audit_keys_fail(p, "duplicate kid \"%s\"", name);
        goto failed;
    }

    if (ks->nkeys == ks->nalloc) {
        n = ks->nalloc ? 2 * ks->nalloc : 4;

        key = realloc(ks->keys, n * sizeof(audit_key_t));
        if (key == NULL) {
            audit_keys_fail(p, "out of memory");
            goto failed;
        }

        ks->keys = key;
        ks->nalloc = n;
    }

    key = &ks->keys[ks->nkeys++];
    memset(key, 0, sizeof(audit_key_t));

    key->alg = alg;
    key->mac = mac;
    key->pkey = pkey;

    switch (alg) {
    case AUDIT_ALG_HS256:
        key->sig_len = AUDIT_HS256_SIG_LEN;
        break;
    case AUDIT_ALG_RS256:
        key->sig_len = (size_t) EVP_PKEY_get_size(pkey);
        break;
    default:
        key->sig_len = AUDIT_ES256_SIG_LEN;
    }

    if (kid != NULL) {
        key->has_kid = 1;
        key->kid_len = kid_len;
        memcpy(key->kid, kid, kid_len);
        ks->has_kids = 1;
    }

    ks->algs |= alg;

    return 0;

failed:

    EVP_MAC_CTX_free(mac);
    EVP_PKEY_free(pkey);

    return -1;
}
