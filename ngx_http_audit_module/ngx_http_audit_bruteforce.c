
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


static ngx_uint_t ngx_http_audit_bruteforce_add(ngx_http_request_t *r,
    ngx_http_audit_loc_conf_t *alcf, ngx_shm_zone_t *zone, ngx_str_t *value,
    ngx_uint_t by_user);
static ngx_uint_t ngx_http_audit_bruteforce_count(ngx_shm_zone_t *zone,
    ngx_str_t *key, time_t window, ngx_uint_t threshold, ngx_uint_t add);
static ngx_int_t ngx_http_audit_bruteforce_key(ngx_http_request_t *r,
    const char *kind, ngx_str_t *value, ngx_str_t *key);


char *
ngx_http_audit_bruteforce_conf(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_audit_loc_conf_t *alcf = conf;

    u_char     *slash;
    ngx_str_t  *value, n, w;
    ngx_int_t   threshold;
    time_t      window;

    value = cf->args->elts;

    if (alcf->bf_threshold != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    ngx_http_audit_conf_line(cf, &alcf->bf_at);

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
    ngx_http_audit_ctx_t *ctx, ngx_http_audit_bf_verdict_t *v)
{
    ngx_http_audit_loc_conf_t   *alcf;
    ngx_http_audit_main_conf_t  *amcf;

    ngx_memzero(v, sizeof(ngx_http_audit_bf_verdict_t));

    /* the login location's limit, whichever location answered it */

    alcf = ctx->alcf ? ctx->alcf
                     : ngx_http_get_module_loc_conf(r, ngx_http_audit_module);
    amcf = ngx_http_get_module_main_conf(r, ngx_http_audit_module);

    if (alcf->bf_threshold == 0 || amcf->shm_zone == NULL) {
        return;
    }

    v->window = alcf->bf_window;
    v->ip = ngx_http_audit_bruteforce_add(r, alcf, amcf->shm_zone,
                                          &r->connection->addr_text, 0);

    if (ctx->attempted_user.len) {
        v->user = ngx_http_audit_bruteforce_add(r, alcf, amcf->shm_zone,
                                                &ctx->attempted_user, 1);
    }

    /* a body that named two accounts: a failure against each */

    if (ctx->attempted_first.len) {
        v->first = ngx_http_audit_bruteforce_add(r, alcf, amcf->shm_zone,
                                                 &ctx->attempted_first, 1);
    }
}


/* one failure against one key: the count when it reaches the threshold */

static ngx_uint_t
ngx_http_audit_bruteforce_add(ngx_http_request_t *r,
    ngx_http_audit_loc_conf_t *alcf, ngx_shm_zone_t *zone, ngx_str_t *value,
    ngx_uint_t by_user)
{
    ngx_str_t  key;

    if (ngx_http_audit_bruteforce_key(r, by_user ? "user" : "ip", value, &key)
        != NGX_OK)
    {
        return 0;
    }

    return ngx_http_audit_bruteforce_count(zone, &key, alcf->bf_window,
                                           alcf->bf_threshold, 1);
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
    time_t                        now;
    ngx_uint_t                    result;
    ngx_slab_pool_t              *shpool;
    ngx_http_audit_shctx_t       *sh;
    ngx_http_audit_keyed_t       *room[2];
    ngx_http_audit_keyed_node_t  *kn;

    shpool = (ngx_slab_pool_t *) zone->shm.addr;
    sh = zone->data;
    now = ngx_time();

    ngx_shmtx_lock(&shpool->mutex);

    kn = ngx_http_audit_keyed_find(&sh->bf, key);

    if (kn && now >= kn->expires) {
        /* the window has passed: start afresh */
        kn->start = now;
        kn->expires = now + window;
        kn->count = 0;
        kn->flag = 0;
    }

    if (!add) {
        result = (kn && kn->count >= threshold);
        ngx_shmtx_unlock(&shpool->mutex);
        return result;
    }

    if (kn == NULL) {
        ngx_http_audit_keyed_expire(&sh->bf, shpool, now);

        room[0] = &sh->bf;
        room[1] = NULL;

        kn = ngx_http_audit_keyed_add(&sh->bf, shpool, key, room);
        if (kn == NULL) {
            ngx_shmtx_unlock(&shpool->mutex);
            return 0;
        }

        kn->start = now;
        kn->expires = now + window;

    } else {
        ngx_http_audit_keyed_touch(&sh->bf, kn);
    }

    kn->count++;

    /* "flag": this key's window has had its alert */

    result = 0;

    if (kn->count >= threshold && !kn->flag) {
        kn->flag = 1;
        result = kn->count;
    }

    ngx_shmtx_unlock(&shpool->mutex);

    return result;
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
