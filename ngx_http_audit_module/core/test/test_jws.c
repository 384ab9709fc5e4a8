#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "audit_b64url_int.h"
#include "audit_jws.h"
#include "audit_jws_int.h"
#include "tap.h"


#define V(name)  AUDIT_TEST_VECTORS "/" name

#define NOW      1700000100LL
#define FAR      "4102444800"

/* the claims every vector token has, for hand-made tokens */
#define ISS      "\"iss\":\"https://issuer.example\""
#define CLAIMS   ISS ",\"aud\":\"audit\",\"sub\":\"alice\""

#define HS_KID   "{\"alg\":\"HS256\",\"kid\":\"hs1\"}"
#define HS       "{\"alg\":\"HS256\"}"
#define EVIL     "{" CLAIMS ",\"exp\":" FAR ",\"role\":\"admin\"}"


static audit_keyset_t       *jwks;      /* jwks.json: hs1 rs1 rs2 ec1 ec2 */
static audit_keyset_t       *secret;    /* hmac.key */
static audit_keyset_t       *rs1_pem, *rs2_pem, *ec1_pem, *multi_pem;
static unsigned char        *hs_key;
static size_t                hs_key_len;
static audit_verify_opts_t   opts;


static unsigned char *
read_file(const char *path, size_t *len)
{
    long            n;
    FILE           *fp;
    unsigned char  *buf;

    fp = fopen(path, "rb");
    if (fp == NULL) {
        diag("cannot open %s", path);
        exit(2);
    }

    fseek(fp, 0, SEEK_END);
    n = ftell(fp);
    fseek(fp, 0, SEEK_SET);

    buf = malloc((size_t) n + 1);
    if (buf == NULL || fread(buf, 1, (size_t) n, fp) != (size_t) n) {
        diag("cannot read %s", path);
        exit(2);
    }

    fclose(fp);
    buf[n] = '\0';
    *len = (size_t) n;

    return buf;
}


static char *
read_token(const char *path)
{
    size_t  len;

    return (char *) read_file(path, &len);
}


static char *
copy(const char *s)
{
    char  *p;

    p = malloc(strlen(s) + 1);
    strcpy(p, s);

    return p;
}


static audit_keyset_t *
load(const char *path)
{
    char             err[256];
    audit_keyset_t  *ks;

    ks = audit_keyset_load(path, err, sizeof(err));
    if (ks == NULL) {
        diag("%s", err);
        exit(2);
    }

    return ks;
}


static void
b64(const void *data, size_t len, char *out, size_t size)
{
    size_t  n;

    if (audit_b64url_encode(data, len, out, size, &n) != 0) {
        diag("b64 buffer too small");
        exit(2);
    }
}


/* header.payload with an HS256 signature made with key; malloc()ed */
static char *
hs_token_key(const char *header, const char *payload,
    const unsigned char *key, size_t keylen)
{
    char           *tok;
    size_t          len, maclen;
    unsigned char   mac[32];

    len = AUDIT_B64URL_ENCODED_LEN(strlen(header))
          + AUDIT_B64URL_ENCODED_LEN(strlen(payload)) + 48;
    tok = malloc(len);

    b64(header, strlen(header), tok, len);
    strcat(tok, ".");
    b64(payload, strlen(payload), tok + strlen(tok), len - strlen(tok));

    if (EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, keylen,
                  (unsigned char *) tok, strlen(tok), mac, sizeof(mac),
                  &maclen)
        == NULL)
    {
        diag("EVP_Q_mac failed");
        exit(2);
    }

    strcat(tok, ".");
    b64(mac, maclen, tok + strlen(tok), len - strlen(tok));

    return tok;
}


static char *
hs_token(const char *header, const char *payload)
{
    return hs_token_key(header, payload, hs_key, hs_key_len);
}


static audit_token_status_t
check_opts(const audit_keyset_t *ks, const char *token,
    const audit_verify_opts_t *o)
{
    audit_token_t         tok;
    audit_token_status_t  st;

    st = audit_jws_verify(ks, token, strlen(token), o, &tok);
    audit_token_clear(&tok);

    return st;
}


static audit_token_status_t
check(const audit_keyset_t *ks, const char *token)
{
    return check_opts(ks, token, &opts);
}


/* the status of an HS256 token made here, checked against the JWKS */
static audit_token_status_t
check_hs(const char *header, const char *payload)
{
    char                  *t;
    audit_token_status_t   st;

    t = hs_token(header, payload);
    st = check(jwks, t);
    free(t);

    return st;
}


/* replaces segment n (0..2) of token by s; malloc()ed */
static char *
with_segment(const char *token, int n, const char *s)
{
    int          i;
    char        *out;
    const char  *start, *end;

    start = token;

    for (i = 0; i < n; i++) {
        start = strchr(start, '.') + 1;
    }

    end = strchr(start, '.');
    if (end == NULL) {
        end = start + strlen(start);
    }

    out = malloc(strlen(token) + strlen(s) + 1);
    memcpy(out, token, (size_t) (start - token));
    strcpy(out + (start - token), s);
    strcat(out, end);

    return out;
}


/* the decoded signature of token */
static size_t
signature(const char *token, unsigned char *sig, size_t size)
{
    size_t       len;
    const char  *s;

    s = strrchr(token, '.') + 1;

    if (audit_b64url_decode((const unsigned char *) s, strlen(s), sig, size,
                            &len)
        != 0)
    {
        diag("bad vector signature");
        exit(2);
    }

    return len;
}


static char *
with_signature(const char *token, const unsigned char *sig, size_t len)
{
    char  enc[1024];

    b64(sig, len, enc, sizeof(enc));

    return with_segment(token, 2, enc);
}


