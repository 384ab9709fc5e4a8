
/*
 * ngx_http_audit_module: the audit_zone shared memory.
 *
 * One zone per nginx, shared by all workers and kept across reloads: the
 * verified-token cache (ngx_http_audit_cache.c) and two string-keyed maps
 * built on the helpers below, the failed-login counters
 * (ngx_http_audit_bruteforce.c) and the sessions ended by an observed
 * logout (ngx_http_audit_session.c).  Callers hold the slab mutex around
 * every use of the maps.
 */


#include "ngx_http_audit_module.h"


static ngx_int_t ngx_http_audit_zone_layout(ngx_shm_zone_t *shm_zone,
    ngx_http_audit_shctx_t *sh);
static void ngx_http_audit_keyed_insert_value(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);


/*
 * The zone survives a reload as it is (the old data is reused), so cached
 * verdicts, counters and revocations carry over to the new workers, as
 * long as it has this module's layout: a zone made by another build is
 * refused, as limit_req refuses a zone of another key.
 */

ngx_int_t
ngx_http_audit_zone_init(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_slab_pool_t         *shpool;
    ngx_http_audit_shctx_t  *sh;

    if (data) {
        if (ngx_http_audit_zone_layout(shm_zone, data) != NGX_OK) {
            return NGX_ERROR;
        }

        shm_zone->data = data;
        return NGX_OK;
    }

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        if (ngx_http_audit_zone_layout(shm_zone, shpool->data) != NGX_OK) {
            return NGX_ERROR;
        }

        shm_zone->data = shpool->data;
        return NGX_OK;
    }

    sh = ngx_slab_alloc(shpool, sizeof(ngx_http_audit_shctx_t));
    if (sh == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(sh, sizeof(ngx_http_audit_shctx_t));

    sh->magic = NGX_HTTP_AUDIT_ZONE_MAGIC;
    sh->version = NGX_HTTP_AUDIT_ZONE_VERSION;
    sh->size = sizeof(ngx_http_audit_shctx_t);

    ngx_http_audit_keyed_init(&sh->cache);
    ngx_http_audit_keyed_init(&sh->bf);
    ngx_http_audit_keyed_init(&sh->revoked);

    shpool->data = sh;
    shm_zone->data = sh;

    shpool->log_ctx = ngx_slab_alloc(shpool,
                                     sizeof(" in audit_zone \"\"")
                                     + shm_zone->shm.name.len);
    if (shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(shpool->log_ctx, " in audit_zone \"%V\"%Z",
                &shm_zone->shm.name);

    /* a full zone evicts entries: no "ngx_slab_alloc() failed" */
    shpool->log_nomem = 0;

    return NGX_OK;
}


static ngx_int_t
ngx_http_audit_zone_layout(ngx_shm_zone_t *shm_zone,
    ngx_http_audit_shctx_t *sh)
{
    if (sh != NULL
        && sh->magic == NGX_HTTP_AUDIT_ZONE_MAGIC
        && sh->version == NGX_HTTP_AUDIT_ZONE_VERSION
        && sh->size == sizeof(ngx_http_audit_shctx_t))
    {
        return NGX_OK;
    }

    ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                  "audit_zone \"%V\" was made by another build of the "
                  "audit module (another layout); it cannot be kept across "
                  "a reload: restart nginx, or give the zone a new name",
                  &shm_zone->shm.name);

    return NGX_ERROR;
}


void
ngx_http_audit_zone_workers(ngx_http_audit_shctx_t *sh,
    ngx_http_audit_workers_t *ws)
{
    ngx_uint_t                      i;
    ngx_http_audit_worker_stats_t  *w, *sum;

    ngx_memzero(ws, sizeof(ngx_http_audit_workers_t));
    sum = &ws->sum;

    for (i = 0; sh && i < NGX_HTTP_AUDIT_MAX_WORKERS; i++) {
        w = &sh->workers[i];

        if (w->pid == 0 || (kill(w->pid, 0) != 0 && ngx_errno != NGX_EPERM))
        {
            continue;
        }

        ws->alive++;

        if (w->pg_state >= NGX_HTTP_AUDIT_WORKER_PG_UP) {
            ws->pg_up++;
        }

        sum->queue_bytes += w->queue_bytes;
        sum->spool_bytes += w->spool_bytes;
        sum->sentry_queue += w->sentry_queue;
        sum->sentry_breaker += w->sentry_breaker ? 1 : 0;
        sum->tcache_hits += w->tcache_hits;
        sum->tcache_misses += w->tcache_misses;
        sum->keys_failing += w->keys_failing ? 1 : 0;

        if (w->keys_loaded
            && (sum->keys_loaded == 0 || w->keys_loaded < sum->keys_loaded))
        {
            sum->keys_loaded = w->keys_loaded;
        }

        if (w->keys_stale
            && (sum->keys_stale == 0 || w->keys_stale < sum->keys_stale))
        {
            sum->keys_stale = w->keys_stale;
        }

        if (w->keys_failed_at > sum->keys_failed_at) {
            sum->keys_failed_at = w->keys_failed_at;
        }
    }
}


