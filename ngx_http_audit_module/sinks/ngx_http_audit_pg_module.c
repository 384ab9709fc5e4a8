
/*
 * ngx_http_audit_pg_module: PostgreSQL, a sink of the audit module
 * (ngx_http_audit_sink.h).  It owns "audit_pg" and "audit_spool": the
 * shipper (ngx_http_audit_pg.c) batches each worker's events into
 * PostgreSQL from the event loop, through the spool
 * (ngx_http_audit_spool.c) while the database is down.
 */


#include "ngx_http_audit_pg.h"


static ngx_int_t ngx_http_audit_pg_postconfiguration(ngx_conf_t *cf);
static void *ngx_http_audit_pg_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_audit_pg_init_main_conf(ngx_conf_t *cf, void *conf);
static char *ngx_http_audit_pg_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_audit_spool_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static ngx_int_t ngx_http_audit_pg_init_worker(ngx_cycle_t *cycle);
static void ngx_http_audit_pg_exit_worker(ngx_cycle_t *cycle);
static void ngx_http_audit_pg_event(ngx_http_audit_record_t *rec);


static ngx_command_t  ngx_http_audit_pg_commands[] = {

    { ngx_string("audit_pg"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_audit_pg_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("audit_spool"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE12,
      ngx_http_audit_spool_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_audit_pg_module_ctx = {
    NULL,                                  /* preconfiguration */
    ngx_http_audit_pg_postconfiguration,   /* postconfiguration */

    ngx_http_audit_pg_create_main_conf,    /* create main configuration */
    ngx_http_audit_pg_init_main_conf,      /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    NULL,                                  /* create location configuration */
    NULL                                   /* merge location configuration */
};


ngx_module_t  ngx_http_audit_pg_module = {
    NGX_MODULE_V1,
    &ngx_http_audit_pg_module_ctx,         /* module context */
    ngx_http_audit_pg_commands,            /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_audit_pg_init_worker,         /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_audit_pg_exit_worker,         /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_http_audit_event_sink_pt  ngx_http_audit_pg_next_sink;


static ngx_int_t
ngx_http_audit_pg_postconfiguration(ngx_conf_t *cf)
{
    ngx_http_audit_pg_main_conf_t  *pmcf;

    ngx_http_audit_pg_next_sink = ngx_http_audit_top_event_sink;
    ngx_http_audit_top_event_sink = ngx_http_audit_pg_event;

    pmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_audit_pg_module);

    if (pmcf->pg) {
        ngx_http_audit_ring_want(cf, NGX_HTTP_AUDIT_RING_PG,
                                 ngx_http_audit_pg_take);
    }

    return NGX_OK;
}


static void *
ngx_http_audit_pg_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_audit_pg_main_conf_t  *pmcf;

    pmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_audit_pg_main_conf_t));
    if (pmcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     pmcf->pg = NULL;
     *     pmcf->spool = NULL;
     *     pmcf->pg_state = NULL;
     *     pmcf->spool_state = NULL;
     */

    return pmcf;
}


static char *
ngx_http_audit_pg_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_audit_pg_main_conf_t *pmcf = conf;

    if (pmcf->pg && pmcf->spool == NULL) {
        ngx_http_audit_conf_error(cf, &pmcf->pg->at,
                                  "\"audit_pg\" needs \"audit_spool\": "
                                  "events must have somewhere to wait while "
                                  "PostgreSQL is down");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_audit_pg_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    return ngx_http_audit_pg_conf(cf, conf);
}


static char *
ngx_http_audit_spool_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    return ngx_http_audit_spool_conf(cf, conf);
}


/* after the audit module's: its zone and this worker's gauges are set */

static ngx_int_t
ngx_http_audit_pg_init_worker(ngx_cycle_t *cycle)
{
    ngx_http_audit_pg_main_conf_t  *pmcf;

    pmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_audit_pg_module);

    if (pmcf == NULL || pmcf->pg == NULL) {
        return NGX_OK;
    }

    pmcf->spool_state = ngx_http_audit_spool_create(cycle, pmcf->spool);
    if (pmcf->spool_state == NULL) {
        return NGX_ERROR;
    }

    return ngx_http_audit_pg_init_process(cycle, pmcf);
}


static void
ngx_http_audit_pg_exit_worker(ngx_cycle_t *cycle)
{
    ngx_http_audit_pg_main_conf_t  *pmcf;

    pmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_audit_pg_module);

    if (pmcf) {
        ngx_http_audit_pg_exit_process(pmcf);
    }
}


/* an event for PostgreSQL: the line without its "\n" */

static void
ngx_http_audit_pg_event(ngx_http_audit_record_t *rec)
{
    ngx_http_audit_pg_main_conf_t  *pmcf;

    pmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_audit_pg_module);

    if (pmcf && pmcf->pg_state) {
        ngx_http_audit_pg_enqueue(pmcf->pg_state, rec);
    }

    ngx_http_audit_pg_next_sink(rec);
}
