
/*
 * ngx_http_audit_alert_module: alerts that reach people, a sink of the
 * audit module (ngx_http_audit_sink.h) on both chains.  Brute force and
 * the module's faults, and rules over windows of the shared counters,
 * become PagerDuty, Slack or webhook messages, grouped per fingerprint,
 * sent by each worker's non-blocking clients (ngx_http_audit_alert.c).
 * It owns "audit_alert*", and the "audit_health" and "audit_test"
 * locations (ngx_http_audit_health.c, ngx_http_audit_alert_test.c).
 */


#include "ngx_http_audit_alert.h"


static ngx_int_t ngx_http_audit_alert_postconfiguration(ngx_conf_t *cf);
static void *ngx_http_audit_alert_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_audit_alert_init_main_conf(ngx_conf_t *cf,
    void *conf);
static void *ngx_http_audit_alert_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_audit_alert_merge_loc_conf(ngx_conf_t *cf,
    void *parent, void *child);
static char *ngx_http_audit_alert(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_audit_alert_rule(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_audit_health(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_audit_test(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_audit_alert_init_worker(ngx_cycle_t *cycle);
static void ngx_http_audit_alert_exit_worker(ngx_cycle_t *cycle);


static ngx_command_t  ngx_http_audit_alert_commands[] = {

    { ngx_string("audit_alert"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_2MORE,
      ngx_http_audit_alert,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("audit_alert_rule"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_audit_alert_rule,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("audit_alert_window"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_audit_alert_main_conf_t, window),
      NULL },

    { ngx_string("audit_alert_trusted_certificate"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_audit_alert_main_conf_t, trusted),
      NULL },

    { ngx_string("audit_health"),
      NGX_HTTP_LOC_CONF|NGX_CONF_ANY,
      ngx_http_audit_health,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("audit_test"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_audit_test,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_audit_alert_module_ctx = {
    NULL,                                  /* preconfiguration */
    ngx_http_audit_alert_postconfiguration, /* postconfiguration */

    ngx_http_audit_alert_create_main_conf, /* create main configuration */
    ngx_http_audit_alert_init_main_conf,   /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_audit_alert_create_loc_conf,  /* create location configuration */
    ngx_http_audit_alert_merge_loc_conf    /* merge location configuration */
};


ngx_module_t  ngx_http_audit_alert_module = {
    NGX_MODULE_V1,
    &ngx_http_audit_alert_module_ctx,      /* module context */
    ngx_http_audit_alert_commands,         /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_audit_alert_init_worker,      /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_audit_alert_exit_worker,      /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


/* on both chains, and in the log phase to count upstream answers */

static ngx_int_t
ngx_http_audit_alert_postconfiguration(ngx_conf_t *cf)
{
    ngx_http_handler_pt                *h;
    ngx_http_core_main_conf_t          *cmcf;
    ngx_http_audit_alert_main_conf_t   *mcf;

    ngx_http_audit_alert_sink();

    mcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_audit_alert_module);

    if (mcf->shm_zone == NULL) {
        return NGX_OK;
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_audit_alert_log_handler;

    return NGX_OK;
}


static void *
ngx_http_audit_alert_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_audit_alert_main_conf_t  *mcf;

    mcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_audit_alert_main_conf_t));
    if (mcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     mcf->routes = NULL;
     *     mcf->rules = NULL;
     *     mcf->trusted = { 0, NULL };
     *     mcf->shm_zone = NULL;
     *     mcf->used = 0;
     *     mcf->state = NULL;
     */

    mcf->window = NGX_CONF_UNSET;

    return mcf;
}


static char *
ngx_http_audit_alert_init_main_conf(ngx_conf_t *cf, void *conf)
{
    return ngx_http_audit_alert_init_conf(cf, conf);
}


static void *
ngx_http_audit_alert_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_audit_alert_loc_conf_t  *lcf;

    lcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_audit_alert_loc_conf_t));
    if (lcf == NULL) {
        return NULL;
    }

    lcf->health.enable = NGX_CONF_UNSET;
    lcf->health.spool = NGX_CONF_UNSET;
    lcf->health.error_rate = NGX_CONF_UNSET_UINT;
    lcf->health.activity = NGX_CONF_UNSET;
    lcf->health.keys = NGX_CONF_UNSET;
    lcf->test = NGX_CONF_UNSET;

    return lcf;
}


static char *
ngx_http_audit_alert_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child)
{
    ngx_http_audit_alert_loc_conf_t  *prev = parent;
    ngx_http_audit_alert_loc_conf_t  *conf = child;

    /* a handler's location only: neither is inherited */
    ngx_conf_init_value(conf->health.enable, 0);
    ngx_conf_init_value(conf->test, 0);

    ngx_conf_merge_off_value(conf->health.spool, prev->health.spool,
                              64 * 1024 * 1024);
    ngx_conf_merge_uint_value(conf->health.error_rate,
                              prev->health.error_rate, 5);
    ngx_conf_merge_value(conf->health.activity, prev->health.activity,
                         48 * 3600);
    ngx_conf_merge_value(conf->health.keys, prev->health.keys, 0);

    return NGX_CONF_OK;
}


static char *
ngx_http_audit_alert(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    return ngx_http_audit_alert_route_conf(cf, conf);
}


static char *
ngx_http_audit_alert_rule(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    return ngx_http_audit_alert_rule_conf(cf, conf);
}


static char *
ngx_http_audit_health(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t          *clcf;
    ngx_http_audit_alert_main_conf_t  *mcf;

    mcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_audit_alert_module);
    mcf->used = 1;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_audit_health_handler;

    return ngx_http_audit_health_conf(cf, conf);
}


static char *
ngx_http_audit_test(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_audit_alert_loc_conf_t   *lcf = conf;

    ngx_http_core_loc_conf_t          *clcf;
    ngx_http_audit_alert_main_conf_t  *mcf;

    if (lcf->test != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    lcf->test = 1;

    mcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_audit_alert_module);
    mcf->used = 1;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_audit_alert_test_handler;

    return NGX_CONF_OK;
}


/* after the audit module's and the tracker's: the zone, the gauges */

static ngx_int_t
ngx_http_audit_alert_init_worker(ngx_cycle_t *cycle)
{
    ngx_http_audit_alert_main_conf_t  *mcf;

    mcf = ngx_http_cycle_get_module_main_conf(cycle,
                                              ngx_http_audit_alert_module);

    if (mcf == NULL) {
        return NGX_OK;
    }

    return ngx_http_audit_alert_init_process(cycle, mcf);
}


static void
ngx_http_audit_alert_exit_worker(ngx_cycle_t *cycle)
{
    ngx_http_audit_alert_main_conf_t  *mcf;

    mcf = ngx_http_cycle_get_module_main_conf(cycle,
                                              ngx_http_audit_alert_module);

    if (mcf) {
        ngx_http_audit_alert_exit_process(mcf);
    }
}
