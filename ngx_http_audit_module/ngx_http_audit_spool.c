
/*
 * ngx_http_audit_module: the spool.
 *
 * A local buffer on disk for events PostgreSQL could not take yet: each
 * worker appends COPY rows to its own file, DIR/audit-PID.spool, with
 * plain write()s (never fsync(): the kernel's page cache survives a worker
 * crash, and the JSON log is the second copy).  Once the connection is
 * back the shipper replays the files in order, a batch at a time, and a
 * file is deleted once all of it is committed.
 *
 * Files left by workers that are gone (a reload, a restart, a crash) are
 * adopted by a live worker: renamed to DIR/audit-MYPID-N.spool, which is
 * atomic, so two workers never replay the same file, and which marks the
 * file as owned by a live process for everyone else.  Replaying a batch
 * that had already been committed adds no row (ON CONFLICT DO NOTHING).
 */


#include "ngx_http_audit_pg.h"

#include <dirent.h>


#define NGX_HTTP_AUDIT_SPOOL_SCAN   2         /* seconds between scans */
#define NGX_HTTP_AUDIT_SPOOL_WARN   10        /* seconds between warnings */


struct ngx_http_audit_spool_s {
    ngx_http_audit_spool_conf_t *conf;

    u_char                       own[NGX_MAX_PATH];
    ngx_fd_t                     fd;              /* append, own file */
    off_t                        own_size;

    u_char                       replay[NGX_MAX_PATH];
    ngx_fd_t                     rfd;             /* being replayed */
    off_t                        roff;            /* committed */
    size_t                       rpending;        /* in the batch */
    ngx_uint_t                   replaying_own;

    ngx_uint_t                   adopted;
    time_t                       scanned;
    time_t                       warned;
    ngx_uint_t                   dropped;

};


static ngx_int_t ngx_http_audit_spool_open_own(ngx_http_audit_spool_t *sp,
    ngx_log_t *log);
static ngx_int_t ngx_http_audit_spool_write(ngx_http_audit_spool_t *sp,
    u_char *data, size_t len, ngx_log_t *log);
static ngx_int_t ngx_http_audit_spool_adopt(ngx_http_audit_spool_t *sp,
    ngx_log_t *log);
static ngx_pid_t ngx_http_audit_spool_owner(const char *name);
static void ngx_http_audit_spool_done(ngx_http_audit_spool_t *sp,
    ngx_log_t *log);


char *
ngx_http_audit_spool_conf(ngx_conf_t *cf, ngx_http_audit_pg_main_conf_t *pmcf)
{
    off_t                         size;
    ngx_str_t                    *value, s;
    ngx_uint_t                    i;
    ngx_file_info_t               fi;
    ngx_http_audit_spool_conf_t  *scf;

    if (pmcf->spool) {
        return "is duplicate";
    }

    value = cf->args->elts;

    scf = ngx_pcalloc(cf->pool, sizeof(ngx_http_audit_spool_conf_t));
    if (scf == NULL) {
        return NGX_CONF_ERROR;
    }

    scf->dir = value[1];
    scf->max_size = 1024 * 1024 * 1024;

    if (ngx_conf_full_name(cf->cycle, &scf->dir, 0) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "max_size=", 9) == 0) {
            s.data = value[i].data + 9;
            s.len = value[i].len - 9;

            size = ngx_parse_offset(&s);
            if (size == NGX_ERROR || size < 64 * 1024) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid max_size \"%V\" in "
                                   "\"audit_spool\", at least 64k", &s);
                return NGX_CONF_ERROR;
            }

            scf->max_size = size;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\" in \"audit_spool\"",
                           &value[i]);
        return NGX_CONF_ERROR;
    }

    if (scf->dir.len + sizeof("/audit-4294967295-4294967295.spool")
        > NGX_MAX_PATH)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"audit_spool\" directory name is too long");
        return NGX_CONF_ERROR;
    }

    if (ngx_file_info(scf->dir.data, &fi) == NGX_FILE_ERROR
        || !ngx_is_dir(&fi))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "\"audit_spool\" directory \"%V\" is not usable",
                           &scf->dir);
        return NGX_CONF_ERROR;
    }

    pmcf->spool = scf;

    return NGX_CONF_OK;
}


