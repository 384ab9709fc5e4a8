
/*
 * ngx_http_audit_module: a bounded queue, a circuit breaker and retries
 * over the outbound HTTP client (see ngx_http_audit_deliver.h).
 *
 * Everything runs in the worker's event loop: a push on the request path
 * only queues and, when the client is idle, starts its request, which
 * does not wait for anything.
 */


#include "ngx_http_audit_deliver.h"


struct ngx_http_audit_deliver_s {
    ngx_http_audit_deliver_conf_t  conf;
    ngx_log_t                     *log;
    ngx_http_audit_http_t         *http;

    ngx_http_audit_deliver_item_t  queue[NGX_HTTP_AUDIT_DELIVER_QUEUE];
    ngx_uint_t                     head;
    ngx_uint_t                     n;

    u_char                        *out;             /* request on the wire */

    ngx_event_t                    cooldown;        /* closes the breaker */
    ngx_event_t                    retry;           /* the next attempt */
    ngx_msec_t                     retry_ms;

    ngx_uint_t                     failures;
    ngx_msec_t                     breaker_until;
};


static void ngx_http_audit_deliver_next(ngx_http_audit_deliver_t *d);
static void ngx_http_audit_deliver_response(void *data,
    ngx_http_audit_http_response_t *resp);
static void ngx_http_audit_deliver_fail(void *data, const char *what);
static void ngx_http_audit_deliver_failure(ngx_http_audit_deliver_t *d);
static void ngx_http_audit_deliver_end(ngx_http_audit_deliver_t *d,
    ngx_int_t rc, ngx_uint_t status, const char *what, ngx_uint_t tail);
static void ngx_http_audit_deliver_gauges(ngx_http_audit_deliver_t *d);
static void ngx_http_audit_deliver_retry_handler(ngx_event_t *ev);
static void ngx_http_audit_deliver_cooldown(ngx_event_t *ev);


ngx_http_audit_deliver_t *
ngx_http_audit_deliver_create(ngx_cycle_t *cycle,
    ngx_http_audit_deliver_conf_t *conf, ngx_http_audit_http_conf_t *hcf)
{
    ngx_http_audit_deliver_t  *d;

    d = ngx_pcalloc(cycle->pool, sizeof(ngx_http_audit_deliver_t));
    if (d == NULL) {
        return NULL;
    }

    d->conf = *conf;
    d->log = cycle->log;

    d->out = ngx_alloc(conf->out_size, cycle->log);
    if (d->out == NULL) {
        return NULL;
    }

    hcf->done = ngx_http_audit_deliver_response;
    hcf->fail = ngx_http_audit_deliver_fail;
    hcf->data = d;

    d->http = ngx_http_audit_http_create(cycle->pool, cycle->log, hcf);
    if (d->http == NULL) {
        ngx_free(d->out);
        return NULL;
    }

    /* the breaker's gauge closes with it, traffic or not */
    d->cooldown.handler = ngx_http_audit_deliver_cooldown;
    d->cooldown.data = d;
    d->cooldown.log = cycle->log;
    d->cooldown.cancelable = 1;

    d->retry.handler = ngx_http_audit_deliver_retry_handler;
    d->retry.data = d;
    d->retry.log = cycle->log;
    d->retry.cancelable = 1;

    return d;
}


void
ngx_http_audit_deliver_close(ngx_http_audit_deliver_t *d)
{
    if (d == NULL) {
        return;
    }

    ngx_http_audit_http_close(d->http);

    if (d->cooldown.timer_set) {
        ngx_del_timer(&d->cooldown);
    }

    if (d->retry.timer_set) {
        ngx_del_timer(&d->retry);
    }

    /* what is still queued at exit is dropped, as a graceful shutdown
     * already does (ngx_exiting stops the sender) */
    while (d->n) {
        ngx_http_audit_deliver_end(d, NGX_DONE, 0, "exit", 0);
    }

    d->breaker_until = 0;
    ngx_http_audit_deliver_gauges(d);

    ngx_free(d->out);
    d->out = NULL;
}


