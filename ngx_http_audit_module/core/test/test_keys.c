#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit_keys.h"
#include "tap.h"


#define V(name)  AUDIT_TEST_VECTORS "/" name


static audit_keyset_t *
parse(const char *s, char *err, size_t errlen)
{
    return audit_keyset_parse((const unsigned char *) s, strlen(s), err,
                              errlen);
}


/* a load that must fail, with a reason that mentions want */
static void
load_fails(const char *path, const char *want, const char *name)
{
    char             err[256];
    audit_keyset_t  *ks;

    memset(err, 'x', sizeof(err));
    ks = audit_keyset_load(path, err, sizeof(err));

    ok(ks == NULL && strstr(err, want) != NULL
       && strchr(err, '\n') == NULL, "%s: %s", name, err);

    audit_keyset_free(ks);
}


static void
test_good_files(void)
{
    char             err[256];
    audit_keyset_t  *ks;

    ks = audit_keyset_load(V("jwks.json"), err, sizeof(err));
    ok(ks != NULL, "JWKS loads (%s)", err);
    is_int(audit_keyset_size(ks), 5,
           "JWKS: 5 usable keys, enc/encrypt-only/PS256/OKP skipped");
    is_int(audit_keyset_algs(ks), AUDIT_ALG_ALL, "JWKS: all algs");
    audit_keyset_free(ks);

    ks = audit_keyset_load(V("multi.pub"), err, sizeof(err));
    ok(ks != NULL, "PEM with two public keys loads (%s)", err);
    is_int(audit_keyset_size(ks), 2, "PEM: 2 keys");
    is_int(audit_keyset_algs(ks), AUDIT_ALG_RS256 | AUDIT_ALG_ES256,
           "PEM: RS256 and ES256, never HS256");
    audit_keyset_free(ks);

    ks = audit_keyset_load(V("ec1.pub"), err, sizeof(err));
    is_int(audit_keyset_algs(ks), AUDIT_ALG_ES256, "EC PEM: ES256");
    audit_keyset_free(ks);

    ks = audit_keyset_load(V("hmac.key"), err, sizeof(err));
    ok(ks != NULL, "raw secret loads (%s)", err);
    is_int(audit_keyset_size(ks), 1, "raw secret: 1 key");
    is_int(audit_keyset_algs(ks), AUDIT_ALG_HS256, "raw secret: HS256");
    audit_keyset_free(ks);
}


static void
test_bad_files(void)
{
    load_fails(V("hmac31.key"), "too short", "HMAC secret of 31 bytes");
    load_fails(V("jwks-hmac31.json"), "too short", "JWKS oct key of 31 bytes");
    load_fails(V("rsa1024.pub"), "too small", "RSA 1024 PEM");
    load_fails(V("jwks-rsa1024.json"), "too small", "RSA 1024 JWK");
    load_fails(V("ec384.pub"), "not supported", "EC P-384 PEM");
    load_fails(V("jwks-p384.json"), "P-384", "EC P-384 JWK");
    load_fails(V("jwks-enc-only.json"), "no usable", "JWKS with use=enc only");
    load_fails(V("jwks-dup-kid.json"), "duplicate kid", "duplicate kid");
    load_fails(V("jwks-alg-mismatch.json"), "does not fit",
               "RSA key bound to ES256");
    load_fails(V("rs1.key"), "PUBLIC KEY", "a private key PEM");
    load_fails(V("garbage.txt"), "invalid JSON", "garbage starting with {");
    load_fails(V("does-not-exist"), "cannot open", "missing file");
    load_fails(AUDIT_TEST_VECTORS, "cannot read", "a directory");
}


