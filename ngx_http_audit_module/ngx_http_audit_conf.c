
/*
 * ngx_http_audit_module: helpers for the directive parsers of every
 * concern (the bottom floor: configuration time only, using nothing
 * above it).
 */


#include "ngx_http_audit_module.h"


/*
 * Where a directive was read, for a check that can only be made once its
 * block is whole.
 */

void
ngx_http_audit_conf_line(ngx_conf_t *cf, ngx_http_audit_conf_line_t *at)
{
    /* the name is NUL-terminated and lives as long as the cycle */
    at->file = cf->conf_file->file.name.data;
    at->line = cf->conf_file->line;
}


/*
 * An error found in merge or init_main_conf, where ngx_conf_log_error()
 * would name the closing "}" of the block: names the directive's own line.
 */

void ngx_cdecl
ngx_http_audit_conf_error(ngx_conf_t *cf, ngx_http_audit_conf_line_t *at,
    const char *fmt, ...)
{
    u_char   *p;
    va_list   args;
    u_char    errstr[NGX_MAX_CONF_ERRSTR];

    va_start(args, fmt);
    p = ngx_vslprintf(errstr, errstr + NGX_MAX_CONF_ERRSTR, fmt, args);
    va_end(args);

    if (at->file == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%*s", p - errstr, errstr);
        return;
    }

    ngx_log_error(NGX_LOG_EMERG, cf->log, 0, "%*s in %s:%ui",
                  p - errstr, errstr, at->file, at->line);
}


/*
 * "NAME:SIZE", the argument of a directive that makes a shared zone
 * (audit_zone, audit_console_zone): adds the zone with the caller's tag,
 * at least min bytes; NULL after an error naming the directive.  The
 * caller sets init and data.
 */

ngx_shm_zone_t *
ngx_http_audit_conf_zone(ngx_conf_t *cf, ngx_str_t *arg, size_t min,
    void *tag)
{
    u_char          *p;
    ssize_t          size;
    ngx_str_t        name, s, *cmd;
    ngx_shm_zone_t  *zone;

    cmd = cf->args->elts;

    p = (u_char *) ngx_strlchr(arg->data, arg->data + arg->len, ':');

    if (p == NULL || p == arg->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone \"%V\" in \"%V\", "
                           "expected NAME:SIZE", arg, &cmd[0]);
        return NULL;
    }

    name.data = arg->data;
    name.len = p - arg->data;

    s.data = p + 1;
    s.len = arg->data + arg->len - s.data;

    size = ngx_parse_size(&s);

    if (size == NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone size \"%V\" in \"%V\"",
                           arg, &cmd[0]);
        return NULL;
    }

    if (size < (ssize_t) min) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" in \"%V\" is too small, "
                           "at least %uzk", &name, &cmd[0], min / 1024);
        return NULL;
    }

    zone = ngx_shared_memory_add(cf, &name, size, tag);
    if (zone == NULL) {
        return NULL;
    }

    if (zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" in \"%V\" is already used",
                           &name, &cmd[0]);
        return NULL;
    }

    return zone;
}


/* a cookie or header name: an RFC 7230 token */

char *
ngx_http_audit_check_name(ngx_conf_t *cf, void *post, void *data)
{
    ngx_str_t  *name = data;

    u_char      c;
    ngx_str_t  *directive;
    ngx_uint_t  i;

    directive = cf->args->elts;

    for (i = 0; i < name->len; i++) {
        c = name->data[i];

        if (c <= ' ' || c >= 0x7f || ngx_strchr("()<>@,;:\\\"/[]?={}", c))
        {
            break;
        }
    }

    if (name->len == 0 || i < name->len) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid name \"%V\" in \"%V\"", name,
                           &directive[0]);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}
