
/*
 * ngx_http_audit_module: delivery to a service over the outbound HTTP
 * client (ngx_http_audit_http.h), shared by the error tracker and the
 * alert routes.
 *
 * A bounded queue of request bodies per destination and worker, sent one
 * at a time; a circuit breaker that opens after repeated network failures
 * (everything queued is dropped and nothing is tried for a minute); an
 * answer the owner judges retryable (429, 5xx) keeps the body at the
 * queue's head for a later attempt, after the Retry-After the owner read,
 * a bounded number of times.  The owner encodes the bodies, builds each
 * request and judges each answer; every queued body ends exactly once in
 * the ended callback.  Bodies are ngx_alloc()ed by the owner and freed
 * here.
 */


#ifndef _NGX_HTTP_AUDIT_DELIVER_H_INCLUDED_
#define _NGX_HTTP_AUDIT_DELIVER_H_INCLUDED_


#include "ngx_http_audit_http.h"


#define NGX_HTTP_AUDIT_DELIVER_QUEUE     64
#define NGX_HTTP_AUDIT_DELIVER_FAILURES  5
#define NGX_HTTP_AUDIT_DELIVER_COOLDOWN  60000
#define NGX_HTTP_AUDIT_DELIVER_ATTEMPTS  3


typedef struct ngx_http_audit_deliver_s  ngx_http_audit_deliver_t;


typedef struct {
    u_char                      *data;
    size_t                       len;
    ngx_uint_t                   flag;             /* the owner's */
    void                        *tag;              /* the owner's */
    ngx_uint_t                   attempts;
} ngx_http_audit_deliver_item_t;


/*
 * How an item ended: NGX_OK accepted, NGX_DECLINED refused (status),
 * NGX_ERROR failed answer or not sendable, NGX_ABORT network failure or
 * open breaker, NGX_DONE dropped at the worker's exit.
 */
typedef void (*ngx_http_audit_deliver_ended_pt)(void *data,
    ngx_http_audit_deliver_item_t *it, ngx_int_t rc, ngx_uint_t status,
    const char *what);

/* the whole request for it into buf, or NULL when it does not fit */
typedef u_char *(*ngx_http_audit_deliver_build_pt)(void *data,
    ngx_http_audit_deliver_item_t *it, u_char *buf, size_t size);

/*
 * An answer judged: NGX_OK, NGX_DECLINED, NGX_ERROR as above, NGX_AGAIN
 * to try again (after ngx_http_audit_deliver_retry_in(), or a backoff).
 */
typedef ngx_int_t (*ngx_http_audit_deliver_judge_pt)(void *data,
    ngx_http_audit_deliver_item_t *it, ngx_http_audit_http_response_t *resp);


typedef struct {
    const char                  *peer;             /* in messages */
    size_t                       out_size;         /* largest request */
    ngx_http_audit_deliver_build_pt  build;
    ngx_http_audit_deliver_judge_pt  judge;
    ngx_http_audit_deliver_ended_pt  ended;
    void                        *data;
    ngx_uint_t                   error_fails;      /* NGX_ERROR counts for
                                                      the breaker */
    ngx_atomic_uint_t           *queued;           /* gauges, or NULL */
    ngx_atomic_uint_t           *breaker;
} ngx_http_audit_deliver_conf_t;


/* from init_process; hcf's done, fail and data are set here */
ngx_http_audit_deliver_t *ngx_http_audit_deliver_create(ngx_cycle_t *cycle,
    ngx_http_audit_deliver_conf_t *conf, ngx_http_audit_http_conf_t *hcf);
void ngx_http_audit_deliver_close(ngx_http_audit_deliver_t *d);

/* NGX_OK when one more item may be pushed, NGX_ABORT breaker open,
 * NGX_BUSY queue full */
ngx_int_t ngx_http_audit_deliver_room(ngx_http_audit_deliver_t *d);
ngx_uint_t ngx_http_audit_deliver_open(ngx_http_audit_deliver_t *d);

/* queues an ngx_alloc()ed body (after room() said NGX_OK) */
void ngx_http_audit_deliver_push(ngx_http_audit_deliver_t *d, u_char *data,
    size_t len, ngx_uint_t flag, void *tag);

/* from the judge: wait so long before the next attempt */
void ngx_http_audit_deliver_retry_in(ngx_http_audit_deliver_t *d,
    ngx_msec_t ms);

/* Retry-After (seconds or an HTTP date) in ms, or 0 */
ngx_msec_t ngx_http_audit_deliver_retry_after(
    ngx_http_audit_http_response_t *resp);


#endif /* _NGX_HTTP_AUDIT_DELIVER_H_INCLUDED_ */