static void
test_valid(void)
{
    char                  buf[64];
    char                 *t;
    audit_token_t         tok;
    audit_token_status_t  st;

    t = read_token(V("hs256.jwt"));
    st = audit_jws_verify(jwks, t, strlen(t), &opts, &tok);
    is_str(audit_token_reason(st), "ok", "HS256 with kid, JWKS");
    is_str(tok.user_id, "alice", "user from sub");
    is_str(tok.session_id, "s-123", "session from sid");
    is_int(tok.nroles, 2, "two roles");
    ok(tok.nroles == 2 && strcmp(tok.roles[0], "admin") == 0
       && strcmp(tok.roles[1], "ops") == 0, "roles admin, ops");
    is_int(tok.exp, 4102444800LL, "exp");
    is_int(tok.alg, AUDIT_ALG_HS256, "alg HS256");
    is_str(tok.kid, "hs1", "kid hs1");
    ok(json_is_object(AUDIT_CLAIMS_JSON(tok.claims)), "claims kept");
    is_int(audit_token_claim(&tok, "iss", buf, sizeof(buf)),
           strlen("https://issuer.example"), "claim iss");
    audit_token_clear(&tok);
    ok(tok.claims == NULL && tok.user_id == NULL, "clear empties the token");
    audit_token_clear(&tok);
    audit_token_clear(NULL);

    is_int(check(secret, t), AUDIT_TOKEN_OK,
           "HS256 with a kid, raw secret (no kids to match)");
    is_int(check(rs1_pem, t), AUDIT_TOKEN_UNKNOWN_KEY,
           "HS256 against an RSA PEM: no key");
    free(t);

    t = read_token(V("hs256-nokid.jwt"));
    is_int(check(jwks, t), AUDIT_TOKEN_OK, "HS256 without kid, JWKS");
    is_int(check(secret, t), AUDIT_TOKEN_OK, "HS256 without kid, raw secret");
    free(t);

    t = read_token(V("rs256.jwt"));
    st = audit_jws_verify(jwks, t, strlen(t), &opts, &tok);
    is_int(st, AUDIT_TOKEN_OK, "RS256 with kid, JWKS");
    is_int(tok.alg, AUDIT_ALG_RS256, "alg RS256");
    is_str(tok.kid, "rs1", "kid rs1");
    audit_token_clear(&tok);
    is_int(check(rs1_pem, t), AUDIT_TOKEN_OK, "RS256 with kid, PEM");
    is_int(check(multi_pem, t), AUDIT_TOKEN_OK, "RS256 with kid, 2-key PEM");
    is_int(check(rs2_pem, t), AUDIT_TOKEN_BAD_SIGNATURE,
           "RS256 against another RSA key");
    free(t);

    t = read_token(V("rs256-nokid.jwt"));
    is_int(check(jwks, t), AUDIT_TOKEN_OK, "RS256 without kid, JWKS");
    is_int(check(rs1_pem, t), AUDIT_TOKEN_OK, "RS256 without kid, PEM");
    free(t);

    t = read_token(V("es256.jwt"));
    st = audit_jws_verify(jwks, t, strlen(t), &opts, &tok);
    is_int(st, AUDIT_TOKEN_OK, "ES256 with kid, JWKS");
    is_int(tok.alg, AUDIT_ALG_ES256, "alg ES256");
    audit_token_clear(&tok);
    is_int(check(ec1_pem, t), AUDIT_TOKEN_OK, "ES256 with kid, PEM");
    is_int(check(multi_pem, t), AUDIT_TOKEN_OK, "ES256 with kid, 2-key PEM");
    free(t);

    t = read_token(V("es256-nokid.jwt"));
    is_int(check(jwks, t), AUDIT_TOKEN_OK, "ES256 without kid, JWKS");
    is_int(check(ec1_pem, t), AUDIT_TOKEN_OK, "ES256 without kid, PEM");
    free(t);
}


static void
test_b64url(void)
{
    int          i, j;
    char        *good, *t, seg[2048];
    const char  *sig, *start, *end;
    static const char  alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

    good = read_token(V("hs256.jwt"));

    for (i = 0; i < 3; i++) {
        start = good;
        for (j = 0; j < i; j++) {
            start = strchr(start, '.') + 1;
        }
        end = strchr(start, '.');
        if (end == NULL) {
            end = start + strlen(start);
        }

        /* padding */
        snprintf(seg, sizeof(seg), "%.*s=", (int) (end - start), start);
        t = with_segment(good, i, seg);
        is_int(check(jwks, t), AUDIT_TOKEN_MALFORMED,
               "segment %d with '=' padding", i);
        free(t);

        /* a byte from base64, not base64url */
        snprintf(seg, sizeof(seg), "%.*s", (int) (end - start), start);
        seg[1] = '+';
        t = with_segment(good, i, seg);
        is_int(check(jwks, t), AUDIT_TOKEN_MALFORMED,
               "segment %d with '+'", i);
        free(t);

        seg[1] = '\x01';
        t = with_segment(good, i, seg);
        is_int(check(jwks, t), AUDIT_TOKEN_MALFORMED,
               "segment %d with a control byte", i);
        free(t);

        /* grow to a length of 4n+1 */
        snprintf(seg, sizeof(seg), "%.*s", (int) (end - start), start);
        while (strlen(seg) % 4 != 1) {
            strcat(seg, "A");
        }
        t = with_segment(good, i, seg);
        is_int(check(jwks, t), AUDIT_TOKEN_MALFORMED,
               "segment %d of length 4n+1", i);
        free(t);
    }

    /* the 43-character signature: the last character has 2 unused bits */
    sig = strrchr(good, '.') + 1;
    ok(strlen(sig) == 43, "HS256 signature is 43 characters");
    strcpy(seg, sig);
    seg[42] = alphabet[(strchr(alphabet, seg[42]) - alphabet) | 1];
    t = with_segment(good, 2, seg);
    is_int(check(jwks, t), AUDIT_TOKEN_MALFORMED,
           "signature with non-zero unused bits");
    free(t);

    /* a byte outside the token, after len, is never looked at */
    t = malloc(strlen(good) + 2);
    strcpy(t, good);
    strcat(t, "=");
    {
        audit_token_t  tok;

        is_int(audit_jws_verify(jwks, t, strlen(good), &opts, &tok),
               AUDIT_TOKEN_OK, "len is respected, not the NUL");
        audit_token_clear(&tok);
    }
    free(t);

    free(good);
}


