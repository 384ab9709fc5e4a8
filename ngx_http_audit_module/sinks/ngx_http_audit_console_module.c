
/*
 * ngx_http_audit_console_module: the audit console's sink
 * (ngx_http_audit_sink.h).  It owns "audit_console_zone", a shared zone
 * of its own that every worker writes each record into: the newest lines
 * in a ring (the live feed), and the last 24 hours as counters (events
 * per hour per action and per severity, top users, addresses, routes and
 * records, failed logins per address and per account per minute).  No
 * database is needed for any of it, so a log-only deployment has a
 * console too.  "audit_console" serves it (ngx_http_audit_console_api.c);
 * "audit_console_pg" adds the history (ngx_http_audit_console_pg.c).
 *
 * The zone is kept across reloads when its size is the same; the work per
 * record is a copy of its line and a few short scans, under the zone's
 * mutex.
 */


#include "ngx_http_audit_console.h"


#define NGX_HTTP_AUDIT_CONSOLE_LINE_MIN  512       /* bytes a line takes,
                                                      on average, at least */


static ngx_int_t ngx_http_audit_console_postconfiguration(ngx_conf_t *cf);
static void *ngx_http_audit_console_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_audit_console_init_main_conf(ngx_conf_t *cf,
    void *conf);
static void *ngx_http_audit_console_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_audit_console_merge_loc_conf(ngx_conf_t *cf,
    void *parent, void *child);
static char *ngx_http_audit_console_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_audit_console(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_audit_console_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_int_t ngx_http_audit_console_init_process(ngx_cycle_t *cycle);
static void ngx_http_audit_console_exit_process(ngx_cycle_t *cycle);
static void ngx_http_audit_console_event(ngx_http_audit_record_t *rec);
static void ngx_http_audit_console_store(ngx_http_audit_console_shctx_t *sh,
    ngx_http_audit_record_t *rec);
static void ngx_http_audit_console_keys(ngx_http_audit_record_t *rec,
    ngx_str_t *route, ngx_str_t *record, ngx_str_t *tried);
static void ngx_http_audit_console_count(ngx_http_audit_console_shctx_t *sh,
    ngx_http_audit_record_t *rec, ngx_str_t *route, ngx_str_t *record,
    ngx_str_t *tried);
static void ngx_http_audit_console_top(ngx_http_audit_console_shctx_t *sh,
    ngx_uint_t table, ngx_uint_t bucket, const char *key, size_t len);
static void ngx_http_audit_console_failure(
    ngx_http_audit_console_failed_t *table, time_t now, audit_str_t *key,
    ngx_uint_t detected);


static ngx_command_t  ngx_http_audit_console_commands[] = {

    { ngx_string("audit_console_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_audit_console_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("audit_console"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_audit_console,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("audit_console_pg"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_audit_console_pg_conf,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("audit_console_pg_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_audit_console_main_conf_t, pg_timeout),
      NULL },

    { ngx_string("audit_console_pg_queries"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_audit_console_main_conf_t, pg_queries),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_audit_console_module_ctx = {
    NULL,                                  /* preconfiguration */
    ngx_http_audit_console_postconfiguration, /* postconfiguration */

    ngx_http_audit_console_create_main_conf, /* create main configuration */
    ngx_http_audit_console_init_main_conf, /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_audit_console_create_loc_conf, /* create location configuration */
    ngx_http_audit_console_merge_loc_conf  /* merge location configuration */
};


ngx_module_t  ngx_http_audit_console_module = {
    NGX_MODULE_V1,
    &ngx_http_audit_console_module_ctx,    /* module context */
    ngx_http_audit_console_commands,       /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_audit_console_init_process,   /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_audit_console_exit_process,   /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_http_audit_event_sink_pt  ngx_http_audit_console_next_sink;


static ngx_int_t
ngx_http_audit_console_postconfiguration(ngx_conf_t *cf)
{
    ngx_http_audit_console_next_sink = ngx_http_audit_top_event_sink;
    ngx_http_audit_top_event_sink = ngx_http_audit_console_event;

    return NGX_OK;
}


static void *
ngx_http_audit_console_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_audit_console_main_conf_t  *cmcf;

    cmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_audit_console_main_conf_t));
    if (cmcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     cmcf->shm_zone = NULL;
     *     cmcf->pg_conf = NULL;
     *     cmcf->pg = NULL;
     */

    cmcf->pg_timeout = NGX_CONF_UNSET_MSEC;
    cmcf->pg_queries = NGX_CONF_UNSET_UINT;

    return cmcf;
}


static char *
ngx_http_audit_console_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_audit_console_main_conf_t *cmcf = conf;

    ngx_conf_init_msec_value(cmcf->pg_timeout, 5000);
    ngx_conf_init_uint_value(cmcf->pg_queries, 4);

    if (cmcf->pg_queries == 0 || cmcf->pg_queries > 64) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"audit_console_pg_queries\" must be "
                           "between 1 and 64");
        return NGX_CONF_ERROR;
    }

    return ngx_http_audit_console_pg_init_conf(cf, cmcf);
}


