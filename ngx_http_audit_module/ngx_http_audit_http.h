
/*
 * ngx_http_audit_module: a worker-level outbound HTTP/1.1 client, like
 * the OCSP stapling one in nginx, for the sinks that talk to a service
 * (the error tracker; webhooks).
 *
 * One request at a time over one connection to an address resolved when
 * the configuration was read, optionally TLS with the certificate and its
 * name verified; the connection is kept alive when the response allows.
 * The caller owns the request buffer, which must stay until its request
 * ends; every request ends exactly once, in the done or in the fail
 * callback, and the client is idle again by then, so a callback may start
 * the next request.
 */


#ifndef _NGX_HTTP_AUDIT_HTTP_H_INCLUDED_
#define _NGX_HTTP_AUDIT_HTTP_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_event_connect.h>


typedef struct ngx_http_audit_http_s  ngx_http_audit_http_t;


/* a response's status and header lines, valid during the done callback */
typedef struct {
    ngx_uint_t                   status;
    u_char                      *headers;          /* after the status line */
    u_char                      *headers_end;      /* the blank line's end */
} ngx_http_audit_http_response_t;


typedef void (*ngx_http_audit_http_done_pt)(void *data,
    ngx_http_audit_http_response_t *resp);
/* what failed, for a message: "connect", "SSL handshake", "read", ... */
typedef void (*ngx_http_audit_http_fail_pt)(void *data, const char *what);


typedef struct {
    ngx_addr_t                  *addr;
    ngx_str_t                   *host;             /* in messages */
    ngx_str_t                   *name;             /* certificate, SNI; NUL */
    const char                  *peer;             /* in messages: "Sentry" */
#if (NGX_SSL)
    ngx_ssl_t                   *ssl;              /* NULL: plain HTTP */
#endif
    ngx_msec_t                   timeout;          /* a whole request */
    ngx_http_audit_http_done_pt  done;
    ngx_http_audit_http_fail_pt  fail;
    void                        *data;             /* for the callbacks */
} ngx_http_audit_http_conf_t;


/* from init_process: conf is copied, its pointers must outlive the client */
ngx_http_audit_http_t *ngx_http_audit_http_create(ngx_pool_t *pool,
    ngx_log_t *log, ngx_http_audit_http_conf_t *conf);

/* sends buf (a whole request) when the client is not busy */
void ngx_http_audit_http_request(ngx_http_audit_http_t *h, u_char *buf,
    size_t len);
ngx_uint_t ngx_http_audit_http_busy(ngx_http_audit_http_t *h);

/* drops the connection; a request in flight ends with no callback */
void ngx_http_audit_http_close(ngx_http_audit_http_t *h);

/* the last non-empty value of a header ("Retry-After"), or NGX_DECLINED */
ngx_int_t ngx_http_audit_http_header(ngx_http_audit_http_response_t *resp,
    const char *name, ngx_str_t *value);


#endif /* _NGX_HTTP_AUDIT_HTTP_H_INCLUDED_ */
