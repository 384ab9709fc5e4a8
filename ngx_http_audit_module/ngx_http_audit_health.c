
/*
 * ngx_http_audit_module: "audit_health;", a verdict an uptime monitor or
 * a Kubernetes probe understands.
 *
 *     {"status":"healthy"|"degraded"|"unhealthy","checks":{...}}
 *
 * with 200, 200 and 503.  Each check says its own status, what it saw
 * and the threshold it was judged by (audit_health's parameters,
 * docs/alerts.md): PostgreSQL (workers connected, rows behind, spool),
 * the session keys (the last read failed, the age of those in use),
 * the error tracker and the alert routes (breakers, drops), events lost,
 * the upstream error rate over the last hour, recent activity.  Read
 * from the shared zones only: nothing is waited for.  And the alert
 * routes' section of audit_status, for the same readers.
 */


#include "ngx_http_audit_alert.h"
#include "ngx_http_audit_pg.h"


#define NGX_HTTP_AUDIT_HEALTH_SIZE  8192


enum {
    NGX_HTTP_AUDIT_HEALTHY = 0,
    NGX_HTTP_AUDIT_DEGRADED,
    NGX_HTTP_AUDIT_UNHEALTHY
};


static const char  *ngx_http_audit_health_names[] = {
    "healthy", "degraded", "unhealthy"
};


#define ngx_http_audit_health_name(s)  ngx_http_audit_health_names[s]

/* a loss at "at" (unix s, 0: none) keeps its check degraded for an hour */
#define ngx_http_audit_health_recent(at, now)                                \
    (((at) && (now) - (at) < 3600) ? NGX_HTTP_AUDIT_DEGRADED                 \
                                   : NGX_HTTP_AUDIT_HEALTHY)


