
/*
 * ngx_http_audit_checkpoint_module: signed checkpoints of each worker's
 * hash chain (docs/checkpoints.md).  It owns "audit_checkpoint".
 *
 * The Ed25519 private key is read at configuration time, by the master,
 * at start and at each reload; a key that cannot be read fails the
 * reload, and the running workers keep the key they have.  Each worker
 * then emits, into its own chain, a "checkpoint" event at every interval
 * and a final one when it exits (which is also what a reload makes the
 * old workers do): it signs the seq and SHA-256 head of the chain's last
 * event, the count of events since the previous checkpoint and that
 * checkpoint's signature.  The event goes to the sinks like any other,
 * so nothing of this runs on the request path.
 *
 * A module of its own, listed in "config" after the audit module and
 * before the sinks.  The audit module's exit_process calls the final
 * checkpoint (amcf->closing, set here at configuration time) before it
 * closes the chain; the sinks' exit_process, which runs after it, then
 * spools and flushes it with the rest.
 */


#include "ngx_http_audit_module.h"

#include "audit_checkpoint.h"
#include "audit_uuid.h"


#define NGX_HTTP_AUDIT_CHECKPOINT_INTERVAL  60000


typedef struct {
    ngx_event_t                  timer;
    ngx_uint_t                   has_prev;         /* a checkpoint emitted */
    unsigned long long           prev_seq;         /* its own seq */
    u_char                       prev_sig[AUDIT_CHECKPOINT_SIG_LEN];
} ngx_http_audit_checkpoint_worker_t;


typedef struct {
    audit_checkpoint_key_t      *key;              /* NULL: no checkpoints */
    ngx_msec_t                   interval;
    ngx_http_audit_checkpoint_worker_t  *worker;
} ngx_http_audit_checkpoint_main_conf_t;


static void *ngx_http_audit_checkpoint_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_audit_checkpoint_conf(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static void ngx_http_audit_checkpoint_key_cleanup(void *data);
static ngx_int_t ngx_http_audit_checkpoint_init_process(ngx_cycle_t *cycle);
static void ngx_http_audit_checkpoint_exit_process(ngx_cycle_t *cycle);
static void ngx_http_audit_checkpoint_closing(ngx_cycle_t *cycle);
static void ngx_http_audit_checkpoint_flush_files(ngx_cycle_t *cycle);
static void ngx_http_audit_checkpoint_handler(ngx_event_t *ev);
static void ngx_http_audit_checkpoint_emit(ngx_cycle_t *cycle,
    ngx_http_audit_checkpoint_main_conf_t *cmcf, ngx_uint_t final);


static ngx_command_t  ngx_http_audit_checkpoint_commands[] = {

    { ngx_string("audit_checkpoint"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE12,
      ngx_http_audit_checkpoint_conf,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_audit_checkpoint_module_ctx = {
    NULL,                                  /* preconfiguration */
    NULL,                                  /* postconfiguration */

    ngx_http_audit_checkpoint_create_main_conf,
                                           /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    NULL,                                  /* create location configuration */
    NULL                                   /* merge location configuration */
};


ngx_module_t  ngx_http_audit_checkpoint_module = {
    NGX_MODULE_V1,
    &ngx_http_audit_checkpoint_module_ctx, /* module context */
    ngx_http_audit_checkpoint_commands,    /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_audit_checkpoint_init_process,
                                           /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_audit_checkpoint_exit_process,
                                           /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static void *
ngx_http_audit_checkpoint_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_audit_checkpoint_main_conf_t  *cmcf;

    cmcf = ngx_pcalloc(cf->pool,
                       sizeof(ngx_http_audit_checkpoint_main_conf_t));
    if (cmcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     cmcf->key = NULL;
     *     cmcf->worker = NULL;
     */

    cmcf->interval = NGX_CONF_UNSET_MSEC;

    return cmcf;
}


/* audit_checkpoint KEY_FILE [interval=TIME] */

static char *
ngx_http_audit_checkpoint_conf(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_audit_checkpoint_main_conf_t  *cmcf = conf;

    char                         err[256];
    ngx_str_t                   *value, s;
    ngx_pool_cleanup_t          *cln;
    ngx_http_audit_main_conf_t  *amcf;

    if (cmcf->key != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;

    cmcf->interval = NGX_HTTP_AUDIT_CHECKPOINT_INTERVAL;

    if (cf->args->nelts == 3) {
        if (ngx_strncmp(value[2].data, "interval=", 9) != 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"audit_checkpoint\": invalid parameter "
                               "\"%V\"", &value[2]);
            return NGX_CONF_ERROR;
        }

        s.data = value[2].data + 9;
        s.len = value[2].len - 9;

        cmcf->interval = ngx_parse_time(&s, 0);

        if (cmcf->interval == (ngx_msec_t) NGX_ERROR
            || cmcf->interval < 1000)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"audit_checkpoint\": invalid interval "
                               "\"%V\": one second or more", &s);
            return NGX_CONF_ERROR;
        }
    }

    if (ngx_conf_full_name(cf->cycle, &value[1], 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    /* the key lives as long as this configuration's cycle */

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_CONF_ERROR;
    }

    err[0] = '\0';
    cmcf->key = audit_checkpoint_key_load((const char *) value[1].data, 1,
                                          err, sizeof(err));

    if (cmcf->key == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"audit_checkpoint\" cannot load its key: %s",
                           err);
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_http_audit_checkpoint_key_cleanup;
    cln->data = cmcf->key;

    amcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_audit_module);
    amcf->closing = ngx_http_audit_checkpoint_closing;

    return NGX_CONF_OK;
}


static void
ngx_http_audit_checkpoint_key_cleanup(void *data)
{
    audit_checkpoint_key_free(data);
}


static ngx_int_t
ngx_http_audit_checkpoint_init_process(ngx_cycle_t *cycle)
{
    ngx_http_audit_checkpoint_worker_t     *w;
    ngx_http_audit_checkpoint_main_conf_t  *cmcf;

    cmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                           ngx_http_audit_checkpoint_module);

    if (cmcf == NULL || cmcf->key == NULL) {
        return NGX_OK;
    }

    w = ngx_pcalloc(cycle->pool, sizeof(ngx_http_audit_checkpoint_worker_t));
    if (w == NULL) {
        return NGX_ERROR;
    }

    w->timer.handler = ngx_http_audit_checkpoint_handler;
    w->timer.data = cycle;
    w->timer.log = cycle->log;
    w->timer.cancelable = 1;

    cmcf->worker = w;

    ngx_add_timer(&w->timer, cmcf->interval);

    return NGX_OK;
}


static void
ngx_http_audit_checkpoint_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_audit_checkpoint_main_conf_t  *cmcf;

    cmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                           ngx_http_audit_checkpoint_module);

    if (cmcf == NULL || cmcf->worker == NULL) {
        return;
    }

    if (cmcf->worker->timer.timer_set) {
        ngx_del_timer(&cmcf->worker->timer);
    }

    cmcf->worker = NULL;
}