ngx_int_t
ngx_http_audit_deliver_room(ngx_http_audit_deliver_t *d)
{
    if (ngx_http_audit_deliver_open(d)) {
        return NGX_ABORT;
    }

    return d->n == NGX_HTTP_AUDIT_DELIVER_QUEUE ? NGX_BUSY : NGX_OK;
}


/* whether the breaker is open; once its minute is over it closes */

ngx_uint_t
ngx_http_audit_deliver_open(ngx_http_audit_deliver_t *d)
{
    if (d->breaker_until == 0) {
        return 0;
    }

    if (ngx_current_msec < d->breaker_until) {
        return 1;
    }

    d->breaker_until = 0;
    ngx_http_audit_deliver_gauges(d);

    return 0;
}


void
ngx_http_audit_deliver_push(ngx_http_audit_deliver_t *d, u_char *data,
    size_t len, ngx_uint_t flag, void *tag)
{
    ngx_http_audit_deliver_item_t  *it;

    it = &d->queue[(d->head + d->n) % NGX_HTTP_AUDIT_DELIVER_QUEUE];
    it->data = data;
    it->len = len;
    it->flag = flag;
    it->tag = tag;
    it->attempts = 0;
    d->n++;

    ngx_http_audit_deliver_gauges(d);

    ngx_http_audit_deliver_next(d);
}


void
ngx_http_audit_deliver_retry_in(ngx_http_audit_deliver_t *d, ngx_msec_t ms)
{
    d->retry_ms = ms;
}


ngx_msec_t
ngx_http_audit_deliver_retry_after(ngx_http_audit_http_response_t *resp)
{
    time_t     t;
    ngx_int_t  n;
    ngx_str_t  v;

    if (ngx_http_audit_http_header(resp, "Retry-After", &v) != NGX_OK) {
        return 0;
    }

    n = ngx_atoi(v.data, v.len);

    if (n == NGX_ERROR) {
        t = ngx_parse_http_time(v.data, v.len);
        if (t == NGX_ERROR || t <= ngx_time()) {
            return 0;
        }

        n = t - ngx_time();
    }

    /* an hour at most: a route is not silenced for a day by one answer */
    return (ngx_msec_t) ngx_min(n, 3600) * 1000;
}


/* the head of the queue, as one HTTP/1.1 request */

static void
ngx_http_audit_deliver_next(ngx_http_audit_deliver_t *d)
{
    u_char                         *p;
    ngx_http_audit_deliver_item_t  *it;

    if (d->n == 0 || ngx_http_audit_http_busy(d->http) || ngx_exiting
        || d->retry.timer_set)
    {
        return;
    }

    if (ngx_http_audit_deliver_open(d)) {
        while (d->n) {
            ngx_http_audit_deliver_end(d, NGX_ABORT, 0, "breaker", 0);
        }

        return;
    }

    it = &d->queue[d->head];

    p = d->conf.build(d->conf.data, it, d->out, d->conf.out_size);

    if (p == NULL) {
        ngx_http_audit_deliver_end(d, NGX_ERROR, 0, "too long", 0);
        ngx_http_audit_deliver_next(d);
        return;
    }

    it->attempts++;

    ngx_http_audit_http_request(d->http, d->out, p - d->out);
}


static void
ngx_http_audit_deliver_response(void *data,
    ngx_http_audit_http_response_t *resp)
{
    ngx_int_t                  rc;
    ngx_msec_t                 ms;
    ngx_uint_t                 attempts;
    ngx_http_audit_deliver_t  *d = data;

    d->retry_ms = 0;

    rc = d->conf.judge(d->conf.data, &d->queue[d->head], resp);

    if (rc != NGX_ERROR && rc != NGX_AGAIN) {
        /* the service answered: the breaker's count starts again */
        d->failures = 0;
        d->breaker_until = 0;
        ngx_http_audit_deliver_gauges(d);
    }

    if (rc == NGX_AGAIN) {
        attempts = d->queue[d->head].attempts;

        if (attempts < NGX_HTTP_AUDIT_DELIVER_ATTEMPTS) {
            ms = d->retry_ms ? d->retry_ms
                             : (ngx_msec_t) 500 << (attempts - 1);

            ngx_log_error(NGX_LOG_WARN, d->log, 0,
                          "audit: %s answered %ui, trying again in %M ms",
                          d->conf.peer, resp->status, ms);

            ngx_add_timer(&d->retry, ms);
            return;
        }

        /* a service that keeps failing: toward the breaker, below */
        rc = NGX_ERROR;
    }

    if (rc == NGX_ERROR && d->conf.error_fails) {
        ngx_http_audit_deliver_failure(d);
    }

    ngx_http_audit_deliver_end(d, rc, resp->status, NULL, 0);
    ngx_http_audit_deliver_next(d);
}