static void
test_shape(void)
{
    int             fails;
    char           *good, *t, *big;
    size_t          len, longest;
    const char     *dot;
    audit_token_t   tok;

    good = read_token(V("hs256.jwt"));
    dot = strrchr(good, '.');

    t = copy(good);
    t[dot - good] = '\0';
    is_int(check(jwks, t), AUDIT_TOKEN_MALFORMED, "2 segments");
    free(t);

    t = malloc(strlen(good) + 8);
    sprintf(t, "%s.%s", good, "AAAA");
    is_int(check(jwks, t), AUDIT_TOKEN_MALFORMED, "4 segments");
    free(t);

    t = malloc(strlen(good) + 16);
    sprintf(t, "%s.%s", good, "AAAA.AAAA");
    is_int(check(jwks, t), AUDIT_TOKEN_MALFORMED, "5 segments (JWE shape)");
    free(t);

    is_int(check(jwks, "{\"payload\":\"eyJzdWIiOiJhIn0\",\"signatures\":"
                       "[{\"protected\":\"eyJhbGciOiJIUzI1NiJ9\","
                       "\"signature\":\"AAAA\"}]}"),
           AUDIT_TOKEN_MALFORMED, "JSON serialization");
    is_int(check(jwks, "{\"payload\":\"a.b\",\"signature\":\"c\"}"),
           AUDIT_TOKEN_MALFORMED, "JSON serialization with two dots");

    t = with_segment(good, 0, "");
    is_int(check(jwks, t), AUDIT_TOKEN_MALFORMED, "empty header");
    free(t);
    t = with_segment(good, 1, "");
    is_int(check(jwks, t), AUDIT_TOKEN_MALFORMED, "empty payload");
    free(t);
    t = with_segment(good, 2, "");
    is_int(check(jwks, t), AUDIT_TOKEN_BAD_SIGNATURE,
           "empty signature with a real alg: bad signature");
    free(t);
    is_int(check(jwks, ".."), AUDIT_TOKEN_MALFORMED, "only dots");
    is_int(check(jwks, ""), AUDIT_TOKEN_MALFORMED, "empty token");

    memset(&tok, 0xff, sizeof(tok));
    is_int(audit_jws_verify(jwks, NULL, 0, &opts, &tok),
           AUDIT_TOKEN_MALFORMED, "NULL token");
    ok(tok.claims == NULL && tok.user_id == NULL && tok.kid[0] == '\0',
       "tok initialised on failure");
    audit_token_clear(&tok);

    is_int(audit_jws_verify(jwks, "a.b.c", SIZE_MAX, &opts, &tok),
           AUDIT_TOKEN_MALFORMED, "huge len is refused before reading");
    audit_token_clear(&tok);

    is_int(audit_jws_verify(jwks, good, strlen(good), NULL, &tok),
           AUDIT_TOKEN_MALFORMED, "NULL opts");
    audit_token_clear(&tok);
    is_int(audit_jws_verify(jwks, good, strlen(good), &opts, NULL),
           AUDIT_TOKEN_MALFORMED, "NULL tok");
    is_int(check(NULL, good), AUDIT_TOKEN_UNKNOWN_KEY, "NULL key set");

    /* header and payload that are not JSON objects */
    is_int(check_hs("[\"alg\",\"HS256\"]", "{" CLAIMS ",\"exp\":" FAR "}"),
           AUDIT_TOKEN_MALFORMED, "header is an array");
    is_int(check_hs(HS_KID, "[1]"), AUDIT_TOKEN_MALFORMED,
           "payload is an array");
    is_int(check_hs(HS_KID, "\"x\""), AUDIT_TOKEN_MALFORMED,
           "payload is a string");
    is_int(check_hs(HS_KID, "{" CLAIMS ",\"exp\":" FAR "} x"),
           AUDIT_TOKEN_MALFORMED, "payload with trailing garbage");
    is_int(check_hs(HS_KID, "{" CLAIMS ",\"exp\":" FAR ",\"x\":\"\\u0000\"}"),
           AUDIT_TOKEN_MALFORMED, "payload with \\u0000");
    is_int(check_hs(HS_KID, "{" CLAIMS ",\"exp\":" FAR ",\"x\":\"\xff\"}"),
           AUDIT_TOKEN_MALFORMED, "payload with invalid UTF-8");

    is_int(check_hs(HS_KID, "{" CLAIMS ",\"exp\":" FAR ",\"sub\":\"mallory\"}"),
           AUDIT_TOKEN_MALFORMED, "duplicate sub in payload");
    is_int(check_hs("{\"alg\":\"HS256\",\"alg\":\"none\"}",
                    "{" CLAIMS ",\"exp\":" FAR "}"),
           AUDIT_TOKEN_MALFORMED, "duplicate alg in header");
    is_int(check_hs(HS_KID, "{" CLAIMS ",\"exp\":" FAR
                            ",\"o\":{\"a\":1,\"a\":2}}"),
           AUDIT_TOKEN_MALFORMED, "duplicate name in a nested object");

    /* 10000 '[' do not fit AUDIT_TOKEN_MAX_LEN; 6000 do and nest too deep */
    big = malloc(20000);
    strcpy(big, "{\"alg\":\"HS256\",\"x\":");
    memset(big + strlen(big), '[', 10000);
    big[19 + 10000] = '\0';
    t = hs_token(big, "{" CLAIMS ",\"exp\":" FAR "}");
    ok(strlen(t) > AUDIT_TOKEN_MAX_LEN, "10000 '[' header is too long");
    is_int(check(jwks, t), AUDIT_TOKEN_MALFORMED, "nesting bomb of 10000");
    free(t);
    big[19 + 6000] = '\0';
    t = hs_token(big, "{" CLAIMS ",\"exp\":" FAR "}");
    ok(strlen(t) <= AUDIT_TOKEN_MAX_LEN, "6000 '[' header fits");
    is_int(check(jwks, t), AUDIT_TOKEN_MALFORMED, "nesting bomb of 6000");
    free(t);
    free(big);

    /* the size limit: every length up to it verifies, one past it not */
    big = malloc(AUDIT_TOKEN_MAX_LEN * 2);
    t = NULL;
    longest = 0;
    fails = 0;

    for (len = 5900; ; len++) {
        sprintf(big, "{" CLAIMS ",\"exp\":" FAR ",\"pad\":\"%0*d\"}",
                (int) len, 0);
        free(t);
        t = hs_token(HS_KID, big);
        if (strlen(t) > AUDIT_TOKEN_MAX_LEN) {
            break;
        }

        if (check(jwks, t) != AUDIT_TOKEN_OK) {
            fails++;
        }

        longest = strlen(t);
    }

    is_int(fails, 0, "tokens up to %zu bytes verify", longest);
    ok(longest >= AUDIT_TOKEN_MAX_LEN - 1, "... which is the limit or 1 less");
    ok(strlen(t) <= AUDIT_TOKEN_MAX_LEN + 2, "overshoot by at most 2");
    is_int(check(jwks, t), AUDIT_TOKEN_MALFORMED, "token of %zu bytes",
           strlen(t));
    free(t);

    memset(big, 'A', AUDIT_TOKEN_MAX_LEN + 1);
    big[10] = '.';
    big[20] = '.';
    big[AUDIT_TOKEN_MAX_LEN + 1] = '\0';
    is_int(check(jwks, big), AUDIT_TOKEN_MALFORMED,
           "AUDIT_TOKEN_MAX_LEN + 1 bytes");
    free(big);

    free(good);
}


