
/*
 * ngx_http_audit_module: the failed-login detector.
 *
 * "audit_bruteforce 5/5m": failed logins are counted per client address
 * and per account tried, in the audit_zone shared memory so that every
 * worker sees the same counts.  A window opens at a key's first failure
 * and lasts the configured time; the failure that reaches the threshold
 * emits one bruteforce_suspected event for that key and window, however
 * many failures follow.  $audit_bruteforce is "1" while the client's
 * address is over the threshold, so a configuration can answer 429.
 */


#include "ngx_http_audit_module.h"


#define NGX_HTTP_AUDIT_BF_KEY_MAX  300


typedef struct {
    ngx_rbtree_node_t            node;        /* node.key: ngx_crc32_short */
    ngx_queue_t                  queue;       /* LRU */
    time_t                       start;       /* window opened */
    ngx_uint_t                   count;
    ngx_uint_t                   alerted;
    u_short                      len;
    u_char                       key[1];
} ngx_http_audit_bf_node_t;


static ngx_uint_t ngx_http_audit_bruteforce_count(ngx_shm_zone_t *zone,
    ngx_str_t *key, time_t window, ngx_uint_t threshold, ngx_uint_t add);
static ngx_http_audit_bf_node_t *ngx_http_audit_bruteforce_lookup(
    ngx_http_audit_shctx_t *sh, ngx_str_t *key, uint32_t hash);
static void ngx_http_audit_bruteforce_expire(ngx_http_audit_shctx_t *sh,
    ngx_slab_pool_t *shpool, time_t window, ngx_uint_t force);
static void ngx_http_audit_bruteforce_emit(ngx_http_request_t *r,
    ngx_http_audit_loc_conf_t *alcf, ngx_uint_t count, ngx_uint_t by_user,
    ngx_http_audit_ctx_t *ctx);
static ngx_int_t ngx_http_audit_bruteforce_key(ngx_http_request_t *r,
    const char *kind, ngx_str_t *value, ngx_str_t *key);
static void ngx_http_audit_bruteforce_rbtree_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);


void
ngx_http_audit_bruteforce_init(ngx_http_audit_shctx_t *sh)
{
    ngx_rbtree_init(&sh->bf, &sh->bf_sentinel,
                    ngx_http_audit_bruteforce_rbtree_insert);
    ngx_queue_init(&sh->bf_lru);
}


char *
ngx_http_audit_bruteforce_conf(ngx_conf_t *cf,
    ngx_http_audit_loc_conf_t *alcf)
{
    u_char     *slash;
    ngx_str_t  *value, n, w;
    ngx_int_t   threshold;
    time_t      window;

    value = cf->args->elts;

    if (alcf->bf_threshold != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    if (ngx_strcmp(value[1].data, "off") == 0) {
        alcf->bf_threshold = 0;
        return NGX_CONF_OK;
    }

    slash = (u_char *) ngx_strchr(value[1].data, '/');
    if (slash == NULL) {
        goto invalid;
    }

    n.data = value[1].data;
    n.len = slash - value[1].data;
    w.data = slash + 1;
    w.len = value[1].data + value[1].len - w.data;

    threshold = ngx_atoi(n.data, n.len);
    window = ngx_parse_time(&w, 1);

    if (threshold < 1 || threshold > 1000000
        || window == (time_t) NGX_ERROR || window < 1)
    {
        goto invalid;
    }

    alcf->bf_threshold = threshold;
    alcf->bf_window = window;

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid value \"%V\" in \"audit_bruteforce\", "
                       "expected COUNT/TIME, e.g. 5/5m, or \"off\"",
                       &value[1]);
    return NGX_CONF_ERROR;
}


/* a failed login: count it against the address and the account tried */

