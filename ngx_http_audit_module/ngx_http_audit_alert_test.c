
/*
 * ngx_http_audit_module: "audit_test;", proof that the routing works
 * before an incident does.
 *
 * A POST by someone signed in (the location is protected like any
 * other; a request without a verified session is refused here too)
 * sends a clearly labelled test event to the error tracker and a test
 * alert to every route, and answers once each has a result, or its time
 * is up:
 *
 *     {"request_id":"...","results":[{"destination":"slack-1",
 *      "result":"accepted","status":200}, {"destination":"pagerduty-2",
 *      "result":"refused","status":400}, {"destination":"webhook-3",
 *      "result":"timed_out"}, {"destination":"tracker",...}]}
 *
 * The request waits on a timer of its own; the results are written by
 * the delivery callbacks into a worker-owned slot, so nothing points
 * into a request that may be gone.
 */


#include "ngx_http_audit_alert.h"
#include "ngx_http_audit_sentry.h"


#define NGX_HTTP_AUDIT_TEST_POLL  50


typedef struct {
    ngx_http_request_t          *request;
    ngx_event_t                  timer;
    ngx_uint_t                   slot;
    ngx_uint_t                   gen;
    ngx_uint_t                   tracker;         /* a tracker is set */
    ngx_msec_t                   deadline;
    ngx_str_t                    request_id;
} ngx_http_audit_test_ctx_t;


static void ngx_http_audit_test_body(ngx_http_request_t *r);
static void ngx_http_audit_test_poll(ngx_event_t *ev);
static void ngx_http_audit_test_answer(ngx_http_audit_test_ctx_t *ctx);
static u_char *ngx_http_audit_test_result(u_char *p, u_char *last,
    const char *name, ngx_http_audit_alert_result_t *res);
static void ngx_http_audit_test_cleanup(void *data);
static ngx_int_t ngx_http_audit_test_same_origin(ngx_http_request_t *r);
static ngx_table_elt_t *ngx_http_audit_test_header(ngx_http_request_t *r,
    const char *name, size_t len);


ngx_int_t
ngx_http_audit_alert_test_handler(ngx_http_request_t *r)
{
    ngx_int_t              rc;
    ngx_http_audit_ctx_t  *actx;
    ngx_log_t              elog;

    if (r->method != NGX_HTTP_POST) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    /* a subrequest skipped the access phase: nothing was checked for it */
    if (r != r->main) {
        return NGX_HTTP_FORBIDDEN;
    }

    /* only for someone signed in, even on a public location */
    actx = ngx_http_audit_get_ctx(r);
    if (actx == NULL || !actx->token_valid) {
        return NGX_HTTP_UNAUTHORIZED;
    }

    /* whom the module's policy let through, not an "allow" under
     * "satisfy any" */
    if (actx->decision != NGX_HTTP_AUDIT_PERMITTED) {
        return NGX_HTTP_FORBIDDEN;
    }

    /* it pages the on-call: not from another site's form */
    if (ngx_http_audit_test_same_origin(r) != NGX_OK) {
        ngx_http_audit_request_log(r, &elog);

        ngx_log_error(NGX_LOG_WARN, &elog, 0,
                      "audit_test: a cross-site POST refused");
        return NGX_HTTP_FORBIDDEN;
    }

    rc = ngx_http_read_client_request_body(r, ngx_http_audit_test_body);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


/*
 * A POST the browser says comes from this origin ("Sec-Fetch-Site:
 * same-origin", or "none": typed, a bookmark), or, from a browser that
 * sends no Sec-Fetch-Site, an Origin whose host is the Host header.
 * Anything else, neither header included, is refused.
 */

static ngx_int_t
ngx_http_audit_test_same_origin(ngx_http_request_t *r)
{
    u_char           *p, *last;
    ngx_table_elt_t  *h;

    h = ngx_http_audit_test_header(r, "Sec-Fetch-Site",
                                   sizeof("Sec-Fetch-Site") - 1);

    if (h) {
        if ((h->value.len == 11
             && ngx_strncasecmp(h->value.data, (u_char *) "same-origin", 11)
                == 0)
            || (h->value.len == 4
                && ngx_strncasecmp(h->value.data, (u_char *) "none", 4) == 0))
        {
            return NGX_OK;
        }

        return NGX_DECLINED;
    }

    h = ngx_http_audit_test_header(r, "Origin", sizeof("Origin") - 1);

    if (h == NULL || r->headers_in.host == NULL) {
        return NGX_DECLINED;
    }

    p = h->value.data;
    last = p + h->value.len;

    if (last - p > 7 && ngx_strncasecmp(p, (u_char *) "http://", 7) == 0) {
        p += 7;

    } else if (last - p > 8
               && ngx_strncasecmp(p, (u_char *) "https://", 8) == 0)
    {
        p += 8;

    } else {
        return NGX_DECLINED;                  /* "null", or no scheme */
    }

    if ((size_t) (last - p) != r->headers_in.host->value.len
        || ngx_strncasecmp(p, r->headers_in.host->value.data, last - p) != 0)
    {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* the first request header of that name; Origin and Sec-Fetch-Site are
 * sent once */

static ngx_table_elt_t *
ngx_http_audit_test_header(ngx_http_request_t *r, const char *name,
    size_t len)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NULL;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == len
            && ngx_strncasecmp(h[i].key.data, (u_char *) name, len) == 0)
        {
            return &h[i];
        }
    }
}