static void
test_parse_errors(void)
{
    char             err[256], small[8];
    unsigned char   *big;
    audit_keyset_t  *ks;

    ks = parse("{\"keys\": [", err, sizeof(err));
    ok(ks == NULL && strstr(err, "invalid JSON") != NULL,
       "truncated JSON: %s", err);

    ks = parse("{\"kty\":\"oct\",\"k\":\"AAAA\"}", err, sizeof(err));
    ok(ks == NULL && strstr(err, "keys") != NULL, "a lone JWK: %s", err);

    ks = parse("{\"keys\":[]}", err, sizeof(err));
    ok(ks == NULL && strstr(err, "no usable") != NULL, "no keys: %s", err);

    ks = parse("{\"keys\":[1]}", err, sizeof(err));
    ok(ks == NULL && strstr(err, "JWKS key #1") != NULL,
       "a number as a key: %s", err);

    ks = parse("{\"keys\":[{\"kty\":\"oct\","
               "\"k\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"}]}",
               err, sizeof(err));
    ok(ks == NULL && strstr(err, "base64url") != NULL,
       "padded k: %s", err);

    ks = parse("{\"keys\":[{\"kty\":\"oct\",\"k\":\"AAAA\",\"k\":\"BBBB\"}]}",
               err, sizeof(err));
    ok(ks == NULL, "duplicate member in a JWK: %s", err);

    ks = parse("{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AAAA\","
               "\"y\":\"AAAA\"}]}", err, sizeof(err));
    ok(ks == NULL && strstr(err, "EC") != NULL, "short EC coordinates: %s",
       err);

    ks = parse("{\"keys\":[{\"kty\":\"oct\",\"kid\":"
               "\"0123456789012345678901234567890123456789012345678901234567"
               "890123456789\","
               "\"k\":\"MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDE\"}]}",
               err, sizeof(err));
    ok(ks == NULL && strstr(err, "kid longer") != NULL, "long kid: %s", err);

    ks = parse("-----BEGIN PUBLIC KEY-----\nnot base64\n"
               "-----END PUBLIC KEY-----\n", err, sizeof(err));
    ok(ks == NULL && strstr(err, "invalid public key") != NULL,
       "garbage PEM body: %s", err);

    ks = parse("-----BEGIN PUBLIC KEY-----\nMIIB\n", err, sizeof(err));
    ok(ks == NULL && strstr(err, "END") != NULL, "PEM without END: %s", err);

    ks = parse("-----BEGIN CERTIFICATE-----\nMIIB\n"
               "-----END CERTIFICATE-----\n", err, sizeof(err));
    ok(ks == NULL, "a certificate is not taken as a secret: %s", err);

    ks = parse("0123456789abcdef0123456789abcde\r\n", err, sizeof(err));
    ok(ks == NULL && strstr(err, "31 bytes") != NULL,
       "\\r\\n is stripped before the length check: %s", err);

    ks = parse("0123456789abcdef0123456789abcdef\r\n", err, sizeof(err));
    ok(ks != NULL, "32 bytes and \\r\\n is a secret");
    audit_keyset_free(ks);

    ks = audit_keyset_parse(NULL, 0, err, sizeof(err));
    ok(ks == NULL && err[0] != '\0', "no data: %s", err);

    ks = parse("short", small, sizeof(small));
    ok(ks == NULL && strlen(small) == sizeof(small) - 1,
       "a small err buffer is filled and terminated");

    ks = parse("short", NULL, 0);
    ok(ks == NULL, "err may be NULL");

    big = malloc(AUDIT_KEYS_FILE_MAX + 1);
    memset(big, 'k', AUDIT_KEYS_FILE_MAX + 1);
    ks = audit_keyset_parse(big, AUDIT_KEYS_FILE_MAX + 1, err, sizeof(err));
    ok(ks == NULL && strstr(err, "larger") != NULL, "1 MiB + 1: %s", err);
    ks = audit_keyset_parse(big, AUDIT_KEYS_FILE_MAX, err, sizeof(err));
    ok(ks != NULL, "a 1 MiB secret is fine");
    audit_keyset_free(ks);
    free(big);

    audit_keyset_free(NULL);
    is_int(audit_keyset_size(NULL), 0, "size of NULL");
    is_int(audit_keyset_algs(NULL), 0, "algs of NULL");
}


