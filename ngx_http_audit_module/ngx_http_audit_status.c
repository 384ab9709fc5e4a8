
/*
 * ngx_http_audit_module: counters and the status handler.
 *
 * Counters live in the audit_zone shared memory.  Totals that every
 * worker adds to (events by action, refusals by reason, rows shipped) are
 * atomic adds; what describes one worker at a time (its queue, its spool,
 * its connection) sits in that worker's own slot, written by it alone,
 * and the handler sums the slots.
 *
 * "audit_status;" in a location answers JSON, or Prometheus' text format
 * with ?format=prometheus or an Accept of text/plain.  The location is
 * protected like any other: audit_require_role admin, typically.
 */


#include "ngx_http_audit_module.h"


static const char  *ngx_http_audit_reasons[NGX_HTTP_AUDIT_REASONS] = {
    "missing", "malformed", "bad_algorithm", "unknown_key", "bad_signature",
    "expired", "not_yet_valid", "bad_issuer", "bad_audience",
    "missing_claim", "revoked", "role", "other"
};


static ngx_int_t ngx_http_audit_status_handler(ngx_http_request_t *r);
static void ngx_http_audit_status_sum(ngx_http_audit_shctx_t *sh,
    ngx_http_audit_worker_stats_t *sum, ngx_uint_t *up);
static ngx_buf_t *ngx_http_audit_status_json(ngx_http_request_t *r,
    ngx_http_audit_shctx_t *sh);
static ngx_buf_t *ngx_http_audit_status_prometheus(ngx_http_request_t *r,
    ngx_http_audit_shctx_t *sh);
static ngx_uint_t ngx_http_audit_status_wants_text(ngx_http_request_t *r);


char *
ngx_http_audit_status_conf(ngx_conf_t *cf)
{
    ngx_http_core_loc_conf_t    *clcf;
    ngx_http_audit_main_conf_t  *amcf;

    amcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_audit_module);

    if (amcf->shm_zone == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"audit_status\" needs \"audit_zone\" "
                           "before it");
        return NGX_CONF_ERROR;
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_audit_status_handler;

    return NGX_CONF_OK;
}


ngx_uint_t
ngx_http_audit_reason_index(ngx_str_t *reason)
{
    ngx_uint_t  i;

    for (i = 0; i < NGX_HTTP_AUDIT_REASONS - 1; i++) {
        if (ngx_strlen(ngx_http_audit_reasons[i]) == reason->len
            && ngx_strncmp(ngx_http_audit_reasons[i], reason->data,
                           reason->len)
               == 0)
        {
            return i;
        }
    }

    return NGX_HTTP_AUDIT_REASONS - 1;
}


/* this worker's slot, or NULL without a zone */

ngx_http_audit_worker_stats_t *
ngx_http_audit_stats(ngx_cycle_t *cycle)
{
    ngx_http_audit_shctx_t      *sh;
    ngx_http_audit_main_conf_t  *amcf;

    amcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_audit_module);

    if (amcf == NULL || amcf->shm_zone == NULL || ngx_worker >= NGX_HTTP_AUDIT_MAX_WORKERS) {
        return NULL;
    }

    sh = amcf->shm_zone->data;

    return &sh->workers[ngx_worker];
}


