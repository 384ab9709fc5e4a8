
/*
 * ngx_http_audit_module: the error tracker sink's types, shared by its
 * module (sinks/ngx_http_audit_sentry_module.c), its directives
 * (ngx_http_audit_sentry_conf.c) and the client (ngx_http_audit_sentry.c).
 */


#ifndef _NGX_HTTP_AUDIT_SENTRY_H_INCLUDED_
#define _NGX_HTTP_AUDIT_SENTRY_H_INCLUDED_


#include "ngx_http_audit_module.h"


/* audit_sentry_*: what audit_sentry_events may select */
#define NGX_HTTP_AUDIT_SENTRY_LOGIN       0x01
#define NGX_HTTP_AUDIT_SENTRY_SESSION     0x02
#define NGX_HTTP_AUDIT_SENTRY_AUTHZ       0x04
#define NGX_HTTP_AUDIT_SENTRY_BRUTEFORCE  0x08
#define NGX_HTTP_AUDIT_SENTRY_UPSTREAM    0x10
#define NGX_HTTP_AUDIT_SENTRY_FAULT       0x20
#define NGX_HTTP_AUDIT_SENTRY_REJECTED    0x40
#define NGX_HTTP_AUDIT_SENTRY_ALL         0x7f
/* a reason sent only when named: most are people not signed in yet */
#define NGX_HTTP_AUDIT_SENTRY_MISSING     0x80


typedef struct {
    audit_sentry_dsn_t           dsn;
    ngx_str_t                    dsn_text;         /* audit_sentry_dsn */
    ngx_str_t                    host;             /* for Host: */
    ngx_str_t                    name;             /* for the certificate */
    ngx_addr_t                   addr;             /* resolved at start */
    u_char                       auth[512];        /* X-Sentry-Auth */
    ngx_str_t                    environment;      /* audit_sentry_environment */
    ngx_str_t                    release;          /* audit_sentry_release */
    ngx_msec_t                   timeout;          /* audit_sentry_timeout */
    ngx_uint_t                   rate;             /* audit_sentry_rate */
    time_t                       rate_window;
    ngx_uint_t                   events;           /* audit_sentry_events */
    ngx_str_t                    trusted;          /* ..._trusted_certificate */
#if (NGX_SSL)
    ngx_ssl_t                   *ssl;
#endif
} ngx_http_audit_sentry_conf_t;


/* the sink's main configuration and, from init_process, its worker state */
typedef struct {
    ngx_http_audit_sentry_conf_t sentry;           /* audit_sentry_* */
    ngx_http_audit_sentry_t     *sentry_state;     /* per worker */
} ngx_http_audit_sentry_main_conf_t;


extern ngx_module_t  ngx_http_audit_sentry_module;


/* directives, and the SSL context once the configuration is read */
char *ngx_http_audit_sentry_dsn_conf(ngx_conf_t *cf,
    ngx_http_audit_sentry_main_conf_t *smcf);
char *ngx_http_audit_sentry_rate_conf(ngx_conf_t *cf,
    ngx_http_audit_sentry_main_conf_t *smcf);
char *ngx_http_audit_sentry_events_conf(ngx_conf_t *cf,
    ngx_http_audit_sentry_main_conf_t *smcf);
char *ngx_http_audit_sentry_init_conf(ngx_conf_t *cf,
    ngx_http_audit_sentry_main_conf_t *smcf);

/* the client: per worker, and its place in the sink chains */
ngx_int_t ngx_http_audit_sentry_init_process(ngx_cycle_t *cycle,
    ngx_http_audit_sentry_main_conf_t *smcf);
void ngx_http_audit_sentry_exit_process(
    ngx_http_audit_sentry_main_conf_t *smcf);
void ngx_http_audit_sentry_sink(void);

/* audit_test: a labelled test event; done gets its result and tag */
typedef void (*ngx_http_audit_sentry_test_pt)(void *tag, ngx_int_t rc,
    ngx_uint_t status, const char *what);

ngx_int_t ngx_http_audit_sentry_test(ngx_str_t *request_id,
    ngx_http_audit_sentry_test_pt done, void *tag);


#endif /* _NGX_HTTP_AUDIT_SENTRY_H_INCLUDED_ */
