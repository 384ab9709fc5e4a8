
/*
 * Key sets from a JWKS (RFC 7517): the members of each JWK checked and
 * turned into OpenSSL keys, then handed to the key policy.  Errors name
 * the key by its index ("JWKS key 2: ...").
 */


#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include "audit_b64url_int.h"
#include "audit_keys.h"
#include "audit_keys_int.h"


#define AUDIT_EC_COORD_LEN    32


static int audit_keys_parse_jwk(audit_keys_parse_t *p, json_t *jwk);
static int audit_keys_jwk_usable(json_t *jwk);
static int audit_keys_jwk_alg(audit_keys_parse_t *p, json_t *jwk,
    unsigned alg, const char *kty);
static unsigned char *audit_keys_jwk_bytes(audit_keys_parse_t *p,
    json_t *jwk, const char *name, size_t *len);
static EVP_MAC_CTX *audit_keys_jwk_oct(audit_keys_parse_t *p, json_t *jwk);
static EVP_PKEY *audit_keys_jwk_rsa(audit_keys_parse_t *p, json_t *jwk);
static EVP_PKEY *audit_keys_jwk_ec(audit_keys_parse_t *p, json_t *jwk);
static EVP_PKEY *audit_keys_fromdata(const char *type, OSSL_PARAM_BLD *bld);


int
audit_keys_parse_jwks(audit_keys_parse_t *p, const unsigned char *data,
    size_t len)
{
    int           rc;
    size_t        i;
    json_t       *root, *keys;
    json_error_t  jerr;

    root = json_loadb((const char *) data, len, JSON_REJECT_DUPLICATES,
                      &jerr);
    if (root == NULL) {
        audit_keys_fail(p, "invalid JSON at line %d: %s", jerr.line,
                        jerr.text);
        return -1;
    }

    keys = json_object_get(root, "keys");
    if (!json_is_array(keys)) {
        audit_keys_fail(p, "JSON without a \"keys\" array is not a JWKS");
        json_decref(root);
        return -1;
    }

    p->what = "JWKS key";
    rc = 0;

    for (i = 0; i < json_array_size(keys); i++) {
        p->index = i + 1;

        if (audit_keys_parse_jwk(p, json_array_get(keys, i)) != 0) {
            rc = -1;
            break;
        }
    }

    p->what = NULL;
    json_decref(root);

    if (rc == 0 && p->ks->nkeys == 0) {
        audit_keys_fail(p, "JWKS has no usable signature key");
        rc = -1;
    }

    return rc;
}


/* 0: added or skipped as not for us, -1: error */
static int
audit_keys_parse_jwk(audit_keys_parse_t *p, json_t *jwk)
{
    int           rc;
    size_t        kid_len;
    unsigned      alg;
    json_t       *v;
    EVP_PKEY     *pkey;
    const char   *kty, *kid;
    EVP_MAC_CTX  *mac;

    if (!json_is_object(jwk)) {
        audit_keys_fail(p, "not a JSON object");
        return -1;
    }

    v = json_object_get(jwk, "kty");
    if (!json_is_string(v)) {
        audit_keys_fail(p, "no \"kty\" string");
        return -1;
    }

    kty = json_string_value(v);

    if (strcmp(kty, "oct") == 0) {
        alg = AUDIT_ALG_HS256;

    } else if (strcmp(kty, "RSA") == 0) {
        alg = AUDIT_ALG_RS256;

    } else if (strcmp(kty, "EC") == 0) {
        alg = AUDIT_ALG_ES256;

    } else {
        return 0;
    }

    if (!audit_keys_jwk_usable(jwk)) {
        return 0;
    }

    rc = audit_keys_jwk_alg(p, jwk, alg, kty);
    if (rc != 1) {
        return rc;
    }

    kid = NULL;
    kid_len = 0;

    v = json_object_get(jwk, "kid");
    if (v != NULL) {
        if (!json_is_string(v)) {
            audit_keys_fail(p, "\"kid\" is not a string");
            return -1;
        }

        kid = json_string_value(v);
        kid_len = json_string_length(v);
    }

    mac = NULL;
    pkey = NULL;

    if (alg == AUDIT_ALG_HS256) {
        mac = audit_keys_jwk_oct(p, jwk);
        if (mac == NULL) {
            return -1;
        }

    } else {
        pkey = (alg == AUDIT_ALG_RS256) ? audit_keys_jwk_rsa(p, jwk)
                                        : audit_keys_jwk_ec(p, jwk);
        if (pkey == NULL) {
            return -1;
        }

        /* also applies the size and curve policy */
        if (audit_keys_pkey_alg(p, pkey) != alg) {
            EVP_PKEY_free(pkey);
            return -1;
        }
    }

    return audit_keys_add(p, alg, kid, kid_len, mac, pkey);
}


