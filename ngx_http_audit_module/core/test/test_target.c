/*
 * Unit tests of canonical request targets and method overrides.
 */

#include <stdlib.h>

#include "../audit_target.h"
#include "tap.h"


/* target as the client sent it, uri as nginx decoded and merged it */
static const char *
check(const char *target, const char *uri, unsigned flags)
{
    audit_target_class_t  c;

    c = audit_target_check(target, strlen(target), uri,
                           uri ? strlen(uri) : 0, flags);

    return c == AUDIT_TARGET_OK ? "ok" : audit_target_reason(c);
}


static void
test_targets(void)
{
    is_str(check("/patients/42", "/patients/42", 0), "ok", "plain path");
    is_str(check("/patients/42?x=1&y=%2f..", "/patients/42", 0), "ok",
           "the query is not a path");
    is_str(check("/", "/", 0), "ok", "root");
    is_str(check("/a/b/", "/a/b/", 0), "ok", "trailing slash");
    is_str(check("/caf%C3%A9", "/caf\xc3\xa9", 0), "ok", "encoded UTF-8");
    is_str(check("/a%20b", "/a b", 0), "ok", "an inner encoded space");
    is_str(check("/file.txt", "/file.txt", 0), "ok", "a dot inside");
    is_str(check("/.well-known/x", "/.well-known/x", 0), "ok",
           "a segment starting with a dot");
    is_str(check("/v1.2/x", NULL, 0), "ok", "no comparison without uri");

    is_str(check("/admin/..%2fpatients/42", "/patients/42", 0),
           "encoded_slash", "..%%2f");
    is_str(check("/patients/42%2f..%2f..%2flogin", "/login", 0),
           "encoded_slash", "%%2f to a public page");
    is_str(check("/a%5Cb", "/a\\b", 0), "encoded_slash", "%%5C");
    is_str(check("/a%2Fb", "/a/b", AUDIT_TARGET_ALLOW_ENCODED_SLASH), "ok",
           "%%2F allowed");
    is_str(check("/a/..%2Fb", "/b", AUDIT_TARGET_ALLOW_ENCODED_SLASH),
           "dot_segment", "allowed %%2F still separates dot segments");

    is_str(check("/admin/%2e%2e/patients/42", "/patients/42", 0),
           "dot_segment", "%%2e%%2e");
    is_str(check("/admin/%2E./patients", "/patients", 0), "dot_segment",
           "%%2E.");
    is_str(check("/admin/../patients/42", "/patients/42", 0), "dot_segment",
           "raw ..");
    is_str(check("/a/./b", "/a/b", 0), "dot_segment", "raw .");
    is_str(check("/a/..", "/", 0), "dot_segment", ".. at the end");

    is_str(check("/admin/..;/patients/42", "/admin/..;/patients/42", 0),
           "path_parameter", "Tomcat's ..;");
    is_str(check("/patients/42;jsessionid=1", "/patients/42;jsessionid=1",
                 0),
           "path_parameter", "a path parameter");
    is_str(check("/admin\\..\\patients", "/admin\\..\\patients", 0),
           "backslash", "raw backslash");
    is_str(check("/patients/42#x", "/patients/42", 0), "fragment",
           "raw #");
    is_str(check("/a?b#c", "/a", 0), "fragment", "# in the query");

    is_str(check("/admin./x", "/admin./x", 0), "trailing_dot",
           "segment ending in a dot");
    is_str(check("/admin%20/x", "/admin /x", 0), "trailing_dot",
           "segment ending in an encoded space");
    is_str(check("/index.html.", "/index.html.", 0), "trailing_dot",
           "a trailing dot at the end");
    is_str(check("/a/...", "/a/...", 0), "trailing_dot", "three dots");

    is_str(check("/a%zz", "/a", 0), "bad_encoding", "%% without hex");
    is_str(check("/a%2", "/a", 0), "bad_encoding", "%% cut short");
    is_str(check("/a%", "/a", 0), "bad_encoding", "%% at the end");
    is_str(check("/a%00b", "/a", 0), "bad_encoding", "%%00");
    is_str(check("/a%0d%0aX", "/a", 0), "bad_encoding", "CR LF");
    is_str(check("/%c0%ae%c0%ae/x", "/x", 0), "bad_encoding",
           "overlong UTF-8 dot");
    is_str(check("/a b", "/a b", 0), "bad_encoding", "raw space");
    is_str(check("/%e0%80%ae%e0%80%ae/x", "/\xe0\x80\xae\xe0\x80\xae/x", 0),
           "bad_encoding", "3-byte overlong dot");
    is_str(check("/%f0%80%80%ae/x", "/\xf0\x80\x80\xae/x", 0),
           "bad_encoding", "4-byte overlong dot");
    is_str(check("/\xc0\xae/x", "/\xc0\xae/x", 0), "bad_encoding",
           "raw overlong dot");
    is_str(check("/\xe0\x80\xae/x", "/\xe0\x80\xae/x", 0), "bad_encoding",
           "raw 3-byte overlong");
    is_str(check("/%e0%a4%85", "/\xe0\xa4\x85", 0), "ok",
           "a real 3-byte character after E0 (U+0905)");
    is_str(check("/%f0%9f%98%80", "/\xf0\x9f\x98\x80", 0), "ok",
           "a real 4-byte character after F0 (U+1F600)");
    is_str(check("/caf%e9", "/caf\xe9", 0), "ok",
           "a Latin-1 byte (no UTF-8) is left to the portal");
    is_str(check("/a%252e%252e/x", "/a%2e%2e/x", 0), "double_encoding",
           "%%252e");

    /* the hex digits after %25 themselves encoded: "%2e" once decoded */
    is_str(check("/pub/%25%32%65%25%32%65/admin/x", "/pub/%2e%2e/admin/x", 0),
           "double_encoding", "%%25%%32%%65");
    is_str(check("/pub/%25%32e", "/pub/%2e", 0), "double_encoding",
           "%%25%%32e");
    is_str(check("/pub/%252%65", "/pub/%2e", 0), "double_encoding",
           "%%252%%65");
    is_str(check("/pub/..%25%32%66admin/x", "/pub/..%2fadmin/x", 0),
           "double_encoding", "..%%25%%32%%66");
    is_str(check("/docs/100%25.pdf", "/docs/100%.pdf", 0), "ok",
           "an encoded percent sign before no hex digits: fine");
    is_str(check("/docs/100%25%7a", "/docs/100%z", 0), "ok",
           "... nor before an encoded non-hex digit");
    is_str(check("/docs/%25a", "/docs/%a", 0), "ok",
           "... nor before one hex digit at the end");

    is_str(check("//admin", "/admin", 0), "not_canonical",
           "merged slashes");
    is_str(check("//admin", "//admin", 0), "not_canonical",
           "an empty segment, matched as it is (merge_slashes off)");
    is_str(check("/a//b", "/a//b", 0), "not_canonical",
           "... inside the path");
    is_str(check("/a/b/", "/a/b/", 0), "ok", "a trailing slash is fine");
    is_str(check("/", "/", 0), "ok", "the root is fine");
    is_str(check("/patients/42", "/patients/43", 0), "not_canonical",
           "another path");
    is_str(check("/patients/42", "/patients/42/x", 0), "not_canonical",
           "a longer uri");
    is_str(check("/patients/42/x", "/patients/42", 0), "not_canonical",
           "a shorter uri");
    is_str(check("*", "*", 0), "not_canonical", "asterisk form");
    is_str(check("", "", 0), "not_canonical", "empty");

    ok(audit_target_reason(AUDIT_TARGET_OK) == NULL, "no reason for ok");
    ok(audit_target_reason(AUDIT_TARGET_MAX) == NULL, "none out of range");
}