ngx_http_audit_spool_t *
ngx_http_audit_spool_create(ngx_cycle_t *cycle,
    ngx_http_audit_spool_conf_t *scf)
{
    ngx_http_audit_spool_t  *sp;

    sp = ngx_pcalloc(cycle->pool, sizeof(ngx_http_audit_spool_t));
    if (sp == NULL) {
        return NULL;
    }

    sp->conf = scf;
    sp->fd = NGX_INVALID_FILE;
    sp->rfd = NGX_INVALID_FILE;

    ngx_sprintf(sp->own, "%V/audit-%P.spool%Z", &scf->dir, ngx_pid);

    return sp;
}


/* bytes waiting in this worker's own file */

size_t
ngx_http_audit_spool_size(ngx_http_audit_spool_t *sp)
{
    return sp->own_size > sp->roff && sp->replaying_own
           ? (size_t) (sp->own_size - sp->roff) : (size_t) sp->own_size;
}


/* cheap: on the request path, decides where a new event goes */

ngx_uint_t
ngx_http_audit_spool_backlog(ngx_http_audit_spool_t *sp)
{
    return sp->own_size > 0 || sp->rfd != NGX_INVALID_FILE;
}


void
ngx_http_audit_spool_append(ngx_http_audit_spool_t *sp, u_char *data,
    size_t len, ngx_log_t *log)
{
    time_t  now;

    if (sp->own_size + (off_t) len > sp->conf->max_size) {
        sp->dropped++;
        now = ngx_time();

        if (now - sp->warned >= NGX_HTTP_AUDIT_SPOOL_WARN) {
            sp->warned = now;
            ngx_log_error(NGX_LOG_ALERT, log, 0,
                          "audit: audit_spool_full: \"%s\" reached %O bytes, "
                          "%ui events not stored for PostgreSQL so far "
                          "(they are in the JSON log)",
                          sp->own, sp->conf->max_size, sp->dropped);

            ngx_http_audit_fault(log, NULL, "module_fault", "spool_full",
                                 "Audit spool full: events kept only in "
                                 "the JSON log");
        }

        return;
    }

    (void) ngx_http_audit_spool_write(sp, data, len, log);
}


/* at exit: no limit, losing events is worse than a larger file */

ngx_int_t
ngx_http_audit_spool_save(ngx_http_audit_spool_t *sp, u_char *data,
    size_t len, ngx_log_t *log)
{
    return ngx_http_audit_spool_write(sp, data, len, log);
}


static ngx_int_t
ngx_http_audit_spool_write(ngx_http_audit_spool_t *sp, u_char *data,
    size_t len, ngx_log_t *log)
{
    ssize_t  n;

    if (sp->fd == NGX_INVALID_FILE
        && ngx_http_audit_spool_open_own(sp, log) != NGX_OK)
    {
        sp->dropped++;
        return NGX_ERROR;
    }

    n = ngx_write_fd(sp->fd, data, len);

    if (n != (ssize_t) len) {
        ngx_log_error(NGX_LOG_ALERT, log, ngx_errno,
                      "audit: audit_spool_full: writing \"%s\" failed",
                      sp->own);
        sp->dropped++;

        /* a partial row would be replayed as garbage: cut it off */
        if (n > 0 && ftruncate(sp->fd, sp->own_size) == -1) {
            ngx_log_error(NGX_LOG_ALERT, log, ngx_errno,
                          "audit: ftruncate(\"%s\") failed", sp->own);
        }

        return NGX_ERROR;
    }

    sp->own_size += len;

    return NGX_OK;
}


static ngx_int_t
ngx_http_audit_spool_open_own(ngx_http_audit_spool_t *sp, ngx_log_t *log)
{
    ngx_file_info_t fi;

    sp->fd = ngx_open_file(sp->own, NGX_FILE_APPEND,
                           NGX_FILE_CREATE_OR_OPEN, 0600);

    if (sp->fd == NGX_INVALID_FILE) {
        ngx_log_error(NGX_LOG_ALERT, log, ngx_errno,
                      "audit: " ngx_open_file_n " \"%s\" failed", sp->own);
        return NGX_ERROR;
    }

    if (ngx_fd_info(sp->fd, &fi) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, log, ngx_errno,
                      "audit: " ngx_fd_info_n " \"%s\" failed", sp->own);
        return NGX_ERROR;
    }

    sp->own_size = ngx_file_size(&fi);

    return NGX_OK;
}