/* "use" and "key_ops" (RFC 7517 section 4.2, 4.3) must allow verifying */
static int
audit_keys_jwk_usable(json_t *jwk)
{
    size_t   i;
    json_t  *v, *op;

    v = json_object_get(jwk, "use");
    if (v != NULL
        && !(json_is_string(v) && strcmp(json_string_value(v), "sig") == 0))
    {
        return 0;
    }

    v = json_object_get(jwk, "key_ops");
    if (v == NULL) {
        return 1;
    }

    json_array_foreach(v, i, op) {
        if (json_is_string(op) && strcmp(json_string_value(op), "verify") == 0)
        {
            return 1;
        }
    }

    return 0;
}


/* 1: usable for alg, 0: bound to an algorithm we do not do, -1: error */
static int
audit_keys_jwk_alg(audit_keys_parse_t *p, json_t *jwk, unsigned alg,
    const char *kty)
{
    char      name[32];
    json_t   *v;
    unsigned  bound;

    v = json_object_get(jwk, "alg");
    if (v == NULL) {
        return 1;
    }

    if (!json_is_string(v)) {
        audit_keys_fail(p, "\"alg\" is not a string");
        return -1;
    }

    bound = audit_alg_from_name(json_string_value(v), json_string_length(v));

    if (bound == alg) {
        return 1;
    }

    if (bound == 0) {
        return 0;
    }

    audit_keys_printable(name, sizeof(name), json_string_value(v),
                         json_string_length(v));
    audit_keys_fail(p, "alg \"%s\" does not fit kty \"%s\"", name, kty);

    return -1;
}


/* decodes a base64url member; the caller frees the result */
static unsigned char *
audit_keys_jwk_bytes(audit_keys_parse_t *p, json_t *jwk, const char *name,
    size_t *len)
{
    size_t          slen;
    json_t         *v;
    unsigned char  *buf;

    v = json_object_get(jwk, name);
    if (!json_is_string(v)) {
        audit_keys_fail(p, "no \"%s\" string", name);
        return NULL;
    }

    slen = json_string_length(v);

    buf = malloc(AUDIT_B64URL_DECODED_MAX(slen));
    if (buf == NULL) {
        audit_keys_fail(p, "out of memory");
        return NULL;
    }

    if (audit_b64url_decode((const unsigned char *) json_string_value(v),
                            slen, buf, AUDIT_B64URL_DECODED_MAX(slen), len)
        != 0)
    {
        audit_keys_fail(p, "\"%s\" is not canonical base64url", name);
        free(buf);
        return NULL;
    }

    return buf;
}


static EVP_MAC_CTX *
audit_keys_jwk_oct(audit_keys_parse_t *p, json_t *jwk)
{
    size_t          len;
    EVP_MAC_CTX    *mac;
    unsigned char  *k;

    k = audit_keys_jwk_bytes(p, jwk, "k", &len);
    if (k == NULL) {
        return NULL;
    }

    mac = audit_keys_hmac_new(p, k, len);

    OPENSSL_cleanse(k, len);
    free(k);

    return mac;
}


