#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "audit_b64url.h"
#include "audit_file.h"
#include "audit_keys.h"


#define AUDIT_HMAC_MIN_LEN    32
#define AUDIT_HS256_SIG_LEN   32
#define AUDIT_RSA_MIN_BITS    2048
#define AUDIT_RSA_MAX_BITS    8192
#define AUDIT_EC_COORD_LEN    32
#define AUDIT_ES256_SIG_LEN   64

/* DER of two 33-byte INTEGERs in a SEQUENCE is 72 bytes at most */
#define AUDIT_ES256_DER_MAX   80


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


static audit_keyset_t *audit_keys_new(audit_keys_parse_t *p);
static void audit_keys_fail(audit_keys_parse_t *p, const char *fmt, ...);
static const unsigned char *audit_keys_memstr(const unsigned char *s,
    size_t len, const char *needle);
static int audit_keys_is_space(unsigned char c);
static void audit_keys_printable(char *dst, size_t size, const char *src,
    size_t len);
static int audit_keys_parse_jwks(audit_keys_parse_t *p,
    const unsigned char *data, size_t len);
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
static int audit_keys_parse_pem(audit_keys_parse_t *p,
    const unsigned char *data, size_t len);
static int audit_keys_parse_secret(audit_keys_parse_t *p,
    const unsigned char *data, size_t len);
static EVP_MAC_CTX *audit_keys_hmac_new(audit_keys_parse_t *p,
    const unsigned char *secret, size_t len);
static unsigned audit_keys_pkey_alg(audit_keys_parse_t *p, EVP_PKEY *pkey);
static int audit_keys_add(audit_keys_parse_t *p, unsigned alg,
    const char *kid, size_t kid_len, EVP_MAC_CTX *mac, EVP_PKEY *pkey);
static audit_key_status_t audit_keys_run(const audit_keyset_t *ks,
    unsigned alg, const char *kid, size_t kid_len, const unsigned char *in,
    size_t inlen, const unsigned char *sig, size_t siglen, int compute);
static const audit_key_t *audit_keys_find(const audit_keyset_t *ks,
    const char *kid, size_t kid_len);
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


static const char  audit_pem_begin[] = "-----BEGIN ";
static const char  audit_pem_pubkey[] = "-----BEGIN PUBLIC KEY-----";
static const char  audit_pem_end[] = "-----END PUBLIC KEY-----";


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
    size_t               i;
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

    for (i = 0; i < len && audit_keys_is_space(data[i]); i++) {
        /* void */
    }

    /*
     * Whatever looks like a JWKS or PEM is parsed as that or refused:
     * treating a public key as an HMAC secret is the classic RS/HS
     * confusion.
     */
    if (i < len && data[i] == '{') {
        rc = audit_keys_parse_jwks(&p, data, len);

    } else if (audit_keys_memstr(data, len, audit_pem_begin) != NULL) {
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


static void
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


static const unsigned char *
audit_keys_memstr(const unsigned char *s, size_t len, const char *needle)
{
    size_t  n, i;

    n = strlen(needle);

    for (i = 0; n <= len && i <= len - n; i++) {
        if (s[i] == (unsigned char) needle[0]
            && memcmp(s + i, needle, n) == 0)
        {
            return s + i;
        }
    }

    return NULL;
}


static int
audit_keys_is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}


/* for error messages, which must stay on one line */
static void
audit_keys_printable(char *dst, size_t size, const char *src, size_t len)
{
    size_t  i;

    for (i = 0; i < len && i + 1 < size; i++) {
        dst[i] = (src[i] >= 0x20 && src[i] < 0x7f) ? src[i] : '?';
    }

    dst[i] = '\0';
}


static int
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


static int
audit_keys_parse_pem(audit_keys_parse_t *p, const unsigned char *data,
    size_t len)
{
    BIO                  *bio;
    size_t                rest, block;
    unsigned              alg;
    EVP_PKEY             *pkey;
    const unsigned char  *pos, *last, *begin, *end;

    pos = data;
    last = data + len;
    p->what = "PEM key";

    for ( ;; ) {
        rest = (size_t) (last - pos);

        begin = audit_keys_memstr(pos, rest, audit_pem_begin);
        if (begin == NULL) {
            break;
        }

        p->index++;
        rest = (size_t) (last - begin);

        if (rest < sizeof(audit_pem_pubkey) - 1
            || memcmp(begin, audit_pem_pubkey, sizeof(audit_pem_pubkey) - 1)
               != 0)
        {
            audit_keys_fail(p, "only \"PUBLIC KEY\" PEM blocks are accepted");
            return -1;
        }

        end = audit_keys_memstr(begin, rest, audit_pem_end);
        if (end == NULL) {
            audit_keys_fail(p, "no \"%s\" line", audit_pem_end);
            return -1;
        }

        block = (size_t) (end - begin) + sizeof(audit_pem_end) - 1;

        bio = BIO_new_mem_buf(begin, (int) block);
        pkey = (bio != NULL) ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL)
                             : NULL;
        BIO_free(bio);

        if (pkey == NULL) {
            audit_keys_fail(p, "invalid public key");
            return -1;
        }

        alg = audit_keys_pkey_alg(p, pkey);
        if (alg == 0) {
            EVP_PKEY_free(pkey);
            return -1;
        }

        if (audit_keys_add(p, alg, NULL, 0, NULL, pkey) != 0) {
            return -1;
        }

        pos = end + sizeof(audit_pem_end) - 1;
    }

    p->what = NULL;

    return 0;
}


static int
audit_keys_parse_secret(audit_keys_parse_t *p, const unsigned char *data,
    size_t len)
{
    EVP_MAC_CTX  *mac;

    /* editors add a final newline; the secret does not include it */
    if (len >= 1 && data[len - 1] == '\n') {
        len--;

        if (len >= 1 && data[len - 1] == '\r') {
            len--;
        }
    }

    mac = audit_keys_hmac_new(p, data, len);
    if (mac == NULL) {
        return -1;
    }

    return audit_keys_add(p, AUDIT_ALG_HS256, NULL, 0, mac, NULL);
}


static EVP_MAC_CTX *
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
static unsigned
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
static int
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


static const audit_key_t *
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