static void
test_header(void)
{
    char                  *t, *pem;
    size_t                 pem_len;
    audit_token_t          tok;
    audit_verify_opts_t    o;
    audit_token_status_t   st;
    const char            *payload = "{" CLAIMS ",\"exp\":" FAR "}";

    is_int(check_hs("{\"alg\":\"none\"}", payload),
           AUDIT_TOKEN_BAD_ALGORITHM, "alg none");
    is_int(check_hs("{\"alg\":\"None\"}", payload),
           AUDIT_TOKEN_BAD_ALGORITHM, "alg None");
    is_int(check_hs("{\"alg\":\"NONE\"}", payload),
           AUDIT_TOKEN_BAD_ALGORITHM, "alg NONE");

    /* the classic form: "alg":"none" and an empty signature segment */
    t = hs_token("{\"alg\":\"none\"}", payload);
    *(strrchr(t, '.') + 1) = '\0';
    is_int(check(jwks, t), AUDIT_TOKEN_BAD_ALGORITHM,
           "alg none with an empty signature: bad_algorithm");
    free(t);
    is_int(check_hs("{\"alg\":\"nOnE\",\"kid\":\"hs1\"}", payload),
           AUDIT_TOKEN_BAD_ALGORITHM, "alg nOnE with a kid");
    is_int(check_hs("{\"alg\":\"HS384\"}", payload),
           AUDIT_TOKEN_BAD_ALGORITHM, "alg HS384 (unsupported)");
    is_int(check_hs("{\"alg\":\"hs256\"}", payload),
           AUDIT_TOKEN_BAD_ALGORITHM, "alg hs256 (case matters)");
    is_int(check_hs("{\"typ\":\"JWT\"}", payload),
           AUDIT_TOKEN_MALFORMED, "no alg");
    is_int(check_hs("{\"alg\":256}", payload),
           AUDIT_TOKEN_MALFORMED, "alg not a string");
    is_int(check_hs("{\"alg\":\"HS256\",\"kid\":1}", payload),
           AUDIT_TOKEN_MALFORMED, "kid not a string");

    is_int(check_hs("{\"alg\":\"HS256\",\"typ\":\"jwt\"}", payload),
           AUDIT_TOKEN_OK, "typ jwt");
    is_int(check_hs("{\"alg\":\"HS256\",\"typ\":\"application/JWT\"}",
                    payload),
           AUDIT_TOKEN_OK, "typ application/JWT");
    is_int(check_hs("{\"alg\":\"HS256\",\"typ\":\"JWE\"}", payload),
           AUDIT_TOKEN_MALFORMED, "typ JWE");
    is_int(check_hs("{\"alg\":\"HS256\",\"typ\":\"JWTX\"}", payload),
           AUDIT_TOKEN_MALFORMED, "typ JWTX");
    is_int(check_hs("{\"alg\":\"HS256\",\"typ\":null}", payload),
           AUDIT_TOKEN_MALFORMED, "typ null");

    is_int(check_hs("{\"alg\":\"HS256\",\"jwk\":{\"kty\":\"oct\","
                    "\"k\":\"AAAA\"}}", payload),
           AUDIT_TOKEN_BAD_ALGORITHM, "header with jwk");
    is_int(check_hs("{\"alg\":\"HS256\",\"jku\":\"https://evil/\"}", payload),
           AUDIT_TOKEN_BAD_ALGORITHM, "header with jku");
    is_int(check_hs("{\"alg\":\"HS256\",\"x5u\":\"https://evil/\"}", payload),
           AUDIT_TOKEN_BAD_ALGORITHM, "header with x5u");
    is_int(check_hs("{\"alg\":\"HS256\",\"x5c\":[\"AAAA\"]}", payload),
           AUDIT_TOKEN_BAD_ALGORITHM, "header with x5c");
    is_int(check_hs("{\"alg\":\"HS256\",\"crit\":[\"exp\"],\"exp\":1}",
                    payload),
           AUDIT_TOKEN_BAD_ALGORITHM, "header with crit");
    is_int(check_hs("{\"alg\":\"HS256\",\"jwk\":null}", payload),
           AUDIT_TOKEN_BAD_ALGORITHM, "header with jwk null");

    /* the allow-list */
    o = opts;
    o.algs = AUDIT_ALG_RS256 | AUDIT_ALG_ES256;
    t = read_token(V("hs256.jwt"));
    is_int(check_opts(jwks, t, &o), AUDIT_TOKEN_BAD_ALGORITHM,
           "HS256 not in the allow-list");
    free(t);
    o.algs = AUDIT_ALG_HS256;
    t = read_token(V("rs256.jwt"));
    is_int(check_opts(jwks, t, &o), AUDIT_TOKEN_BAD_ALGORITHM,
           "RS256 not in the allow-list");
    free(t);
    o.algs = 0;
    t = read_token(V("es256.jwt"));
    is_int(check_opts(jwks, t, &o), AUDIT_TOKEN_BAD_ALGORITHM,
           "empty allow-list");
    free(t);

    /* HS/RS confusion: the public key's PEM bytes as the HMAC secret */
    pem = (char *) read_file(V("rs1.pub"), &pem_len);
    t = hs_token_key(HS, payload, (unsigned char *) pem, pem_len);
    st = check(rs1_pem, t);
    ok(st != AUDIT_TOKEN_OK, "HS256 signed with the RSA PEM: rejected");
    is_int(st, AUDIT_TOKEN_UNKNOWN_KEY, "... as no HS256 key");
    free(t);
    t = hs_token_key("{\"alg\":\"HS256\",\"kid\":\"rs1\"}", payload,
                     (unsigned char *) pem, pem_len);
    is_int(check(jwks, t), AUDIT_TOKEN_BAD_ALGORITHM,
           "HS256 naming the RSA kid: bad_algorithm");
    free(t);
    t = hs_token_key(HS, payload, (unsigned char *) pem, pem_len - 1);
    is_int(check(rs1_pem, t), AUDIT_TOKEN_UNKNOWN_KEY,
           "... also without the final newline");
    free(t);
    free(pem);

    /* alg and key type disagree */
    is_int(check_hs("{\"alg\":\"ES256\",\"kid\":\"rs1\"}", payload),
           AUDIT_TOKEN_BAD_ALGORITHM, "ES256 naming an RSA key");
    is_int(check_hs("{\"alg\":\"RS256\",\"kid\":\"hs1\"}", payload),
           AUDIT_TOKEN_BAD_ALGORITHM, "RS256 naming an HMAC key");

    /* a kid picks one key, never a fall-back */
    t = read_token(V("rs256-kid-rs1-by-rs2.jwt"));
    is_int(check(jwks, t), AUDIT_TOKEN_BAD_SIGNATURE,
           "kid rs1, signed by rs2 (also in the set): bad_signature");
    is_int(check(rs2_pem, t), AUDIT_TOKEN_OK,
           "... while rs2 alone does verify it");
    st = audit_jws_verify(jwks, t, strlen(t), &opts, &tok);
    ok(tok.claims == NULL && tok.user_id == NULL,
       "no claims without a verified signature");
    is_str(tok.kid, "rs1", "kid still reported");
    audit_token_clear(&tok);
    free(t);

    is_int(check_hs("{\"alg\":\"HS256\",\"kid\":\"nope\"}", payload),
           AUDIT_TOKEN_UNKNOWN_KEY, "unknown kid");
    is_int(check_hs("{\"alg\":\"HS256\",\"kid\":\"enc1\"}", payload),
           AUDIT_TOKEN_UNKNOWN_KEY, "kid of a skipped use=enc key");
    is_int(check_hs("{\"alg\":\"HS256\",\"kid\":\"\"}", payload),
           AUDIT_TOKEN_UNKNOWN_KEY, "empty kid");
    is_int(check_hs("{\"alg\":\"HS256\",\"kid\":\"hs1\\u0000\"}", payload),
           AUDIT_TOKEN_MALFORMED, "kid with NUL");

    t = hs_token("{\"alg\":\"HS256\",\"kid\":\"0123456789012345678901234"
                 "567890123456789012345678901234567890123456789\"}", payload);
    st = audit_jws_verify(jwks, t, strlen(t), &opts, &tok);
    free(t);
    is_int(st, AUDIT_TOKEN_UNKNOWN_KEY, "kid of 70 characters: unknown");
    is_int(strlen(tok.kid), 64, "... reported truncated to 64");
    audit_token_clear(&tok);
}


static void
test_signatures(void)
{
    char           *good, *t;
    size_t          len;
    unsigned char   sig[600], swapped[64];

    good = read_token(V("es256.jwt"));
    len = signature(good, sig, sizeof(sig));
    is_int(len, 64, "ES256 vector has a 64-byte r||s");

    t = with_signature(good, sig, 63);
    is_int(check(jwks, t), AUDIT_TOKEN_BAD_SIGNATURE, "ES256 of 63 bytes");
    free(t);

    sig[64] = 0;
    t = with_signature(good, sig, 65);
    is_int(check(jwks, t), AUDIT_TOKEN_BAD_SIGNATURE, "ES256 of 65 bytes");
    free(t);

    memcpy(swapped, sig + 32, 32);
    memcpy(swapped + 32, sig, 32);
    t = with_signature(good, swapped, 64);
    is_int(check(jwks, t), AUDIT_TOKEN_BAD_SIGNATURE, "ES256 s||r");
    free(t);

    memset(swapped, 0, sizeof(swapped));
    t = with_signature(good, swapped, 64);
    is_int(check(jwks, t), AUDIT_TOKEN_BAD_SIGNATURE, "ES256 r = s = 0");
    free(t);

    memset(swapped, 0xff, sizeof(swapped));
    t = with_signature(good, swapped, 64);
    is_int(check(jwks, t), AUDIT_TOKEN_BAD_SIGNATURE, "ES256 r, s >= n");
    free(t);
    free(good);

    t = read_token(V("es256-der.jwt"));
    len = signature(t, sig, sizeof(sig));
    ok(len >= 68 && sig[0] == 0x30, "the DER vector is DER (%zu bytes)", len);
    is_int(check(jwks, t), AUDIT_TOKEN_BAD_SIGNATURE,
           "ES256 with a DER signature");
    is_int(check(ec1_pem, t), AUDIT_TOKEN_BAD_SIGNATURE,
           "ES256 with a DER signature, PEM");
    free(t);

    good = read_token(V("rs256.jwt"));
    len = signature(good, sig, sizeof(sig));
    is_int(len, 256, "RS256 vector has 256 bytes");
    sig[100] ^= 0x01;
    t = with_signature(good, sig, len);
    is_int(check(jwks, t), AUDIT_TOKEN_BAD_SIGNATURE, "RS256 bit flipped");
    free(t);
    sig[100] ^= 0x01;
    t = with_signature(good, sig, len - 1);
    is_int(check(jwks, t), AUDIT_TOKEN_BAD_SIGNATURE, "RS256 one byte short");
    free(t);
    free(good);

    good = read_token(V("hs256.jwt"));
    len = signature(good, sig, sizeof(sig));
    sig[31] ^= 0x80;
    t = with_signature(good, sig, len);
    is_int(check(jwks, t), AUDIT_TOKEN_BAD_SIGNATURE, "HS256 bit flipped");
    free(t);
    sig[31] ^= 0x80;
    t = with_signature(good, sig, 31);
    is_int(check(jwks, t), AUDIT_TOKEN_BAD_SIGNATURE, "HS256 truncated");
    free(t);
    t = with_signature(good, sig, 33);
    is_int(check(jwks, t), AUDIT_TOKEN_BAD_SIGNATURE, "HS256 one byte more");
    free(t);

    /* a payload changed after signing */
    b64(EVIL, strlen(EVIL), (char *) sig, sizeof(sig));
    t = with_segment(good, 1, (char *) sig);
    is_int(check(jwks, t), AUDIT_TOKEN_BAD_SIGNATURE, "payload swapped");
    free(t);
    free(good);
}


