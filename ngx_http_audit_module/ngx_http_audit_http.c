
/*
 * ngx_http_audit_module: the outbound HTTP/1.1 client (see
 * ngx_http_audit_http.h).
 *
 * Everything runs in the worker's event loop and nothing blocks: the
 * address was resolved when the configuration was read, the connect, the
 * TLS handshake, the write and the read are driven by events, and one
 * timer bounds the whole request.  Only the status line and the headers
 * are parsed: the services we talk to answer with a small body nobody
 * reads.
 */


#include "ngx_http_audit_http.h"


#define NGX_HTTP_AUDIT_HTTP_RESPONSE  4096


struct ngx_http_audit_http_s {
    ngx_http_audit_http_conf_t   conf;
    ngx_log_t                   *log;

    ngx_peer_connection_t        pc;
    ngx_uint_t                   connected;
    ngx_uint_t                   busy;

    u_char                      *out;              /* request on the wire */
    size_t                       out_len;
    size_t                       out_sent;

    u_char                       in[NGX_HTTP_AUDIT_HTTP_RESPONSE];
    size_t                       in_len;

    ngx_event_t                  timer;            /* timeout */
};


static void ngx_http_audit_http_connect(ngx_http_audit_http_t *h);
#if (NGX_SSL)
static void ngx_http_audit_http_ssl_start(ngx_http_audit_http_t *h,
    ngx_connection_t *c);
static void ngx_http_audit_http_handshake(ngx_connection_t *c);
#endif
static void ngx_http_audit_http_write_handler(ngx_event_t *wev);
static void ngx_http_audit_http_read_handler(ngx_event_t *rev);
static ngx_int_t ngx_http_audit_http_response(ngx_http_audit_http_t *h);
static u_char *ngx_http_audit_http_line(u_char *p, u_char *end,
    ngx_str_t *name, ngx_str_t *value);
static void ngx_http_audit_http_finish(ngx_http_audit_http_t *h,
    ngx_uint_t keepalive);
static void ngx_http_audit_http_fail(ngx_http_audit_http_t *h,
    const char *what);
static void ngx_http_audit_http_timeout(ngx_event_t *ev);
static void ngx_http_audit_http_dummy(ngx_event_t *ev);


ngx_http_audit_http_t *
ngx_http_audit_http_create(ngx_pool_t *pool, ngx_log_t *log,
    ngx_http_audit_http_conf_t *conf)
{
    ngx_http_audit_http_t  *h;

    h = ngx_pcalloc(pool, sizeof(ngx_http_audit_http_t));
    if (h == NULL) {
        return NULL;
    }

    h->conf = *conf;
    h->log = log;

    h->timer.handler = ngx_http_audit_http_timeout;
    h->timer.data = h;
    h->timer.log = log;
    h->timer.cancelable = 1;

    return h;
}


void
ngx_http_audit_http_request(ngx_http_audit_http_t *h, u_char *buf,
    size_t len)
{
    h->out = buf;
    h->out_len = len;
    h->out_sent = 0;
    h->in_len = 0;
    h->busy = 1;

    ngx_add_timer(&h->timer, h->conf.timeout);

    if (!h->connected) {
        ngx_http_audit_http_connect(h);
        return;
    }

    ngx_http_audit_http_write_handler(h->pc.connection->write);
}


ngx_uint_t
ngx_http_audit_http_busy(ngx_http_audit_http_t *h)
{
    return h->busy;
}


static void
ngx_http_audit_http_connect(ngx_http_audit_http_t *h)
{
    ngx_int_t          rc;
    ngx_connection_t  *c;

    ngx_memzero(&h->pc, sizeof(ngx_peer_connection_t));

    h->pc.sockaddr = h->conf.addr->sockaddr;
    h->pc.socklen = h->conf.addr->socklen;
    h->pc.name = &h->conf.addr->name;
    h->pc.get = ngx_event_get_peer;
    h->pc.log = h->log;
    h->pc.log_error = NGX_ERROR_ERR;

    rc = ngx_event_connect_peer(&h->pc);

    if (rc == NGX_ERROR || rc == NGX_BUSY || rc == NGX_DECLINED) {
        ngx_http_audit_http_fail(h, "connect");
        return;
    }

    c = h->pc.connection;
    c->data = h;
    c->read->handler = ngx_http_audit_http_read_handler;
    c->write->handler = ngx_http_audit_http_write_handler;

    /* SSL keeps its per-connection state in c->pool */
    c->pool = ngx_create_pool(1024, h->log);
    if (c->pool == NULL) {
        ngx_http_audit_http_fail(h, "connect");
        return;
    }

#if (NGX_SSL)
    if (h->conf.ssl) {

        /* with NGX_AGAIN the handshake starts once TCP is up */
        if (rc != NGX_AGAIN) {
            ngx_http_audit_http_ssl_start(h, c);
        }

        return;
    }
#endif

    h->connected = 1;

    if (rc == NGX_OK) {
        ngx_http_audit_http_write_handler(c->write);
    }
}