static EVP_PKEY *
audit_keys_jwk_rsa(audit_keys_parse_t *p, json_t *jwk)
{
    size_t           nlen, elen;
    BIGNUM          *n, *e;
    EVP_PKEY        *pkey;
    unsigned char   *nbuf, *ebuf;
    OSSL_PARAM_BLD  *bld;

    nbuf = audit_keys_jwk_bytes(p, jwk, "n", &nlen);
    if (nbuf == NULL) {
        return NULL;
    }

    ebuf = audit_keys_jwk_bytes(p, jwk, "e", &elen);
    if (ebuf == NULL) {
        free(nbuf);
        return NULL;
    }

    n = BN_bin2bn(nbuf, (int) nlen, NULL);
    e = BN_bin2bn(ebuf, (int) elen, NULL);
    bld = OSSL_PARAM_BLD_new();
    pkey = NULL;

    if (n != NULL && e != NULL && bld != NULL
        && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) == 1
        && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) == 1)
    {
        pkey = audit_keys_fromdata("RSA", bld);
    }

    if (pkey == NULL) {
        audit_keys_fail(p, "unusable RSA key");
    }

    OSSL_PARAM_BLD_free(bld);
    BN_free(n);
    BN_free(e);
    free(nbuf);
    free(ebuf);

    return pkey;
}


static EVP_PKEY *
audit_keys_jwk_ec(audit_keys_parse_t *p, json_t *jwk)
{
    char            curve[32];
    size_t          xlen, ylen;
    json_t         *crv;
    EVP_PKEY       *pkey;
    unsigned char  *x, *y, point[1 + 2 * AUDIT_EC_COORD_LEN];
    OSSL_PARAM_BLD *bld;

    crv = json_object_get(jwk, "crv");
    if (!json_is_string(crv)) {
        audit_keys_fail(p, "no \"crv\" string");
        return NULL;
    }

    if (strcmp(json_string_value(crv), "P-256") != 0) {
        audit_keys_printable(curve, sizeof(curve), json_string_value(crv),
                             json_string_length(crv));
        audit_keys_fail(p, "EC curve \"%s\" is not supported (only P-256)",
                        curve);
        return NULL;
    }

    x = audit_keys_jwk_bytes(p, jwk, "x", &xlen);
    if (x == NULL) {
        return NULL;
    }

    y = audit_keys_jwk_bytes(p, jwk, "y", &ylen);
    if (y == NULL) {
        free(x);
        return NULL;
    }

    pkey = NULL;
    bld = NULL;

    /* RFC 7518 section 6.2.1.2: coordinates are full length */
    if (xlen == AUDIT_EC_COORD_LEN && ylen == AUDIT_EC_COORD_LEN) {
        point[0] = 0x04;   /* uncompressed, SEC 1 section 2.3.3 */
        memcpy(point + 1, x, AUDIT_EC_COORD_LEN);
        memcpy(point + 1 + AUDIT_EC_COORD_LEN, y, AUDIT_EC_COORD_LEN);

        bld = OSSL_PARAM_BLD_new();

        if (bld != NULL
            && OSSL_PARAM_BLD_push_utf8_string(bld,
                                               OSSL_PKEY_PARAM_GROUP_NAME,
                                               "prime256v1", 0) == 1
            && OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY,
                                                point, sizeof(point)) == 1)
        {
            pkey = audit_keys_fromdata("EC", bld);
        }
    }

    if (pkey == NULL) {
        audit_keys_fail(p, "unusable EC P-256 key");
    }

    OSSL_PARAM_BLD_free(bld);
    free(x);
    free(y);

    return pkey;
}


static EVP_PKEY *
audit_keys_fromdata(const char *type, OSSL_PARAM_BLD *bld)
{
    EVP_PKEY      *pkey;
    OSSL_PARAM    *params;
    EVP_PKEY_CTX  *ctx;

    pkey = NULL;
    params = OSSL_PARAM_BLD_to_param(bld);
    ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);

    if (params == NULL || ctx == NULL
        || EVP_PKEY_fromdata_init(ctx) != 1
        || EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
    {
        pkey = NULL;
    }

    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);

    return pkey;
}