static ngx_int_t
ngx_http_audit_status_handler(ngx_http_request_t *r)
{
    ngx_int_t                    rc;
    ngx_buf_t                   *b;
    ngx_chain_t                  out;
    ngx_uint_t                   text;
    ngx_http_audit_shctx_t      *sh;
    ngx_http_audit_main_conf_t  *amcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    amcf = ngx_http_get_module_main_conf(r, ngx_http_audit_module);
    sh = amcf->shm_zone->data;

    text = ngx_http_audit_status_wants_text(r);

    b = text ? ngx_http_audit_status_prometheus(r, sh)
             : ngx_http_audit_status_json(r, sh);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (text) {
        ngx_str_set(&r->headers_out.content_type,
                    "text/plain; version=0.0.4");

    } else {
        ngx_str_set(&r->headers_out.content_type, "application/json");
    }

    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = b->last - b->pos;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


static ngx_uint_t
ngx_http_audit_status_wants_text(ngx_http_request_t *r)
{
    ngx_str_t  value;

    if (ngx_http_arg(r, (u_char *) "format", 6, &value) == NGX_OK) {
        return value.len == 10
               && ngx_strncmp(value.data, "prometheus", 10) == 0;
    }

#if (NGX_HTTP_HEADERS)
    if (r->headers_in.accept) {
        value = r->headers_in.accept->value;

        return ngx_strlcasestrn(value.data, value.data + value.len,
                                (u_char *) "text/plain", 10 - 1)
               != NULL;
    }
#endif

    return 0;
}


static void
ngx_http_audit_status_sum(ngx_http_audit_shctx_t *sh,
    ngx_http_audit_worker_stats_t *sum, ngx_uint_t *up)
{
    ngx_uint_t                      i;
    ngx_http_audit_worker_stats_t  *w;

    ngx_memzero(sum, sizeof(ngx_http_audit_worker_stats_t));
    *up = 0;

    for (i = 0; i < NGX_HTTP_AUDIT_MAX_WORKERS; i++) {
        w = &sh->workers[i];

        /* slots of workers that are gone keep their last values */
        if (w->pid == 0 || (kill(w->pid, 0) != 0 && ngx_errno != NGX_EPERM))
        {
            continue;
        }

        sum->queue_bytes += w->queue_bytes;
        sum->spool_bytes += w->spool_bytes;
        sum->sentry_queue += w->sentry_queue;
        sum->sentry_breaker += w->sentry_breaker;
        sum->tcache_hits += w->tcache_hits;
        sum->tcache_misses += w->tcache_misses;

        if (w->pg_state == 3 || w->pg_state >= 4) {
            (*up)++;
        }
    }
}


#define NGX_HTTP_AUDIT_STATUS_SIZE  8192


static ngx_buf_t *
ngx_http_audit_status_json(ngx_http_request_t *r, ngx_http_audit_shctx_t *sh)
{
    u_char                         *p, *last;
    ngx_buf_t                      *b;
    ngx_uint_t                      i, up;
    ngx_http_audit_worker_stats_t   sum;

    b = ngx_create_temp_buf(r->pool, NGX_HTTP_AUDIT_STATUS_SIZE);
    if (b == NULL) {
        return NULL;
    }

    ngx_http_audit_status_sum(sh, &sum, &up);

    p = b->last;
    last = b->end;

    p = ngx_slprintf(p, last, "{\"version\":\"" NGX_HTTP_AUDIT_VERSION
                     "\",\"events\":{");

    for (i = 0; i < AUDIT_ACTION_MAX; i++) {
        p = ngx_slprintf(p, last, "%s\"%s\":%uA", i ? "," : "",
                         audit_action_name(i), sh->events[i]);
    }

    p = ngx_slprintf(p, last, "},\"decisions\":{\"permitted\":%uA,"
                     "\"denied\":%uA,\"unauthenticated\":%uA},\"reasons\":{",
                     sh->permitted, sh->denied, sh->unauthenticated);

    for (i = 0; i < NGX_HTTP_AUDIT_REASONS; i++) {
        p = ngx_slprintf(p, last, "%s\"%s\":%uA", i ? "," : "",
                         ngx_http_audit_reasons[i], sh->reasons[i]);
    }

    p = ngx_slprintf(p, last,
                     "},\"postgresql\":{\"connected_workers\":%ui,"
                     "\"queue_bytes\":%uA,\"spool_bytes\":%uA,"
                     "\"rows_sent\":%uA,\"rows_inserted\":%uA,"
                     "\"batches\":%uA,\"failures\":%uA,"
                     "\"events_lost\":%uA},"
                     "\"sentry\":{\"sent\":%uA,\"dropped\":%uA,"
                     "\"queued\":%uA,\"breaker_open_workers\":%uA},"
                     "\"bruteforce\":{\"tracked\":%uA,\"alerts\":%uA},"
                     "\"token_cache\":{\"shared_hits\":%uA,"
                     "\"shared_misses\":%uA,\"shared_entries\":%uA,"
                     "\"worker_hits\":%uA,\"worker_misses\":%uA}}" CRLF,
                     up, sum.queue_bytes, sum.spool_bytes, sh->pg_rows_sent,
                     sh->pg_rows_inserted, sh->pg_batches, sh->pg_failures,
                     sh->events_lost,
                     sh->sentry_sent, sh->sentry_dropped, sum.sentry_queue,
                     sum.sentry_breaker, sh->bf.n, sh->events[
                         AUDIT_BRUTEFORCE_SUSPECTED],
                     (ngx_atomic_uint_t) sh->cache_hits,
                     (ngx_atomic_uint_t) sh->cache_misses,
                     sh->cache.n,
                     sum.tcache_hits, sum.tcache_misses);

    b->last = p;
    b->last_buf = (r == r->main);
    b->last_in_chain = 1;

    return b;
}


/* the Prometheus text exposition format, version 0.0.4 */

static ngx_buf_t *
ngx_http_audit_status_prometheus(ngx_http_request_t *r,
    ngx_http_audit_shctx_t *sh)
{
    u_char                         *p, *last;
    ngx_buf_t                      *b;
    ngx_uint_t                      i, up;
    ngx_http_audit_worker_stats_t   sum;

    b = ngx_create_temp_buf(r->pool, NGX_HTTP_AUDIT_STATUS_SIZE);
    if (b == NULL) {
        return NULL;
    }

    ngx_http_audit_status_sum(sh, &sum, &up);

    p = b->last;
    last = b->end;

    p = ngx_slprintf(p, last,
                     "# HELP audit_events_total Audit events written, "
                     "by action.\n"
                     "# TYPE audit_events_total counter\n");

    for (i = 0; i < AUDIT_ACTION_MAX; i++) {
        p = ngx_slprintf(p, last, "audit_events_total{action=\"%s\"} %uA\n",
                         audit_action_name(i), sh->events[i]);
    }

    p = ngx_slprintf(p, last,
                     "# HELP audit_decisions_total Access decisions.\n"
                     "# TYPE audit_decisions_total counter\n"
                     "audit_decisions_total{decision=\"permitted\"} %uA\n"
                     "audit_decisions_total{decision=\"denied\"} %uA\n"
                     "audit_decisions_total{decision=\"unauthenticated\"} "
                     "%uA\n"
                     "# HELP audit_refusals_total Refusals, by reason.\n"
                     "# TYPE audit_refusals_total counter\n",
                     sh->permitted, sh->denied, sh->unauthenticated);

    for (i = 0; i < NGX_HTTP_AUDIT_REASONS; i++) {
        p = ngx_slprintf(p, last, "audit_refusals_total{reason=\"%s\"} %uA\n",
                         ngx_http_audit_reasons[i], sh->reasons[i]);
    }

    p = ngx_slprintf(p, last,
        "# HELP audit_pg_connected_workers Workers connected to PostgreSQL.\n"
        "# TYPE audit_pg_connected_workers gauge\n"
        "audit_pg_connected_workers %ui\n"
        "# HELP audit_pg_queue_bytes Events waiting in memory, in bytes.\n"
        "# TYPE audit_pg_queue_bytes gauge\n"
        "audit_pg_queue_bytes %uA\n"
        "# HELP audit_pg_spool_bytes Events waiting in spool files, in bytes.\n"
        "# TYPE audit_pg_spool_bytes gauge\n"
        "audit_pg_spool_bytes %uA\n"
        "# HELP audit_pg_rows_sent_total Rows sent to PostgreSQL.\n"
        "# TYPE audit_pg_rows_sent_total counter\n"
        "audit_pg_rows_sent_total %uA\n"
        "# HELP audit_pg_rows_inserted_total Rows PostgreSQL inserted.\n"
        "# TYPE audit_pg_rows_inserted_total counter\n"
        "audit_pg_rows_inserted_total %uA\n"
        "# HELP audit_pg_failures_total Failed connections and batches.\n"
        "# TYPE audit_pg_failures_total counter\n"
        "audit_pg_failures_total %uA\n"
        "# HELP audit_events_lost_total Events lost with a worker that died.\n"
        "# TYPE audit_events_lost_total counter\n"
        "audit_events_lost_total %uA\n"
        "# HELP audit_sentry_sent_total Envelopes accepted by the tracker.\n"
        "# TYPE audit_sentry_sent_total counter\n"
        "audit_sentry_sent_total %uA\n"
        "# HELP audit_sentry_dropped_total Events not sent to the tracker.\n"
        "# TYPE audit_sentry_dropped_total counter\n"
        "audit_sentry_dropped_total %uA\n"
        "# HELP audit_sentry_breaker_open_workers Workers whose breaker "
        "is open.\n"
        "# TYPE audit_sentry_breaker_open_workers gauge\n"
        "audit_sentry_breaker_open_workers %uA\n"
        "# HELP audit_bruteforce_tracked Keys the detector tracks.\n"
        "# TYPE audit_bruteforce_tracked gauge\n"
        "audit_bruteforce_tracked %uA\n"
        "# HELP audit_token_cache_total Token cache lookups.\n"
        "# TYPE audit_token_cache_total counter\n"
        "audit_token_cache_total{cache=\"shared\",result=\"hit\"} %uA\n"
        "audit_token_cache_total{cache=\"shared\",result=\"miss\"} %uA\n"
        "audit_token_cache_total{cache=\"worker\",result=\"hit\"} %uA\n"
        "audit_token_cache_total{cache=\"worker\",result=\"miss\"} %uA\n",
        up, sum.queue_bytes, sum.spool_bytes, sh->pg_rows_sent,
        sh->pg_rows_inserted, sh->pg_failures, sh->events_lost,
        sh->sentry_sent,
        sh->sentry_dropped, sum.sentry_breaker, sh->bf.n,
        (ngx_atomic_uint_t) sh->cache_hits,
        (ngx_atomic_uint_t) sh->cache_misses, sum.tcache_hits,
        sum.tcache_misses);

    b->last = p;
    b->last_buf = (r == r->main);
    b->last_in_chain = 1;

    return b;
}