#if (NGX_SSL)

static void
ngx_http_audit_http_ssl_start(ngx_http_audit_http_t *h, ngx_connection_t *c)
{
    if (ngx_ssl_create_connection(h->conf.ssl, c, NGX_SSL_CLIENT) != NGX_OK) {
        ngx_http_audit_http_fail(h, "SSL");
        return;
    }

    /* SNI: a hosted service serves many names on one address */
    SSL_set_tlsext_host_name(c->ssl->connection,
                             (char *) h->conf.name->data);

    if (ngx_ssl_handshake(c) == NGX_AGAIN) {
        c->ssl->handler = ngx_http_audit_http_handshake;
        return;
    }

    ngx_http_audit_http_handshake(c);
}


static void
ngx_http_audit_http_handshake(ngx_connection_t *c)
{
    long                    rc;
    ngx_http_audit_http_t  *h = c->data;

    if (!c->ssl->handshaked) {
        ngx_http_audit_http_fail(h, "SSL handshake");
        return;
    }

    rc = SSL_get_verify_result(c->ssl->connection);

    if (rc != X509_V_OK
        || ngx_ssl_check_host(c, h->conf.name) != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ERR, h->log, 0,
                      "audit: %s certificate of \"%V\" not trusted: %s",
                      h->conf.peer, h->conf.host,
                      X509_verify_cert_error_string(rc));
        ngx_http_audit_http_fail(h, "certificate");
        return;
    }

    c->read->handler = ngx_http_audit_http_read_handler;
    c->write->handler = ngx_http_audit_http_write_handler;

    h->connected = 1;

    ngx_http_audit_http_write_handler(c->write);
}

#endif


static void
ngx_http_audit_http_write_handler(ngx_event_t *wev)
{
    ssize_t                 n;
    ngx_connection_t       *c = wev->data;
    ngx_http_audit_http_t  *h = c->data;

#if (NGX_SSL)
    if (h->conf.ssl && c->ssl == NULL) {
        /* connected: now the TLS handshake */
        ngx_http_audit_http_ssl_start(h, c);
        return;
    }
#endif

    if (!h->busy) {
        return;
    }

    while (h->out_sent < h->out_len) {

        n = c->send(c, h->out + h->out_sent, h->out_len - h->out_sent);

        if (n == NGX_AGAIN) {
            if (ngx_handle_write_event(wev, 0) != NGX_OK) {
                ngx_http_audit_http_fail(h, "send");
            }
            return;
        }

        if (n == NGX_ERROR || n == 0) {
            ngx_http_audit_http_fail(h, "send");
            return;
        }

        h->out_sent += n;
    }

    h->connected = 1;
    wev->handler = ngx_http_audit_http_dummy;

    if (ngx_handle_read_event(c->read, 0) != NGX_OK) {
        ngx_http_audit_http_fail(h, "read");
    }
}


static void
ngx_http_audit_http_read_handler(ngx_event_t *rev)
{
    ssize_t                 n;
    ngx_int_t               rc;
    ngx_connection_t       *c = rev->data;
    ngx_http_audit_http_t  *h = c->data;

    if (!h->busy) {
        /* an idle keep-alive connection closed by the server */
        ngx_http_audit_http_close(h);
        return;
    }

    for ( ;; ) {
        n = c->recv(c, h->in + h->in_len, sizeof(h->in) - h->in_len);

        if (n == NGX_AGAIN) {
            if (ngx_handle_read_event(rev, 0) != NGX_OK) {
                ngx_http_audit_http_fail(h, "read");
            }
            return;
        }

        if (n == NGX_ERROR || n == 0) {
            ngx_http_audit_http_fail(h, "read");
            return;
        }

        h->in_len += n;

        rc = ngx_http_audit_http_response(h);

        if (rc != NGX_AGAIN) {
            return;
        }

        if (h->in_len == sizeof(h->in)) {
            ngx_http_audit_http_fail(h, "response too long");
            return;
        }
    }
}


/*
 * A response whose length is known and whole is a keep-alive candidate;
 * anything else closes.  The body is not waited for beyond what fits the
 * buffer, and is not read.
 */