static void *
ngx_http_audit_console_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_audit_console_loc_conf_t  *clcf;

    clcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_audit_console_loc_conf_t));
    if (clcf == NULL) {
        return NULL;
    }

    clcf->enable = NGX_CONF_UNSET;

    return clcf;
}


static char *
ngx_http_audit_console_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child)
{
    ngx_http_audit_console_loc_conf_t *prev = parent;
    ngx_http_audit_console_loc_conf_t *conf = child;

    ngx_http_audit_loc_conf_t  *alcf;

    if (conf->enable == NGX_CONF_UNSET) {
        conf->at = prev->at;
    }

    ngx_conf_merge_value(conf->enable, prev->enable, 0);

    /*
     * The console shows who accessed every record and who failed to log
     * in: with no role rule where it is served (set there or in an
     * enclosing block) any signed-in user would see it.  The audit module
     * is merged before its sinks, so its rules here are final.
     */

    alcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_audit_module);

    if (conf->enable && (alcf->rules == NULL || alcf->rules->nelts == 0)) {
        ngx_http_audit_conf_error(cf, &conf->at,
                                  "\"audit_console\" needs "
                                  "\"audit_require_role\" where it is "
                                  "served (here or in an enclosing block): "
                                  "the console shows who accessed every "
                                  "record to whoever may open it");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* audit_console_zone NAME:SIZE */

static char *
ngx_http_audit_console_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_audit_console_main_conf_t *cmcf = conf;

    ngx_str_t  *value;

    if (cmcf->shm_zone) {
        return "is duplicate";
    }

    value = cf->args->elts;

    cmcf->shm_zone = ngx_http_audit_conf_zone(cf, &value[1], 1024 * 1024,
                                              &ngx_http_audit_console_module);
    if (cmcf->shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    cmcf->shm_zone->init = ngx_http_audit_console_init_zone;
    cmcf->shm_zone->data = cmcf;

    ngx_http_audit_events_want(cf);

    return NGX_CONF_OK;
}


/* audit_console: this location serves the console */

static char *
ngx_http_audit_console(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_audit_console_loc_conf_t *clcf = conf;

    ngx_http_core_loc_conf_t            *core;
    ngx_http_audit_console_main_conf_t  *cmcf;

    if (clcf->enable != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf,
                                              ngx_http_audit_console_module);

    if (cmcf->shm_zone == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"audit_console\" needs \"audit_console_zone\" "
                           "before it");
        return NGX_CONF_ERROR;
    }

    clcf->enable = 1;
    ngx_http_audit_conf_line(cf, &clcf->at);

    core = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    core->handler = ngx_http_audit_console_handler;

    /* "/_audit/console" is sent to "/_audit/console/", as for proxy_pass */
    if (core->name.len && core->name.data[core->name.len - 1] == '/') {
        core->auto_redirect = 1;
    }

    return NGX_CONF_OK;
}


/*
 * The zone: the shared context, the index and the ring after it.  A
 * reload keeps the old zone when nginx kept its size; one made by another
 * build is refused.
 */