static void
test_times(void)
{
    char                  *t;
    audit_token_t          tok;
    audit_verify_opts_t    o;
    audit_token_status_t   st;

    o = opts;

    t = hs_token(HS_KID, "{" CLAIMS ",\"exp\":1700000090}");
    st = audit_jws_verify(jwks, t, strlen(t), &o, &tok);
    is_int(st, AUDIT_TOKEN_EXPIRED, "expired 10 s ago");
    is_str(tok.user_id, "alice", "... user still known for the log");
    ok(tok.claims != NULL, "... claims kept");
    is_int(tok.exp, 1700000090LL, "... exp reported");
    audit_token_clear(&tok);
    o.leeway = 10;
    is_int(check_opts(jwks, t, &o), AUDIT_TOKEN_OK, "... within leeway 10");
    o.leeway = 9;
    is_int(check_opts(jwks, t, &o), AUDIT_TOKEN_EXPIRED,
           "... but not leeway 9");
    o.leeway = -1000;
    is_int(check_opts(jwks, t, &o), AUDIT_TOKEN_EXPIRED,
           "a negative leeway counts as 0");
    free(t);
    o.leeway = 0;

    is_int(check_hs(HS_KID, "{" CLAIMS ",\"exp\":1700000100}"),
           AUDIT_TOKEN_OK, "exp == now is still valid");
    is_int(check_hs(HS_KID, "{" CLAIMS ",\"exp\":1700000099.5}"),
           AUDIT_TOKEN_EXPIRED, "fractional exp just before now");
    is_int(check_hs(HS_KID, "{" CLAIMS ",\"exp\":1.8e9}"),
           AUDIT_TOKEN_OK, "exp as a real");
    is_int(check_hs(HS_KID, "{" CLAIMS ",\"exp\":1e300}"),
           AUDIT_TOKEN_MALFORMED, "exp huge real: out of range");
    is_int(check_hs(HS_KID, "{" CLAIMS ",\"exp\":9223372036854775807}"),
           AUDIT_TOKEN_MALFORMED, "exp LLONG_MAX: out of range");
    is_int(check_hs(HS_KID, "{" CLAIMS ",\"exp\":-9223372036854775807}"),
           AUDIT_TOKEN_MALFORMED, "exp -LLONG_MAX: out of range");
    is_int(check_hs(HS_KID, "{" CLAIMS ",\"exp\":253402300799}"),
           AUDIT_TOKEN_OK, "exp 9999-12-31T23:59:59Z: the last valid");
    is_int(check_hs(HS_KID, "{" CLAIMS ",\"exp\":253402300800}"),
           AUDIT_TOKEN_MALFORMED, "exp a second later: out of range");
    is_int(check_hs(HS_KID, "{" CLAIMS "}"),
           AUDIT_TOKEN_MISSING_CLAIM, "no exp");
    is_int(check_hs(HS_KID, "{" CLAIMS ",\"exp\":\"" FAR "\"}"),
           AUDIT_TOKEN_MISSING_CLAIM, "exp as a string");
    is_int(check_hs(HS_KID, "{" CLAIMS ",\"exp\":null}"),
           AUDIT_TOKEN_MISSING_CLAIM, "exp null");

    t = hs_token(HS_KID, "{" CLAIMS ",\"exp\":" FAR ",\"nbf\":1700000110}");
    is_int(check_opts(jwks, t, &o), AUDIT_TOKEN_NOT_YET_VALID,
           "nbf 10 s ahead");
    o.leeway = 10;
    is_int(check_opts(jwks, t, &o), AUDIT_TOKEN_OK, "... within leeway 10");
    o.leeway = 0;
    free(t);

    t = hs_token(HS_KID, "{" CLAIMS ",\"exp\":" FAR ",\"iat\":1700000110}");
    is_int(check_opts(jwks, t, &o), AUDIT_TOKEN_NOT_YET_VALID,
           "iat 10 s ahead");
    o.leeway = 10;
    is_int(check_opts(jwks, t, &o), AUDIT_TOKEN_OK, "... within leeway 10");
    o.leeway = 0;
    free(t);

    is_int(check_hs(HS_KID, "{" CLAIMS ",\"exp\":" FAR ",\"nbf\":1700000100}"),
           AUDIT_TOKEN_OK, "nbf == now");
    is_int(check_hs(HS_KID, "{" CLAIMS ",\"exp\":" FAR
                            ",\"nbf\":1700000100.1}"),
           AUDIT_TOKEN_NOT_YET_VALID, "fractional nbf just after now");
    is_int(check_hs(HS_KID, "{" CLAIMS ",\"exp\":" FAR ",\"nbf\":\"0\"}"),
           AUDIT_TOKEN_MALFORMED, "nbf as a string");
    is_int(check_hs(HS_KID, "{" CLAIMS ",\"exp\":" FAR ",\"iat\":true}"),
           AUDIT_TOKEN_MALFORMED, "iat as a boolean");

    /* under -fsanitize=undefined these would trap on an overflow */
    t = read_token(V("hs256.jwt"));
    o.now = 9223372036854775807LL;
    is_int(check_opts(jwks, t, &o), AUDIT_TOKEN_EXPIRED, "now LLONG_MAX");
    o.leeway = 9223372036854775807LL;
    is_int(check_opts(jwks, t, &o), AUDIT_TOKEN_OK,
           "now and leeway LLONG_MAX: no wrap-around");
    o.now = -9223372036854775807LL - 1;
    is_int(check_opts(jwks, t, &o), AUDIT_TOKEN_NOT_YET_VALID,
           "now LLONG_MIN, leeway LLONG_MAX");
    free(t);
}


