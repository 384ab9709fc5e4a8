/*
 * libFuzzer target: audit_jws_verify() with a fixed key set holding HS256,
 * RS256 and ES256 keys (test/vectors/jwks.json).
 *
 * Input starting with 'J' is "J" header NUL payload: both are encoded and
 * signed here with the HS256 key, so that the fuzzer reaches the header
 * and claims checks behind a valid signature.  Anything else is a token.
 *
 * audit_jws_payload() (claims of a token found in the verified-token
 * cache) is fed the same token: it must give back the very claims that
 * verification kept, whenever verification kept any.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "audit_b64url_int.h"
#include "audit_jws.h"
#include "audit_jws_int.h"


#define AUDIT_FUZZ_VECTORS  AUDIT_TEST_VECTORS

/* "J" input bigger than this is cut: tokens are bounded anyway */
#define AUDIT_FUZZ_MAX  (AUDIT_TOKEN_MAX_LEN + 64)


int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void audit_fuzz_verify(const char *token, size_t len, int trusted);
static size_t audit_fuzz_sign(const uint8_t *data, size_t size, char *out,
    size_t outsize);


/* the harness's own state, set once; the library has none */
static audit_keyset_t  *audit_fuzz_ks;
static unsigned char    audit_fuzz_secret[256];
static size_t           audit_fuzz_secret_len;


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    FILE  *fp;
    char   err[256];

    (void) argc;
    (void) argv;

    audit_fuzz_ks = audit_keyset_load(AUDIT_FUZZ_VECTORS "/jwks.json", err,
                                      sizeof(err));
    if (audit_fuzz_ks == NULL) {
        fprintf(stderr, "fuzz_jws: %s\n", err);
        exit(1);
    }

    fp = fopen(AUDIT_FUZZ_VECTORS "/hmac.key", "rb");
    if (fp == NULL) {
        fprintf(stderr, "fuzz_jws: no hmac.key\n");
        exit(1);
    }

    audit_fuzz_secret_len = fread(audit_fuzz_secret, 1,
                                  sizeof(audit_fuzz_secret), fp);
    fclose(fp);

    while (audit_fuzz_secret_len > 0
           && (audit_fuzz_secret[audit_fuzz_secret_len - 1] == '\n'
               || audit_fuzz_secret[audit_fuzz_secret_len - 1] == '\r'))
    {
        audit_fuzz_secret_len--;
    }

    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char    *token;
    size_t   len;

    if (size > 0 && data[0] == 'J') {
        token = malloc(2 * AUDIT_FUZZ_MAX);
        if (token == NULL) {
            return 0;
        }

        len = audit_fuzz_sign(data + 1, size - 1, token, 2 * AUDIT_FUZZ_MAX);
        if (len > 0) {
            audit_fuzz_verify(token, len, 0);
        }

        free(token);
        return 0;
    }

    /* an exact-size copy, so that ASan sees any read past len */
    token = malloc(size ? size : 1);
    if (token == NULL) {
        return 0;
    }

    memcpy(token, data, size);
    audit_fuzz_verify(token, size, 0);

    /* as if a cache vouched for the signature: the claims checks see it */
    audit_fuzz_verify(token, size, 1);
    free(token);

    return 0;
}


static void
audit_fuzz_verify(const char *token, size_t len, int trusted)
{
    int                   n;
    char                  buf[128];
    audit_claims_t       *payload;
    audit_token_t         tok;
    audit_verify_opts_t   opts;
    audit_token_status_t  st;

    memset(&opts, 0, sizeof(opts));
    opts.algs = AUDIT_ALG_ALL;
    opts.now = 1700000100;
    opts.leeway = 60;
    opts.issuer = "https://issuer.example";
    opts.audience = "audit";
    opts.user_claim = "sub";
    opts.role_claim = "role";
    opts.session_claim = "sid";
    opts.trusted_signature = trusted;

    st = audit_jws_verify(audit_fuzz_ks, token, len, &opts, &tok);

    if (audit_token_reason(st)[0] == '\0') {
        __builtin_trap();
    }

    /* claims exist exactly when the signature verified */
    if (tok.claims == NULL
        && (st == AUDIT_TOKEN_OK || tok.user_id != NULL || tok.nroles != 0))
    {
        __builtin_trap();
    }

    if (st == AUDIT_TOKEN_OK && tok.user_id == NULL) {
        __builtin_trap();
    }

    n = audit_token_claim(&tok, "sub", buf, sizeof(buf));
    if (n >= 0 && (size_t) n != strlen(buf)) {
        __builtin_trap();
    }

    (void) audit_token_claim(&tok, "role", buf, sizeof(buf));
    (void) audit_token_claim(&tok, "aud", buf, 3);

    payload = audit_jws_payload(token, len);

    if (tok.claims != NULL
        && (!json_is_object(AUDIT_CLAIMS_JSON(payload))
            || !json_equal(AUDIT_CLAIMS_JSON(payload),
                           AUDIT_CLAIMS_JSON(tok.claims))))
    {
        __builtin_trap();
    }

    audit_claims_free(payload);

    audit_token_clear(&tok);
}


/* header NUL payload -> b64(header).b64(payload).b64(HMAC) */
static size_t
audit_fuzz_sign(const uint8_t *data, size_t size, char *out, size_t outsize)
{
    size_t               hlen, plen, n, len, maclen;
    unsigned char        mac[32];
    const unsigned char *nul;

    if (size > AUDIT_FUZZ_MAX) {
        size = AUDIT_FUZZ_MAX;
    }

    nul = memchr(data, '\0', size);
    if (nul == NULL) {
        return 0;
    }

    hlen = (size_t) (nul - data);
    plen = size - hlen - 1;

    if (audit_b64url_encode(data, hlen, out, outsize, &n) != 0) {
        return 0;
    }

    len = n;
    out[len++] = '.';

    if (audit_b64url_encode(nul + 1, plen, out + len, outsize - len, &n)
        != 0)
    {
        return 0;
    }

    len += n;

    if (EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, audit_fuzz_secret,
                  audit_fuzz_secret_len, (unsigned char *) out, len, mac,
                  sizeof(mac), &maclen)
        == NULL)
    {
        return 0;
    }

    out[len++] = '.';

    if (audit_b64url_encode(mac, maclen, out + len, outsize - len, &n) != 0)
    {
        return 0;
    }

    return len + n;
}
