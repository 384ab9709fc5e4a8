
/*
 * ngx_http_audit_module: the rings' snapshots on disk ("audit_ring SIZE
 * state=DIR").
 *
 * A ring in shared memory survives its worker, not nginx: a hard stop of
 * the whole of nginx (kill -9 of the master and its workers) or a crash
 * of the machine takes the zone with it.  So that such a loss is still
 * counted and named, each worker keeps DIR/audit-ring-PID.state: what its
 * ring holds that a sink has not stored yet (how many events, for which
 * sink, which chain and seqs), rewritten by the ring's one-second timer
 * when it changed, with a plain pwrite() (never fsync(), never on the
 * request path).  A worker that exits with nothing left removes it, an
 * adopter removes the dead worker's.  A worker starting finds the files
 * of dead processes written for a zone that is not the current one: their
 * events are lost; it counts them, names them and removes the file.  The
 * count is as of the last snapshot: events of the last second before the
 * hard stop may be missing from it.  The worker's first event names the
 * lost chain and its last seq ("after"), so audit.verify_chain shows the
 * tail PostgreSQL lacks.
 */


#include "ngx_http_audit_ring_int.h"

#include <dirent.h>


#define NGX_HTTP_AUDIT_RING_STATE_LEN  512


static void ngx_http_audit_ring_state_path(ngx_http_audit_ring_t *ring,
    u_char *path, ngx_pid_t pid);
static void ngx_http_audit_ring_state_put(ngx_http_audit_ring_t *ring,
    ngx_http_audit_ring_outstanding_t *o);
static void ngx_http_audit_ring_state_count(ngx_http_audit_ring_t *ring,
    const char *name, ngx_pid_t pid);
static unsigned long long ngx_http_audit_ring_state_field(u_char *buf,
    u_char *last, const char *key);
static ngx_pid_t ngx_http_audit_ring_state_owner(const char *name);


static void
ngx_http_audit_ring_state_path(ngx_http_audit_ring_t *ring, u_char *path,
    ngx_pid_t pid)
{
    ngx_sprintf(path, "%V/audit-ring-%P.state%Z", &ring->rmcf->state, pid);
}


ngx_int_t
ngx_http_audit_ring_state_open(ngx_http_audit_ring_t *ring)
{
    ngx_http_audit_ring_outstanding_t  o;

    if (ring->rmcf->state.len == 0) {
        return NGX_OK;
    }

    ngx_http_audit_ring_state_path(ring, ring->path, ngx_pid);

    ring->fd = ngx_open_file(ring->path, NGX_FILE_WRONLY,
                             NGX_FILE_TRUNCATE, 0600);

    if (ring->fd == NGX_INVALID_FILE) {
        ngx_log_error(NGX_LOG_EMERG, ring->log, ngx_errno,
                      "audit_ring: " ngx_open_file_n " \"%s\" failed",
                      ring->path);
        return NGX_ERROR;
    }

    ngx_http_audit_ring_count(ring->sh, ring->r, &o);
    ngx_http_audit_ring_state_put(ring, &o);

    return NGX_OK;
}


/* from the timer: only when the ring moved since the last snapshot */

void
ngx_http_audit_ring_state_write(ngx_http_audit_ring_t *ring)
{
    ngx_uint_t                         s, same;
    ngx_http_audit_ring_outstanding_t  o;

    if (ring->fd == NGX_INVALID_FILE) {
        return;
    }

    same = (ring->head == ring->r->head);

    for (s = 0; s < NGX_HTTP_AUDIT_RING_SINKS; s++) {
        same = same && ring->cursor[s] == ring->r->cursor[s];
    }

    if (same) {
        return;
    }

    ngx_http_audit_ring_count(ring->sh, ring->r, &o);
    ngx_http_audit_ring_state_put(ring, &o);
}