void
ngx_http_audit_keyed_init(ngx_http_audit_keyed_t *map)
{
    ngx_rbtree_init(&map->rbtree, &map->sentinel,
                    ngx_http_audit_keyed_insert_value);
    ngx_queue_init(&map->lru);
}


ngx_http_audit_keyed_node_t *
ngx_http_audit_keyed_find(ngx_http_audit_keyed_t *map, ngx_str_t *key)
{
    uint32_t                      hash;
    ngx_int_t                     rc;
    ngx_rbtree_node_t            *node, *sentinel;
    ngx_http_audit_keyed_node_t  *kn;

    hash = ngx_crc32_short(key->data, key->len);

    node = map->rbtree.root;
    sentinel = map->rbtree.sentinel;

    while (node != sentinel) {

        if (hash != node->key) {
            node = (hash < node->key) ? node->left : node->right;
            continue;
        }

        kn = (ngx_http_audit_keyed_node_t *) node;

        rc = ngx_memn2cmp(key->data, kn->key, key->len, kn->len);

        if (rc == 0) {
            return kn;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}


/*
 * Adds a zeroed entry for key, most recently used.  When the zone is full
 * the least recently used entries of the maps in room (NULL-terminated, in
 * that order) make room: a map lists itself when its own entries may go
 * (a cache, counters), and a map whose entries must stay (revocations)
 * lists only the others.  NULL when that does not help.
 */

#define NGX_HTTP_AUDIT_KEYED_EVICT_MAX  64

ngx_http_audit_keyed_node_t *
ngx_http_audit_keyed_add(ngx_http_audit_keyed_t *map, ngx_slab_pool_t *shpool,
    ngx_str_t *key, ngx_http_audit_keyed_t **room)
{
    size_t                        size;
    ngx_uint_t                    i, n;
    ngx_http_audit_keyed_node_t  *kn;

    if (key->len > 0xffff) {
        return NULL;
    }

    size = offsetof(ngx_http_audit_keyed_node_t, key) + key->len;

    kn = ngx_slab_alloc_locked(shpool, size);

    /* a freed entry of another size may not fit: a few more, bounded */

    for (i = 0, n = 0;
         kn == NULL && room[i] && n < NGX_HTTP_AUDIT_KEYED_EVICT_MAX;
         n++)
    {
        if (ngx_queue_empty(&room[i]->lru)) {
            i++;
            continue;
        }

        ngx_http_audit_keyed_delete(room[i], shpool,
            ngx_queue_data(ngx_queue_last(&room[i]->lru),
                           ngx_http_audit_keyed_node_t, queue));

        kn = ngx_slab_alloc_locked(shpool, size);
    }

    if (kn == NULL) {
        return NULL;
    }

    ngx_memzero(kn, offsetof(ngx_http_audit_keyed_node_t, key));

    kn->node.key = ngx_crc32_short(key->data, key->len);
    kn->len = (u_short) key->len;
    ngx_memcpy(kn->key, key->data, key->len);

    ngx_rbtree_insert(&map->rbtree, &kn->node);
    ngx_queue_insert_head(&map->lru, &kn->queue);
    map->n++;

    return kn;
}


void
ngx_http_audit_keyed_touch(ngx_http_audit_keyed_t *map,
    ngx_http_audit_keyed_node_t *kn)
{
    ngx_queue_remove(&kn->queue);
    ngx_queue_insert_head(&map->lru, &kn->queue);
}


/* drops up to two least recently used entries whose time has passed */

void
ngx_http_audit_keyed_expire(ngx_http_audit_keyed_t *map,
    ngx_slab_pool_t *shpool, time_t now)
{
    ngx_uint_t                    i;
    ngx_http_audit_keyed_node_t  *kn;

    for (i = 0; i < 2 && !ngx_queue_empty(&map->lru); i++) {

        kn = ngx_queue_data(ngx_queue_last(&map->lru),
                            ngx_http_audit_keyed_node_t, queue);

        if (kn->expires > now) {
            return;
        }

        ngx_http_audit_keyed_delete(map, shpool, kn);
    }
}


void
ngx_http_audit_keyed_delete(ngx_http_audit_keyed_t *map,
    ngx_slab_pool_t *shpool, ngx_http_audit_keyed_node_t *kn)
{
    ngx_queue_remove(&kn->queue);
    ngx_rbtree_delete(&map->rbtree, &kn->node);
    ngx_slab_free_locked(shpool, kn);
    map->n--;
}


static void
ngx_http_audit_keyed_insert_value(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t            **p;
    ngx_http_audit_keyed_node_t   *kn, *knt;

    for ( ;; ) {

        if (node->key < temp->key) {
            p = &temp->left;

        } else if (node->key > temp->key) {
            p = &temp->right;

        } else {
            kn = (ngx_http_audit_keyed_node_t *) node;
            knt = (ngx_http_audit_keyed_node_t *) temp;

            p = (ngx_memn2cmp(kn->key, knt->key, kn->len, knt->len) < 0)
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
