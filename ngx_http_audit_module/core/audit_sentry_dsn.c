
/*
 * The Sentry DSN and the X-Sentry-Auth header made from it (see
 * audit_sentry.h).  No allocation; a refused DSN leaves its output zeroed.
 */

/* inet_pton() */
#define _POSIX_C_SOURCE  200112L

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <arpa/inet.h>

#include "audit_sentry.h"


static int audit_sentry_dsn_fail(audit_sentry_dsn_t *out, char *err,
    size_t errlen, const char *reason);
static int audit_sentry_scheme(const char *p, size_t len,
    const char *scheme);
static int audit_sentry_unreserved(const char *p, size_t len);
static size_t audit_sentry_span(const char *p, size_t len, const char *set);
static int audit_sentry_host(const char *p, size_t len);
static int audit_sentry_path(const char *p, size_t len);


int
audit_sentry_dsn_parse(const char *dsn, size_t len, audit_sentry_dsn_t *out,
    char *err, size_t errlen)
{
    size_t            n, digits, port_len;
    unsigned          port_value;
    const char       *p, *end, *at, *colon, *slash, *last, *host, *host_end;
    const char       *port;
    char              addr[64];
    struct in6_addr   a6;

    if (out == NULL) {
        if (err != NULL && errlen != 0) {
            snprintf(err, errlen, "no output");
        }

        return -1;
    }

    memset(out, 0, sizeof(audit_sentry_dsn_t));

    if (dsn == NULL || len == 0) {
        return audit_sentry_dsn_fail(out, err, errlen, "empty DSN");
    }

    if (len > AUDIT_SENTRY_DSN_MAX) {
        return audit_sentry_dsn_fail(out, err, errlen,
                                     "DSN longer than 1024 bytes");
    }

    p = dsn;
    end = dsn + len;

    if (audit_sentry_scheme(p, len, "https://")) {
        out->https = 1;
        p += 8;

    } else if (audit_sentry_scheme(p, len, "http://")) {
        p += 7;

    } else {
        return audit_sentry_dsn_fail(out, err, errlen,
                                     "scheme is not http or https");
    }

    /* the authority ends at the first "/" */

    slash = memchr(p, '/', end - p);
    if (slash == NULL) {
        slash = end;
    }

    at = memchr(p, '@', slash - p);
    if (at == NULL || at == p || *p == ':') {
        return audit_sentry_dsn_fail(out, err, errlen, "no public key");
    }

    colon = memchr(p, ':', at - p);
    n = (colon ? colon : at) - p;

    if (n >= sizeof(out->public_key)) {
        return audit_sentry_dsn_fail(out, err, errlen, "public key too long");
    }

    if (!audit_sentry_unreserved(p, n)) {
        return audit_sentry_dsn_fail(out, err, errlen,
                                     "invalid character in the public key");
    }

    memcpy(out->public_key, p, n);

    /* the secret key is deprecated: checked, then ignored */

    if (colon && !audit_sentry_unreserved(colon + 1, at - colon - 1)) {
        return audit_sentry_dsn_fail(out, err, errlen,
                                     "invalid character in the secret key");
    }

    host = at + 1;
    port = NULL;

    if (host < slash && *host == '[') {
        host_end = memchr(host, ']', slash - host);
        if (host_end == NULL) {
            return audit_sentry_dsn_fail(out, err, errlen,
                                         "no \"]\" after the IPv6 address");
        }

        n = host_end - host - 1;

        /* inet_pton() would stop at a NUL */

        if (n == 0 || n >= sizeof(addr)
            || audit_sentry_span(host + 1, n, "0123456789abcdefABCDEF:.")
               != n)
        {
            return audit_sentry_dsn_fail(out, err, errlen,
                                         "invalid IPv6 address");
        }

        memcpy(addr, host + 1, n);
        addr[n] = '\0';

        if (inet_pton(AF_INET6, addr, &a6) != 1) {
            return audit_sentry_dsn_fail(out, err, errlen,
                                         "invalid IPv6 address");
        }

        memcpy(out->host, addr, n + 1);

        if (host_end + 1 < slash) {
            if (host_end[1] != ':') {
                return audit_sentry_dsn_fail(out, err, errlen,
                                             "garbage after the IPv6 "
                                             "address");
            }

            port = host_end + 2;
        }

    } else {
        host_end = memchr(host, ':', slash - host);
        if (host_end == NULL) {
            host_end = slash;

        } else {
            port = host_end + 1;
        }

        n = host_end - host;

        if (n == 0) {
            return audit_sentry_dsn_fail(out, err, errlen, "empty host");
        }

        if (n >= sizeof(out->host)) {
            return audit_sentry_dsn_fail(out, err, errlen, "host too long");
        }

        if (!audit_sentry_host(host, n)) {
            return audit_sentry_dsn_fail(out, err, errlen,
                                         "invalid character in the host");
        }

        memcpy(out->host, host, n);
    }

    if (port) {
        port_len = slash - port;
        port_value = 0;

        for (n = 0; n < port_len && n < 6; n++) {
            if (port[n] < '0' || port[n] > '9') {
                break;
            }

            port_value = port_value * 10 + (port[n] - '0');
        }

        if (port_len == 0 || n != port_len || port_value == 0
            || port_value > 65535)
        {
            return audit_sentry_dsn_fail(out, err, errlen, "invalid port");
        }

        out->port = (int) port_value;

    } else {
        out->port = out->https ? 443 : 80;
    }

    /* [/PATH]/PROJECT_ID: the project is the last segment */

    if (slash == end) {
        return audit_sentry_dsn_fail(out, err, errlen, "no project id");
    }

    for (last = end - 1; *last != '/'; last--) {
        /* void */
    }

    p = last + 1;
    n = end - p;

    for (digits = 0; digits < n && p[digits] >= '0' && p[digits] <= '9';
         digits++)
    {
        /* void */
    }

    if (n == 0) {
        return audit_sentry_dsn_fail(out, err, errlen, "no project id");
    }

    if (digits == 0) {
        return audit_sentry_dsn_fail(out, err, errlen,
                                     "project id is not numeric");
    }

    if (digits != n) {
        return audit_sentry_dsn_fail(out, err, errlen,
                                     "garbage after the project id");
    }

    if (n >= sizeof(out->project_id)) {
        return audit_sentry_dsn_fail(out, err, errlen,
                                     "project id too long");
    }

    memcpy(out->project_id, p, n);

    n = last - slash;

    if (n >= sizeof(out->path_prefix)) {
        return audit_sentry_dsn_fail(out, err, errlen, "path too long");
    }

    if (n && !audit_sentry_path(slash, n)) {
        return audit_sentry_dsn_fail(out, err, errlen, "invalid path");
    }

    memcpy(out->path_prefix, slash, n);

    snprintf(out->envelope_path, sizeof(out->envelope_path),
             "%s/api/%s/envelope/", out->path_prefix, out->project_id);

    if (err != NULL && errlen != 0) {
        err[0] = '\0';
    }

    return 0;
}


