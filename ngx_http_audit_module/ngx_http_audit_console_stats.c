
/*
 * ngx_http_audit_module: the audit console's counters, read from its zone
 * (kept by sinks/ngx_http_audit_console_module.c):
 *
 *     api/stats    the last 24 hours: per hour per action, by severity,
 *                  top users, addresses, routes and records
 *     api/failed   failed logins per address and per account, 5 minutes
 *                  and an hour, brute force flagged
 *
 * Each copies what it needs under the zone's mutex, then writes JSON.
 */


#include "ngx_http_audit_console.h"


typedef struct {
    const char                  *key;
    uint32_t                     count;
} ngx_http_audit_console_rank_t;


static int ngx_libc_cdecl ngx_http_audit_console_rank_cmp(const void *one,
    const void *two);
static void ngx_http_audit_console_failed_list(
    ngx_http_audit_console_out_t *o, ngx_http_audit_console_failed_t *table,
    time_t now);


/* api/stats: the last 24 hours */

ngx_int_t
ngx_http_audit_console_stats(ngx_http_request_t *r,
    ngx_http_audit_console_shctx_t *sh, ngx_slab_pool_t *shpool)
{
    time_t                          now;
    uint32_t                        hour, h, sum, sev[3];
    ngx_uint_t                      b, i, t, a, k, n;
    ngx_http_audit_console_out_t    o;
    ngx_http_audit_console_top_t   *top;
    ngx_http_audit_console_rank_t   rank[NGX_HTTP_AUDIT_CONSOLE_TOP];

    struct {
        uint32_t                    hour[NGX_HTTP_AUDIT_CONSOLE_HOURS];
        uint32_t                    actions[NGX_HTTP_AUDIT_CONSOLE_HOURS]
                                           [AUDIT_ACTION_MAX];
        uint32_t                    severities[NGX_HTTP_AUDIT_CONSOLE_HOURS]
                                              [3];
    } c;

    static const char  *tables[] = { "users", "ips", "routes", "records" };

    top = ngx_palloc(r->pool, sizeof(sh->top));
    if (top == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_shmtx_lock(&shpool->mutex);
    ngx_memcpy(c.hour, sh->hour, sizeof(c.hour));
    ngx_memcpy(c.actions, sh->actions, sizeof(c.actions));
    ngx_memcpy(c.severities, sh->severities, sizeof(c.severities));
    ngx_memcpy(top, sh->top, sizeof(sh->top));
    ngx_shmtx_unlock(&shpool->mutex);

    now = ngx_time();
    hour = (uint32_t) (now / 3600);

    ngx_memzero(&o, sizeof(o));
    o.pool = r->pool;
    ngx_memzero(sev, sizeof(sev));

    ngx_http_audit_console_put(&o, "{\"now\":%T000,\"hours\":[", now);

    for (h = hour - NGX_HTTP_AUDIT_CONSOLE_HOURS + 1; h <= hour; h++) {
        b = h % NGX_HTTP_AUDIT_CONSOLE_HOURS;

        ngx_http_audit_console_put(&o, "%s{\"start\":%T000,\"actions\":{",
                                   h == hour - NGX_HTTP_AUDIT_CONSOLE_HOURS + 1
                                   ? "" : ",", (time_t) h * 3600);

        for (a = 0; a < AUDIT_ACTION_MAX; a++) {
            ngx_http_audit_console_put(&o, "%s\"%s\":%uD", a ? "," : "",
                                       audit_action_name(a),
                                       c.hour[b] == h ? c.actions[b][a] : 0);
        }

        ngx_http_audit_console_put(&o, "}}");

        if (c.hour[b] == h) {
            for (i = 0; i < 3; i++) {
                sev[i] += c.severities[b][i];
            }
        }
    }

    ngx_http_audit_console_put(&o, "],\"severity\":{\"info\":%uD,"
                               "\"warning\":%uD,\"critical\":%uD},"
                               "\"top\":{", sev[0], sev[1], sev[2]);

    for (t = 0; t < NGX_HTTP_AUDIT_CONSOLE_TOPS; t++) {
        n = 0;

        for (k = 0; k < NGX_HTTP_AUDIT_CONSOLE_TOP; k++) {
            ngx_http_audit_console_top_t  *e;

            e = &top[t * NGX_HTTP_AUDIT_CONSOLE_TOP + k];
            sum = 0;

            for (b = 0; e->len && b < NGX_HTTP_AUDIT_CONSOLE_HOURS; b++) {
                if (c.hour[b] + NGX_HTTP_AUDIT_CONSOLE_HOURS > hour) {
                    sum += e->hours[b];
                }
            }

            if (sum) {
                rank[n].key = (const char *) e;
                rank[n].count = sum;
                n++;
            }
        }

        ngx_qsort(rank, n, sizeof(ngx_http_audit_console_rank_t),
                  ngx_http_audit_console_rank_cmp);

        ngx_http_audit_console_put(&o, "%s\"%s\":[", t ? "," : "", tables[t]);

        for (k = 0; k < n && k < 10; k++) {
            ngx_http_audit_console_top_t  *e;

            e = (ngx_http_audit_console_top_t *) rank[k].key;

            ngx_http_audit_console_put(&o, "%s{\"key\":", k ? "," : "");
            ngx_http_audit_console_put_string(&o, e->key, e->len);
            ngx_http_audit_console_put(&o, ",\"count\":%uD}", rank[k].count);
        }

        ngx_http_audit_console_put(&o, "]");
    }

    ngx_http_audit_console_put(&o, "}}\n");

    r->headers_out.status = NGX_HTTP_OK;

    return ngx_http_audit_console_send(r, &o);
}


static int ngx_libc_cdecl
ngx_http_audit_console_rank_cmp(const void *one, const void *two)
{
    const ngx_http_audit_console_rank_t  *a = one, *b = two;

    return (a->count < b->count) - (a->count > b->count);
}


/* api/failed: per address and per account, 5 minutes and the hour */

ngx_int_t
ngx_http_audit_console_failed(ngx_http_request_t *r,
    ngx_http_audit_console_shctx_t *sh, ngx_slab_pool_t *shpool)
{
    time_t                            now;
    ngx_http_audit_console_out_t      o;
    ngx_http_audit_console_failed_t  *copy;

    copy = ngx_palloc(r->pool, sizeof(sh->failed_ip) + sizeof(sh->failed_user));
    if (copy == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_shmtx_lock(&shpool->mutex);
    ngx_memcpy(copy, sh->failed_ip, sizeof(sh->failed_ip));
    ngx_memcpy(copy + NGX_HTTP_AUDIT_CONSOLE_FAILED, sh->failed_user,
               sizeof(sh->failed_user));
    ngx_shmtx_unlock(&shpool->mutex);

    now = ngx_time();

    ngx_memzero(&o, sizeof(o));
    o.pool = r->pool;

    ngx_http_audit_console_put(&o, "{\"now\":%T000,\"threshold\":%d,"
                               "\"window\":300,\"ip\":[", now,
                               NGX_HTTP_AUDIT_CONSOLE_ALERT);
    ngx_http_audit_console_failed_list(&o, copy, now);
    ngx_http_audit_console_put(&o, "],\"attempted_user\":[");
    ngx_http_audit_console_failed_list(&o,
                                       copy + NGX_HTTP_AUDIT_CONSOLE_FAILED,
                                       now);
    ngx_http_audit_console_put(&o, "]}\n");

    r->headers_out.status = NGX_HTTP_OK;

    return ngx_http_audit_console_send(r, &o);
}


static void
ngx_http_audit_console_failed_list(ngx_http_audit_console_out_t *o,
    ngx_http_audit_console_failed_t *table, time_t now)
{
    uint32_t                          minute, five, hour;
    ngx_uint_t                        i, m, n, k, j;
    ngx_http_audit_console_rank_t     rank[NGX_HTTP_AUDIT_CONSOLE_FAILED];
    ngx_http_audit_console_failed_t  *f;

    minute = (uint32_t) (now / 60);
    n = 0;

    for (i = 0; i < NGX_HTTP_AUDIT_CONSOLE_FAILED; i++) {
        f = &table[i];
        hour = 0;
        five = 0;

        for (m = 0; f->len && m < NGX_HTTP_AUDIT_CONSOLE_MINUTES; m++) {
            if (f->minute[m] + NGX_HTTP_AUDIT_CONSOLE_MINUTES > minute) {
                hour += f->count[m];

                if (f->minute[m] + 5 > minute) {
                    five += f->count[m];
                }
            }
        }

        /* the count of the hour, the 5 minutes' kept beside it */
        f->minute[0] = five;
        f->count[0] = hour;

        if (hour || (f->detected && f->detected + 3600 > now)) {
            rank[n].key = (const char *) f;
            rank[n].count = five * 100000 + hour;
            n++;
        }
    }

    ngx_qsort(rank, n, sizeof(ngx_http_audit_console_rank_t),
              ngx_http_audit_console_rank_cmp);

    for (k = 0; k < n && k < 50; k++) {
        f = (ngx_http_audit_console_failed_t *) rank[k].key;
        j = f->minute[0];

        ngx_http_audit_console_put(o, "%s{\"key\":", k ? "," : "");
        ngx_http_audit_console_put_string(o, f->key, f->len);
        ngx_http_audit_console_put(o, ",\"last_5m\":%ui,\"last_hour\":%uD,"
                                   "\"last\":%T000,\"alert\":%s,"
                                   "\"detected\":%s}", j, f->count[0],
                                   f->last,
                                   j >= NGX_HTTP_AUDIT_CONSOLE_ALERT
                                   ? "true" : "false",
                                   f->detected && f->detected + 3600 > now
                                   ? "true" : "false");
    }
}
