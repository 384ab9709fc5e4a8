
/*
 * Cookies, as RFC 6265 reads them: the session cookie in a request's Cookie
 * header (§4.2, §5.4) and in a login response's Set-Cookie (§5.2).
 *
 * Names are compared exactly (case-sensitive), as the portal behind nginx
 * compares them: "SESSION=a; session=b" must not make nginx audit one
 * session while the portal serves another.  For the same reason a request
 * naming the session cookie twice with different values is ambiguous, and
 * is refused rather than guessed at.
 */


#ifndef AUDIT_COOKIE_H
#define AUDIT_COOKIE_H


#include <stddef.h>

#include "audit_event.h"


typedef struct {
    audit_str_t          value;      /* the first one found */
    unsigned             found:1;
    unsigned             ambiguous:1;  /* found again, another value */
} audit_cookie_t;


/* Looks for the cookie NAME in one Cookie header line; call it for every
 * line of the request (HTTP/2 sends one per cookie).  value points into
 * line, without surrounding double quotes. */
void audit_cookie_scan(audit_cookie_t *c, const char *line, size_t len,
    const char *name, size_t name_len);

/* 1 when this Set-Cookie line sets the cookie NAME (value, possibly empty:
 * a logout, points into line), else 0. */
int audit_set_cookie_value(const char *line, size_t len, const char *name,
    size_t name_len, audit_str_t *value);


#endif /* AUDIT_COOKIE_H */