ngx_int_t
ngx_http_audit_health_handler(ngx_http_request_t *r)
{
    u_char                             *p, *last, *checks;
    time_t                              now, age, sage, fage;
    ngx_int_t                           rc;
    ngx_buf_t                          *b;
    ngx_uint_t                          worst, st, i, w, alive, up, breaker;
    ngx_uint_t                          sentry, rbreaker, pg;
    ngx_chain_t                         out;
    ngx_atomic_uint_t                   queue, spool, a5, ab;
    ngx_http_audit_shctx_t             *sh;
    ngx_http_audit_alert_sh_t          *ash;
    ngx_http_audit_main_conf_t         *amcf;
    ngx_http_audit_alert_route_t       *rt;
    ngx_http_audit_pg_main_conf_t      *pmcf;
    ngx_http_audit_alert_loc_conf_t    *lcf;
    ngx_http_audit_workers_t            hw;
    ngx_http_audit_alert_counters_t    *c;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    /*
     * Not as a subrequest: nginx skips the access phase for those, so an
     * "allow"/"deny" or a role meant for the monitors never ran for it.
     */

    if (r != r->main) {
        return NGX_HTTP_FORBIDDEN;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_audit_alert_module);
    amcf = ngx_http_get_module_main_conf(r, ngx_http_audit_module);
    pmcf = ngx_http_get_module_main_conf(r, ngx_http_audit_pg_module);
    sh = amcf->shm_zone ? amcf->shm_zone->data : NULL;
    ash = ngx_http_audit_alert_shared();
    pg = (pmcf && pmcf->pg && sh);

    b = ngx_create_temp_buf(r->pool, NGX_HTTP_AUDIT_HEALTH_SIZE);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    now = ngx_time();
    worst = NGX_HTTP_AUDIT_HEALTHY;

    /* the checks first, the verdict they give before them */
    checks = ngx_pnalloc(r->pool, NGX_HTTP_AUDIT_HEALTH_SIZE);
    if (checks == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = checks;
    last = checks + NGX_HTTP_AUDIT_HEALTH_SIZE - 64;

    /* the workers' gauges in the audit zone */

    ngx_http_audit_zone_workers(sh, &hw);

    alive = hw.alive;
    up = hw.pg_up;
    queue = hw.sum.queue_bytes;
    spool = hw.sum.spool_bytes;
    sentry = hw.sum.sentry_breaker;

    p = ngx_slprintf(p, last, "\"postgresql\":{");

    if (pg) {
        st = ((off_t) spool > lcf->health.spool) ? NGX_HTTP_AUDIT_UNHEALTHY
             : (up < alive || spool) ? NGX_HTTP_AUDIT_DEGRADED
             : NGX_HTTP_AUDIT_HEALTHY;
        worst = ngx_max(worst, st);

        p = ngx_slprintf(p, last,
                         "\"status\":\"%s\",\"connected_workers\":%ui,"
                         "\"workers\":%ui,\"queue_bytes\":%uA,"
                         "\"spool_bytes\":%uA,\"threshold\":"
                         "{\"degraded\":\"a worker not connected or "
                         "spool_bytes > 0\",\"unhealthy\":"
                         "\"spool_bytes > %O\"}}",
                         ngx_http_audit_health_name(st), up, alive, queue,
                         spool, lcf->health.spool);

    } else {
        p = ngx_slprintf(p, last, "\"status\":\"healthy\","
                         "\"configured\":false}");
    }

    /* the error tracker: a breaker open in some worker */

    st = sentry ? NGX_HTTP_AUDIT_DEGRADED : NGX_HTTP_AUDIT_HEALTHY;
    worst = ngx_max(worst, st);

    p = ngx_slprintf(p, last,
                     ",\"tracker\":{\"status\":\"%s\","
                     "\"breaker_open_workers\":%ui,\"dropped\":%uA,"
                     "\"threshold\":{\"degraded\":\"a breaker open\"}}",
                     ngx_http_audit_health_name(st), sentry,
                     sh ? sh->sentry_dropped : 0);

    /* the alert routes */

    rt = ngx_http_audit_alert_routes(&i);
    rbreaker = 0;

    p = ngx_slprintf(p, last, ",\"alerts\":{\"routes\":{");

    for (w = 0; ash && w < i; w++) {
        c = &ash->routes[rt[w].index];
        breaker = 0;

        for (up = 0; up < NGX_HTTP_AUDIT_MAX_WORKERS; up++) {
            breaker += c->breaker[up];
        }

        rbreaker += breaker;

        p = ngx_slprintf(p, last,
                         "%s\"%s\":{\"breaker_open_workers\":%ui,"
                         "\"sent\":%uA,\"failed\":%uA,\"dropped\":%uA}",
                         w ? "," : "", rt[w].name, breaker, c->sent,
                         c->failed, c->dropped);
    }

    st = rbreaker ? NGX_HTTP_AUDIT_DEGRADED : NGX_HTTP_AUDIT_HEALTHY;
    worst = ngx_max(worst, st);

    p = ngx_slprintf(p, last, "},\"status\":\"%s\",\"threshold\":"
                     "{\"degraded\":\"a route's breaker open\"}}",
                     ngx_http_audit_health_name(st));

    /* events lost with a worker that died: degraded for an hour */

    st = ngx_http_audit_health_recent(ash ? (time_t) ash->lost_at : 0, now);
    worst = ngx_max(worst, st);

    p = ngx_slprintf(p, last,
                     ",\"events_lost\":{\"status\":\"%s\",\"lost\":%uA,"
                     "\"threshold\":{\"degraded\":\"events lost in the "
                     "last 3600 s\"}}",
                     ngx_http_audit_health_name(st),
                     sh ? sh->events_lost : 0);

    /* a logout that revoked nothing (audit_zone full): degraded for an hour */

    st = ngx_http_audit_health_recent(
             sh ? (time_t) sh->revocation_lost_at : 0, now);
    worst = ngx_max(worst, st);

    p = ngx_slprintf(p, last,
                     ",\"revocations\":{\"status\":\"%s\",\"revoked\":%uA,"
                     "\"lost\":%uA,\"threshold\":{\"degraded\":\"a logout "
                     "not revoked in the last 3600 s\"}}",
                     ngx_http_audit_health_name(st),
                     sh ? sh->revoked.n : (ngx_atomic_uint_t) 0,
                     sh ? sh->revocations_lost : 0);

    /*
     * the session keys: a worker whose last read of a key file failed
     * keeps the keys it read before; degraded once those are keys= old
     * (the workers' gauges: the oldest read of a set in use, and of a
     * set kept because its last read failed)
     */

    age = hw.sum.keys_loaded ? now - (time_t) hw.sum.keys_loaded : -1;
    sage = hw.sum.keys_stale ? now - (time_t) hw.sum.keys_stale : -1;
    fage = hw.sum.keys_failed_at ? now - (time_t) hw.sum.keys_failed_at
                                 : -1;
    st = (hw.sum.keys_stale && sage >= lcf->health.keys)
         ? NGX_HTTP_AUDIT_DEGRADED : NGX_HTTP_AUDIT_HEALTHY;
    worst = ngx_max(worst, st);

    p = ngx_slprintf(p, last,
                     ",\"keys\":{\"status\":\"%s\",\"last_read_ok\":%s,"
                     "\"failing_workers\":%uA,\"age_s\":%T,"
                     "\"failing_age_s\":%T,\"failed_rereads\":%uA,"
                     "\"last_failure_age_s\":%T,\"threshold\":"
                     "{\"degraded\":\"the last read failed and the keys "
                     "kept in use are %T s old or more\"}}",
                     ngx_http_audit_health_name(st),
                     hw.sum.keys_failing ? "false" : "true",
                     hw.sum.keys_failing, age, sage,
                     ash ? ash->keys_failed : 0, fage, lcf->health.keys);

    /* upstream 5xx over the last hour */

    a5 = 0;
    ab = 0;

    if (ash) {
        a5 = ash->upstream_5xx;
        ab = ash->upstream;
        ngx_http_audit_alert_ring_delta(&ash->hour, &a5, &ab);
    }

    st = (ab && a5 * 100 > lcf->health.error_rate * ab)
         ? NGX_HTTP_AUDIT_DEGRADED : NGX_HTTP_AUDIT_HEALTHY;
    worst = ngx_max(worst, st);

    p = ngx_slprintf(p, last,
                     ",\"error_rate\":{\"status\":\"%s\","
                     "\"upstream\":%uA,\"upstream_5xx\":%uA,"
                     "\"threshold\":{\"degraded\":\"upstream 5xx > %ui%% "
                     "over 3600 s\"}}",
                     ngx_http_audit_health_name(st), ab, a5,
                     lcf->health.error_rate);

    /* recent activity */

    age = ash ? now - (time_t) ash->last_event : 0;
    st = (age >= lcf->health.activity) ? NGX_HTTP_AUDIT_DEGRADED
                                       : NGX_HTTP_AUDIT_HEALTHY;
    worst = ngx_max(worst, st);

    p = ngx_slprintf(p, last,
                     ",\"activity\":{\"status\":\"%s\","
                     "\"last_event_age_s\":%T,\"threshold\":"
                     "{\"degraded\":\"no event for %T s\"}}}}" CRLF,
                     ngx_http_audit_health_name(st), age,
                     lcf->health.activity);

    p = ngx_slprintf(b->last, b->end, "{\"status\":\"%s\",\"checks\":{%*s",
                     ngx_http_audit_health_name(worst),
                     (size_t) (p - checks), checks);

    b->last = p;
    b->last_buf = (r == r->main);
    b->last_in_chain = 1;

    r->headers_out.status = (worst == NGX_HTTP_AUDIT_UNHEALTHY)
                            ? NGX_HTTP_SERVICE_UNAVAILABLE : NGX_HTTP_OK;
    r->headers_out.content_length_n = p - b->pos;
    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;

    /* a verdict is never cached */
    r->headers_out.last_modified_time = -1;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


/* audit_status: "alerts":{"routes":[...]} and audit_alert_* metrics */

u_char *
ngx_http_audit_alert_status_section(u_char *p, u_char *last,
    ngx_uint_t prometheus)
{
    ngx_uint_t                        i, w, breaker, queued;
    ngx_http_audit_alert_t           *a;
    ngx_http_audit_alert_route_t     *rt;
    ngx_http_audit_alert_counters_t  *c;

    a = ngx_http_audit_alert_worker();

    if (a == NULL || a->ndests == 0) {
        return ngx_http_audit_alert_next_status(p, last, prometheus);
    }

    if (!prometheus) {
        p = ngx_slprintf(p, last, ",\"alerts\":{\"routes\":[");

    } else {
        p = ngx_slprintf(p, last,
                         "# HELP audit_alert_sent_total Alerts a route's "
                         "service accepted.\n"
                         "# TYPE audit_alert_sent_total counter\n"
                         "# HELP audit_alert_failed_total Alerts refused "
                         "or not delivered.\n"
                         "# TYPE audit_alert_failed_total counter\n"
                         "# HELP audit_alert_dropped_total Alerts not sent:"
                         " queue full or breaker open.\n"
                         "# TYPE audit_alert_dropped_total counter\n"
                         "# HELP audit_alert_breaker_open_workers Workers "
                         "whose breaker for a route is open.\n"
                         "# TYPE audit_alert_breaker_open_workers gauge\n");
    }

    for (i = 0; i < a->ndests; i++) {
        rt = a->dests[i].route;
        c = &a->sh->routes[i];
        breaker = 0;
        queued = 0;

        for (w = 0; w < NGX_HTTP_AUDIT_MAX_WORKERS; w++) {
            breaker += c->breaker[w];
            queued += c->queued[w];
        }

        if (!prometheus) {
            p = ngx_slprintf(p, last,
                             "%s{\"route\":\"%s\",\"kind\":\"%s\","
                             "\"severity\":\"%s\",\"sent\":%uA,"
                             "\"failed\":%uA,\"dropped\":%uA,"
                             "\"queued\":%ui,\"breaker_open_workers\":%ui}",
                             i ? "," : "", rt->name,
                             rt->kind == AUDIT_ALERT_PAGERDUTY ? "pagerduty"
                             : rt->kind == AUDIT_ALERT_SLACK ? "slack"
                             : "webhook",
                             ngx_http_audit_alert_severities[rt->severity],
                             c->sent, c->failed, c->dropped, queued,
                             breaker);
            continue;
        }

        p = ngx_slprintf(p, last,
                         "audit_alert_sent_total{route=\"%s\"} %uA\n"
                         "audit_alert_failed_total{route=\"%s\"} %uA\n"
                         "audit_alert_dropped_total{route=\"%s\"} %uA\n"
                         "audit_alert_breaker_open_workers{route=\"%s\"} "
                         "%ui\n",
                         rt->name, c->sent, rt->name, c->failed, rt->name,
                         c->dropped, rt->name, breaker);
    }

    if (!prometheus) {
        p = ngx_slprintf(p, last, "]}");
    }

    return ngx_http_audit_alert_next_status(p, last, prometheus);
}