static void
test_issuer_audience(void)
{
    char                 *t;
    audit_verify_opts_t   o;

    o = opts;

    t = hs_token(HS_KID, "{\"iss\":\"https://evil.example\",\"aud\":\"audit\","
                 "\"sub\":\"a\",\"exp\":" FAR "}");
    is_int(check_opts(jwks, t, &o), AUDIT_TOKEN_BAD_ISSUER, "iss mismatch");
    o.issuer = NULL;
    is_int(check_opts(jwks, t, &o), AUDIT_TOKEN_OK, "iss not checked");
    o.issuer = opts.issuer;
    free(t);

    is_int(check_hs(HS_KID, "{\"aud\":\"audit\",\"sub\":\"a\",\"exp\":" FAR
                            "}"),
           AUDIT_TOKEN_BAD_ISSUER, "iss missing");
    is_int(check_hs(HS_KID, "{\"iss\":[\"https://issuer.example\"],"
                            "\"aud\":\"audit\",\"sub\":\"a\",\"exp\":" FAR
                            "}"),
           AUDIT_TOKEN_BAD_ISSUER, "iss as an array");
    is_int(check_hs(HS_KID, "{\"iss\":\"https://issuer.example/\","
                            "\"aud\":\"audit\",\"sub\":\"a\",\"exp\":" FAR
                            "}"),
           AUDIT_TOKEN_BAD_ISSUER, "iss with a trailing slash");

    is_int(check_hs(HS_KID, "{" ISS ",\"aud\":\"other\",\"sub\":\"a\","
                            "\"exp\":" FAR "}"),
           AUDIT_TOKEN_BAD_AUDIENCE, "aud mismatch");
    is_int(check_hs(HS_KID, "{" ISS ",\"aud\":[\"x\",\"audit\"],\"sub\":\"a\","
                            "\"exp\":" FAR "}"),
           AUDIT_TOKEN_OK, "aud array containing it");
    is_int(check_hs(HS_KID, "{" ISS ",\"aud\":[\"x\",\"audi\",1],"
                            "\"sub\":\"a\",\"exp\":" FAR "}"),
           AUDIT_TOKEN_BAD_AUDIENCE, "aud array without it");
    is_int(check_hs(HS_KID, "{" ISS ",\"aud\":[],\"sub\":\"a\","
                            "\"exp\":" FAR "}"),
           AUDIT_TOKEN_BAD_AUDIENCE, "aud empty array");
    is_int(check_hs(HS_KID, "{" ISS ",\"sub\":\"a\",\"exp\":" FAR "}"),
           AUDIT_TOKEN_BAD_AUDIENCE, "aud missing");

    o.audience = NULL;
    t = hs_token(HS_KID, "{" ISS ",\"sub\":\"a\",\"exp\":" FAR "}");
    is_int(check_opts(jwks, t, &o), AUDIT_TOKEN_OK, "aud not checked");
    free(t);
}


static void
test_identity(void)
{
    int                    i;
    char                  *t, roles[512];
    audit_token_t          tok;
    audit_verify_opts_t    o;
    audit_token_status_t   st;

    t = hs_token(HS_KID, "{" ISS ",\"aud\":\"audit\",\"sub\":12345,"
                 "\"role\":\"admin\",\"exp\":" FAR "}");
    st = audit_jws_verify(jwks, t, strlen(t), &opts, &tok);
    is_int(st, AUDIT_TOKEN_OK, "integer sub");
    is_str(tok.user_id, "12345", "... formatted");
    ok(tok.user_id == tok.user_buf, "... in user_buf");
    is_int(tok.nroles, 1, "role as a string: one role");
    is_str(tok.nroles ? tok.roles[0] : NULL, "admin", "... admin");
    ok(tok.session_id == NULL, "no sid");
    audit_token_clear(&tok);
    free(t);

    t = hs_token(HS_KID, "{" ISS ",\"aud\":\"audit\","
                 "\"sub\":-9223372036854775807,\"exp\":" FAR "}");
    st = audit_jws_verify(jwks, t, strlen(t), &opts, &tok);
    is_str(tok.user_id, "-9223372036854775807", "most negative-ish sub fits");
    audit_token_clear(&tok);
    free(t);

    t = hs_token(HS_KID, "{" ISS ",\"aud\":\"audit\",\"exp\":" FAR "}");
    st = audit_jws_verify(jwks, t, strlen(t), &opts, &tok);
    is_int(st, AUDIT_TOKEN_MISSING_CLAIM, "no sub");
    ok(tok.claims != NULL && tok.user_id == NULL, "... claims, no user");
    audit_token_clear(&tok);
    free(t);

    is_int(check_hs(HS_KID, "{" ISS ",\"aud\":\"audit\",\"sub\":1.5,"
                            "\"exp\":" FAR "}"),
           AUDIT_TOKEN_MISSING_CLAIM, "sub as a real");
    is_int(check_hs(HS_KID, "{" ISS ",\"aud\":\"audit\",\"sub\":[\"a\"],"
                            "\"exp\":" FAR "}"),
           AUDIT_TOKEN_MISSING_CLAIM, "sub as an array");
    is_int(check_hs(HS_KID, "{" ISS ",\"aud\":\"audit\",\"sub\":\"\","
                            "\"exp\":" FAR "}"),
           AUDIT_TOKEN_MISSING_CLAIM, "sub empty");

    o = opts;
    o.user_claim = "email";
    o.role_claim = "groups";
    o.session_claim = "jti";
    t = hs_token(HS_KID, "{" CLAIMS ",\"email\":\"a@example.org\","
                 "\"groups\":[\"g1\",2,\"g2\",null,\"g3\"],\"jti\":\"j\","
                 "\"exp\":" FAR "}");
    st = audit_jws_verify(jwks, t, strlen(t), &o, &tok);
    is_int(st, AUDIT_TOKEN_OK, "other claim names");
    is_str(tok.user_id, "a@example.org", "user from email");
    is_str(tok.session_id, "j", "session from jti");
    is_int(tok.nroles, 3, "non-string roles skipped");
    audit_token_clear(&tok);
    free(t);

    strcpy(roles, "[");
    for (i = 0; i < 20; i++) {
        sprintf(roles + strlen(roles), "%s\"r%d\"", i ? "," : "", i);
    }
    strcat(roles, "]");
    {
        char  payload[1024];

        snprintf(payload, sizeof(payload),
                 "{" CLAIMS ",\"role\":%s,\"exp\":" FAR "}", roles);
        t = hs_token(HS_KID, payload);
    }
    st = audit_jws_verify(jwks, t, strlen(t), &opts, &tok);
    is_int(tok.nroles, AUDIT_TOKEN_MAX_ROLES, "20 roles: the first 16 kept");
    is_str(tok.roles[15], "r15", "... in order");
    audit_token_clear(&tok);
    free(t);

    t = hs_token(HS_KID, "{" CLAIMS ",\"role\":{\"a\":1},\"sid\":null,"
                 "\"exp\":" FAR "}");
    st = audit_jws_verify(jwks, t, strlen(t), &opts, &tok);
    is_int(st, AUDIT_TOKEN_OK, "an odd role type and a null sid do not fail");
    ok(tok.nroles == 0 && tok.session_id == NULL, "... and are ignored");
    audit_token_clear(&tok);
    free(t);

    /* a sid as a number is its decimal, as audit_session_revoked lists it */
    t = hs_token(HS_KID, "{" CLAIMS ",\"sid\":12345,\"exp\":" FAR "}");
    st = audit_jws_verify(jwks, t, strlen(t), &opts, &tok);
    is_int(st, AUDIT_TOKEN_OK, "sid 12345: verified");
    is_str(tok.session_id ? tok.session_id : "(null)", "12345",
           "... named \"12345\"");
    audit_token_clear(&tok);
    free(t);

    /* any other type would leave the session unnamed, so unrevocable */
    {
        size_t       j;
        const char  *odd[] = { "1.5", "true", "{\"a\":1}", "[\"s\"]" };

        for (j = 0; j < sizeof(odd) / sizeof(odd[0]); j++) {
            char  payload[256];

            snprintf(payload, sizeof(payload),
                     "{" CLAIMS ",\"sid\":%s,\"exp\":" FAR "}", odd[j]);
            t = hs_token(HS_KID, payload);
            st = audit_jws_verify(jwks, t, strlen(t), &opts, &tok);
            is_int(st, AUDIT_TOKEN_MALFORMED, "sid %s: malformed", odd[j]);
            audit_token_clear(&tok);
            free(t);
        }
    }

    {
        size_t       j;
        const char  *bad[] = {
            ",\"role\":[\"nurse\",\" admin\"]",
            ",\"role\":\"admin \"",
            ",\"role\":\"\"",
            ",\"role\":[\"nurse\",\"\"]",
            ",\"role\":[\"nurse,admin\"]",
            ",\"role\":[\"nurse\",\"ward admin\"]",
            ",\"role\":\"nurse admin\"",
            ",\"role\":\"nurse\\u0000admin\"",
            ",\"role\":\"nurse\\nX-Evil: 1\"",
            ",\"role\":\"nurse\\tadmin\"",
            ",\"sid\":\"\"",
            ",\"sid\":\" s1\"",
            ",\"sid\":\"s1\\r\"",
        };

        for (j = 0; j < sizeof(bad) / sizeof(bad[0]); j++) {
            char  payload[512];

            snprintf(payload, sizeof(payload), "{" CLAIMS "%s,\"exp\":" FAR
                     "}", bad[j]);
            t = hs_token(HS_KID, payload);
            st = audit_jws_verify(jwks, t, strlen(t), &opts, &tok);
            is_int(st, AUDIT_TOKEN_MALFORMED, "ambiguous identity %s",
                   bad[j]);
            audit_token_clear(&tok);
            free(t);
        }

        t = hs_token(HS_KID, "{" ISS ",\"aud\":\"audit\",\"sub\":\" bob\","
                     "\"exp\":" FAR "}");
        st = audit_jws_verify(jwks, t, strlen(t), &opts, &tok);
        is_int(st, AUDIT_TOKEN_MALFORMED, "padded user");
        audit_token_clear(&tok);
        free(t);

        t = hs_token(HS_KID, "{" CLAIMS ",\"role\":[\"nurse\",\"admin\"],"
                     "\"exp\":" FAR "}");
        st = audit_jws_verify(jwks, t, strlen(t), &opts, &tok);
        is_int(st, AUDIT_TOKEN_OK, "two clean roles");
        audit_token_clear(&tok);
        free(t);
    }

    o = opts;
    o.user_claim = NULL;
    o.role_claim = NULL;
    o.session_claim = NULL;
    t = hs_token(HS_KID, "{" ISS ",\"aud\":\"audit\",\"role\":\"x\","
                 "\"exp\":" FAR "}");
    st = audit_jws_verify(jwks, t, strlen(t), &o, &tok);
    ok(st == AUDIT_TOKEN_OK && tok.user_id == NULL && tok.nroles == 0,
       "NULL claim names read nothing");
    audit_token_clear(&tok);
    free(t);
}