static const char *
override(const char *query, const char *ct, const char *body,
    const char *header)
{
    static audit_override_t  o;

    memset(&o, 0, sizeof(o));

    if (header) {
        audit_override_add(&o, header, strlen(header));
    }

    if (query) {
        audit_override_form(&o, query, strlen(query));
    }

    if (body) {
        audit_override_body(&o, ct, strlen(ct), body, strlen(body));
    }

    if (o.conflict) {
        return "conflict";
    }

    return o.len ? o.method : "none";
}


static void
test_overrides(void)
{
    is_str(override(NULL, NULL, NULL, "DELETE"), "DELETE", "header");
    is_str(override(NULL, NULL, NULL, "delete"), "DELETE", "uppercased");
    is_str(override(NULL, NULL, NULL, ""), "none", "empty is ignored");
    is_str(override(NULL, NULL, NULL, "DEL ETE"), "conflict",
           "not a token");
    is_str(override(NULL, NULL, NULL,
                    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
           "conflict", "too long");

    is_str(override("_method=DELETE", NULL, NULL, NULL), "DELETE", "query");
    is_str(override("a=1&_method=put&b=2", NULL, NULL, NULL), "PUT",
           "query among others");
    is_str(override("%5Fmethod=DELETE", NULL, NULL, NULL), "DELETE",
           "encoded name");
    is_str(override("_method=DEL%45TE", NULL, NULL, NULL), "DELETE",
           "encoded value");
    is_str(override("_methods=DELETE&x_method=PUT", NULL, NULL, NULL),
           "none", "other names");
    is_str(override("_method=GET&_method=DELETE", NULL, NULL, NULL),
           "conflict", "two values");
    is_str(override("_method=DELETE&_method=delete", NULL, NULL, NULL),
           "DELETE", "the same value twice");
    is_str(override("_method=PUT", NULL, NULL, "DELETE"), "conflict",
           "header and query disagree");

    is_str(override(NULL, "application/x-www-form-urlencoded",
                    "name=x&_method=DELETE", NULL),
           "DELETE", "form body");
    is_str(override(NULL, "Application/X-WWW-Form-Urlencoded; charset=utf-8",
                    "_method=patch", NULL),
           "PATCH", "form body, content type in another case");
    is_str(override(NULL, "multipart/form-data; boundary=XX",
                    "--XX\r\nContent-Disposition: form-data; "
                    "name=\"_method\"\r\n\r\nDELETE\r\n--XX\r\n"
                    "Content-Disposition: form-data; name=\"f\"\r\n\r\n"
                    "x\r\n--XX--\r\n", NULL),
           "DELETE", "multipart part");
    is_str(override(NULL, "multipart/form-data; boundary=XX",
                    "--XX\r\nContent-Disposition: form-data; "
                    "name=\"_methods\"\r\n\r\nDELETE\r\n--XX--\r\n", NULL),
           "none", "multipart, another name");
    is_str(override(NULL, "application/json", "{\"_method\":\"DELETE\"}",
                    NULL),
           "DELETE", "JSON member");
    is_str(override(NULL, "application/json", "{\"_method\":[\"DELETE\"]}",
                    NULL),
           "conflict", "JSON member not a string");
    is_str(override(NULL, "text/plain", "_method=DELETE", NULL), "none",
           "another content type");
    is_str(override(NULL, "", "a=1&_method=DELETE", NULL), "DELETE",
           "no content type: a form, as Rack reads it");

    /* the names PHP registers as "_method", and what it reads as JSON */

    is_str(override(".method=DELETE", NULL, NULL, NULL), "DELETE",
           "query \".method\" (PHP reads \"_method\")");
    is_str(override(NULL, "application/x-www-form-urlencoded",
                    "+method=DELETE&%20method=PUT", NULL),
           "none", "form \"+method\", \"%%20method\": PHP drops the leading "
           "blank, \"method\"");
    is_str(override(NULL, "application/x-www-form-urlencoded",
                    "x=1&+%20_method=DELETE", NULL),
           "DELETE", "form \"  _method\": \"_method\"");
    is_str(override(NULL, "application/x-www-form-urlencoded",
                    "+_method=DELETE", NULL),
           "DELETE", "form \" _method\" (a leading blank is dropped)");
    is_str(override(NULL, "application/x-www-form-urlencoded",
                    "_.method=DELETE&method=PUT&x.method=PUT", NULL),
           "none", "\"_.method\", \"method\", \"x.method\" are other names");
    is_str(override(NULL, "text/json", "{\"_method\":\"DELETE\"}", NULL),
           "DELETE", "text/json (Laravel's isJson)");
    is_str(override(NULL, "application/x-json; charset=utf-8",
                    "{\"_method\":\"DELETE\"}", NULL),
           "DELETE", "application/x-json");
    is_str(override(NULL, "multipart/form-data; boundary=XX",
                    "--XX\r\nContent-Disposition: form-data; "
                    "NAME=\"_method\"\r\n\r\nDELETE\r\n--XX--\r\n", NULL),
           "DELETE", "multipart NAME= in capitals");
    is_str(override(NULL, "multipart/form-data; boundary=XX",
                    "--XX\r\nContent-Disposition: form-data; "
                    "name='_method'\r\n\r\nDELETE\r\n--XX--\r\n", NULL),
           "DELETE", "multipart name in single quotes");
    is_str(override(NULL, "multipart/form-data; boundary=XX",
                    "--XX\nContent-Disposition: form-data; "
                    "name=\"_method\"\n\nDELETE\n--XX--\n", NULL),
           "DELETE", "multipart with bare LF line ends");
    is_str(override(NULL, "multipart/form-data; boundary=XX",
                    "--XX\r\nContent-Disposition: form-data; "
                    "name=\".method\"\r\n\r\nPUT\r\n--XX--\r\n", NULL),
           "PUT", "multipart \".method\"");
    is_str(override(NULL, "multipart/form-data; boundary=XX",
                    "--XX\r\nContent-Disposition: form-data; "
                    "name=_method\r\n\r\nPATCH\r\n--XX--\r\n", NULL),
           "PATCH", "multipart name without quotes");
}


int
main(void)
{
    test_targets();
    test_overrides();

    return done_testing();
}