static void
ngx_http_audit_test_body(ngx_http_request_t *r)
{
    ngx_int_t                    rc;
    ngx_uint_t                   i, n;
    ngx_msec_t                   wait;
    ngx_pool_cleanup_t          *cln;
    ngx_http_audit_test_ctx_t   *ctx;
    ngx_http_audit_alert_route_t  *rt;

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_audit_test_ctx_t));
    cln = ngx_pool_cleanup_add(r->pool, 0);

    if (ctx == NULL || cln == NULL
        || ngx_http_audit_request_id(r, &ctx->request_id) != NGX_OK)
    {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (ngx_http_audit_alert_test_slot(&ctx->slot, &ctx->gen) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    ctx->request = r;
    cln->handler = ngx_http_audit_test_cleanup;
    cln->data = ctx;

    (void) ngx_http_audit_alert_test_send(r, ctx->slot, ctx->gen);

    rc = ngx_http_audit_sentry_test(&ctx->request_id,
                                    ngx_http_audit_alert_test_tracker,
                                    ngx_http_audit_alert_test_tag(ctx->slot,
                                                                  ctx->gen));
    ctx->tracker = (rc != NGX_DECLINED);

    if (rc == NGX_BUSY || rc == NGX_ERROR) {
        /* its breaker is open or its queue full: that is the answer */
        ngx_http_audit_alert_test_tracker(
            ngx_http_audit_alert_test_tag(ctx->slot, ctx->gen), NGX_ABORT, 0,
            rc == NGX_BUSY ? "breaker" : "encoding");
    }

    /* as long as the slowest destination may take, and a second */

    wait = 5000;
    rt = ngx_http_audit_alert_routes(&n);

    for (i = 0; i < n; i++) {
        wait = ngx_max(wait, rt[i].timeout);
    }

    ctx->deadline = ngx_current_msec + wait + 1000;

    ctx->timer.handler = ngx_http_audit_test_poll;
    ctx->timer.data = ctx;
    ctx->timer.log = r->connection->log;

    ngx_add_timer(&ctx->timer, NGX_HTTP_AUDIT_TEST_POLL);
}


static void
ngx_http_audit_test_poll(ngx_event_t *ev)
{
    ngx_uint_t                      i, n, waiting;
    ngx_http_audit_test_ctx_t      *ctx = ev->data;
    ngx_http_audit_alert_result_t  *res;

    res = ngx_http_audit_alert_test_results(ctx->slot, ctx->gen);
    (void) ngx_http_audit_alert_routes(&n);

    waiting = 0;

    for (i = 0; res && i < n; i++) {
        waiting += !res[i].done;
    }

    if (res && ctx->tracker) {
        waiting += !res[NGX_HTTP_AUDIT_ALERT_ROUTES].done;
    }

    if (waiting && (ngx_msec_int_t) (ctx->deadline - ngx_current_msec) > 0) {
        ngx_add_timer(ev, NGX_HTTP_AUDIT_TEST_POLL);
        return;
    }

    ngx_http_audit_test_answer(ctx);
}


static void
ngx_http_audit_test_answer(ngx_http_audit_test_ctx_t *ctx)
{
    u_char                         *p, *last;
    ngx_int_t                       rc;
    ngx_buf_t                      *b;
    ngx_uint_t                      i, n;
    ngx_chain_t                     out;
    ngx_http_request_t             *r;
    ngx_http_audit_alert_route_t   *rt;
    ngx_http_audit_alert_result_t  *res;

    r = ctx->request;

    res = ngx_http_audit_alert_test_results(ctx->slot, ctx->gen);
    rt = ngx_http_audit_alert_routes(&n);

    b = ngx_create_temp_buf(r->pool, 4096);
    if (b == NULL || res == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    p = b->last;
    last = b->end;

    p = ngx_slprintf(p, last, "{\"request_id\":\"%V\",\"results\":[",
                     &ctx->request_id);

    for (i = 0; i < n; i++) {
        p = ngx_slprintf(p, last, i ? "," : "");
        p = ngx_http_audit_test_result(p, last, (const char *) rt[i].name,
                                       &res[i]);
    }

    if (ctx->tracker) {
        p = ngx_slprintf(p, last, n ? "," : "");
        p = ngx_http_audit_test_result(p, last, "tracker",
                                       &res[NGX_HTTP_AUDIT_ALERT_ROUTES]);
    }

    p = ngx_slprintf(p, last, "]}" CRLF);

    b->last = p;
    b->last_buf = 1;
    b->last_in_chain = 1;

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = p - b->pos;
    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        ngx_http_finalize_request(r, rc);
        return;
    }

    out.buf = b;
    out.next = NULL;

    ngx_http_finalize_request(r, ngx_http_output_filter(r, &out));
}


/* accepted, refused (status), timed_out, failed (what), breaker_open */

static u_char *
ngx_http_audit_test_result(u_char *p, u_char *last, const char *name,
    ngx_http_audit_alert_result_t *res)
{
    p = ngx_slprintf(p, last, "{\"destination\":\"%s\",", name);

    if (!res->done
        || (res->rc == NGX_ABORT && res->what
            && ngx_strstr(res->what, "timed out")))
    {
        return ngx_slprintf(p, last, "\"result\":\"timed_out\"}");
    }

    switch (res->rc) {

    case NGX_OK:
        return ngx_slprintf(p, last, "\"result\":\"accepted\","
                            "\"status\":%ui}", res->status);

    case NGX_DECLINED:
    case NGX_ERROR:
    case NGX_AGAIN:
        if (res->status) {
            return ngx_slprintf(p, last, "\"result\":\"refused\","
                                "\"status\":%ui}", res->status);
        }

        break;

    case NGX_ABORT:
        if (res->what && ngx_strcmp(res->what, "breaker") == 0) {
            return ngx_slprintf(p, last, "\"result\":\"breaker_open\"}");
        }

        break;
    }

    return ngx_slprintf(p, last, "\"result\":\"failed\",\"error\":\"%s\"}",
                        res->what ? res->what : "unknown");
}


static void
ngx_http_audit_test_cleanup(void *data)
{
    ngx_http_audit_test_ctx_t  *ctx = data;

    if (ctx->timer.timer_set) {
        ngx_del_timer(&ctx->timer);
    }

    ngx_http_audit_alert_test_free(ctx->slot);
}


/* the tracker's result of audit_test, in the slot after the routes */

void
ngx_http_audit_alert_test_tracker(void *tag, ngx_int_t rc,
    ngx_uint_t status, const char *what)
{
    ngx_http_audit_alert_t  *a;

    a = ngx_http_audit_alert_worker();

    if (a) {
        ngx_http_audit_alert_test_result(a, tag, NGX_HTTP_AUDIT_ALERT_ROUTES,
                                         rc, status, what);
    }
}


void
ngx_http_audit_alert_test_result(ngx_http_audit_alert_t *a, void *tag,
    ngx_uint_t i, ngx_int_t rc, ngx_uint_t status, const char *what)
{
    ngx_uint_t                      slot, gen;
    ngx_http_audit_alert_result_t  *res;

    slot = ((uintptr_t) tag & 0xff) - 1;
    gen = (uintptr_t) tag >> 8;

    if (slot < NGX_HTTP_AUDIT_ALERT_TESTS && a->test_gen[slot] == gen) {
        res = &a->results[slot][i];
        res->done = 1;
        res->rc = rc;
        res->status = status;
        res->what = what;
    }
}


/* audit_test: a slot for a request waiting for its results */

ngx_int_t
ngx_http_audit_alert_test_slot(ngx_uint_t *slot, ngx_uint_t *gen)
{
    ngx_uint_t               i;
    ngx_http_audit_alert_t  *a;

    a = ngx_http_audit_alert_worker();
    if (a == NULL) {
        return NGX_DECLINED;
    }

    for (i = 0; i < NGX_HTTP_AUDIT_ALERT_TESTS; i++) {
        if (a->test_gen[i] % 2 == 0) {
            a->test_gen[i]++;                 /* odd: in use */
            ngx_memzero(a->results[i], sizeof(a->results[i]));
            *slot = i;
            *gen = a->test_gen[i];
            return NGX_OK;
        }
    }

    return NGX_BUSY;
}


void
ngx_http_audit_alert_test_free(ngx_uint_t slot)
{
    ngx_http_audit_alert_t  *a;

    a = ngx_http_audit_alert_worker();

    if (a && slot < NGX_HTTP_AUDIT_ALERT_TESTS && a->test_gen[slot] % 2) {
        a->test_gen[slot]++;
    }
}


ngx_http_audit_alert_result_t *
ngx_http_audit_alert_test_results(ngx_uint_t slot, ngx_uint_t gen)
{
    ngx_http_audit_alert_t  *a;

    a = ngx_http_audit_alert_worker();

    if (a == NULL || slot >= NGX_HTTP_AUDIT_ALERT_TESTS
        || a->test_gen[slot] != gen)
    {
        return NULL;
    }

    return a->results[slot];
}


ngx_http_audit_alert_route_t *
ngx_http_audit_alert_routes(ngx_uint_t *n)
{
    ngx_http_audit_alert_t  *a;

    a = ngx_http_audit_alert_worker();
    *n = a ? a->ndests : 0;

    return (a && a->ndests) ? a->dests[0].route : NULL;
}


/* a clearly labelled test alert to each route, results in the slot */

ngx_int_t
ngx_http_audit_alert_test_send(ngx_http_request_t *r, ngx_uint_t slot,
    ngx_uint_t gen)
{
    u_char                   rid[64];
    ngx_int_t                room;
    ngx_str_t                id;
    ngx_uint_t               i;
    audit_alert_t            al;
    ngx_http_audit_alert_t  *a;

    a = ngx_http_audit_alert_worker();
    if (a == NULL) {
        return NGX_DECLINED;
    }

    ngx_memzero(&al, sizeof(audit_alert_t));
    al.fingerprint = "audit_test";
    al.name = "audit_test";
    al.summary = "Test alert from audit_test: routing works, no action "
                 "needed";
    al.detail = "sent on request by an administrator to check this route";
    al.group = "test";
    al.count = 1;
    al.test = 1;
    al.starts_ms = ngx_http_audit_alert_now_ms();

    if (ngx_http_audit_request_id(r, &id) == NGX_OK
        && id.len < sizeof(rid))
    {
        *ngx_cpymem(rid, id.data, id.len) = '\0';
        al.request_id = (const char *) rid;
    }

    for (i = 0; i < a->ndests; i++) {
        room = ngx_http_audit_deliver_room(a->dests[i].deliver);

        if (room != NGX_OK) {
            /* not queued: the breaker is open or the queue full */
            a->results[slot][i].done = 1;
            a->results[slot][i].rc = NGX_ABORT;
            a->results[slot][i].what = (room == NGX_ABORT) ? "breaker"
                                                           : "queue full";
            continue;
        }

        ngx_http_audit_alert_send(a, &al, AUDIT_SEV_INFO,
                                  ngx_http_audit_alert_test_tag(slot, gen),
                                  i);
    }

    return NGX_OK;
}