static void
test_alg_names(void)
{
    is_int(audit_alg_from_name("HS256", 5), AUDIT_ALG_HS256, "HS256");
    is_int(audit_alg_from_name("RS256", 5), AUDIT_ALG_RS256, "RS256");
    is_int(audit_alg_from_name("ES256", 5), AUDIT_ALG_ES256, "ES256");
    is_int(audit_alg_from_name("hs256", 5), 0, "alg names are case-sensitive");
    is_int(audit_alg_from_name("HS2564", 6), 0, "no prefix matches");
    is_int(audit_alg_from_name("none", 4), 0, "none is no alg");
    is_str(audit_alg_name(AUDIT_ALG_ES256), "ES256", "name of ES256");
    is_str(audit_alg_name(AUDIT_ALG_ALL), "", "name of a set");
}


/* a file's contents, NUL-terminated, or NULL */
static char *
slurp(const char *path)
{
    long   n;
    char  *buf;
    FILE  *f;

    f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }

    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);

    buf = malloc(n + 1);
    if (buf != NULL && fread(buf, 1, n, f) == (size_t) n) {
        buf[n] = '\0';

    } else {
        free(buf);
        buf = NULL;
    }

    fclose(f);

    return buf;
}


/* a public key dressed as something else is refused, never an HMAC secret */
static void
test_public_key_not_secret(void)
{
    char            *pem, *body, *w, *bom;
    char             err[256];
    const char      *r;
    audit_keyset_t  *ks;

    pem = slurp(V("rs1.pub"));
    ok(pem != NULL, "rs1.pub read");
    if (pem == NULL) {
        return;
    }

    /* the PEM body with its line breaks, then on one line (Keycloak's) */
    r = strchr(pem, '\n') + 1;
    body = malloc(strlen(r) + 1);
    strcpy(body, r);
    *strstr(body, "-----END") = '\0';

    ks = parse(body, err, sizeof(err));
    ok(ks == NULL && strstr(err, "base64 public key") != NULL,
       "a PEM body without its armour lines: %s", err);
    audit_keyset_free(ks);

    for (w = body, r = body; *r; r++) {
        if (*r != '\n') {
            *w++ = *r;
        }
    }
    *w = '\0';

    ks = parse(body, err, sizeof(err));
    ok(ks == NULL && strstr(err, "base64 public key") != NULL,
       "bare base64 SubjectPublicKeyInfo on one line: %s", err);
    audit_keyset_free(ks);

    for (w = body; *w; w++) {
        if (*w == '+') {
            *w = '-';

        } else if (*w == '/') {
            *w = '_';

        } else if (*w == '=') {
            *w = '\0';
            break;
        }
    }

    ks = parse(body, err, sizeof(err));
    ok(ks == NULL && strstr(err, "base64 public key") != NULL,
       "the same in base64url without padding: %s", err);
    audit_keyset_free(ks);

    ks = parse("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH"
               "5C9okWi0dh2l9GKJl admin@clinic\n", err, sizeof(err));
    ok(ks == NULL && strstr(err, "OpenSSH") != NULL, "an OpenSSH public key: %s",
       err);
    audit_keyset_free(ks);

    /* a random secret in base64 that happens to start with "M" is one */
    ks = parse("MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDE=\n", err,
               sizeof(err));
    ok(ks != NULL && audit_keyset_algs(ks) == AUDIT_ALG_HS256,
       "a base64 secret that is no key stays an HMAC secret (%s)", err);
    audit_keyset_free(ks);

    /* a JWKS saved with a byte order mark is read as the JWKS it is */
    free(pem);
    pem = slurp(V("jwks.json"));
    bom = malloc(strlen(pem) + 4);
    strcpy(bom, "\xEF\xBB\xBF");
    strcat(bom, pem);

    ks = parse(bom, err, sizeof(err));
    ok(ks != NULL && audit_keyset_size(ks) == 5
       && audit_keyset_algs(ks) == AUDIT_ALG_ALL,
       "a JWKS after a UTF-8 byte order mark: the JWKS (%s)", err);
    audit_keyset_free(ks);

    free(bom);
    free(body);
    free(pem);
}


int
main(void)
{
    test_good_files();
    test_bad_files();
    test_parse_errors();
    test_alg_names();
    test_public_key_not_secret();

    return done_testing();
}
