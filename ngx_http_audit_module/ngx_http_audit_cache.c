
/*
 * ngx_http_audit_module: verified-token cache.
 *
 * An RS256 verify costs ~15 us and an ES256 one ~50 us here, against ~1 us
 * for everything else the module does per request; a session sends the
 * same token on every request, so the signature is checked once per
 * session for all workers: the cache, in the audit_zone shared memory,
 * remembers that a token's signature verified.
 *
 * The key is SHA-256 over the key set's digest and the whole token, so a
 * hit cannot be forged (an attacker would need a SHA-256 collision), a
 * changed key file never reuses an old verdict, and only the signature
 * check is skipped: the token is still parsed, its alg and kid still
 * checked against the current keys, its claims (exp, nbf, ...) and the
 * deny-list still checked on every request.  Entries are evicted at the
 * token's exp, or least recently used first when the zone is full.
 */


#include "ngx_http_audit_module.h"

#include <openssl/evp.h>


ngx_int_t
ngx_http_audit_cache_key(ngx_http_audit_keys_t *keys, ngx_str_t *token,
    u_char *hash)
{
    EVP_MD_CTX  *md;
    ngx_int_t    rc;

    md = EVP_MD_CTX_new();
    if (md == NULL) {
        return NGX_ERROR;
    }

    rc = (EVP_DigestInit_ex(md, ngx_http_audit_sha256(), NULL) == 1
          && EVP_DigestUpdate(md, keys->digest, sizeof(keys->digest)) == 1
          && EVP_DigestUpdate(md, token->data, token->len) == 1
          && EVP_DigestFinal_ex(md, hash, NULL) == 1)
         ? NGX_OK : NGX_ERROR;

    EVP_MD_CTX_free(md);

    return rc;
}


ngx_uint_t
ngx_http_audit_cache_lookup(ngx_shm_zone_t *zone, u_char *hash, time_t now)
{
    ngx_str_t                     key;
    ngx_uint_t                    hit;
    ngx_slab_pool_t              *shpool;
    ngx_http_audit_shctx_t       *sh;
    ngx_http_audit_keyed_node_t  *kn;

    shpool = (ngx_slab_pool_t *) zone->shm.addr;
    sh = zone->data;

    key.data = hash;
    key.len = NGX_HTTP_AUDIT_CACHE_HASH;

    ngx_shmtx_lock(&shpool->mutex);

    kn = ngx_http_audit_keyed_find(&sh->cache, &key);

    hit = (kn != NULL && kn->expires > now);

    if (hit) {
        ngx_http_audit_keyed_touch(&sh->cache, kn);
        sh->cache_hits++;

    } else {
        sh->cache_misses++;
    }

    ngx_shmtx_unlock(&shpool->mutex);

    return hit;
}


void
ngx_http_audit_cache_insert(ngx_shm_zone_t *zone, u_char *hash, time_t exp,
    time_t now)
{
    ngx_str_t                     key;
    ngx_slab_pool_t              *shpool;
    ngx_http_audit_shctx_t       *sh;
    ngx_http_audit_keyed_t       *room[2];
    ngx_http_audit_keyed_node_t  *kn;

    if (exp <= now) {
        return;
    }

    shpool = (ngx_slab_pool_t *) zone->shm.addr;
    sh = zone->data;

    key.data = hash;
    key.len = NGX_HTTP_AUDIT_CACHE_HASH;

    ngx_shmtx_lock(&shpool->mutex);

    if (ngx_http_audit_keyed_find(&sh->cache, &key) == NULL) {

        /* expired entries go first; a full zone drops the least used */
        ngx_http_audit_keyed_expire(&sh->cache, shpool, now);

        room[0] = &sh->cache;
        room[1] = NULL;

        kn = ngx_http_audit_keyed_add(&sh->cache, shpool, &key, room);
        if (kn) {
            kn->expires = exp;
        }
    }

    ngx_shmtx_unlock(&shpool->mutex);
}