static ngx_int_t
ngx_http_audit_http_response(ngx_http_audit_http_t *h)
{
    u_char                          *p, *last, *end;
    ngx_int_t                        status;
    ngx_str_t                        name, value;
    ngx_uint_t                       keepalive;
    size_t                           body;
    ngx_http_audit_http_response_t   resp;

    last = h->in + h->in_len;

    end = ngx_strlcasestrn(h->in, last, (u_char *) CRLF CRLF, 4 - 1);
    if (end == NULL) {
        return NGX_AGAIN;
    }

    end += 4;

    if (h->in_len < sizeof("HTTP/1.1 200") - 1
        || ngx_strncmp(h->in, "HTTP/1.", 7) != 0)
    {
        ngx_http_audit_http_fail(h, "bad response");
        return NGX_ERROR;
    }

    status = ngx_atoi(h->in + 9, 3);
    if (status == NGX_ERROR) {
        ngx_http_audit_http_fail(h, "bad status");
        return NGX_ERROR;
    }

    resp.status = status;
    resp.headers = ngx_strlchr(h->in, end, '\n') + 1;
    resp.headers_end = end;

    keepalive = 0;
    body = (size_t) -1;

    for (p = resp.headers;
         (p = ngx_http_audit_http_line(p, end, &name, &value)) != NULL;
         /* void */)
    {
        if (value.len == 0) {
            continue;
        }

        if (name.len == sizeof("Content-Length") - 1
            && ngx_strncasecmp(name.data, (u_char *) "Content-Length",
                               name.len)
               == 0)
        {
            body = ngx_atosz(value.data, value.len);
            keepalive = 1;

        } else if (name.len == sizeof("Connection") - 1
                   && ngx_strncasecmp(name.data, (u_char *) "Connection",
                                      name.len)
                      == 0
                   && ngx_strlcasestrn(value.data, value.data + value.len,
                                       (u_char *) "close", 5 - 1))
        {
            body = (size_t) -1;
        }
    }

    if (keepalive && body != (size_t) -1 && (size_t) (last - end) < body) {
        /* the rest of a small body is on its way */
        return NGX_AGAIN;
    }

    keepalive = keepalive && body != (size_t) -1
                && (size_t) (last - end) == body;

    ngx_http_audit_http_finish(h, keepalive);

    h->conf.done(h->conf.data, &resp);

    return NGX_OK;
}


ngx_int_t
ngx_http_audit_http_header(ngx_http_audit_http_response_t *resp,
    const char *name, ngx_str_t *value)
{
    u_char     *p;
    size_t      len;
    ngx_int_t   rc;
    ngx_str_t   n, v;

    len = ngx_strlen(name);
    rc = NGX_DECLINED;

    for (p = resp->headers;
         (p = ngx_http_audit_http_line(p, resp->headers_end, &n, &v))
         != NULL;
         /* void */)
    {
        if (v.len && n.len == len
            && ngx_strncasecmp(n.data, (u_char *) name, len) == 0)
        {
            *value = v;
            rc = NGX_OK;
        }
    }

    return rc;
}


/*
 * The header line at p, up to end (the blank line's end): its name (up
 * to the colon) and its value, trimmed; the next line, or NULL after the
 * last.  A line with no colon has an empty value.
 */

static u_char *
ngx_http_audit_http_line(u_char *p, u_char *end, ngx_str_t *name,
    ngx_str_t *value)
{
    u_char  *eol, *colon, *last;

    if (p >= end - 2) {
        return NULL;
    }

    eol = ngx_strlchr(p, end, '\n');
    if (eol == NULL) {
        return NULL;
    }

    ngx_str_null(value);

    colon = ngx_strlchr(p, eol, ':');

    name->data = p;
    name->len = colon ? (size_t) (colon - p) : 0;

    if (colon) {
        for (colon++; colon < eol && *colon == ' '; colon++) {
            /* void */
        }

        last = eol;

        while (last > colon && (last[-1] == '\r' || last[-1] == '\n'
                                || last[-1] == ' '))
        {
            last--;
        }

        value->data = colon;
        value->len = last - colon;
    }

    return eol + 1;
}


/*
 * The request is over: the client is idle before a callback runs, so the
 * callback may send the next request on the connection kept.
 */

static void
ngx_http_audit_http_finish(ngx_http_audit_http_t *h, ngx_uint_t keepalive)
{
    if (h->timer.timer_set) {
        ngx_del_timer(&h->timer);
    }

    h->busy = 0;

    if (!keepalive) {
        ngx_http_audit_http_close(h);

    } else if (h->pc.connection) {
        h->pc.connection->write->handler = ngx_http_audit_http_write_handler;
    }
}


static void
ngx_http_audit_http_fail(ngx_http_audit_http_t *h, const char *what)
{
    ngx_http_audit_http_finish(h, 0);

    h->conf.fail(h->conf.data, what);
}


void
ngx_http_audit_http_close(ngx_http_audit_http_t *h)
{
    ngx_connection_t  *c;

    if (h->timer.timer_set) {
        ngx_del_timer(&h->timer);
    }

    c = h->pc.connection;

    if (c) {
#if (NGX_SSL)
        if (c->ssl) {
            c->ssl->no_wait_shutdown = 1;
            (void) ngx_ssl_shutdown(c);
        }
#endif
        if (c->pool) {
            ngx_destroy_pool(c->pool);
            c->pool = NULL;
        }

        ngx_close_connection(c);
        h->pc.connection = NULL;
    }

    h->connected = 0;
}


static void
ngx_http_audit_http_timeout(ngx_event_t *ev)
{
    ngx_http_audit_http_t  *h = ev->data;

    ngx_http_audit_http_fail(h, "request timed out:");
}


static void
ngx_http_audit_http_dummy(ngx_event_t *ev)
{
}