void
ngx_http_audit_bruteforce_failure(ngx_http_request_t *r,
    ngx_http_audit_ctx_t *ctx)
{
    ngx_str_t                    key;
    ngx_uint_t                   count;
    ngx_http_audit_loc_conf_t   *alcf;
    ngx_http_audit_main_conf_t  *amcf;

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_audit_module);
    amcf = ngx_http_get_module_main_conf(r, ngx_http_audit_module);

    if (alcf->bf_threshold == 0 || amcf->shm_zone == NULL) {
        return;
    }

    if (ngx_http_audit_bruteforce_key(r, "ip", &r->connection->addr_text,
                                      &key)
        == NGX_OK)
    {
        count = ngx_http_audit_bruteforce_count(amcf->shm_zone, &key,
                                                alcf->bf_window,
                                                alcf->bf_threshold, 1);
        if (count) {
            ngx_http_audit_bruteforce_emit(r, alcf, count, 0, ctx);
        }
    }

    if (ctx->attempted_user.len
        && ngx_http_audit_bruteforce_key(r, "user", &ctx->attempted_user,
                                         &key)
           == NGX_OK)
    {
        count = ngx_http_audit_bruteforce_count(amcf->shm_zone, &key,
                                                alcf->bf_window,
                                                alcf->bf_threshold, 1);
        if (count) {
            ngx_http_audit_bruteforce_emit(r, alcf, count, 1, ctx);
        }
    }
}


/* $audit_bruteforce: "1" while this client's address is over the limit */

ngx_int_t
ngx_http_audit_bruteforce_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t                    key;
    ngx_uint_t                   over;
    ngx_http_audit_loc_conf_t   *alcf;
    ngx_http_audit_main_conf_t  *amcf;

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_audit_module);
    amcf = ngx_http_get_module_main_conf(r, ngx_http_audit_module);

    over = 0;

    if (alcf->bf_threshold && amcf->shm_zone
        && ngx_http_audit_bruteforce_key(r, "ip", &r->connection->addr_text,
                                         &key)
           == NGX_OK)
    {
        over = ngx_http_audit_bruteforce_count(amcf->shm_zone, &key,
                                               alcf->bf_window,
                                               alcf->bf_threshold, 0);
    }

    v->len = 1;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;
    v->data = (u_char *) (over ? "1" : "0");

    return NGX_OK;
}


/*
 * add = 1: counts a failure, returns the count when this failure is the
 * one that reached the threshold in this window, else 0;
 * add = 0: returns 1 when the key is at or over the threshold, else 0.
 */

static ngx_uint_t
ngx_http_audit_bruteforce_count(ngx_shm_zone_t *zone, ngx_str_t *key,
    time_t window, ngx_uint_t threshold, ngx_uint_t add)
{
    size_t                     size;
    time_t                     now;
    uint32_t                   hash;
    ngx_uint_t                 result;
    ngx_slab_pool_t           *shpool;
    ngx_http_audit_shctx_t    *sh;
    ngx_http_audit_bf_node_t  *bn;

    shpool = (ngx_slab_pool_t *) zone->shm.addr;
    sh = zone->data;
    now = ngx_time();
    hash = ngx_crc32_short(key->data, key->len);

    ngx_shmtx_lock(&shpool->mutex);

    bn = ngx_http_audit_bruteforce_lookup(sh, key, hash);

    if (bn && now - bn->start >= window) {
        /* the window has passed: start afresh */
        bn->start = now;
        bn->count = 0;
        bn->alerted = 0;
    }

    if (!add) {
        result = (bn && bn->count >= threshold);
        ngx_shmtx_unlock(&shpool->mutex);
        return result;
    }

    if (bn == NULL) {
        ngx_http_audit_bruteforce_expire(sh, shpool, window, 0);

        size = offsetof(ngx_http_audit_bf_node_t, key) + key->len;

        bn = ngx_slab_alloc_locked(shpool, size);
        if (bn == NULL) {
            ngx_http_audit_bruteforce_expire(sh, shpool, window, 1);
            bn = ngx_slab_alloc_locked(shpool, size);
        }

        if (bn == NULL) {
            ngx_shmtx_unlock(&shpool->mutex);
            return 0;
        }

        bn->node.key = hash;
        bn->start = now;
        bn->count = 0;
        bn->alerted = 0;
        bn->len = (u_short) key->len;
        ngx_memcpy(bn->key, key->data, key->len);

        ngx_rbtree_insert(&sh->bf, &bn->node);

    } else {
        ngx_queue_remove(&bn->queue);
    }

    ngx_queue_insert_head(&sh->bf_lru, &bn->queue);

    bn->count++;

    result = 0;

    if (bn->count >= threshold && !bn->alerted) {
        bn->alerted = 1;
        result = bn->count;
    }

    ngx_shmtx_unlock(&shpool->mutex);

    return result;
}