static ngx_int_t
ngx_http_audit_console_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    size_t                           avail, ring;
    ngx_uint_t                       n;
    ngx_slab_pool_t                 *shpool;
    ngx_http_audit_console_shctx_t  *sh;

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (data || shm_zone->shm.exists) {
        sh = shpool->data;

        if (sh == NULL || sh->magic != NGX_HTTP_AUDIT_CONSOLE_MAGIC
            || sh->version != NGX_HTTP_AUDIT_CONSOLE_VERSION)
        {
            ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                          "audit_console_zone \"%V\" has another layout: "
                          "use another name, or restart nginx",
                          &shm_zone->shm.name);
            return NGX_ERROR;
        }

        shm_zone->data = sh;
        return NGX_OK;
    }

    sh = ngx_slab_alloc(shpool, sizeof(ngx_http_audit_console_shctx_t));
    if (sh == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(sh, sizeof(ngx_http_audit_console_shctx_t));

    /* the pages the slab pool has left: the index, then the ring */

    avail = shpool->pfree * ngx_pagesize;

    if (avail < 4 * ngx_pagesize + AUDIT_EVENT_MAX * 4) {
        ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                      "audit_console_zone \"%V\" is too small",
                      &shm_zone->shm.name);
        return NGX_ERROR;
    }

    avail -= 2 * ngx_pagesize;
    n = avail / (NGX_HTTP_AUDIT_CONSOLE_LINE_MIN
                 + sizeof(ngx_http_audit_console_index_t));
    ring = avail - ngx_align(n * sizeof(ngx_http_audit_console_index_t),
                             ngx_pagesize);

    shpool->log_nomem = 0;

    for ( ;; ) {
        sh->index = ngx_slab_alloc(shpool,
                                   n * sizeof(ngx_http_audit_console_index_t));
        sh->ring = sh->index ? ngx_slab_alloc(shpool, ring) : NULL;

        if (sh->ring) {
            break;
        }

        if (sh->index) {
            ngx_slab_free(shpool, sh->index);
        }

        n -= n / 8;
        ring -= ring / 8;

        if (ring < AUDIT_EVENT_MAX * 4) {
            return NGX_ERROR;
        }
    }

    shpool->log_nomem = 1;

    sh->magic = NGX_HTTP_AUDIT_CONSOLE_MAGIC;
    sh->version = NGX_HTTP_AUDIT_CONSOLE_VERSION;
    sh->size = ring;
    sh->nindex = n;
    sh->next = 1;
    sh->first = 1;

    shpool->data = sh;
    shm_zone->data = sh;

    return NGX_OK;
}


static ngx_int_t
ngx_http_audit_console_init_process(ngx_cycle_t *cycle)
{
    return ngx_http_audit_console_pg_init_process(cycle);
}


static void
ngx_http_audit_console_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_audit_console_pg_exit_process(cycle);
}


static void
ngx_http_audit_console_event(ngx_http_audit_record_t *rec)
{
    u_char                               buf[2 * 256 + 512];
    ngx_str_t                            route, record, tried;
    ngx_slab_pool_t                     *shpool;
    ngx_http_audit_console_shctx_t      *sh;
    ngx_http_audit_console_main_conf_t  *cmcf;

    cmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_audit_console_module);

    if (cmcf != NULL && cmcf->shm_zone != NULL
        && cmcf->shm_zone->data != cmcf)
    {
        shpool = (ngx_slab_pool_t *) cmcf->shm_zone->shm.addr;
        sh = cmcf->shm_zone->data;

        /* the keys are made before the lock is taken */
        route.data = buf;
        record.data = buf + 256;
        tried.data = buf + 512;
        ngx_http_audit_console_keys(rec, &route, &record, &tried);

        ngx_shmtx_lock(&shpool->mutex);

        ngx_http_audit_console_store(sh, rec);
        ngx_http_audit_console_count(sh, rec, &route, &record, &tried);

        ngx_shmtx_unlock(&shpool->mutex);
    }

    ngx_http_audit_console_next_sink(rec);
}


/*
 * The ring: lines one after the other, a line that does not fit before
 * the end starts again at 0; the oldest lines go as the bytes they took
 * are needed.
 */