/* called by the chain's exit_process: the sinks have not exited yet */

static void
ngx_http_audit_checkpoint_closing(ngx_cycle_t *cycle)
{
    ngx_http_audit_checkpoint_main_conf_t  *cmcf;

    cmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                           ngx_http_audit_checkpoint_module);

    if (cmcf == NULL || cmcf->worker == NULL) {
        return;
    }

    ngx_http_audit_checkpoint_emit(cycle, cmcf, 1);
    ngx_http_audit_checkpoint_flush_files(cycle);
}


/*
 * nginx flushes its open files (ngx_conf_module's exit_process) before
 * the HTTP modules' exit_process run: what the final checkpoint left in
 * a buffered file (the JSON log) is flushed the same way once more.
 */

static void
ngx_http_audit_checkpoint_flush_files(ngx_cycle_t *cycle)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_open_file_t  *file;

    part = &cycle->open_files.part;
    file = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            file = part->elts;
            i = 0;
        }

        if (file[i].flush) {
            file[i].flush(&file[i], cycle->log);
        }
    }
}


static void
ngx_http_audit_checkpoint_handler(ngx_event_t *ev)
{
    ngx_cycle_t                            *cycle;
    ngx_http_audit_checkpoint_main_conf_t  *cmcf;

    cycle = ev->data;

    cmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                           ngx_http_audit_checkpoint_module);

    ngx_http_audit_checkpoint_emit(cycle, cmcf, 0);

    /*
     * also while a shutting-down worker waits for its last requests
     * (long polls, WebSockets): a cancelable timer does not keep it
     * alive, and a verifier must not see its chain go silent
     */
    ngx_add_timer(ev, cmcf->interval);
}


/*
 * The checkpoint covers the chain's last event; an idle worker still
 * emits one per interval (covering the previous checkpoint, count 0), so
 * that a verifier can tell a silent chain from a truncated one.
 */

static void
ngx_http_audit_checkpoint_emit(ngx_cycle_t *cycle,
    ngx_http_audit_checkpoint_main_conf_t *cmcf, ngx_uint_t final)
{
    u_char                               rnd[10];
    ngx_str_t                            name;
    ngx_uint_t                           has_head;
    ngx_time_t                          *tp;
    audit_event_t                        ev;
    unsigned long long                   next, seq;
    audit_checkpoint_t                   c;
    ngx_http_audit_main_conf_t          *amcf;
    ngx_http_audit_checkpoint_worker_t  *w;

    amcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_audit_module);
    w = cmcf->worker;

    if (amcf == NULL
        || ngx_http_audit_chain_head(amcf, &name, &next, c.head, &has_head)
        != NGX_OK
        || !has_head)
    {
        /* nothing to cover yet */
        return;
    }

    ngx_memzero(&ev, sizeof(audit_event_t));

    tp = ngx_timeofday();
    ev.ts_ms = (unsigned long long) tp->sec * 1000 + tp->msec;
    ev.action = AUDIT_CHECKPOINT;
    ev.severity = AUDIT_SEV_INFO;

    if (ngx_http_audit_random(rnd, sizeof(rnd)) != NGX_OK) {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, 0,
                      "audit: no random bytes for a checkpoint id");
        return;
    }

    audit_uuid7(ev.id, ev.ts_ms, rnd);

    c.producer.data = (const char *) name.data;
    c.producer.len = name.len;
    c.seq = next - 1;
    c.count = w->has_prev ? c.seq - w->prev_seq : next;
    c.has_prev_sig = (int) w->has_prev;
    ngx_memcpy(c.prev_sig, w->prev_sig, sizeof(c.prev_sig));
    c.ts_ms = ev.ts_ms;
    c.interval_ms = cmcf->interval;
    c.final = (int) final;

    if (audit_checkpoint_sign(cmcf->key, &c) != 0) {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, 0,
                      "audit: cannot sign a checkpoint of \"%V\"", &name);
        return;
    }

    ev.checkpoint = &c;

    ngx_http_audit_chain_append(amcf, &ev, cycle->log);

    /* the next checkpoint names this one only if it is in the chain */

    if (ngx_http_audit_chain_head(amcf, &name, &seq, c.head, &has_head)
        != NGX_OK
        || seq != next + 1)
    {
        return;
    }

    w->has_prev = 1;
    w->prev_seq = next;
    ngx_memcpy(w->prev_sig, c.sig, sizeof(c.sig));
}