/*
 * Looks for files of workers that are gone; rate-limited, and only called
 * by the shipper when it is idle and connected, never on the request path.
 */

void
ngx_http_audit_spool_scan(ngx_http_audit_spool_t *sp, ngx_log_t *log)
{
    time_t  now;

    now = ngx_time();

    if (sp->rfd != NGX_INVALID_FILE
        || now - sp->scanned < NGX_HTTP_AUDIT_SPOOL_SCAN)
    {
        return;
    }

    sp->scanned = now;

    (void) ngx_http_audit_spool_adopt(sp, log);
}


static ngx_int_t
ngx_http_audit_spool_adopt(ngx_http_audit_spool_t *sp, ngx_log_t *log)
{
    DIR            *dir;
    u_char          from[NGX_MAX_PATH], refused[NGX_MAX_PATH + 8];
    ngx_pid_t       owner;
    ngx_file_info_t fi;
    struct dirent  *de;

    dir = opendir((const char *) sp->conf->dir.data);
    if (dir == NULL) {
        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      "audit: opendir(\"%V\") failed", &sp->conf->dir);
        return NGX_ERROR;
    }

    while ((de = readdir(dir)) != NULL) {

        owner = ngx_http_audit_spool_owner(de->d_name);

        if (owner <= 0 || owner == ngx_pid) {
            continue;
        }

        /* a live worker's file is its own (kill(0) probes, sends nothing) */
        if (kill(owner, 0) == 0 || ngx_errno == NGX_EPERM) {
            continue;
        }

        ngx_sprintf(from, "%V/%s%Z", &sp->conf->dir, de->d_name);
        ngx_sprintf(sp->replay, "%V/audit-%P-%ui.spool%Z", &sp->conf->dir,
                    ngx_pid, ++sp->adopted);

        if (ngx_rename_file(from, sp->replay) == NGX_FILE_ERROR) {
            /* another worker was quicker */
            continue;
        }

        /*
         * only a regular file this server's workers (or root) wrote: a
         * symbolic link would replay whatever file it names into
         * PostgreSQL (its lines as rejected ones), a FIFO would block the
         * worker on open() and read()
         */

        sp->rfd = ngx_open_file(sp->replay,
                                NGX_FILE_RDONLY|NGX_FILE_NONBLOCK|O_NOFOLLOW,
                                NGX_FILE_OPEN, 0);

        if (sp->rfd == NGX_INVALID_FILE
            || ngx_fd_info(sp->rfd, &fi) == NGX_FILE_ERROR
            || !ngx_is_file(&fi)
            || (fi.st_uid != geteuid() && fi.st_uid != 0))
        {
            ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                          "audit: \"%s\" is not a spool file of this server "
                          "(a regular file of its workers' user or root): "
                          "not replayed, renamed \"%s.refused\"",
                          from, sp->replay);

            if (sp->rfd != NGX_INVALID_FILE) {
                (void) ngx_close_file(sp->rfd);
                sp->rfd = NGX_INVALID_FILE;
            }

            ngx_sprintf(refused, "%s.refused%Z", sp->replay);
            (void) ngx_rename_file(sp->replay, refused);
            continue;
        }

        sp->roff = 0;
        sp->rpending = 0;
        sp->replaying_own = 0;

        ngx_log_error(NGX_LOG_NOTICE, log, 0,
                      "audit: replaying \"%s\" left by process %P",
                      from, owner);
        break;
    }

    closedir(dir);

    return NGX_OK;
}


/* "audit-1234.spool" or "audit-1234-7.spool": 1234; else -1 */

