
/*
 * ngx_http_audit_log_module: the JSON-lines log, a sink of the audit
 * module (ngx_http_audit_sink.h).  It owns "audit_log": a file (or
 * stderr, or syslog) and each worker's buffer for it.
 *
 * Events are appended to a per-worker buffer and written out whole
 * lines at a time, when the buffer fills, when the flush timer fires,
 * before nginx reopens its files (USR1) and when the worker exits
 * (ngx_conf_flush_files() calls our flush for every open file).  The file
 * is opened O_APPEND by nginx, so the single write() of a flush lands
 * after whatever other workers wrote: lines never interleave.  Nothing
 * here calls fsync(); a write error is logged, once per flush.
 *
 * With audit_ring the buffer is a copy: each line stays in the worker's
 * ring until the write() that takes it to the file, so a worker killed
 * with lines in its buffer loses none (the next one writes them).
 */


#include "ngx_http_audit_module.h"
#include "ngx_http_audit_ring.h"


#define NGX_HTTP_AUDIT_LOG_BUFFER  (64 * 1024)
#define NGX_HTTP_AUDIT_LOG_FLUSH   1000

/* "<PRI>Mmm dd hh:mm:ss " + host name + tag + ": " (ngx_syslog.c) */
#define NGX_HTTP_AUDIT_SYSLOG_HEADER                                          \
    (sizeof("<255>Jan 01 00:00:00 ") + NGX_MAXHOSTNAMELEN + 32 + 2)


/* audit_log: a file (or stderr) and this worker's buffer for it */
typedef struct {
    ngx_open_file_t             *file;
    ngx_syslog_peer_t           *syslog;
    u_char                      *start;
    u_char                      *pos;
    u_char                      *last;
    ngx_msec_t                   flush;
    ngx_event_t                 *event;
    uint64_t                     ring_end;         /* of the buffer's last
                                                      line in the ring */
} ngx_http_audit_log_t;


typedef struct {
    ngx_http_audit_log_t        *log;              /* NULL: no audit_log */
    ngx_flag_t                   set;
} ngx_http_audit_log_main_conf_t;