static void
ngx_http_audit_console_store(ngx_http_audit_console_shctx_t *sh,
    ngx_http_audit_record_t *rec)
{
    size_t                           start, len;
    ngx_uint_t                       wrap;
    ngx_http_audit_console_index_t  *ix, *old;

    len = rec->len;

    if (len > 0 && rec->line[len - 1] == '\n') {
        len--;
    }

    if (len == 0 || len > sh->size / 4) {
        return;
    }

    start = sh->head;
    wrap = 0;

    if (start + len > sh->size) {
        start = 0;
        wrap = 1;
    }

    /*
     * drop the oldest lines: the one whose index entry this one takes,
     * those past the end when it starts again at 0, those whose bytes
     * it takes; they come in that order from the oldest
     */

    while (sh->first < sh->next) {
        old = &sh->index[sh->first % sh->nindex];

        if (sh->next - sh->first >= sh->nindex
            || (wrap && old->off >= sh->head)
            || (old->off < start + len && old->off + old->len > start))
        {
            sh->first++;
            continue;
        }

        break;
    }

    ix = &sh->index[sh->next % sh->nindex];

    ix->seq = sh->next;
    ix->off = start;
    ix->len = (uint32_t) len;
    ix->action = (uint16_t) rec->ev->action;
    ix->severity = (uint16_t) rec->ev->severity;
    ix->ts_ms = rec->ev->ts_ms;

    ngx_memcpy(sh->ring + start, rec->line, len);

    sh->head = start + len;
    sh->next++;
}


/*
 * The keys the tables count by, made as the log line makes them: the
 * route without its query and scrubbed, the record ("patient/42") and the
 * account a login tried with credentials filtered ("/records/<jwt>", a
 * token pasted as a username); into 256, 256 and 512 bytes the caller has
 */

static void
ngx_http_audit_console_keys(ngx_http_audit_record_t *rec, ngx_str_t *route,
    ngx_str_t *record, ngx_str_t *tried)
{
    char                         id[512];
    size_t                       n, i;
    audit_str_t                  v;
    audit_event_t               *ev;
    ngx_http_audit_main_conf_t  *amcf;

    ev = rec->ev;
    route->len = 0;
    record->len = 0;
    tried->len = 0;

    amcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_audit_module);

    if (ev->uri.len) {
        n = audit_scrub_uri(amcf ? amcf->scrub : NULL, ev->uri.data,
                            ev->uri.len, (char *) route->data, 256);

        for (i = 0; i < n && route->data[i] != '?'; i++) {
            /* void */
        }

        route->len = i;
    }

    if (ev->attempted_user.len) {
        v = ev->attempted_user;

        if (amcf && amcf->scrub) {
            v.len = audit_scrub_credentials(v.data, v.len,
                                            (char *) tried->data, 512);
            v.data = (const char *) tried->data;
        }

        tried->data = (u_char *) v.data;
        tried->len = v.len;
    }

    if (ev->action == AUDIT_RECORD_ACCESS && ev->resource_type.len
        && ev->resource_id.len)
    {
        v = ev->resource_id;

        if (amcf && amcf->scrub) {
            v.len = audit_scrub_credentials(v.data, v.len, id, sizeof(id));
            v.data = id;
        }

        if (ev->resource_type.len + v.len + 1 < 256) {
            record->len = ngx_sprintf(record->data, "%*s/%*s",
                                      ev->resource_type.len,
                                      ev->resource_type.data,
                                      v.len, v.data)
                          - record->data;
        }
    }
}


/* the last 24 hours: by hour and action, by severity, the top tables */

static void
ngx_http_audit_console_count(ngx_http_audit_console_shctx_t *sh,
    ngx_http_audit_record_t *rec, ngx_str_t *route, ngx_str_t *record,
    ngx_str_t *tried)
{
    audit_str_t                          user;

    time_t                               now;
    uint32_t                             hour;
    ngx_uint_t                           b, i, t;
    audit_event_t                       *ev;

    ev = rec->ev;
    now = (time_t) (ev->ts_ms / 1000);
    hour = (uint32_t) (now / 3600);
    b = hour % NGX_HTTP_AUDIT_CONSOLE_HOURS;

    if (sh->hour[b] != hour) {
        sh->hour[b] = hour;
        ngx_memzero(sh->actions[b], sizeof(sh->actions[b]));
        ngx_memzero(sh->severities[b], sizeof(sh->severities[b]));

        for (t = 0; t < NGX_HTTP_AUDIT_CONSOLE_TOPS; t++) {
            for (i = 0; i < NGX_HTTP_AUDIT_CONSOLE_TOP; i++) {
                sh->top[t][i].hours[b] = 0;
            }
        }
    }

    if ((ngx_uint_t) ev->action < AUDIT_ACTION_MAX) {
        sh->actions[b][ev->action]++;
    }

    if ((ngx_uint_t) ev->severity < 3) {
        sh->severities[b][ev->severity]++;
    }

    if (ev->user_id.len) {
        ngx_http_audit_console_top(sh, NGX_HTTP_AUDIT_CONSOLE_USERS, b,
                                   ev->user_id.data, ev->user_id.len);
    }

    if (ev->ip.len) {
        ngx_http_audit_console_top(sh, NGX_HTTP_AUDIT_CONSOLE_IPS, b,
                                   ev->ip.data, ev->ip.len);
    }

    if (route->len) {
        ngx_http_audit_console_top(sh, NGX_HTTP_AUDIT_CONSOLE_ROUTES, b,
                                   (const char *) route->data, route->len);
    }

    if (record->len) {
        ngx_http_audit_console_top(sh, NGX_HTTP_AUDIT_CONSOLE_RECORDS, b,
                                   (const char *) record->data, record->len);
    }

    user.data = (const char *) tried->data;
    user.len = tried->len;

    if (ev->action == AUDIT_LOGIN_FAILURE) {
        ngx_http_audit_console_failure(sh->failed_ip, now, &ev->ip, 0);
        ngx_http_audit_console_failure(sh->failed_user, now, &user, 0);

    } else if (ev->action == AUDIT_BRUTEFORCE_SUSPECTED) {
        if (ev->reason.len == 2 && ngx_strncmp(ev->reason.data, "ip", 2) == 0)
        {
            ngx_http_audit_console_failure(sh->failed_ip, now, &ev->ip, 1);

        } else {
            ngx_http_audit_console_failure(sh->failed_user, now, &user, 1);
        }
    }
}