static ngx_http_audit_bf_node_t *
ngx_http_audit_bruteforce_lookup(ngx_http_audit_shctx_t *sh, ngx_str_t *key,
    uint32_t hash)
{
    ngx_int_t                  rc;
    ngx_rbtree_node_t         *node, *sentinel;
    ngx_http_audit_bf_node_t  *bn;

    node = sh->bf.root;
    sentinel = sh->bf.sentinel;

    while (node != sentinel) {

        if (hash != node->key) {
            node = (hash < node->key) ? node->left : node->right;
            continue;
        }

        bn = (ngx_http_audit_bf_node_t *) node;

        rc = ngx_memn2cmp(key->data, bn->key, key->len, bn->len);

        if (rc == 0) {
            return bn;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}


/*
 * force = 0: drops up to two entries whose window has passed;
 * force = 1: also drops the least recently used one, to make room.
 */

static void
ngx_http_audit_bruteforce_expire(ngx_http_audit_shctx_t *sh,
    ngx_slab_pool_t *shpool, time_t window, ngx_uint_t force)
{
    time_t                     now;
    ngx_uint_t                 i;
    ngx_queue_t               *q;
    ngx_http_audit_bf_node_t  *bn;

    now = ngx_time();

    for (i = 0; i < 3; i++) {

        if (ngx_queue_empty(&sh->bf_lru)) {
            return;
        }

        q = ngx_queue_last(&sh->bf_lru);
        bn = ngx_queue_data(q, ngx_http_audit_bf_node_t, queue);

        if (now - bn->start < window && !(force && i == 0)) {
            return;
        }

        ngx_queue_remove(q);
        ngx_rbtree_delete(&sh->bf, &bn->node);
        ngx_slab_free_locked(shpool, bn);
    }
}


static void
ngx_http_audit_bruteforce_emit(ngx_http_request_t *r,
    ngx_http_audit_loc_conf_t *alcf, ngx_uint_t count, ngx_uint_t by_user,
    ngx_http_audit_ctx_t *ctx)
{
    audit_event_t  ev;

    ngx_memzero(&ev, sizeof(audit_event_t));

    ev.action = AUDIT_BRUTEFORCE_SUSPECTED;
    ev.count = count;
    ev.window = alcf->bf_window;

    /* the event is about the account when it is keyed by the account */

    if (by_user) {
        ev.attempted_user.data = (const char *) ctx->attempted_user.data;
        ev.attempted_user.len = ctx->attempted_user.len;
        ev.reason.data = "attempted_user";
        ev.reason.len = sizeof("attempted_user") - 1;

    } else {
        ev.reason.data = "ip";
        ev.reason.len = sizeof("ip") - 1;
    }

    ngx_http_audit_event_emit(r, &ev);
}


static ngx_int_t
ngx_http_audit_bruteforce_key(ngx_http_request_t *r, const char *kind,
    ngx_str_t *value, ngx_str_t *key)
{
    size_t  len;

    len = ngx_strlen(kind) + 1 + value->len;

    if (value->len == 0 || len > NGX_HTTP_AUDIT_BF_KEY_MAX) {
        return NGX_DECLINED;
    }

    key->data = ngx_pnalloc(r->pool, len);
    if (key->data == NULL) {
        return NGX_ERROR;
    }

    key->len = ngx_sprintf(key->data, "%s:%V", kind, value) - key->data;

    return NGX_OK;
}


static void
ngx_http_audit_bruteforce_rbtree_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t         **p;
    ngx_http_audit_bf_node_t   *bn, *bnt;

    for ( ;; ) {

        if (node->key < temp->key) {
            p = &temp->left;

        } else if (node->key > temp->key) {
            p = &temp->right;

        } else {
            bn = (ngx_http_audit_bf_node_t *) node;
            bnt = (ngx_http_audit_bf_node_t *) temp;

            p = (ngx_memn2cmp(bn->key, bnt->key, bn->len, bnt->len) < 0)
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