static void
ngx_http_audit_ring_state_put(ngx_http_audit_ring_t *ring,
    ngx_http_audit_ring_outstanding_t *o)
{
    u_char      buf[NGX_HTTP_AUDIT_RING_STATE_LEN], *p, *last;
    ngx_uint_t  s;

    last = buf + sizeof(buf) - 1;

    /*
     * No event yet: no producer.  "%V" of a NULL string copies from NULL
     * (undefined, and under UBSan a report per snapshot whose symbolizer
     * two workers of one master share: one of them hung on it)
     */

    if (o->producer.data == NULL) {
        ngx_str_set(&o->producer, "");
    }

    p = ngx_slprintf(buf, last,
                     "zone=%uL pid=%P gen=%uA events=%ui log=%ui pg=%ui "
                     "first=%uL last=%uL at=%T producer=%V",
                     ring->sh->id, ngx_pid, ring->r->gen, o->events,
                     o->sink[NGX_HTTP_AUDIT_RING_LOG],
                     o->sink[NGX_HTTP_AUDIT_RING_PG], o->first, o->last,
                     ngx_time(), &o->producer);

    /* one fixed-size record: a shorter one leaves no tail of the last */
    ngx_memset(p, ' ', last - p);
    *last = '\n';

    if (pwrite(ring->fd, buf, sizeof(buf), 0) != (ssize_t) sizeof(buf)) {
        ngx_log_error(NGX_LOG_ALERT, ring->log, ngx_errno,
                      "audit_ring: pwrite(\"%s\") failed", ring->path);
        return;
    }

    ring->head = ring->r->head;

    for (s = 0; s < NGX_HTTP_AUDIT_RING_SINKS; s++) {
        ring->cursor[s] = ring->r->cursor[s];
    }
}


/* at exit, once the sinks have stored what they held */

void
ngx_http_audit_ring_state_close(ngx_http_audit_ring_t *ring)
{
    ngx_http_audit_ring_outstanding_t  o;

    if (ring->fd == NGX_INVALID_FILE) {
        return;
    }

    ngx_http_audit_ring_count(ring->sh, ring->r, &o);

    if (o.events) {
        ngx_http_audit_ring_state_put(ring, &o);
    }

    (void) ngx_close_file(ring->fd);
    ring->fd = NGX_INVALID_FILE;

    if (o.events == 0 && ngx_delete_file(ring->path) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, ring->log, ngx_errno,
                      "audit_ring: " ngx_delete_file_n " \"%s\" failed",
                      ring->path);
    }
}


/* a dead worker's ring was adopted: its snapshot is history */

void
ngx_http_audit_ring_state_remove(ngx_http_audit_ring_t *ring, ngx_pid_t pid)
{
    u_char  path[NGX_MAX_PATH];

    if (ring->rmcf->state.len == 0) {
        return;
    }

    ngx_http_audit_ring_state_path(ring, path, pid);

    if (ngx_delete_file(path) == NGX_FILE_ERROR && ngx_errno != NGX_ENOENT) {
        ngx_log_error(NGX_LOG_ALERT, ring->log, ngx_errno,
                      "audit_ring: " ngx_delete_file_n " \"%s\" failed",
                      path);
    }
}


/*
 * At start: the snapshots of dead processes, written for another zone.
 * A snapshot of this zone belongs to a ring still in it, which adoption
 * takes care of.
 */

void
ngx_http_audit_ring_state_lost(ngx_http_audit_ring_t *ring)
{
    DIR            *dir;
    ngx_pid_t       pid;
    struct dirent  *de;

    if (ring->rmcf->state.len == 0) {
        return;
    }

    dir = opendir((const char *) ring->rmcf->state.data);
    if (dir == NULL) {
        ngx_log_error(NGX_LOG_ALERT, ring->log, ngx_errno,
                      "audit_ring: opendir(\"%V\") failed",
                      &ring->rmcf->state);
        return;
    }

    while ((de = readdir(dir)) != NULL) {

        pid = ngx_http_audit_ring_state_owner(de->d_name);

        if (pid <= 0) {
            continue;
        }

        /* ours is not written yet: a file with our pid is a predecessor's */

        if (pid != ngx_pid && (kill(pid, 0) == 0 || ngx_errno == NGX_EPERM)) {
            continue;
        }

        ngx_http_audit_ring_state_count(ring, de->d_name, pid);
    }

    closedir(dir);
}