static int
audit_sentry_dsn_fail(audit_sentry_dsn_t *out, char *err, size_t errlen,
    const char *reason)
{
    memset(out, 0, sizeof(audit_sentry_dsn_t));

    if (err != NULL && errlen != 0) {
        snprintf(err, errlen, "%s", reason);
    }

    return -1;
}


/* p starts with scheme, "http://" or "https://", ignoring case */

static int
audit_sentry_scheme(const char *p, size_t len, const char *scheme)
{
    size_t  i, n;

    n = strlen(scheme);

    if (len < n) {
        return 0;
    }

    for (i = 0; i < n; i++) {
        if (p[i] != scheme[i]
            && !(scheme[i] >= 'a' && scheme[i] <= 'z'
                 && p[i] == scheme[i] - 'a' + 'A'))
        {
            return 0;
        }
    }

    return 1;
}


/* RFC 3986 unreserved: ALPHA DIGIT "-" "." "_" "~" */

static int
audit_sentry_unreserved(const char *p, size_t len)
{
    size_t  i;
    char    c;

    for (i = 0; i < len; i++) {
        c = p[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_'
              || c == '~'))
        {
            return 0;
        }
    }

    return 1;
}


/* how many bytes of p[0..len) from the start are in set (not NUL) */

static size_t
audit_sentry_span(const char *p, size_t len, const char *set)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        if (p[i] == '\0' || strchr(set, p[i]) == NULL) {
            break;
        }
    }

    return i;
}


/* a host name or an IPv4 address: letters, digits, "-", "_", "." */

static int
audit_sentry_host(const char *p, size_t len)
{
    size_t  i;
    char    c;

    if (p[0] == '.' || p[0] == '-') {
        return 0;
    }

    for (i = 0; i < len; i++) {
        c = p[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '-' || c == '.'
              || c == '_'))
        {
            return 0;
        }

        if (c == '.' && i + 1 < len && p[i + 1] == '.') {
            return 0;
        }
    }

    return 1;
}


/*
 * "/seg/seg": RFC 3986 pchars in segments that are neither empty nor "."
 * or ".." -- what goes on the request line as it is.
 */

static int
audit_sentry_path(const char *p, size_t len)
{
    size_t  i, seg;
    char    c;

    seg = 0;

    for (i = 0; i <= len; i++) {
        c = (i < len) ? p[i] : '/';

        if (c == '/') {
            if (i > 0
                && (i - seg == 1
                    || (i - seg == 2 && p[seg + 1] == '.')
                    || (i - seg == 3 && p[seg + 1] == '.'
                        && p[seg + 2] == '.')))
            {
                return 0;
            }

            seg = i;
            continue;
        }

        if (c == '%') {
            if (i + 2 >= len
                || audit_sentry_span(p + i + 1, 2, "0123456789abcdefABCDEF")
                   != 2)
            {
                return 0;
            }

            i += 2;
            continue;
        }

        if (c == '\0'
            || (!audit_sentry_unreserved(&c, 1)
                && strchr("!$&'()*+,;=:@", c) == NULL))
        {
            return 0;
        }
    }

    return 1;
}


int
audit_sentry_auth_header(const audit_sentry_dsn_t *dsn, const char *version,
    char *buf, size_t size)
{
    int          n;
    size_t       i, len;
    const char  *key;

    if (buf != NULL && size != 0) {
        buf[0] = '\0';
    }

    if (dsn == NULL || buf == NULL || size == 0) {
        return -1;
    }

    key = dsn->public_key;
    len = sizeof(dsn->public_key);

    if (memchr(key, '\0', len) != NULL) {
        len = strlen(key);
    }

    if (len == 0 || len >= sizeof(dsn->public_key)
        || !audit_sentry_unreserved(key, len))
    {
        return -1;
    }

    if (version == NULL) {
        version = AUDIT_SENTRY_VERSION;
    }

    if (version[0] == '\0') {
        return -1;
    }

    for (i = 0; version[i] != '\0'; i++) {
        if (version[i] <= ' ' || version[i] > '~' || version[i] == ',') {
            return -1;
        }
    }

    n = snprintf(buf, size,
                 "Sentry sentry_version=7, sentry_key=%s, "
                 "sentry_client=" AUDIT_SENTRY_SDK_NAME "/%s", key, version);

    if (n < 0 || (size_t) n >= size) {
        buf[0] = '\0';
        return -1;
    }

    return n;
}
