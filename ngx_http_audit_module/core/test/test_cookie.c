/*
 * Unit tests of the session cookie in Cookie and Set-Cookie headers.
 */

#include <stdio.h>
#include <string.h>

#include "../audit_cookie.h"
#include "tap.h"


/* the value of NAME across the lines, "" when absent, "?" when ambiguous */
static const char *
scan(const char *name, const char *l1, const char *l2)
{
    static char     buf[256];
    audit_cookie_t  c;

    memset(&c, 0, sizeof(c));

    audit_cookie_scan(&c, l1, strlen(l1), name, strlen(name));

    if (l2) {
        audit_cookie_scan(&c, l2, strlen(l2), name, strlen(name));
    }

    if (audit_cookie_is_ambiguous(&c)) {
        return "?";
    }

    snprintf(buf, sizeof(buf), "%.*s", c.found ? (int) c.value.len : 0,
             c.found ? c.value.data : "");

    return buf;
}


static const char *
set_cookie(const char *name, const char *line)
{
    static char  buf[256];
    audit_str_t  v;

    if (!audit_set_cookie_value(line, strlen(line), name, strlen(name), &v)) {
        return "(other)";
    }

    snprintf(buf, sizeof(buf), "%.*s", (int) v.len, v.data);

    return buf;
}


static void
test_cookie(void)
{
    is_str(scan("session", "session=abc", NULL), "abc", "the only cookie");
    is_str(scan("session", "a=1; session=abc; b=2", NULL), "abc",
           "among others");
    is_str(scan("session", "a=1;session=abc;b=2", NULL), "abc",
           "without spaces");
    is_str(scan("session", " \tsession = abc \t; b=2", NULL), "abc",
           "spaces and tabs around name and value");
    is_str(scan("session", "session=\"abc\"", NULL), "abc",
           "a quoted value");
    is_str(scan("session", "session=\"", NULL), "\"", "a lone quote stays");
    is_str(scan("session", "a=1", NULL), "", "absent");
    is_str(scan("session", "", NULL), "", "empty header");
    is_str(scan("session", ";;; ;", NULL), "", "only separators");
    is_str(scan("session", "session", NULL), "", "a name without '='");
    is_str(scan("session", "session=", NULL), "", "an empty value");
    is_str(scan("session", "xsession=1; sessionx=2", NULL), "",
           "names that only contain it");
    /* look-alikes a portal's parser would read as the session cookie */
    is_str(scan("session", "SESSION=abc", NULL), "?",
           "another case alone: ambiguous (ASP.NET Core ignores case)");
    is_str(scan("session", "SESSION=a; session=b", NULL), "?",
           "another case, another value: ambiguous");
    is_str(scan("session", "session=b; Session=a", NULL), "?",
           "... also after it");
    is_str(scan("session", "Session=b; session=b", NULL), "b",
           "another case, the same value: the session cookie");
    is_str(scan("session", "sess%69on=a; session=b", NULL), "?",
           "a %%-encoded name (PHP < 8.0.24 decodes names): ambiguous");
    is_str(scan("session", "x=1 session=a; session=b", NULL), "?",
           "NAME= after a space in a value (SimpleCookie): ambiguous");
    is_str(scan("session", "x=1, session=a; session=b", NULL), "?",
           "NAME= after a ',' (RFC 2109 parsers): ambiguous");
    is_str(scan("session", "x=1,Session =a", NULL), "?",
           "... in any case, with a space before '='");
    is_str(scan("session", "x=a session; session=b", NULL), "b",
           "the name without '=' in a value: no look-alike");
    is_str(scan("session", "x=sessions=1; session=b", NULL), "b",
           "NAME= not after a separator: no look-alike");
    is_str(scan("session", "a=1", "SESSION=x"), "?",
           "a look-alike in a second header line");
    is_str(scan("session", "session=a, b=2", NULL), "a, b=2",
           "',' is not a separator");
    is_str(scan("session", "a=1, session=b", NULL), "?",
           "... but NAME= after one is a look-alike");
    is_str(scan("session", "session=a=b", NULL), "a=b",
           "'=' in the value");
    is_str(scan("session", "session=abc; session=abc", NULL), "abc",
           "twice with the same value");
    is_str(scan("session", "session=a; session=b", NULL), "?",
           "twice with different values: ambiguous");
    is_str(scan("session", "a=1", "session=abc"), "abc",
           "in the second header line (HTTP/2)");
    is_str(scan("session", "session=a", "session=b"), "?",
           "different values in two lines: ambiguous");
    is_str(scan("s", "s=1;", NULL), "1", "a trailing ';'");
}


static void
test_set_cookie(void)
{
    is_str(set_cookie("session", "session=abc; Path=/; HttpOnly"), "abc",
           "a session cookie set");
    is_str(set_cookie("session", "session=abc"), "abc", "without attributes");
    is_str(set_cookie("session", " session = \"abc\" ;Secure"), "abc",
           "spaces and quotes");
    is_str(set_cookie("session", "session=; Max-Age=0"), "",
           "emptied: a logout");
    is_str(set_cookie("session", "other=abc; session=x"), "(other)",
           "another cookie (the rest are attributes)");
    is_str(set_cookie("session", "Session=abc"), "(other)",
           "case-sensitive");
    is_str(set_cookie("session", "session"), "(other)", "no '='");
    is_str(set_cookie("session", ""), "(other)", "empty");
    is_str(set_cookie("session", "=abc"), "(other)", "no name");
}


int
main(void)
{
    test_cookie();
    test_set_cookie();

    return done_testing();
}
