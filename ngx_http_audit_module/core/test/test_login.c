/*
 * Unit tests of reading the submitted username from a login body.  Every
 * body holds the password "s3cr3t-PW" somewhere; no case may copy it.
 */

#include <stdlib.h>

#include "../audit_login.h"
#include "tap.h"


#define FORM  "application/x-www-form-urlencoded"
#define JSON  "application/json"
#define PW    "s3cr3t-PW"


static char  out[256];


static int
contains(const char *hay, size_t len, const char *needle)
{
    size_t  i, n;

    n = strlen(needle);

    for (i = 0; i + n <= len; i++) {
        if (memcmp(hay + i, needle, n) == 0) {
            return 1;
        }
    }

    return 0;
}


/* Runs one case and checks that the password never reached out. */

static long
username(const char *ct, const char *body, size_t len, const char *field,
    size_t size)
{
    long  n;

    memset(out, 0, sizeof(out));

    n = audit_login_username(ct, strlen(ct), body, len, field, out, size);

    if (contains(out, sizeof(out), "s3cr3t")) {
        ok(0, "the password reached out for %s", body);
    }

    return n;
}


#define user(ct, body, field)                                               \
    username(ct, body, strlen(body), field, sizeof(out))


/* the same with audit_login_username_last() */

static long
user_last(const char *ct, const char *body, const char *field)
{
    long  n;

    memset(out, 0, sizeof(out));

    n = audit_login_username_last(ct, strlen(ct), body, strlen(body), field,
                                  out, sizeof(out));

    if (contains(out, sizeof(out), "s3cr3t")) {
        ok(0, "the password reached out for %s", body);
    }

    return n;
}


static void
test_form(void)
{
    is_int(user(FORM, "email=ann%40clinic.example&password=" PW, "email"),
           18, "form: length");
    is_str(out, "ann@clinic.example", "form: %%-decoded");

    is_int(user(FORM, "password=" PW "&username=Ann+Lee", "username"), 7,
           "form: '+' is a space");
    is_str(out, "Ann Lee", "form: ... value");

    is_int(user(FORM, "password=" PW "&user=ann", "email"), -1,
           "form: field absent");
    is_int(user(FORM, "email=first&password=" PW "&email=second", "email"),
           5, "form: field twice");
    is_str(out, "first", "form: ... the first one");
    is_int(user(FORM, "emails=x&e%6Dail=ann&password=" PW, "email"), 3,
           "form: names %%-decoded, matched exactly");
    is_str(out, "ann", "form: ... value");
    is_int(user(FORM, "mail=x&email", "email"), 0,
           "form: name without '=' is empty");
    is_int(user(FORM, "email=&password=" PW, "email"), 0,
           "form: empty value");
    is_int(user(FORM, "password=" PW "&email=a%zz%4", "email"), 6,
           "form: bad %% kept");
    is_str(out, "a%zz%4", "form: ... as it was");
    is_int(user(FORM, "", "email"), -1, "form: empty body");
    is_int(user(FORM, "&&&password=" PW "&&email=x&", "email"), 1,
           "form: empty pairs");

    /* the password's own field, to prove the copy is the named field */
    is_int(user(FORM, "password=" PW "&email=a", "email"), 1,
           "form: password first, email after");
    is_str(out, "a", "form: ... email only");

    /* too long for out: nothing half-copied is returned */
    is_int(username(FORM, "email=abcdef", 12, "email", 6), -1,
           "form: too long for out");
    is_int(username(FORM, "email=abcde", 11, "email", 6), 5,
           "form: exactly fits with its NUL");
    is_int(username(FORM, "email=a&password=" PW, 7, "email", sizeof(out)),
           1, "form: only len bytes read");
    is_int(username(FORM, "email=ann", 9, "email", 0), -1, "form: size 0");
}