static ngx_int_t ngx_http_audit_log_postconfiguration(ngx_conf_t *cf);
static void *ngx_http_audit_log_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_audit_log_conf(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_audit_log_syslog_conf(ngx_conf_t *cf,
    ngx_http_audit_log_main_conf_t *lmcf);
static void ngx_http_audit_log_syslog(ngx_http_audit_log_t *alog,
    u_char *line, size_t len, ngx_log_t *log);
static void ngx_http_audit_log_flush(ngx_open_file_t *file, ngx_log_t *log);
static void ngx_http_audit_log_flush_handler(ngx_event_t *ev);
static void ngx_http_audit_log_event(ngx_http_audit_record_t *rec);
static void ngx_http_audit_log_write(ngx_http_audit_log_t *alog, u_char *line,
    size_t len, uint64_t end, ngx_log_t *log);
static void ngx_http_audit_log_take(ngx_http_audit_ring_line_t *l);
static void ngx_http_audit_log_write_out(ngx_http_audit_log_t *alog,
    u_char *data, size_t len, ngx_log_t *log);


static ngx_command_t  ngx_http_audit_log_commands[] = {

    { ngx_string("audit_log"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_audit_log_conf,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_audit_log_module_ctx = {
    NULL,                                  /* preconfiguration */
    ngx_http_audit_log_postconfiguration,  /* postconfiguration */

    ngx_http_audit_log_create_main_conf,   /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    NULL,                                  /* create location configuration */
    NULL                                   /* merge location configuration */
};


ngx_module_t  ngx_http_audit_log_module = {
    NGX_MODULE_V1,
    &ngx_http_audit_log_module_ctx,        /* module context */
    ngx_http_audit_log_commands,           /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_http_audit_event_sink_pt  ngx_http_audit_log_next_sink;


static ngx_int_t
ngx_http_audit_log_postconfiguration(ngx_conf_t *cf)
{
    ngx_http_audit_log_main_conf_t  *lmcf;

    ngx_http_audit_log_next_sink = ngx_http_audit_top_event_sink;
    ngx_http_audit_top_event_sink = ngx_http_audit_log_event;

    lmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_audit_log_module);

    if (lmcf->log) {
        ngx_http_audit_ring_want(cf, NGX_HTTP_AUDIT_RING_LOG,
                                 ngx_http_audit_log_take);
    }

    return NGX_OK;
}


static void *
ngx_http_audit_log_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_audit_log_main_conf_t  *lmcf;

    lmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_audit_log_main_conf_t));
    if (lmcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     lmcf->log = NULL;
     *     lmcf->set = 0;
     */

    return lmcf;
}


static char *
ngx_http_audit_log_conf(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_audit_log_main_conf_t *lmcf = conf;

    ssize_t                size;
    ngx_str_t             *value, name, s;
    ngx_msec_t             flush;
    ngx_uint_t             i;
    ngx_http_audit_log_t  *alog;

    if (lmcf->set) {
        return "is duplicate";
    }

    lmcf->set = 1;

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        if (cf->args->nelts > 2) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"audit_log off\" takes no parameters");
            return NGX_CONF_ERROR;
        }

        return NGX_CONF_OK;
    }

    if (ngx_strncmp(value[1].data, "syslog:", 7) == 0) {
        return ngx_http_audit_log_syslog_conf(cf, lmcf);
    }

    size = NGX_HTTP_AUDIT_LOG_BUFFER;
    flush = NGX_HTTP_AUDIT_LOG_FLUSH;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "buffer=", 7) == 0) {
            s.data = value[i].data + 7;
            s.len = value[i].len - 7;

            size = ngx_parse_size(&s);
            if (size == NGX_ERROR) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid buffer size \"%V\" in "
                                   "\"audit_log\"", &s);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "flush=", 6) == 0) {
            s.data = value[i].data + 6;
            s.len = value[i].len - 6;

            flush = ngx_parse_time(&s, 0);
            if (flush == (ngx_msec_t) NGX_ERROR || flush == 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid flush time \"%V\" in "
                                   "\"audit_log\"", &s);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\" in \"audit_log\"",
                           &value[i]);
        return NGX_CONF_ERROR;
    }

    alog = ngx_pcalloc(cf->pool, sizeof(ngx_http_audit_log_t));
    if (alog == NULL) {
        return NGX_CONF_ERROR;
    }

    /* an empty name is nginx's way of saying stderr */

    name = value[1];
    if (ngx_strcmp(name.data, "stderr") == 0) {
        ngx_str_null(&name);
    }

    alog->file = ngx_conf_open_file(cf->cycle, &name);
    if (alog->file == NULL) {
        return NGX_CONF_ERROR;
    }

    if (alog->file->flush != NULL || alog->file->data != NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"audit_log\" file \"%V\" is already used by "
                           "another log", &value[1]);
        return NGX_CONF_ERROR;
    }

    if (size) {
        alog->start = ngx_pnalloc(cf->pool, size);
        if (alog->start == NULL) {
            return NGX_CONF_ERROR;
        }

        alog->pos = alog->start;
        alog->last = alog->start + size;
        alog->ring_end = NGX_HTTP_AUDIT_RING_NONE;
        alog->flush = flush;

        alog->event = ngx_pcalloc(cf->pool, sizeof(ngx_event_t));
        if (alog->event == NULL) {
            return NGX_CONF_ERROR;
        }

        alog->event->data = alog;
        alog->event->handler = ngx_http_audit_log_flush_handler;
        alog->event->log = &cf->cycle->new_log;
        alog->event->cancelable = 1;

        alog->file->flush = ngx_http_audit_log_flush;
        alog->file->data = alog;
    }

    lmcf->log = alog;
    ngx_http_audit_events_want(cf);

    return NGX_CONF_OK;
}


/*
 * "syslog:server=...[,facility=...][,tag=...]", parsed by nginx's own
 * syslog code: each event is one message, sent at once (a datagram is
 * never half-written, so there is nothing to buffer).
 */

static char *
ngx_http_audit_log_syslog_conf(ngx_conf_t *cf,
    ngx_http_audit_log_main_conf_t *lmcf)
{
    ngx_http_audit_log_t  *alog;

    if (cf->args->nelts > 2) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"audit_log\" to syslog takes no buffer= or "
                           "flush=: messages are sent one by one");
        return NGX_CONF_ERROR;
    }

    alog = ngx_pcalloc(cf->pool, sizeof(ngx_http_audit_log_t));
    if (alog == NULL) {
        return NGX_CONF_ERROR;
    }

    alog->syslog = ngx_pcalloc(cf->pool, sizeof(ngx_syslog_peer_t));
    if (alog->syslog == NULL) {
        return NGX_CONF_ERROR;
    }

    if (ngx_syslog_process_conf(cf, alog->syslog) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    lmcf->log = alog;
    ngx_http_audit_events_want(cf);

    return NGX_CONF_OK;
}


static void
ngx_http_audit_log_syslog(ngx_http_audit_log_t *alog, u_char *line,
    size_t len, ngx_log_t *log)
{
    u_char   *p, msg[NGX_HTTP_AUDIT_SYSLOG_HEADER + AUDIT_EVENT_MAX];
    ssize_t   n;

    p = ngx_syslog_add_header(alog->syslog, msg);

    /* the message is the JSON object; the datagram needs no "\n" */
    p = ngx_cpymem(p, line, len - 1);

    n = ngx_syslog_send(alog->syslog, msg, p - msg);

    if (n < 0) {
        ngx_log_error(NGX_LOG_WARN, log, ngx_socket_errno,
                      "audit: send() to syslog failed");
    }
}