/*
 * A network failure: the item is dropped, and after
 * NGX_HTTP_AUDIT_DELIVER_FAILURES in a row the breaker opens for a
 * minute: everything queued is dropped and nothing is tried meanwhile.
 */

static void
ngx_http_audit_deliver_fail(void *data, const char *what)
{
    ngx_http_audit_deliver_t  *d = data;

    ngx_log_error(NGX_LOG_WARN, d->log, 0,
                  "audit: %s %s failed, an event is dropped",
                  d->conf.peer, what);

    ngx_http_audit_deliver_failure(d);

    ngx_http_audit_deliver_end(d, NGX_ABORT, 0, what, 0);
    ngx_http_audit_deliver_next(d);
}


/*
 * One more failure in a row: after NGX_HTTP_AUDIT_DELIVER_FAILURES the
 * breaker opens, and everything queued behind the head is dropped.
 */

static void
ngx_http_audit_deliver_failure(ngx_http_audit_deliver_t *d)
{
    if (++d->failures >= NGX_HTTP_AUDIT_DELIVER_FAILURES) {
        d->breaker_until = ngx_current_msec
                           + NGX_HTTP_AUDIT_DELIVER_COOLDOWN;
        d->failures = 0;

        ngx_http_audit_deliver_gauges(d);

        ngx_add_timer(&d->cooldown, NGX_HTTP_AUDIT_DELIVER_COOLDOWN);

        ngx_log_error(NGX_LOG_ERR, d->log, 0,
                      "audit: %s circuit breaker open for %d s after "
                      "%d failures, %ui queued events dropped",
                      d->conf.peer, NGX_HTTP_AUDIT_DELIVER_COOLDOWN / 1000,
                      NGX_HTTP_AUDIT_DELIVER_FAILURES, d->n);

        while (d->n > 1) {
            ngx_http_audit_deliver_end(d, NGX_ABORT, 0, "breaker", 1);
        }
    }
}


/* the queue's head (or its tail) ended, one way or another */

static void
ngx_http_audit_deliver_end(ngx_http_audit_deliver_t *d, ngx_int_t rc,
    ngx_uint_t status, const char *what, ngx_uint_t tail)
{
    ngx_uint_t                      i;
    ngx_http_audit_deliver_item_t  *it;

    if (d->n == 0) {
        return;
    }

    i = tail ? (d->head + d->n - 1) % NGX_HTTP_AUDIT_DELIVER_QUEUE : d->head;
    it = &d->queue[i];

    d->conf.ended(d->conf.data, it, rc, status, what);

    ngx_free(it->data);
    it->data = NULL;

    if (!tail) {
        d->head = (d->head + 1) % NGX_HTTP_AUDIT_DELIVER_QUEUE;
    }

    d->n--;

    ngx_http_audit_deliver_gauges(d);
}


static void
ngx_http_audit_deliver_gauges(ngx_http_audit_deliver_t *d)
{
    if (d->conf.queued) {
        *d->conf.queued = d->n;
    }

    if (d->conf.breaker) {
        *d->conf.breaker = (d->breaker_until != 0);
    }
}


static void
ngx_http_audit_deliver_retry_handler(ngx_event_t *ev)
{
    ngx_http_audit_deliver_next(ev->data);
}


static void
ngx_http_audit_deliver_cooldown(ngx_event_t *ev)
{
    (void) ngx_http_audit_deliver_open(ev->data);
}
