
/*
 * The request as the portal will act on it.
 *
 * nginx matches locations on the decoded, dot-segment-merged path, but
 * proxy_pass without a URI part (and $request_uri in fastcgi_param) hands
 * the upstream the raw request target.  Whenever the two could be read
 * differently by a portal, the policy would judge one request and the
 * portal serve another; such targets are refused, by class.
 *
 * Method overrides (X-HTTP-Method-Override and "_method" parameters,
 * honoured by Rails, Laravel, Symfony, ASP.NET) make the portal perform a
 * method other than the request line's: they are collected here so that
 * the policy can judge both.
 *
 * Nothing here allocates; the caller owns every buffer.
 */


#ifndef AUDIT_TARGET_H
#define AUDIT_TARGET_H


#include <stddef.h>


typedef enum {
    AUDIT_TARGET_OK = 0,
    AUDIT_TARGET_FRAGMENT,          /* a raw '#' anywhere */
    AUDIT_TARGET_BACKSLASH,         /* a raw '\' in the path */
    AUDIT_TARGET_PATH_PARAMETER,    /* ';' in the path (Tomcat's "..;") */
    AUDIT_TARGET_ENCODED_SLASH,     /* %2F or %5C in the path */
    AUDIT_TARGET_BAD_ENCODING,      /* a '%' without two hex digits, a
                                       control character, %C0/%C1 */
    AUDIT_TARGET_DOUBLE_ENCODING,   /* %25 followed by two hex digits */
    AUDIT_TARGET_DOT_SEGMENT,       /* "." or "..", raw or encoded */
    AUDIT_TARGET_TRAILING_DOT,      /* a segment ending in '.' or ' ',
                                       which Windows servers strip */
    AUDIT_TARGET_NOT_CANONICAL,     /* decodes to another path than the
                                       one nginx matched ("//", ...) */
    AUDIT_TARGET_MAX
} audit_target_class_t;


/* %2F and %5C are let through (decoded, they still separate segments
 * for the dot-segment check) */
#define AUDIT_TARGET_ALLOW_ENCODED_SLASH  0x01


/*
 * Classifies the raw request target target[0..len) ("/path?query", as the
 * client sent it).  uri[0..uri_len) is the path nginx matched; when uri is
 * NULL the target is not compared with it (the URI was rewritten, so the
 * raw target is not what the upstream gets).  The first class found in
 * the order of the enum wins, except NOT_CANONICAL, which is reported
 * only when nothing else is.
 */
audit_target_class_t audit_target_check(const char *target, size_t len,
    const char *uri, size_t uri_len, unsigned flags);

/* "fragment", "backslash", ...; NULL for AUDIT_TARGET_OK or out of
 * range */
const char *audit_target_reason(audit_target_class_t c);


#define AUDIT_OVERRIDE_MAX  32


/*
 * Method overrides seen in one request.  Values are uppercased, as the
 * frameworks do before acting on them; an empty value is ignored, as
 * they ignore it.  Two different values, or one that is not a method
 * token, make the request ambiguous: conflict is set.
 */
typedef struct {
    char         method[AUDIT_OVERRIDE_MAX + 1];
    size_t       len;               /* 0: no override */
    int          conflict;
} audit_override_t;


/* one override value, e.g. of an X-HTTP-Method-Override header */
void audit_override_add(audit_override_t *o, const char *value, size_t len);

/* every "_method" parameter of a query string or of a form body in
 * application/x-www-form-urlencoded (names and values %-decoded; '+' is a
 * space) */
void audit_override_form(audit_override_t *o, const char *s, size_t len);

/*
 * every "_method" field of a request body: urlencoded (as above; also a
 * body without content type, content_type NULL or empty, which Rack
 * parses as a form), multipart/form-data (each part named "_method"), or
 * JSON (the top-level member); other content types have none
 */
void audit_override_body(audit_override_t *o, const char *content_type,
    size_t ct_len, const char *body, size_t len);


#endif /* AUDIT_TARGET_H */