static void
ngx_http_audit_log_event(ngx_http_audit_record_t *rec)
{
    ngx_http_audit_log_t            *alog;
    ngx_http_audit_log_main_conf_t  *lmcf;

    lmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_audit_log_module);

    if (lmcf && lmcf->log) {
        alog = lmcf->log;

        if (rec->ring_start == NGX_HTTP_AUDIT_RING_NONE && alog->start
            && ngx_http_audit_ring_worker())
        {
            /* the ring is full: the line must not wait in memory alone */
            ngx_http_audit_log_flush(alog->file, rec->log);
            ngx_http_audit_log_write_out(alog, rec->line, rec->len, rec->log);

        } else {
            ngx_http_audit_log_write(alog, rec->line, rec->len,
                                     rec->ring_end, rec->log);
        }
    }

    ngx_http_audit_log_next_sink(rec);
}


/*
 * appends one encoded line ("...\n"); end is where it ends in the ring,
 * which learns that the line is in the file once it is written
 */

static void
ngx_http_audit_log_write(ngx_http_audit_log_t *alog, u_char *line,
    size_t len, uint64_t end, ngx_log_t *log)
{
    if (alog->syslog) {
        ngx_http_audit_log_syslog(alog, line, len, log);
        ngx_http_audit_ring_taken(ngx_http_audit_ring_worker(),
                                  NGX_HTTP_AUDIT_RING_LOG, end);
        return;
    }

    if (alog->start == NULL) {
        ngx_http_audit_log_write_out(alog, line, len, log);
        ngx_http_audit_ring_taken(ngx_http_audit_ring_worker(),
                                  NGX_HTTP_AUDIT_RING_LOG, end);
        return;
    }

    if (len > (size_t) (alog->last - alog->pos)) {
        ngx_http_audit_log_flush(alog->file, log);

        if (len > (size_t) (alog->last - alog->pos)) {
            ngx_http_audit_log_write_out(alog, line, len, log);
            ngx_http_audit_ring_taken(ngx_http_audit_ring_worker(),
                                      NGX_HTTP_AUDIT_RING_LOG, end);
            return;
        }
    }

    alog->pos = ngx_cpymem(alog->pos, line, len);

    if (end != NGX_HTTP_AUDIT_RING_NONE) {
        alog->ring_end = end;
    }

    if (!alog->event->timer_set) {
        ngx_add_timer(alog->event, alog->flush);
    }
}


static void
ngx_http_audit_log_flush(ngx_open_file_t *file, ngx_log_t *log)
{
    size_t                 len;
    ngx_http_audit_log_t  *alog;

    alog = file->data;

    len = alog->pos - alog->start;

    if (len) {
        ngx_http_audit_log_write_out(alog, alog->start, len, log);
        alog->pos = alog->start;

        /* a failed write is logged with its size: the ring cannot help */
        ngx_http_audit_ring_taken(ngx_http_audit_ring_worker(),
                                  NGX_HTTP_AUDIT_RING_LOG, alog->ring_end);
    }

    if (alog->event && alog->event->timer_set) {
        ngx_del_timer(alog->event);
    }
}


static void
ngx_http_audit_log_flush_handler(ngx_event_t *ev)
{
    ngx_http_audit_log_t  *alog = ev->data;

    ngx_http_audit_log_flush(alog->file, ev->log);
}


/* a line of a dead worker's ring: written at once */

static void
ngx_http_audit_log_take(ngx_http_audit_ring_line_t *l)
{
    ngx_http_audit_log_main_conf_t  *lmcf;

    lmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_audit_log_module);

    if (lmcf == NULL || lmcf->log == NULL) {
        return;
    }

    if (lmcf->log->syslog) {
        ngx_http_audit_log_syslog(lmcf->log, l->line, l->len, l->log);
        return;
    }

    ngx_http_audit_log_write_out(lmcf->log, l->line, l->len, l->log);
}


static void
ngx_http_audit_log_write_out(ngx_http_audit_log_t *alog, u_char *data,
    size_t len, ngx_log_t *log)
{
    ssize_t           n;
    ngx_str_t        *name;
    static ngx_str_t  stderr_name = ngx_string("stderr");

    n = ngx_write_fd(alog->file->fd, data, len);

    if (n == (ssize_t) len) {
        return;
    }

    /* stderr has an empty name (ngx_conf_open_file()) */

    name = &alog->file->name;

    if (name->len == 0) {
        name = &stderr_name;
    }

    if (n == -1) {
        ngx_log_error(NGX_LOG_ALERT, log, ngx_errno,
                      "audit: " ngx_write_fd_n " to \"%V\" failed, "
                      "%uz bytes of events lost", name, len);
        return;
    }

    ngx_log_error(NGX_LOG_ALERT, log, 0,
                  "audit: " ngx_write_fd_n " to \"%V\" was incomplete: "
                  "%z of %uz", name, n, len);
}