static void
ngx_http_audit_ring_state_count(ngx_http_audit_ring_t *ring,
    const char *name, ngx_pid_t pid)
{
    u_char                       from[NGX_MAX_PATH], to[NGX_MAX_PATH];
    u_char                       buf[NGX_HTTP_AUDIT_RING_STATE_LEN + 1];
    u_char                      *p, *last;
    ssize_t                      n;
    ngx_fd_t                     fd;
    ngx_uint_t                   events, log, pg;
    ngx_str_t                    producer;
    unsigned long long           first, lastseq;
    ngx_http_audit_shctx_t      *ash;
    ngx_http_audit_main_conf_t  *amcf;

    ngx_sprintf(from, "%V/%s%Z", &ring->rmcf->state, name);

    fd = ngx_open_file(from, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        return;
    }

    n = pread(fd, buf, NGX_HTTP_AUDIT_RING_STATE_LEN, 0);
    (void) ngx_close_file(fd);

    if (n <= 0) {
        return;
    }

    last = buf + n;

    if (ngx_http_audit_ring_state_field(buf, last, "zone=") == ring->sh->id) {
        return;
    }

    /* one counter: the rename is atomic, only one worker makes it */

    ngx_sprintf(to, "%V/%s.%P%Z", &ring->rmcf->state, name, ngx_pid);

    if (ngx_rename_file(from, to) == NGX_FILE_ERROR) {
        return;
    }

    events = ngx_http_audit_ring_state_field(buf, last, "events=");
    log = ngx_http_audit_ring_state_field(buf, last, "log=");
    pg = ngx_http_audit_ring_state_field(buf, last, "pg=");
    first = ngx_http_audit_ring_state_field(buf, last, "first=");
    lastseq = ngx_http_audit_ring_state_field(buf, last, "last=");

    ngx_str_set(&producer, "");         /* a file without one: none */

    p = ngx_strlcasestrn(buf, last, (u_char *) " producer=", 10 - 1);
    if (p) {
        producer.data = p + 10;

        for (p += 10; p < last && *p != ' ' && *p != '\n'; p++) {
            /* void */
        }

        producer.len = p - producer.data;
    }

    if (ngx_delete_file(to) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, ring->log, ngx_errno,
                      "audit_ring: " ngx_delete_file_n " \"%s\" failed", to);
    }

    if (events == 0) {
        return;
    }

    amcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_audit_module);

    if (amcf && amcf->shm_zone) {
        ash = amcf->shm_zone->data;
        (void) ngx_atomic_fetch_add(&ash->events_lost, events);
    }

    ngx_log_error(NGX_LOG_ALERT, ring->log, 0,
                  "audit_ring: the shared memory of an earlier nginx is gone "
                  "(a hard stop of nginx or a crash of the machine): worker "
                  "process %P still held %ui audit events not yet stored "
                  "(%ui not in the JSON log, %ui not in PostgreSQL) of "
                  "chain \"%V\" seq %uL to %uL: they are lost",
                  pid, events, log, pg, &producer, first, lastseq);

    ngx_http_audit_fault(ring->log, NULL, "module_fault", "events_lost",
                         "Audit events lost: nginx stopped hard with events "
                         "not yet stored");

    ngx_http_audit_chain_after((ngx_cycle_t *) ngx_cycle, &producer, lastseq);
}


/* " key=123": 123; 0 if absent */

static unsigned long long
ngx_http_audit_ring_state_field(u_char *buf, u_char *last, const char *key)
{
    u_char              *p;
    size_t               len;
    unsigned long long   v;

    len = ngx_strlen(key);

    p = ngx_strlcasestrn(buf, last, (u_char *) key, len - 1);
    if (p == NULL) {
        return 0;
    }

    v = 0;

    for (p += len; p < last && *p >= '0' && *p <= '9'; p++) {
        v = v * 10 + (*p - '0');
    }

    return v;
}


/* "audit-ring-1234.state": 1234; else -1 */

static ngx_pid_t
ngx_http_audit_ring_state_owner(const char *name)
{
    size_t      len;
    ngx_int_t   pid;

    len = ngx_strlen(name);

    if (len < sizeof("audit-ring-1.state") - 1
        || ngx_strncmp(name, "audit-ring-", 11) != 0
        || ngx_strcmp(name + len - 6, ".state") != 0)
    {
        return -1;
    }

    pid = ngx_atoi((u_char *) name + 11, len - 11 - 6);

    return pid == NGX_ERROR ? -1 : (ngx_pid_t) pid;
}