static void
test_json(void)
{
    size_t  i;
    char   *bomb;

    is_int(user(JSON, "{\"email\":\"a@b\",\"password\":\"" PW "\"}",
                "email"), 3, "json: length");
    is_str(out, "a@b", "json: value");

    is_int(user(JSON, "{\"password\":\"" PW "\",\"email\":\"x\\u00e9\\n\"}",
                "email"), 4, "json: escapes decoded");
    is_str(out, "x\xc3\xa9\n", "json: ... value");

    is_int(user(JSON, "{\"email\":42,\"password\":\"" PW "\"}", "email"),
           -1, "json: a number is not a username");
    is_int(user(JSON, "{\"email\":null}", "email"), -1, "json: null");
    is_int(user(JSON, "{\"email\":[\"a\"]}", "email"), -1, "json: array");
    is_int(user(JSON, "{\"user\":{\"email\":\"a\"},\"password\":\"" PW "\"}",
                "email"), -1, "json: only top-level members");
    is_int(user(JSON, "{\"email\":\"a\",\"password\":\"" PW "\","
                      "\"email\":\"b\"}", "email"), -1,
           "json: duplicate keys refused");
    is_int(user(JSON, "{\"email\":\"a\",\"password\":\"" PW "\"", "email"),
           -1, "json: truncated");
    is_int(user(JSON, "{\"email\":\"a\"} {}", "email"), -1,
           "json: trailing garbage");
    is_int(user(JSON, "[\"email\",\"a\"]", "email"), -1,
           "json: not an object");
    is_int(user(JSON, "{\"email\":\"a\\u0000b\"}", "email"), -1,
           "json: NUL in a string refused");
    is_int(user(JSON, "", "email"), -1, "json: empty body");
    is_int(user(JSON, "{\"email\":\"\xff\"}", "email"), -1,
           "json: invalid UTF-8 refused");
    is_int(username(JSON, "{\"email\":\"abcdef\"}", 18, "email", 6), -1,
           "json: too long for out");
    is_int(username(JSON, "{\"email\":\"abcde\"}", 17, "email", 6), 5,
           "json: exactly fits");

    /* deep nesting is refused by jansson's depth limit, not the stack */
    bomb = malloc(2 * 100000 + 64);
    strcpy(bomb, "{\"email\":\"a\",\"x\":");
    for (i = 0; i < 100000; i++) {
        bomb[17 + i] = '[';
    }
    for (i = 0; i < 100000; i++) {
        bomb[17 + 100000 + i] = ']';
    }
    strcpy(bomb + 17 + 200000, "}");
    is_int(username(JSON, bomb, strlen(bomb), "email", sizeof(out)), -1,
           "json: nesting bomb refused");

    for (i = 0; i < 100000; i++) {
        bomb[i] = '{';
    }
    is_int(username(JSON, bomb, 100000, "email", sizeof(out)), -1,
           "json: unterminated nesting bomb refused");
    free(bomb);
}


static void
test_types(void)
{
    const char  *body;

    body = "{\"email\":\"a@b\",\"password\":\"" PW "\"}";

    is_int(user("application/json; charset=utf-8", body, "email"), 3,
           "json with a charset");
    is_int(user("Application/JSON;charset=UTF-8", body, "email"), 3,
           "case-insensitive");
    is_int(user("  application/json  ", body, "email"), 3, "blanks");
    is_int(user("application/vnd.api+json", body, "email"), 3,
           "application/*+json");
    /* what Laravel ("/json", "+json") and Rails (text/x-json) read as JSON */
    is_int(user("text/json", body, "email"), 3, "text/json");
    is_int(user("application/x-json", body, "email"), 3,
           "application/x-json");
    is_int(user("text/x-json; charset=utf-8", body, "email"), 3,
           "text/x-json");
    is_int(user("application/jsonp", body, "email"), 3, "application/jsonp");
    is_int(user("application/+json", body, "email"), 3, "application/+json");
    is_int(user("text/plain; x=json", body, "email"), -1,
           "json in a parameter only: not JSON");
    is_int(user("text/plain", "email=a", "email"), -1, "text/plain refused");
    is_int(user("multipart/form-data; boundary=x", "email=a", "email"), -1,
           "a form body sent as multipart");
    is_int(user("", "email=a", "email"), -1, "no content type refused");
    is_int(user(FORM "; charset=UTF-8", "email=a", "email"), 1,
           "form with a charset");
    is_int(user("Application/X-WWW-Form-URLEncoded", "email=a", "email"), 1,
           "form, any case");
    is_int(user(JSON, "email=a", "email"), -1, "form body sent as JSON");
    is_int(user(FORM, body, "email"), -1, "JSON body sent as a form");
    is_int(audit_login_username(FORM, 33, "email=a", 7, "email", NULL, 9),
           -1, "NULL out");
    is_int(audit_login_username(FORM, 10, "email=a", 7, "email", out,
                                sizeof(out)), -1,
           "only ct_len bytes of the content type");
}


#define MP  "multipart/form-data; boundary=XyZ"