static void
test_claim_format(void)
{
    char                  *t, buf[64];
    audit_token_t          tok;
    audit_token_status_t   st;

    t = hs_token(HS_KID, "{" CLAIMS ",\"n\":-42,\"t\":true,\"f\":false,"
                 "\"r\":1.5,\"z\":null,\"o\":{},\"e\":[],"
                 "\"a\":[\"x\",\"yy\",\"\"],\"m\":[\"x\",1],"
                 "\"s\":\"0123456789\",\"exp\":" FAR "}");
    st = audit_jws_verify(jwks, t, strlen(t), &opts, &tok);
    is_int(st, AUDIT_TOKEN_OK, "token with claims of every type");

    is_int(audit_token_claim(&tok, "sub", buf, sizeof(buf)), 5, "string");
    is_str(buf, "alice", "... as is");
    is_int(audit_token_claim(&tok, "n", buf, sizeof(buf)), 3, "integer");
    is_str(buf, "-42", "... decimal");
    is_int(audit_token_claim(&tok, "exp", buf, sizeof(buf)), 10, "exp");
    is_str(buf, FAR, "... decimal");
    is_int(audit_token_claim(&tok, "t", buf, sizeof(buf)), 4, "true");
    is_str(buf, "true", "... true");
    is_int(audit_token_claim(&tok, "f", buf, sizeof(buf)), 5, "false");
    is_str(buf, "false", "... false");
    is_int(audit_token_claim(&tok, "a", buf, sizeof(buf)), 5, "array");
    is_str(buf, "x,yy,", "... joined by ','");
    is_int(audit_token_claim(&tok, "aud", buf, sizeof(buf)), 5,
           "one-string aud");
    is_int(audit_token_claim(&tok, "e", buf, sizeof(buf)), 0, "empty array");
    is_str(buf, "", "... empty string");

    is_int(audit_token_claim(&tok, "m", buf, sizeof(buf)), -1,
           "array with a number");
    is_str(buf, "", "... leaves an empty buffer");
    is_int(audit_token_claim(&tok, "r", buf, sizeof(buf)), -1, "real");
    is_int(audit_token_claim(&tok, "z", buf, sizeof(buf)), -1, "null");
    is_int(audit_token_claim(&tok, "o", buf, sizeof(buf)), -1, "object");
    is_int(audit_token_claim(&tok, "nope", buf, sizeof(buf)), -1, "absent");
    is_int(audit_token_claim(&tok, NULL, buf, sizeof(buf)), -1, "NULL name");

    is_int(audit_token_claim(&tok, "s", buf, 11), 10, "fits exactly");
    is_int(audit_token_claim(&tok, "s", buf, 10), -1, "one byte short");
    is_str(buf, "", "... leaves an empty buffer");
    is_int(audit_token_claim(&tok, "n", buf, 3), -1, "integer too long");
    is_int(audit_token_claim(&tok, "a", buf, 5), -1, "array too long");
    is_int(audit_token_claim(&tok, "a", buf, 6), 5, "array fits exactly");
    is_int(audit_token_claim(&tok, "s", buf, 0), -1, "size 0");
    audit_token_clear(&tok);

    is_int(audit_token_claim(&tok, "sub", buf, sizeof(buf)), -1,
           "cleared token has no claims");
    is_int(audit_token_claim(NULL, "sub", buf, sizeof(buf)), -1, "NULL tok");
    free(t);

    t = read_token(V("rs256-kid-rs1-by-rs2.jwt"));
    st = audit_jws_verify(jwks, t, strlen(t), &opts, &tok);
    is_int(audit_token_claim(&tok, "sub", buf, sizeof(buf)), -1,
           "unverified token has no claims");
    audit_token_clear(&tok);
    free(t);
}