/*
 * A key counted in its hour; a key not in the table takes a free entry,
 * or the one with the fewest events in the last 24 hours.
 */

static void
ngx_http_audit_console_top(ngx_http_audit_console_shctx_t *sh,
    ngx_uint_t table, ngx_uint_t bucket, const char *key, size_t len)
{
    uint32_t                       sum, min;
    ngx_uint_t                     i, h;
    ngx_http_audit_console_top_t  *t, *victim;

    if (len > NGX_HTTP_AUDIT_CONSOLE_KEY) {
        len = NGX_HTTP_AUDIT_CONSOLE_KEY;
    }

    victim = NULL;
    min = (uint32_t) -1;

    for (i = 0; i < NGX_HTTP_AUDIT_CONSOLE_TOP; i++) {
        t = &sh->top[table][i];

        if (t->len == len && ngx_memcmp(t->key, key, len) == 0) {
            t->hours[bucket]++;
            return;
        }

        if (min == 0) {
            continue;
        }

        sum = 0;

        if (t->len) {
            for (h = 0; h < NGX_HTTP_AUDIT_CONSOLE_HOURS; h++) {
                sum += t->hours[h];
            }
        }

        if (sum < min) {
            min = sum;
            victim = t;
        }
    }

    ngx_memzero(victim, sizeof(ngx_http_audit_console_top_t));
    ngx_memcpy(victim->key, key, len);
    victim->len = (uint32_t) len;
    victim->hours[bucket] = 1;
}


/* a failed login (or the detector's alert) of one address or account */

static void
ngx_http_audit_console_failure(ngx_http_audit_console_failed_t *table,
    time_t now, audit_str_t *key, ngx_uint_t detected)
{
    size_t                            len;
    uint32_t                          minute;
    ngx_uint_t                        i, m;
    ngx_http_audit_console_failed_t  *f, *victim;

    if (key->len == 0) {
        return;
    }

    len = ngx_min(key->len, NGX_HTTP_AUDIT_CONSOLE_KEY);
    minute = (uint32_t) (now / 60);
    m = minute % NGX_HTTP_AUDIT_CONSOLE_MINUTES;

    victim = &table[0];

    for (i = 0; i < NGX_HTTP_AUDIT_CONSOLE_FAILED; i++) {
        f = &table[i];

        if (f->len == len && ngx_memcmp(f->key, key->data, len) == 0) {
            goto found;
        }

        if (f->last < victim->last) {
            victim = f;
        }
    }

    f = victim;
    ngx_memzero(f, sizeof(ngx_http_audit_console_failed_t));
    ngx_memcpy(f->key, key->data, len);
    f->len = (uint32_t) len;

found:

    if (detected) {
        f->detected = now;
        return;
    }

    if (f->minute[m] != minute) {
        f->minute[m] = minute;
        f->count[m] = 0;
    }

    f->count[m]++;
    f->last = now;
}
