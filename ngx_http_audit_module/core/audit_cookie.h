
/*
 * Cookies, as RFC 6265 reads them: the session cookie in a request's Cookie
 * header (§4.2, §5.4) and in a login response's Set-Cookie (§5.2).
 *
 * The session cookie is the pair whose name is NAME exactly (RFC 6265).
 * But portals' parsers read other pairs as that cookie too: another case
 * (ASP.NET Core's cookie collection ignores it), a %-encoded name (PHP
 * before 8.0.24 decoded names), "NAME=" after a space or ',' inside
 * another pair's value (Python's SimpleCookie, RFC 2109 parsers).  nginx
 * must never audit one session while the portal serves another: a request
 * naming the session cookie twice with different values, or a look-alike
 * whose value differs from the session cookie's (or that stands alone),
 * is ambiguous, and is refused rather than guessed at.
 */


#ifndef AUDIT_COOKIE_H
#define AUDIT_COOKIE_H


#include <stddef.h>

#include "audit_event.h"


typedef struct {
    audit_str_t          value;      /* the first one found */
    audit_str_t          alike;      /* the first look-alike's value */
    unsigned             found:1;
    unsigned             alike_found:1;
    unsigned             ambiguous:1;  /* found again, another value */
} audit_cookie_t;


/* Looks for the cookie NAME in one Cookie header line; call it for every
 * line of the request (HTTP/2 sends one per cookie).  value points into
 * line, without surrounding double quotes. */
void audit_cookie_scan(audit_cookie_t *c, const char *line, size_t len,
    const char *name, size_t name_len);

/* After every line: the request names the session cookie ambiguously
 * (twice, or a look-alike of another value, or a look-alike alone). */
#define audit_cookie_is_ambiguous(c)                                          \
    ((c)->ambiguous || ((c)->alike_found && !(c)->found))

/* 1 when this Set-Cookie line sets the cookie NAME (value, possibly empty:
 * a logout, points into line), else 0. */
int audit_set_cookie_value(const char *line, size_t len, const char *name,
    size_t name_len, audit_str_t *value);


#endif /* AUDIT_COOKIE_H */