/* bad input of every kind must leave the key set as it was */
static void
test_no_mutation(void)
{
    int                    i, bad;
    char                  *good[3], *evil[8], buf[64];
    audit_token_t          tok;
    audit_token_status_t   st;
    const char            *payload = "{" CLAIMS ",\"exp\":" FAR "}";

    good[0] = read_token(V("hs256.jwt"));
    good[1] = read_token(V("rs256.jwt"));
    good[2] = read_token(V("es256.jwt"));

    evil[0] = read_token(V("rs256-kid-rs1-by-rs2.jwt"));
    evil[1] = read_token(V("es256-der.jwt"));
    evil[2] = hs_token("{\"alg\":\"none\"}", payload);
    evil[3] = hs_token_key(HS, payload, (const unsigned char *) "x", 1);
    evil[4] = hs_token("{\"alg\":\"HS256\",\"kid\":\"rs1\"}", payload);
    evil[5] = hs_token("{\"alg\":\"HS256\",\"jwk\":{}}", payload);
    evil[6] = hs_token(HS_KID, "{\"exp\":1}");
    evil[7] = with_segment(good[1], 2, "AAAA");

    bad = 0;

    for (i = 0; i < 3000; i++) {
        st = audit_jws_verify(jwks, evil[i % 8], strlen(evil[i % 8]), &opts,
                              &tok);
        if (st == AUDIT_TOKEN_OK) {
            bad++;
        }

        audit_token_clear(&tok);

        st = audit_jws_verify(multi_pem, evil[i % 8], strlen(evil[i % 8]),
                              &opts, &tok);
        if (st == AUDIT_TOKEN_OK) {
            bad++;
        }

        audit_token_clear(&tok);
    }

    is_int(bad, 0, "3000 bad tokens, none accepted");

    for (i = 0; i < 3; i++) {
        st = audit_jws_verify(jwks, good[i], strlen(good[i]), &opts, &tok);
        is_int(st, AUDIT_TOKEN_OK, "good token %d still verifies", i);
        is_int(audit_token_claim(&tok, "sub", buf, sizeof(buf)), 5,
               "... with its claims");
        audit_token_clear(&tok);
    }

    is_int(check(secret, good[0]), AUDIT_TOKEN_OK,
           "the raw secret still verifies");
    is_int(audit_keyset_size(jwks), 5, "JWKS still has 5 keys");

    for (i = 0; i < 3; i++) {
        free(good[i]);
    }

    for (i = 0; i < 8; i++) {
        free(evil[i]);
    }
}


static void
test_trusted(void)
{
    char                 *t;
    audit_verify_opts_t   o;

    o = opts;
    o.trusted_signature = 1;

    t = read_token(V("rs256-kid-rs1-by-rs2.jwt"));
    is_int(check_opts(jwks, t, &o), AUDIT_TOKEN_OK,
           "trusted signature: not computed");
    free(t);

    t = hs_token("{\"alg\":\"HS256\",\"kid\":\"nope\"}",
                 "{" CLAIMS ",\"exp\":" FAR "}");
    is_int(check_opts(jwks, t, &o), AUDIT_TOKEN_UNKNOWN_KEY,
           "trusted signature: the kid is still looked up");
    free(t);

    t = hs_token("{\"alg\":\"HS256\",\"kid\":\"rs1\"}",
                 "{" CLAIMS ",\"exp\":" FAR "}");
    is_int(check_opts(jwks, t, &o), AUDIT_TOKEN_BAD_ALGORITHM,
           "trusted signature: the key type still matters");
    is_int(check_opts(rs1_pem, t, &o), AUDIT_TOKEN_UNKNOWN_KEY,
           "trusted signature: no HS256 key, no match");
    free(t);

    t = hs_token("{\"alg\":\"none\"}", "{" CLAIMS ",\"exp\":" FAR "}");
    is_int(check_opts(jwks, t, &o), AUDIT_TOKEN_BAD_ALGORITHM,
           "trusted signature: alg none still refused");
    free(t);

    t = hs_token(HS_KID, "{" CLAIMS ",\"exp\":1}");
    is_int(check_opts(jwks, t, &o), AUDIT_TOKEN_EXPIRED,
           "trusted signature: claims still checked");
    free(t);
}


static void
test_reasons(void)
{
    is_str(audit_token_reason(AUDIT_TOKEN_OK), "ok", "reason ok");
    is_str(audit_token_reason(AUDIT_TOKEN_MALFORMED), "malformed",
           "reason malformed");
    is_str(audit_token_reason(AUDIT_TOKEN_BAD_ALGORITHM), "bad_algorithm",
           "reason bad_algorithm");
    is_str(audit_token_reason(AUDIT_TOKEN_UNKNOWN_KEY), "unknown_key",
           "reason unknown_key");
    is_str(audit_token_reason(AUDIT_TOKEN_BAD_SIGNATURE), "bad_signature",
           "reason bad_signature");
    is_str(audit_token_reason(AUDIT_TOKEN_EXPIRED), "expired",
           "reason expired");
    is_str(audit_token_reason(AUDIT_TOKEN_NOT_YET_VALID), "not_yet_valid",
           "reason not_yet_valid");
    is_str(audit_token_reason(AUDIT_TOKEN_BAD_ISSUER), "bad_issuer",
           "reason bad_issuer");
    is_str(audit_token_reason(AUDIT_TOKEN_BAD_AUDIENCE), "bad_audience",
           "reason bad_audience");
    is_str(audit_token_reason(AUDIT_TOKEN_MISSING_CLAIM), "missing_claim",
           "reason missing_claim");
    is_str(audit_token_reason((audit_token_status_t) 99), "unknown",
           "reason out of range");
}


static void
test_payload(void)
{
    char            *good;
    audit_claims_t  *p;

    good = read_token(V("hs256.jwt"));

    p = audit_jws_payload(good, strlen(good));
    ok(p != NULL && json_is_object(AUDIT_CLAIMS_JSON(p)),
       "payload of a token decodes");
    ok(p != NULL && json_object_get(AUDIT_CLAIMS_JSON(p), "sub") != NULL,
       "... with its claims");
    audit_claims_free(p);

    ok(audit_jws_payload(good, 10) == NULL, "a cut token has no payload");
    ok(audit_jws_payload("a.!!.c", 6) == NULL, "bad base64url: NULL");
    ok(audit_jws_payload("e30.W10.", 8) == NULL, "array payload: NULL");
    ok(audit_jws_payload(NULL, 5) == NULL, "NULL token: NULL");

    free(good);
}


int
main(void)
{
    size_t  len;

    jwks = load(V("jwks.json"));
    secret = load(V("hmac.key"));
    rs1_pem = load(V("rs1.pub"));
    rs2_pem = load(V("rs2.pub"));
    ec1_pem = load(V("ec1.pub"));
    multi_pem = load(V("multi.pub"));

    hs_key = read_file(V("hmac.key"), &len);
    hs_key_len = strcspn((char *) hs_key, "\r\n");

    opts.algs = AUDIT_ALG_ALL;
    opts.now = NOW;
    opts.leeway = 0;
    opts.issuer = "https://issuer.example";
    opts.audience = "audit";
    opts.user_claim = "sub";
    opts.role_claim = "role";
    opts.session_claim = "sid";

    test_valid();
    test_b64url();
    test_shape();
    test_header();
    test_signatures();
    test_times();
    test_issuer_audience();
    test_identity();
    test_payload();
    test_claim_format();
    test_no_mutation();
    test_trusted();
    test_reasons();

    audit_keyset_free(jwks);
    audit_keyset_free(secret);
    audit_keyset_free(rs1_pem);
    audit_keyset_free(rs2_pem);
    audit_keyset_free(ec1_pem);
    audit_keyset_free(multi_pem);
    free(hs_key);

    return done_testing();
}
