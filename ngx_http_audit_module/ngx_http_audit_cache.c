
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


typedef struct {
    ngx_rbtree_node_t            node;      /* node.key: hash prefix */
    ngx_queue_t                  queue;     /* LRU */
    time_t                       exp;
    u_char                       hash[NGX_HTTP_AUDIT_CACHE_HASH];
} ngx_http_audit_cache_node_t;


static ngx_http_audit_cache_node_t *ngx_http_audit_cache_find(
    ngx_http_audit_shctx_t *sh, u_char *hash);
static void ngx_http_audit_cache_expire(ngx_http_audit_shctx_t *sh,
    ngx_slab_pool_t *shpool, ngx_uint_t n);
static void ngx_http_audit_cache_delete(ngx_http_audit_shctx_t *sh,
    ngx_slab_pool_t *shpool, ngx_http_audit_cache_node_t *cn);
static void ngx_http_audit_cache_rbtree_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);


void
ngx_http_audit_cache_init(ngx_http_audit_shctx_t *sh)
{
    ngx_rbtree_init(&sh->cache, &sh->cache_sentinel,
                    ngx_http_audit_cache_rbtree_insert);
    ngx_queue_init(&sh->cache_lru);
}


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

    rc = (EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1
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
    ngx_uint_t                    hit;
    ngx_slab_pool_t              *shpool;
    ngx_http_audit_shctx_t       *sh;
    ngx_http_audit_cache_node_t  *cn;

    shpool = (ngx_slab_pool_t *) zone->shm.addr;
    sh = zone->data;

    ngx_shmtx_lock(&shpool->mutex);

    cn = ngx_http_audit_cache_find(sh, hash);

    hit = 0;

    if (cn && cn->exp > now) {
        ngx_queue_remove(&cn->queue);
        ngx_queue_insert_head(&sh->cache_lru, &cn->queue);
        sh->cache_hits++;
        hit = 1;

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
    ngx_slab_pool_t              *shpool;
    ngx_http_audit_shctx_t       *sh;
    ngx_http_audit_cache_node_t  *cn;

    if (exp <= now) {
        return;
    }

    shpool = (ngx_slab_pool_t *) zone->shm.addr;
    sh = zone->data;

    ngx_shmtx_lock(&shpool->mutex);

    if (ngx_http_audit_cache_find(sh, hash) != NULL) {
        ngx_shmtx_unlock(&shpool->mutex);
        return;
    }

    /* two expired entries go for every one that comes, as limit_req does */

    ngx_http_audit_cache_expire(sh, shpool, 0);

    cn = ngx_slab_alloc_locked(shpool, sizeof(ngx_http_audit_cache_node_t));

    if (cn == NULL) {
        ngx_http_audit_cache_expire(sh, shpool, 16);

        cn = ngx_slab_alloc_locked(shpool,
                                   sizeof(ngx_http_audit_cache_node_t));
        if (cn == NULL) {
            ngx_shmtx_unlock(&shpool->mutex);
            return;
        }
    }

    ngx_memcpy(cn->hash, hash, NGX_HTTP_AUDIT_CACHE_HASH);
    ngx_memcpy(&cn->node.key, hash, sizeof(ngx_rbtree_key_t));
    cn->exp = exp;

    ngx_rbtree_insert(&sh->cache, &cn->node);
    ngx_queue_insert_head(&sh->cache_lru, &cn->queue);
    sh->cache_entries++;

    ngx_shmtx_unlock(&shpool->mutex);
}


static ngx_http_audit_cache_node_t *
ngx_http_audit_cache_find(ngx_http_audit_shctx_t *sh, u_char *hash)
{
    ngx_int_t                     rc;
    ngx_rbtree_key_t              key;
    ngx_rbtree_node_t            *node, *sentinel;
    ngx_http_audit_cache_node_t  *cn;

    ngx_memcpy(&key, hash, sizeof(ngx_rbtree_key_t));

    node = sh->cache.root;
    sentinel = sh->cache.sentinel;

    while (node != sentinel) {

        if (key != node->key) {
            node = (key < node->key) ? node->left : node->right;
            continue;
        }

        cn = (ngx_http_audit_cache_node_t *) node;

        rc = ngx_memcmp(hash, cn->hash, NGX_HTTP_AUDIT_CACHE_HASH);

        if (rc == 0) {
            return cn;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}


/*
 * n == 0: drop up to two expired entries from the LRU tail;
 * n > 0: drop n entries from the tail, expired or not, to make room.
 */

static void
ngx_http_audit_cache_expire(ngx_http_audit_shctx_t *sh,
    ngx_slab_pool_t *shpool, ngx_uint_t n)
{
    time_t                        now;
    ngx_uint_t                    i, max;
    ngx_queue_t                  *q;
    ngx_http_audit_cache_node_t  *cn;

    now = ngx_time();
    max = n ? n : 2;

    for (i = 0; i < max; i++) {

        if (ngx_queue_empty(&sh->cache_lru)) {
            return;
        }

        q = ngx_queue_last(&sh->cache_lru);
        cn = ngx_queue_data(q, ngx_http_audit_cache_node_t, queue);

        if (n == 0 && cn->exp > now) {
            return;
        }

        ngx_http_audit_cache_delete(sh, shpool, cn);
    }
}


static void
ngx_http_audit_cache_delete(ngx_http_audit_shctx_t *sh,
    ngx_slab_pool_t *shpool, ngx_http_audit_cache_node_t *cn)
{
    ngx_queue_remove(&cn->queue);
    ngx_rbtree_delete(&sh->cache, &cn->node);
    ngx_slab_free_locked(shpool, cn);
    sh->cache_entries--;
}


static void
ngx_http_audit_cache_rbtree_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t            **p;
    ngx_http_audit_cache_node_t   *cn, *cnt;

    for ( ;; ) {

        if (node->key < temp->key) {
            p = &temp->left;

        } else if (node->key > temp->key) {
            p = &temp->right;

        } else {
            cn = (ngx_http_audit_cache_node_t *) node;
            cnt = (ngx_http_audit_cache_node_t *) temp;

            p = (ngx_memcmp(cn->hash, cnt->hash, NGX_HTTP_AUDIT_CACHE_HASH)
                 < 0)
                ? &temp->left : &temp->right;
        }

        if (*p == sentinel) {
            break;
        }

        temp = *p;
    }

    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    ngx_rbt_red(node);
}