static void
test_multipart(void)
{
    const char  *body;

    body = "--XyZ\r\n"
           "Content-Disposition: form-data; name=\"password\"\r\n\r\n"
           PW "\r\n"
           "--XyZ\r\n"
           "Content-Disposition: form-data; name=\"email\"\r\n\r\n"
           "ann@clinic.example\r\n"
           "--XyZ--\r\n";

    is_int(user(MP, body, "email"), 18, "multipart: length");
    is_str(out, "ann@clinic.example", "multipart: value, after the password");
    is_int(user(MP, body, "password2"), -1, "multipart: field absent");
    is_int(user("Multipart/Form-Data; charset=utf-8; BOUNDARY=\"XyZ\"", body,
                "email"), 18, "multipart: quoted boundary, any case");
    is_int(user("multipart/form-data", body, "email"), -1,
           "multipart: no boundary");
    is_int(user("multipart/form-data; boundary=Other", body, "email"), -1,
           "multipart: another boundary");

    body = "preamble\n--XyZ\n"
           "content-disposition: form-data; name=email\n\n"
           "bob\n--XyZ\n"
           "Content-Disposition: form-data; name='password'\n\n"
           PW "\n--XyZ--";
    is_int(user(MP, body, "email"), 3, "multipart: bare LF, no quotes");
    is_str(out, "bob", "multipart: ... value");

    body = "--XyZ\r\n"
           "Content-Disposition: form-data; name='email'\r\n"
           "Content-Type: text/plain\r\n\r\n"
           "line one\r\nline two\r\n--XyZ--\r\n";
    is_int(user(MP, body, "email"), 18, "multipart: single quotes, headers");
    is_str(out, "line one\r\nline two", "multipart: ... the whole body");

    body = "--XyZ\r\n"
           "Content-Disposition: form-data; name=\"email\"; "
           "filename=\"a.txt\"\r\n\r\n"
           "not-a-user\r\n"
           "--XyZ\r\n"
           "Content-Disposition: form-data; filename=\"email\"; "
           "name=\"emails\"\r\n\r\n"
           "no\r\n"
           "--XyZ\r\n"
           "Content-Disposition: form-data; name=\"email\"\r\n\r\n"
           "carol\r\n--XyZ--\r\n";
    is_int(user(MP, body, "email"), 5, "multipart: files and other names skipped");
    is_str(out, "carol", "multipart: ... the field's value");

    body = "--XyZ\r\n"
           "Content-Disposition: form-data; name=\"email\"\r\n\r\n"
           "dave\r\n";
    is_int(user(MP, body, "email"), -1, "multipart: a part never closed");

    body = "--XyZ\r\n"
           "Content-Disposition: form-data; name=\"email\"\r\n"
           "dave\r\n--XyZ--\r\n";
    is_int(user(MP, body, "email"), -1, "multipart: no blank line");

    body = "--XyZ\r\n"
           "Content-Disposition: form-data; name=\"email\"\r\n\r\n"
           "--XyZ--\r\n";
    is_int(user(MP, body, "email"), 0, "multipart: empty value");

    body = "--XyZ\r\n"
           "Content-Disposition: form-data; name=\"email\"\r\n\r\n"
           "x--XyZ\r\n--XyZ--\r\n";
    is_int(user(MP, body, "email"), 6, "multipart: a delimiter only at a line start");
    is_str(out, "x--XyZ", "multipart: ... value");

    body = "--XyZ\r\n"
           "Content-Disposition: form-data; name=\"email\"\r\n\r\n"
           "abcdef\r\n--XyZ--\r\n";
    is_int(username(MP, body, strlen(body), "email", 6), -1,
           "multipart: too long for out");
    is_int(username(MP, body, strlen(body), "email", 7), 6,
           "multipart: exactly fits");
    is_int(username(MP, body, 40, "email", sizeof(out)), -1,
           "multipart: only len bytes read");
}


/* a body naming the field twice: the first for Java, the last for PHP... */

static void
test_last(void)
{
    const char  *body;

    is_int(user_last(FORM, "email=first&password=" PW "&email=second",
                     "email"), 6, "last: form, field twice");
    is_str(out, "second", "last: ... the last one");
    is_int(user_last(FORM, "password=" PW "&email=only", "email"), 4,
           "last: form, field once");
    is_str(out, "only", "last: ... it");
    is_int(user_last(FORM, "email=a%zz&email", "email"), 0,
           "last: form, the last has no '='");
    is_int(user_last(FORM, "password=" PW, "email"), -1,
           "last: form, field absent");

    is_int(user_last(JSON, "{\"email\":\"a\",\"password\":\"" PW "\","
                           "\"email\":\"b\"}", "email"), 1,
           "last: json, duplicate keys");
    is_str(out, "b", "last: ... the last one, as JSON.parse() reads it");
    is_int(user_last(JSON, "{\"email\":\"a\",\"email\":7}", "email"), -1,
           "last: json, the last is no string");
    is_int(user_last(JSON, "{\"email\":\"x\"", "email"), -1,
           "last: json, malformed");

    body = "--XyZ\r\n"
           "Content-Disposition: form-data; name=\"email\"\r\n\r\n"
           "decoy\r\n"
           "--XyZ\r\n"
           "Content-Disposition: form-data; name=\"password\"\r\n\r\n"
           PW "\r\n"
           "--XyZ\r\n"
           "Content-Disposition: form-data; name=\"email\"\r\n\r\n"
           "victim\r\n"
           "--XyZ--\r\n";
    is_int(user(MP, body, "email"), 5, "first: multipart, field twice");
    is_str(out, "decoy", "first: ... the first one");
    is_int(user_last(MP, body, "email"), 6, "last: multipart, field twice");
    is_str(out, "victim", "last: ... the last one");

    body = "--XyZ\r\n"
           "Content-Disposition: form-data; name=\"email\"\r\n\r\n"
           "eve\r\n"
           "--XyZ\r\n"
           "Content-Disposition: form-data; name=\"email\"\r\n\r\n"
           "never closed\r\n";
    is_int(user_last(MP, body, "email"), 3,
           "last: multipart, the last closed part");
    is_str(out, "eve", "last: ... its value");
}


int
main(void)
{
    test_form();
    test_json();
    test_types();
    test_multipart();
    test_last();

    return done_testing();
}
