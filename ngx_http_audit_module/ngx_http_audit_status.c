
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
static ngx_buf_t *ngx_http_audit_status_json(ngx_http_request_t *r,
    ngx_http_audit_shctx_t *sh);
static ngx_buf_t *ngx_http_audit_status_prometheus(ngx_http_request_t *r,
    ngx_http_audit_shctx_t *sh);
static ngx_buf_t *ngx_http_audit_status_buf(ngx_http_request_t *r,
    ngx_buf_t *b, u_char *last);
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

    if (amcf == NULL || amcf->shm_zone == NULL
        || ngx_worker >= NGX_HTTP_AUDIT_MAX_WORKERS)
    {
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




#define NGX_HTTP_AUDIT_STATUS_SIZE  16384


/*
 * The counters and gauges besides events and reasons, in the order both
 * formats list them: where each sits in the JSON, and its Prometheus
 * sample.  A family's first sample carries its TYPE and HELP, and its
 * samples follow one another, as the text format wants; a NULL family is
 * JSON only.
 */

typedef struct {
    const char  *group;
    const char  *name;
    const char  *family;
    const char  *labels;
    const char  *type;
    const char  *help;
} ngx_http_audit_metric_t;


enum {
    NGX_HTTP_AUDIT_M_PERMITTED = 0,
    NGX_HTTP_AUDIT_M_DENIED,
    NGX_HTTP_AUDIT_M_UNAUTHENTICATED,
    NGX_HTTP_AUDIT_M_PG_UP,
    NGX_HTTP_AUDIT_M_PG_QUEUE,
    NGX_HTTP_AUDIT_M_PG_SPOOL,
    NGX_HTTP_AUDIT_M_PG_SENT,
    NGX_HTTP_AUDIT_M_PG_INSERTED,
    NGX_HTTP_AUDIT_M_PG_BATCHES,
    NGX_HTTP_AUDIT_M_PG_FAILURES,
    NGX_HTTP_AUDIT_M_EVENTS_LOST,
    NGX_HTTP_AUDIT_M_SENTRY_SENT,
    NGX_HTTP_AUDIT_M_SENTRY_DROPPED,
    NGX_HTTP_AUDIT_M_SENTRY_QUEUED,
    NGX_HTTP_AUDIT_M_SENTRY_BREAKER,
    NGX_HTTP_AUDIT_M_BF_TRACKED,
    NGX_HTTP_AUDIT_M_BF_ALERTS,
    NGX_HTTP_AUDIT_M_SHARED_HITS,
    NGX_HTTP_AUDIT_M_SHARED_MISSES,
    NGX_HTTP_AUDIT_M_WORKER_HITS,
    NGX_HTTP_AUDIT_M_WORKER_MISSES,
    NGX_HTTP_AUDIT_M_SHARED_ENTRIES,
    NGX_HTTP_AUDIT_M_REVOKED,
    NGX_HTTP_AUDIT_M_REVOCATIONS_LOST,
    NGX_HTTP_AUDIT_METRICS
};


static const ngx_http_audit_metric_t
    ngx_http_audit_metrics[NGX_HTTP_AUDIT_METRICS] =
{
    { "decisions", "permitted", "audit_decisions_total",
      "{decision=\"permitted\"}", "counter", "Access decisions." },
    { "decisions", "denied", "audit_decisions_total",
      "{decision=\"denied\"}", NULL, NULL },
    { "decisions", "unauthenticated", "audit_decisions_total",
      "{decision=\"unauthenticated\"}", NULL, NULL },

    { "postgresql", "connected_workers", "audit_pg_connected_workers", "",
      "gauge", "Workers connected to PostgreSQL." },
    { "postgresql", "queue_bytes", "audit_pg_queue_bytes", "",
      "gauge", "Events waiting in memory, in bytes." },
    { "postgresql", "spool_bytes", "audit_pg_spool_bytes", "",
      "gauge", "Events waiting in spool files, in bytes." },
    { "postgresql", "rows_sent", "audit_pg_rows_sent_total", "",
      "counter", "Rows sent to PostgreSQL." },
    { "postgresql", "rows_inserted", "audit_pg_rows_inserted_total", "",
      "counter", "Rows PostgreSQL inserted." },
    { "postgresql", "batches", "audit_pg_batches_total", "",
      "counter", "Batches PostgreSQL committed." },
    { "postgresql", "failures", "audit_pg_failures_total", "",
      "counter", "Failed connections and batches." },
    { "postgresql", "events_lost", "audit_events_lost_total", "",
      "counter", "Events lost with a worker that died." },

    { "sentry", "sent", "audit_sentry_sent_total", "",
      "counter", "Envelopes accepted by the tracker." },
    { "sentry", "dropped", "audit_sentry_dropped_total", "",
      "counter", "Events not sent to the tracker." },
    { "sentry", "queued", "audit_sentry_queued", "",
      "gauge", "Events waiting to be sent to the tracker." },
    { "sentry", "breaker_open_workers", "audit_sentry_breaker_open_workers",
      "", "gauge", "Workers whose breaker is open." },

    { "bruteforce", "tracked", "audit_bruteforce_tracked", "",
      "gauge", "Keys the detector tracks." },

    /* in Prometheus: audit_events_total{action="bruteforce_suspected"} */
    { "bruteforce", "alerts", NULL, NULL, NULL, NULL },

    { "token_cache", "shared_hits", "audit_token_cache_total",
      "{cache=\"shared\",result=\"hit\"}", "counter",
      "Token cache lookups." },
    { "token_cache", "shared_misses", "audit_token_cache_total",
      "{cache=\"shared\",result=\"miss\"}", NULL, NULL },
    { "token_cache", "worker_hits", "audit_token_cache_total",
      "{cache=\"worker\",result=\"hit\"}", NULL, NULL },
    { "token_cache", "worker_misses", "audit_token_cache_total",
      "{cache=\"worker\",result=\"miss\"}", NULL, NULL },
    { "token_cache", "shared_entries", "audit_token_cache_shared_entries",
      "", "gauge", "Tokens in the shared cache." },

    { "sessions", "revoked", "audit_sessions_revoked", "",
      "gauge", "Logged-out sessions refused until their tokens expire." },
    { "sessions", "revocations_lost", "audit_revocations_lost_total", "",
      "counter", "Logouts that revoked nothing: audit_zone was full." },
};


static void
ngx_http_audit_status_values(ngx_http_audit_shctx_t *sh,
    ngx_atomic_uint_t *v)
{
    ngx_http_audit_workers_t  ws;

    ngx_http_audit_zone_workers(sh, &ws);

    v[NGX_HTTP_AUDIT_M_PERMITTED] = sh->permitted;
    v[NGX_HTTP_AUDIT_M_DENIED] = sh->denied;
    v[NGX_HTTP_AUDIT_M_UNAUTHENTICATED] = sh->unauthenticated;
    v[NGX_HTTP_AUDIT_M_PG_UP] = ws.pg_up;
    v[NGX_HTTP_AUDIT_M_PG_QUEUE] = ws.sum.queue_bytes;
    v[NGX_HTTP_AUDIT_M_PG_SPOOL] = ws.sum.spool_bytes;
    v[NGX_HTTP_AUDIT_M_PG_SENT] = sh->pg_rows_sent;
    v[NGX_HTTP_AUDIT_M_PG_INSERTED] = sh->pg_rows_inserted;
    v[NGX_HTTP_AUDIT_M_PG_BATCHES] = sh->pg_batches;
    v[NGX_HTTP_AUDIT_M_PG_FAILURES] = sh->pg_failures;
    v[NGX_HTTP_AUDIT_M_EVENTS_LOST] = sh->events_lost;
    v[NGX_HTTP_AUDIT_M_SENTRY_SENT] = sh->sentry_sent;
    v[NGX_HTTP_AUDIT_M_SENTRY_DROPPED] = sh->sentry_dropped;
    v[NGX_HTTP_AUDIT_M_SENTRY_QUEUED] = ws.sum.sentry_queue;
    v[NGX_HTTP_AUDIT_M_SENTRY_BREAKER] = ws.sum.sentry_breaker;
    v[NGX_HTTP_AUDIT_M_BF_TRACKED] = sh->bf.n;
    v[NGX_HTTP_AUDIT_M_BF_ALERTS] = sh->events[AUDIT_BRUTEFORCE_SUSPECTED];
    v[NGX_HTTP_AUDIT_M_SHARED_HITS] = sh->cache_hits;
    v[NGX_HTTP_AUDIT_M_SHARED_MISSES] = sh->cache_misses;
    v[NGX_HTTP_AUDIT_M_SHARED_ENTRIES] = sh->cache.n;
    v[NGX_HTTP_AUDIT_M_WORKER_HITS] = ws.sum.tcache_hits;
    v[NGX_HTTP_AUDIT_M_WORKER_MISSES] = ws.sum.tcache_misses;
    v[NGX_HTTP_AUDIT_M_REVOKED] = sh->revoked.n;
    v[NGX_HTTP_AUDIT_M_REVOCATIONS_LOST] = sh->revocations_lost;
}


static ngx_buf_t *
ngx_http_audit_status_json(ngx_http_request_t *r, ngx_http_audit_shctx_t *sh)
{
    u_char                         *p, *last;
    ngx_buf_t                      *b;
    ngx_uint_t                      i;
    ngx_atomic_uint_t               v[NGX_HTTP_AUDIT_METRICS];
    const ngx_http_audit_metric_t  *m;

    b = ngx_create_temp_buf(r->pool, NGX_HTTP_AUDIT_STATUS_SIZE);
    if (b == NULL) {
        return NULL;
    }

    ngx_http_audit_status_values(sh, v);

    p = b->last;
    last = b->end;

    p = ngx_slprintf(p, last, "{\"version\":\"" NGX_HTTP_AUDIT_VERSION
                     "\",\"events\":{");

    for (i = 0; i < AUDIT_ACTION_MAX; i++) {
        p = ngx_slprintf(p, last, "%s\"%s\":%uA", i ? "," : "",
                         audit_action_name(i), sh->events[i]);
    }

    p = ngx_slprintf(p, last, "},\"reasons\":{");

    for (i = 0; i < NGX_HTTP_AUDIT_REASONS; i++) {
        p = ngx_slprintf(p, last, "%s\"%s\":%uA", i ? "," : "",
                         ngx_http_audit_reasons[i], sh->reasons[i]);
    }

    for (i = 0; i < NGX_HTTP_AUDIT_METRICS; i++) {
        m = &ngx_http_audit_metrics[i];

        if (i == 0 || ngx_strcmp(m->group, m[-1].group) != 0) {
            p = ngx_slprintf(p, last, "},\"%s\":{", m->group);

        } else {
            p = ngx_slprintf(p, last, ",");
        }

        p = ngx_slprintf(p, last, "\"%s\":%uA", m->name, v[i]);
    }

    /* the sinks' own sections: ,"alerts":{...} */
    p = ngx_slprintf(p, last, "}");
    p = ngx_http_audit_top_status_section(p, last, 0);
    p = ngx_slprintf(p, last, "}" CRLF);

    return ngx_http_audit_status_buf(r, b, p);
}


/* the Prometheus text exposition format, version 0.0.4 */

static ngx_buf_t *
ngx_http_audit_status_prometheus(ngx_http_request_t *r,
    ngx_http_audit_shctx_t *sh)
{
    u_char                         *p, *last;
    ngx_buf_t                      *b;
    ngx_uint_t                      i;
    ngx_atomic_uint_t               v[NGX_HTTP_AUDIT_METRICS];
    const ngx_http_audit_metric_t  *m;

    b = ngx_create_temp_buf(r->pool, NGX_HTTP_AUDIT_STATUS_SIZE);
    if (b == NULL) {
        return NULL;
    }

    ngx_http_audit_status_values(sh, v);

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
                     "# HELP audit_refusals_total Refusals, by reason.\n"
                     "# TYPE audit_refusals_total counter\n");

    for (i = 0; i < NGX_HTTP_AUDIT_REASONS; i++) {
        p = ngx_slprintf(p, last, "audit_refusals_total{reason=\"%s\"} %uA\n",
                         ngx_http_audit_reasons[i], sh->reasons[i]);
    }

    for (i = 0; i < NGX_HTTP_AUDIT_METRICS; i++) {
        m = &ngx_http_audit_metrics[i];

        if (m->family == NULL) {
            continue;
        }

        if (m->type) {
            p = ngx_slprintf(p, last, "# HELP %s %s\n# TYPE %s %s\n",
                             m->family, m->help, m->family, m->type);
        }

        p = ngx_slprintf(p, last, "%s%s %uA\n", m->family, m->labels, v[i]);
    }

    p = ngx_http_audit_top_status_section(p, last, 1);

    return ngx_http_audit_status_buf(r, b, p);
}


static ngx_buf_t *
ngx_http_audit_status_buf(ngx_http_request_t *r, ngx_buf_t *b, u_char *last)
{
    b->last = last;
    b->last_buf = (r == r->main);
    b->last_in_chain = 1;

    return b;
}
