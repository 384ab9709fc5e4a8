
/*
 * ngx_http_audit_sentry_module: the error tracker, a sink of the audit
 * module (ngx_http_audit_sink.h) on both chains: failure events and the
 * module's faults become Sentry envelopes, sent by a non-blocking client
 * in each worker (ngx_http_audit_sentry.c).  It owns "audit_sentry_*".
 */


#include "ngx_http_audit_sentry.h"


static ngx_int_t ngx_http_audit_sentry_postconfiguration(ngx_conf_t *cf);
static void *ngx_http_audit_sentry_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_audit_sentry_init_main_conf(ngx_conf_t *cf,
    void *conf);
static char *ngx_http_audit_sentry_dsn(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_audit_sentry_rate(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_audit_sentry_events(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static ngx_int_t ngx_http_audit_sentry_init_worker(ngx_cycle_t *cycle);
static void ngx_http_audit_sentry_exit_worker(ngx_cycle_t *cycle);


static ngx_command_t  ngx_http_audit_sentry_commands[] = {

    { ngx_string("audit_sentry_dsn"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_audit_sentry_dsn,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("audit_sentry_environment"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_audit_sentry_main_conf_t, sentry.environment),
      NULL },

    { ngx_string("audit_sentry_release"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_audit_sentry_main_conf_t, sentry.release),
      NULL },

    { ngx_string("audit_sentry_rate"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_audit_sentry_rate,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("audit_sentry_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_audit_sentry_main_conf_t, sentry.timeout),
      NULL },

    { ngx_string("audit_sentry_events"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_audit_sentry_events,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("audit_sentry_trusted_certificate"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_audit_sentry_main_conf_t, sentry.trusted),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_audit_sentry_module_ctx = {
    NULL,                                  /* preconfiguration */
    ngx_http_audit_sentry_postconfiguration, /* postconfiguration */

    ngx_http_audit_sentry_create_main_conf, /* create main configuration */
    ngx_http_audit_sentry_init_main_conf,  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    NULL,                                  /* create location configuration */
    NULL                                   /* merge location configuration */
};


ngx_module_t  ngx_http_audit_sentry_module = {
    NGX_MODULE_V1,
    &ngx_http_audit_sentry_module_ctx,     /* module context */
    ngx_http_audit_sentry_commands,        /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_audit_sentry_init_worker,     /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_audit_sentry_exit_worker,     /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_int_t
ngx_http_audit_sentry_postconfiguration(ngx_conf_t *cf)
{
    ngx_http_audit_sentry_sink();

    return NGX_OK;
}


static void *
ngx_http_audit_sentry_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_audit_sentry_main_conf_t  *smcf;

    smcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_audit_sentry_main_conf_t));
    if (smcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     smcf->sentry.dsn_text = { 0, NULL };
     *     smcf->sentry.events = 0;
     *     smcf->sentry_state = NULL;
     */

    smcf->sentry.timeout = NGX_CONF_UNSET_MSEC;

    return smcf;
}


static char *
ngx_http_audit_sentry_init_main_conf(ngx_conf_t *cf, void *conf)
{
    return ngx_http_audit_sentry_init_conf(cf, conf);
}


static char *
ngx_http_audit_sentry_dsn(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    return ngx_http_audit_sentry_dsn_conf(cf, conf);
}


static char *
ngx_http_audit_sentry_rate(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    return ngx_http_audit_sentry_rate_conf(cf, conf);
}


static char *
ngx_http_audit_sentry_events(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    return ngx_http_audit_sentry_events_conf(cf, conf);
}


/* after the audit module's: its zone and this worker's gauges are set */

static ngx_int_t
ngx_http_audit_sentry_init_worker(ngx_cycle_t *cycle)
{
    ngx_http_audit_sentry_main_conf_t  *smcf;

    smcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_audit_sentry_module);

    if (smcf == NULL) {
        return NGX_OK;
    }

    return ngx_http_audit_sentry_init_process(cycle, smcf);
}


static void
ngx_http_audit_sentry_exit_worker(ngx_cycle_t *cycle)
{
    ngx_http_audit_sentry_main_conf_t  *smcf;

    smcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_audit_sentry_module);

    if (smcf) {
        ngx_http_audit_sentry_exit_process(smcf);
    }
}
