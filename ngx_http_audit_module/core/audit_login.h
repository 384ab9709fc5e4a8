/*
 * The username a client submits to the portal's login endpoint, read from
 * the request body so that login failures can name the account tried.
 *
 * Only the named field is ever decoded or copied: the password next to it
 * is skipped over as opaque bytes and never reaches the caller's buffer.
 */

#ifndef AUDIT_LOGIN_H
#define AUDIT_LOGIN_H


#include <stddef.h>


/*
 * Finds the member named field (a C string) in body[0..len) and copies its
 * value into out, which has room for size bytes, NUL-terminated.  The
 * format follows content_type[0..ct_len), ignoring case and parameters
 * such as "; charset=utf-8":
 *
 *   application/x-www-form-urlencoded
 *       the first parameter whose %-decoded name is field; its value is
 *       %-decoded with '+' as a space (a '%' not followed by two hex
 *       digits is kept as it is; a name without '=' has an empty value);
 *   a media type with "json" in it (application/json, <type>/<sub>+json,
 *   text/json, application/x-json: what frameworks read as JSON)
 *       the top-level member field when it is a string; the body must be
 *       one JSON object without duplicate keys and nested no deeper than
 *       jansson allows;
 *   multipart/form-data; boundary=...
 *       the body of the first part whose Content-Disposition names field
 *       (name="field", 'field' or field) and no file, up to the line end
 *       before the next delimiter (CRLF or a bare LF); the part must be
 *       closed by a delimiter.
 *
 * Returns the length of the value (without the NUL; it may hold NUL bytes
 * from %00), or -1 when the content type is another one, the field is
 * absent or not a string, the body is malformed, or the value does not fit
 * in out.
 */
long audit_login_username(const char *content_type, size_t ct_len,
    const char *body, size_t len, const char *field, char *out, size_t size);

/*
 * The same, with the last parameter or part named field, and for JSON
 * duplicate members allowed, the last one taken: what PHP, Rails, Django,
 * Laravel and JSON.parse() read where a body names the field twice (Java
 * servlets read the first).
 */
long audit_login_username_last(const char *content_type, size_t ct_len,
    const char *body, size_t len, const char *field, char *out, size_t size);


#endif /* AUDIT_LOGIN_H */
