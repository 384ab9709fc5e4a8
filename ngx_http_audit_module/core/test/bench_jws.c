/*
 * Nanoseconds per audit_jws_verify() + audit_token_clear() for the vector
 * tokens; "make bench".  Not a test: nothing here fails on slowness.
 */

#define _POSIX_C_SOURCE  200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit_jws.h"


#define V(name)  AUDIT_TEST_VECTORS "/" name


static char *
bench_read(const char *path)
{
    long   n;
    char  *buf;
    FILE  *fp;

    fp = fopen(path, "rb");
    if (fp == NULL) {
        fprintf(stderr, "cannot open %s\n", path);
        exit(1);
    }

    fseek(fp, 0, SEEK_END);
    n = ftell(fp);
    fseek(fp, 0, SEEK_SET);

    buf = malloc((size_t) n + 1);
    if (buf == NULL || fread(buf, 1, (size_t) n, fp) != (size_t) n) {
        fprintf(stderr, "cannot read %s\n", path);
        exit(1);
    }

    buf[n] = '\0';
    fclose(fp);

    return buf;
}


static double
bench_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return ts.tv_sec * 1e9 + ts.tv_nsec;
}


static void
bench(const char *name, const char *keys, const char *token_file, long n)
{
    long                   i;
    char                  *token, err[256];
    size_t                 len;
    double                 start, ns;
    audit_token_t          tok;
    audit_keyset_t        *ks;
    audit_verify_opts_t    opts;

    ks = audit_keyset_load(keys, err, sizeof(err));
    if (ks == NULL) {
        fprintf(stderr, "%s\n", err);
        exit(1);
    }

    token = bench_read(token_file);
    len = strlen(token);

    memset(&opts, 0, sizeof(opts));
    opts.algs = AUDIT_ALG_ALL;
    opts.now = 1700000100;
    opts.issuer = "https://issuer.example";
    opts.audience = "audit";
    opts.user_claim = "sub";
    opts.role_claim = "role";
    opts.session_claim = "sid";

    /* warm up caches and OpenSSL's method store */
    for (i = 0; i < n / 10 + 1; i++) {
        audit_jws_verify(ks, token, len, &opts, &tok);
        audit_token_clear(&tok);
    }

    start = bench_now();

    for (i = 0; i < n; i++) {
        if (audit_jws_verify(ks, token, len, &opts, &tok) != AUDIT_TOKEN_OK)
        {
            fprintf(stderr, "%s: verification failed\n", name);
            exit(1);
        }

        audit_token_clear(&tok);
    }

    ns = (bench_now() - start) / n;

    printf("%-28s %10.0f ns/verify  (%zu-byte token, %ld runs)\n", name, ns,
           len, n);

    free(token);
    audit_keyset_free(ks);
}


int
main(int argc, char **argv)
{
    long  scale;

    scale = argc > 1 ? atol(argv[1]) : 1;
    if (scale < 1) {
        scale = 1;
    }

    bench("HS256 kid, JWKS (5 keys)", V("jwks.json"), V("hs256.jwt"),
          200000 * scale);
    bench("HS256 no kid, raw secret", V("hmac.key"), V("hs256-nokid.jwt"),
          200000 * scale);
    bench("RS256 kid, JWKS", V("jwks.json"), V("rs256.jwt"), 5000 * scale);
    bench("ES256 kid, JWKS", V("jwks.json"), V("es256.jwt"), 5000 * scale);

    return 0;
}