static ngx_pid_t
ngx_http_audit_spool_owner(const char *name)
{
    size_t      len;
    ngx_int_t   pid;
    const char *p, *digits;

    len = ngx_strlen(name);

    if (len < sizeof("audit-1.spool") - 1
        || ngx_strncmp(name, "audit-", 6) != 0
        || ngx_strcmp(name + len - 6, ".spool") != 0)
    {
        return -1;
    }

    digits = name + 6;

    for (p = digits; *p >= '0' && *p <= '9'; p++) {
        /* void */
    }

    if (p == digits || (*p != '.' && *p != '-')) {
        return -1;
    }

    pid = ngx_atoi((u_char *) digits, p - digits);

    return pid == NGX_ERROR ? -1 : (ngx_pid_t) pid;
}


/*
 * The next batch of whole rows from the oldest file: an adopted one, else
 * our own.  Returns its length; 0 when there is nothing to read.
 */

size_t
ngx_http_audit_spool_read(ngx_http_audit_spool_t *sp, u_char *buf,
    size_t size, ngx_log_t *log)
{
    u_char   *last;
    ssize_t   n;

    if (sp->rfd == NGX_INVALID_FILE) {

        if (sp->own_size == 0) {
            return 0;
        }

        ngx_cpystrn(sp->replay, sp->own, NGX_MAX_PATH);

        sp->rfd = ngx_open_file(sp->replay, NGX_FILE_RDONLY, NGX_FILE_OPEN,
                                0);
        if (sp->rfd == NGX_INVALID_FILE) {
            ngx_log_error(NGX_LOG_ALERT, log, ngx_errno,
                          "audit: " ngx_open_file_n " \"%s\" failed",
                          sp->replay);
            return 0;
        }

        sp->roff = 0;
        sp->replaying_own = 1;
    }

    n = pread(sp->rfd, buf, size, sp->roff);

    if (n == -1) {
        ngx_log_error(NGX_LOG_ALERT, log, ngx_errno,
                      "audit: pread(\"%s\") failed", sp->replay);
        return 0;
    }

    for (last = buf + n; last > buf && last[-1] != '\n'; last--) {
        /* void */
    }

    sp->rpending = last - buf;

    if (sp->rpending == 0) {
        /* at the end, or a torn last row from a crash: the file is done */
        if (n > 0) {
            ngx_log_error(NGX_LOG_WARN, log, 0,
                          "audit: dropping %z bytes of an incomplete row at "
                          "the end of \"%s\"", n, sp->replay);
        }

        ngx_http_audit_spool_done(sp, log);
    }

    return sp->rpending;
}


void
ngx_http_audit_spool_commit(ngx_http_audit_spool_t *sp, ngx_log_t *log)
{
    ngx_file_info_t fi;

    sp->roff += sp->rpending;
    sp->rpending = 0;

    if (sp->replaying_own) {
        if (sp->roff >= sp->own_size) {
            ngx_http_audit_spool_done(sp, log);
        }

        return;
    }

    if (ngx_fd_info(sp->rfd, &fi) != NGX_FILE_ERROR
        && sp->roff >= ngx_file_size(&fi))
    {
        ngx_http_audit_spool_done(sp, log);
    }
}


/* a file fully replayed (or unreadable past here): it goes */

static void
ngx_http_audit_spool_done(ngx_http_audit_spool_t *sp, ngx_log_t *log)
{
    if (sp->rfd != NGX_INVALID_FILE) {
        (void) ngx_close_file(sp->rfd);
        sp->rfd = NGX_INVALID_FILE;
    }

    if (ngx_delete_file(sp->replay) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, log, ngx_errno,
                      "audit: " ngx_delete_file_n " \"%s\" failed",
                      sp->replay);
    }

    if (sp->replaying_own) {
        if (sp->fd != NGX_INVALID_FILE) {
            (void) ngx_close_file(sp->fd);
            sp->fd = NGX_INVALID_FILE;
        }

        sp->own_size = 0;
        sp->replaying_own = 0;
    }

    sp->roff = 0;
    sp->rpending = 0;
}


void
ngx_http_audit_spool_close(ngx_http_audit_spool_t *sp)
{
    if (sp->fd != NGX_INVALID_FILE) {
        (void) ngx_close_file(sp->fd);
        sp->fd = NGX_INVALID_FILE;
    }

    if (sp->rfd != NGX_INVALID_FILE) {
        (void) ngx_close_file(sp->rfd);
        sp->rfd = NGX_INVALID_FILE;
    }
}
