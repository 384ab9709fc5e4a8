
/*
 * ngx_http_audit_module: random bytes and SHA-256 for the whole module,
 * one worker's worth each (the bottom floor: uses nothing above it).
 *
 * Random bytes for ids are drawn from OpenSSL 4 KiB at a time: one
 * RAND_bytes() per request (with its locking and fork check) costs more
 * than the rest of an event id.  The pool is allocated in each worker's
 * init, after the fork, so workers never share bytes; outside a worker
 * (the master, nginx -t) each call goes to RAND_bytes().
 *
 * SHA-256 is fetched once per worker: EVP_sha256() makes OpenSSL 3 look
 * the implementation up again (under a lock) at every
 * EVP_DigestInit_ex(), and the chain hashes every event.
 */


#include "ngx_http_audit_module.h"

#include <openssl/evp.h>
#include <openssl/rand.h>


#define NGX_HTTP_AUDIT_RANDOM  4096    /* bytes drawn at once */


typedef struct {
    u_char                       pool[NGX_HTTP_AUDIT_RANDOM];
    size_t                       used;
    EVP_MD                      *sha256;
} ngx_http_audit_crypto_t;


/* this worker's, set by ngx_http_audit_crypto_init_process() only */
static ngx_http_audit_crypto_t  *ngx_http_audit_crypto;


ngx_int_t
ngx_http_audit_crypto_init_process(ngx_cycle_t *cycle)
{
    ngx_http_audit_crypto_t  *c;

    c = ngx_pcalloc(cycle->pool, sizeof(ngx_http_audit_crypto_t));
    if (c == NULL) {
        return NGX_ERROR;
    }

    c->used = NGX_HTTP_AUDIT_RANDOM;          /* drawn at the first use */
    c->sha256 = EVP_MD_fetch(NULL, "SHA2-256", NULL);

    ngx_http_audit_crypto = c;

    return NGX_OK;
}


/* the fetched method is the module's: freed before it is unloaded */

void
ngx_http_audit_crypto_exit_process(void)
{
    if (ngx_http_audit_crypto) {
        EVP_MD_free(ngx_http_audit_crypto->sha256);
        ngx_http_audit_crypto = NULL;
    }
}


const EVP_MD *
ngx_http_audit_sha256(void)
{
    if (ngx_http_audit_crypto && ngx_http_audit_crypto->sha256) {
        return ngx_http_audit_crypto->sha256;
    }

    return EVP_sha256();
}


ngx_int_t
ngx_http_audit_random(u_char *buf, size_t n)
{
    ngx_http_audit_crypto_t  *c;

    c = ngx_http_audit_crypto;

    if (c == NULL) {
        return RAND_bytes(buf, (int) n) == 1 ? NGX_OK : NGX_ERROR;
    }

    if (n > NGX_HTTP_AUDIT_RANDOM) {
        return NGX_ERROR;
    }

    if (c->used + n > NGX_HTTP_AUDIT_RANDOM) {
        if (RAND_bytes(c->pool, NGX_HTTP_AUDIT_RANDOM) != 1) {
            return NGX_ERROR;
        }

        c->used = 0;
    }

    ngx_memcpy(buf, c->pool + c->used, n);
    c->used += n;

    return NGX_OK;
}
