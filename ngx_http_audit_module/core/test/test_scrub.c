/*
 * Unit tests of URI scrubbing: secrets and PHI out, everything else kept.
 */

#include <stdlib.h>

#include "../audit_scrub.h"
#include "tap.h"


static audit_scrub_t  *scrub;


static const char *
sc(const char *uri)
{
    static char  out[1024];

    audit_scrub_uri(scrub, uri, strlen(uri), out, sizeof(out));

    return out;
}


#define is_scrub(uri, want)  is_str(sc(uri), want, "%s", uri)


static const char *
cr(const char *text)
{
    static char  out[1024];

    audit_scrub_credentials(text, strlen(text), out, sizeof(out));

    return out;
}


#define is_cred(text, want)  is_str(cr(text), want, "%s", text)


/* header {"alg":"HS256","typ":"JWT"}, a payload, a signature */
#define H    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
#define P    "eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0Ijox" \
             "NTE2MjM5MDIyfQ"
#define S    "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
#define JWT  H "." P "." S

/* the same token with its first characters left for an escape, and with
 * one escape inside the payload ("%45" is "E") */
#define JWT_NO_E    "yJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9." P "." S
#define JWT_NO_EY   "JhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9." P "." S
#define JWT_NO_EYJ  "hbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9." P "." S
#define P_ESC       "eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0Ijox" \
                    "NT%452MjM5MDIyfQ"


static void
test_secrets(void)
{
    is_scrub("/login?password=hunter2&next=/x",
             "/login?password=[Filtered]&next=/x");
    is_scrub("/cb?token=abc", "/cb?token=[Filtered]");
    is_scrub("/cb?access_token=abc&state=xyz",
             "/cb?access_token=[Filtered]&state=xyz");
    is_scrub("/api?API_KEY=k1", "/api?API_KEY=[Filtered]");
    is_scrub("/oauth/cb?code=4%2F0Ab&scope=email",
             "/oauth/cb?code=[Filtered]&scope=email");
    is_scrub("/x?Pass%77ord=a", "/x?Pass%77ord=[Filtered]");
    is_scrub("/x?user[password]=a&user[name]=b",
             "/x?user[password]=[Filtered]&user[name]=b");
    is_scrub("/x?X-Amz-Signature=ab12&X-Amz-Date=20240101",
             "/x?X-Amz-Signature=[Filtered]&X-Amz-Date=20240101");
    is_scrub("/x?otp=123456&pin=1234&ssn=1&sessionid=2&client_secret=3"
             "&credentials=4&pwd=5&passwd=6&auth=7&sig=8",
             "/x?otp=[Filtered]&pin=[Filtered]&ssn=[Filtered]"
             "&sessionid=[Filtered]&client_secret=[Filtered]"
             "&credentials=[Filtered]&pwd=[Filtered]&passwd=[Filtered]"
             "&auth=[Filtered]&sig=[Filtered]");
    is_scrub("/x?token=", "/x?token=[Filtered]");

    /* a secret carried inside another value, as redirects do */
    is_scrub("/login?next=/cb?token=abc&x=1",
             "/login?next=[Filtered]&x=1");
    is_scrub("/login?next=%2Fcb%3Fa%3D1%26token%3Dabc",
             "/login?next=[Filtered]");
    is_scrub("/login?next=%2Fcb%3Fa%3D1", "/login?next=%2Fcb%3Fa%3D1");

    /* and in the path, as servlet containers put it */
    is_scrub("/app;jsessionid=ABC123/home?x=1", "/[Filtered]/home?x=1");

    ok(audit_scrub_is_secret_name(scrub, "refresh_token", 13),
       "refresh_token is secret");
    ok(audit_scrub_is_secret_name(scrub, "Authorization", 13),
       "Authorization is secret");
    ok(!audit_scrub_is_secret_name(scrub, "page", 4), "page is not");
    ok(!audit_scrub_is_secret_name(scrub, "password", 4),
       "only len bytes are read: \"pass\" is not");
    ok(!audit_scrub_is_secret_name(scrub, "", 0), "empty name is not");
    ok(!audit_scrub_is_secret_name(NULL, "token", 5), "NULL scrubber: 0");
}


static void
test_phi(void)
{
    is_scrub("/find?q=ann@clinic.example&page=2",
             "/find?q=[Filtered]&page=2");
    is_scrub("/find?q=ann%40clinic.example", "/find?q=[Filtered]");
    is_scrub("/find?q=a%40b.example", "/find?q=[Filtered]");
    is_scrub("/find?q=Ann+Lee+%3Cann%40x.org%3E", "/find?q=[Filtered]");
    is_scrub("/find?phone=%2B1%20(555)%20123-4567",
             "/find?phone=[Filtered]");
    is_scrub("/find?phone=+1 (555) 123-4567", "/find?phone=[Filtered]");
    is_scrub("/find?phone=+1+(555)+123-4567", "/find?phone=[Filtered]");
    is_scrub("/find?p=555.123.4567", "/find?p=[Filtered]");
    is_scrub("/find?p=5551234567", "/find?p=[Filtered]");
    is_scrub("/find?s=123-45-6789", "/find?s=[Filtered]");
    is_scrub("/find?s=%31%32%33-45-6789", "/find?s=[Filtered]");

    /* numbers that are not PHI */
    is_scrub("/list?page=2&id=42&limit=100",
             "/list?page=2&id=42&limit=100");
    is_scrub("/list?from=2024-01-15&to=2024-02-15",
             "/list?from=2024-01-15&to=2024-02-15");
    is_scrub("/list?n=12345678", "/list?n=12345678");
    is_scrub("/list?v=1.2.3-4", "/list?v=1.2.3-4");
    is_scrub("/list?at=@home&x=a@b", "/list?at=@home&x=a@b");
    is_scrub("/list?a=1-2-3-4-5-6-7-8---9", "/list?a=1-2-3-4-5-6-7-8---9");

    /* a name that is PHI itself */
    is_scrub("/find?ann@x.org", "/find?[Filtered]");
    is_scrub("/find?ann@x.org=1", "/find?[Filtered]=1");

    /* in the path only e-mail addresses and SSNs */
    is_scrub("/users/ann@x.org/edit", "/users/[Filtered]/edit");
    is_scrub("/users/ann%40x.org/edit", "/users/[Filtered]/edit");
    is_scrub("/ssn/123-45-6789", "/ssn/[Filtered]");
    is_scrub("/patients/5551234567/notes", "/patients/5551234567/notes");
    is_scrub("/a/1123-45-6789", "/a/1123-45-6789");
    is_scrub("/api/patients/1842/notes", "/api/patients/1842/notes");
}


static void
test_shapes(void)
{
    char            out[64], name[AUDIT_SCRUB_NAME_MAX + 2];
    const char     *extra[2];
    audit_scrub_t  *s;

    is_scrub("", "");
    is_scrub("/", "/");
    is_scrub("?", "?");
    is_scrub("/x?", "/x?");
    is_scrub("/x?&&&", "/x?&&&");
    is_scrub("/x?flag&token&password", "/x?flag&token&password");
    is_scrub("/x?=v&a==b", "/x?=v&a==b");
    is_scrub("/x?token==b", "/x?token=[Filtered]");
    is_scrub("//a//b/", "//a//b/");
    is_scrub("/x#frag", "/x");
    is_scrub("/x?a=1#password=hunter2", "/x?a=1");
    is_scrub("#", "");
    is_scrub("/x%zz?a=%4", "/x%zz?a=%4");
    is_scrub("/caf\xc3\xa9?q=\xff", "/caf\xc3\xa9?q=\xff");

    is_int(audit_scrub_uri(scrub, "/a?b=c", 6, out, sizeof(out)), 6,
           "the length is returned");
    is_int(audit_scrub_uri(scrub, "/a?password=x", 4, out, sizeof(out)), 4,
           "only len bytes are read");
    is_str(out, "/a?p", "... and copied");
    is_int(audit_scrub_uri(scrub, NULL, 0, out, sizeof(out)), 0,
           "NULL uri");
    memset(out, 'x', sizeof(out));
    is_int(audit_scrub_uri(scrub, "/a", 2, out, 0), 0, "size 0");
    ok(out[0] == 'x', "size 0 writes nothing");

    /* no scrubber: only the fragment goes */
    audit_scrub_uri(NULL, "/u/a@b.org?password=x#f", 23, out, sizeof(out));
    is_str(out, "/u/a@b.org?password=x", "NULL scrubber filters nothing");

    extra[0] = "MRN";
    extra[1] = "dob";
    s = audit_scrub_create(extra, 2);
    ok(s != NULL, "scrubber with extra names");
    audit_scrub_uri(s, "/p?mrn=A17&DOB=1970&q=1", 23, out, sizeof(out));
    is_str(out, "/p?mrn=[Filtered]&DOB=[Filtered]&q=1", "extra names");
    ok(audit_scrub_is_secret_name(s, "patient_mrn", 11),
       "extra names match inside");
    audit_scrub_uri(s, "/p?token=1", 10, out, sizeof(out));
    is_str(out, "/p?token=[Filtered]", "defaults are kept");
    audit_scrub_free(s);

    audit_scrub_uri(scrub, "/p?mrn=A17", 10, out, sizeof(out));
    is_str(out, "/p?mrn=A17", "extra names are per scrubber");

    extra[0] = "";
    ok(audit_scrub_create(extra, 1) == NULL, "empty name refused");
    extra[0] = NULL;
    ok(audit_scrub_create(extra, 1) == NULL, "NULL name refused");
    memset(name, 'a', sizeof(name));
    name[AUDIT_SCRUB_NAME_MAX + 1] = '\0';
    extra[0] = name;
    ok(audit_scrub_create(extra, 1) == NULL, "name over 64 refused");
    name[AUDIT_SCRUB_NAME_MAX] = '\0';
    s = audit_scrub_create(extra, 1);
    ok(s != NULL, "name of 64 accepted");
    ok(audit_scrub_is_secret_name(s, extra[0], 64), "... and matched");
    audit_scrub_free(s);

    s = audit_scrub_create(NULL, 0);
    ok(s != NULL, "no extra names");
    audit_scrub_free(s);
    audit_scrub_free(NULL);
}


/* JWTs and Bearer/Basic credentials, wherever they stand in a URI. */

static void
test_jwt_uri(void)
{
    char  out[512];

    /* a query value, a query name, a flag */
    is_scrub("/api?jwt=" JWT, "/api?jwt=[Filtered]");
    is_scrub("/api?a=1&jwt=" JWT "&b=2", "/api?a=1&jwt=[Filtered]&b=2");
    is_scrub("/api?" JWT "=1", "/api?[Filtered]=1");
    is_scrub("/api?" JWT, "/api?[Filtered]");
    is_scrub("/api?q=%22" JWT "%22", "/api?q=%22[Filtered]%22");
    is_scrub("/api?t=" JWT ",x", "/api?t=[Filtered],x");

    /* path segments */
    is_scrub("/reset/" JWT, "/reset/[Filtered]");
    is_scrub("/reset/" JWT "/confirm?x=1", "/reset/[Filtered]/confirm?x=1");
    is_scrub("/" JWT, "/[Filtered]");
    is_scrub("/reset/t=" JWT, "/reset/t=[Filtered]");

    /* %-encoded dots and a JWT inside an encoded redirect */
    is_scrub("/reset/" H "%2E" P "%2e" S, "/reset/[Filtered]");
    is_scrub("/login?next=%2Fcb%3Fid%3D" JWT "%26x%3D1",
             "/login?next=%2Fcb%3Fid%3D[Filtered]%26x%3D1");
    is_scrub("/login?next=/cb?id=" JWT, "/login?next=/cb?id=[Filtered]");

    /* other shapes: unsecured, JWE, a header with blanks */
    is_scrub("/x?t=e30.e30.", "/x?t=[Filtered]");
    is_scrub("/x?t=eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ.a.b.c.d",
             "/x?t=[Filtered]");
    is_scrub("/x?t=ewogICJhbGciOiAiSFMyNTYiCn0.e30.sig", "/x?t=[Filtered]");

    /* Bearer and Basic in the query and the path */
    is_scrub("/x?h=Bearer+abc123&y=2", "/x?h=Bearer+[Filtered]&y=2");
    is_scrub("/x?h=Bearer%20" JWT, "/x?h=Bearer%20[Filtered]");
    is_scrub("/x?h=bearer%20a.b-c_d~e%2Ff", "/x?h=bearer%20[Filtered]");
    is_scrub("/x?h=Basic+dXNlcjpwYXNzd29yZA%3D%3D",
             "/x?h=Basic+[Filtered]");
    is_scrub("/x?h=Basic+dXNlcjpwYXNzd29yZA==&y=2",
             "/x?h=Basic+[Filtered]&y=2");
    is_scrub("/x/Bearer%20abc/y", "/x/Bearer%20[Filtered]/y");

    /*
     * the neighbours of a filtered token stay as they are, but for an
     * escape of a base64url character after it: decoded, it is the
     * token's ("%41" is its last "A")
     */
    is_scrub("/x?a=%41" JWT "%41", "/x?a=%41[Filtered]");
    is_scrub("/x?a=%41" JWT "%26b=1", "/x?a=%41[Filtered]%26b=1");

    /* a JWT whose characters are %-encoded, as a reader decodes it */
    is_scrub("/x?next=%65" JWT_NO_E, "/x?next=[Filtered]");
    is_scrub("/x?v=e%79" JWT_NO_EY, "/x?v=[Filtered]");
    is_scrub("/x?v=%65%79%4A" JWT_NO_EYJ, "/x?v=[Filtered]");
    is_scrub("/x?next=" H "." P_ESC "." S, "/x?next=[Filtered]");
    is_scrub("/x?v=%65yes.and.ears", "/x?v=%65yes.and.ears");

    /* kept: dotted names, versions, base64url that is not '{' */
    is_scrub("/files/a.b.c", "/files/a.b.c");
    is_scrub("/v1.2.3/x?v=1.2.3", "/v1.2.3/x?v=1.2.3");
    is_scrub("/static/app.min.js", "/static/app.min.js");
    is_scrub("/x?f=report.2024.final.pdf", "/x?f=report.2024.final.pdf");
    is_scrub("/x?t=YWJj.ZGVm.Z2hp", "/x?t=YWJj.ZGVm.Z2hp");
    is_scrub("/x?t=" H "." P, "/x?t=" H "." P);
    is_scrub("/x?t=x" JWT, "/x?t=x" JWT);
    is_scrub("/x?t=eXJhbGci.a.b", "/x?t=eXJhbGci.a.b");
    is_scrub("/x?t=ex.y.z&u=ew.y.z", "/x?t=ex.y.z&u=ew.y.z");
    is_scrub("/ey/eyes.and.ears", "/ey/eyes.and.ears");
    is_scrub("/x?d=example.co.uk&e=e3.e3.e3",
             "/x?d=example.co.uk&e=e3.e3.e3");
    is_scrub("/x?t=eyAB.a.b", "/x?t=eyAB.a.b");
    is_scrub("/x?h=Bearer&b=Basic+&c=Basically+x&d=xBearer+y",
             "/x?h=Bearer&b=Basic+&c=Basically+x&d=xBearer+y");
    is_scrub("/x?h=Bearer+[Filtered]", "/x?h=Bearer+[Filtered]");

    /* no scrubber: nothing filtered */
    audit_scrub_uri(NULL, "/r/" JWT "?h=Bearer+x", sizeof("/r/" JWT) + 10,
                    out, sizeof(out));
    is_str(out, "/r/" JWT "?h=Bearer+x", "NULL scrubber keeps a JWT");
}


/* The same in any text: a User-Agent. */

static void
test_credentials(void)
{
    char         out[16];
    size_t       n;

    is_cred("Mozilla/5.0 " JWT, "Mozilla/5.0 [Filtered]");
    is_cred(JWT " Mozilla/5.0", "[Filtered] Mozilla/5.0");
    is_cred("app/1.0 (token=" JWT "; x)", "app/1.0 (token=[Filtered]; x)");
    is_cred("see " JWT ".", "see [Filtered]");
    is_cred("a\"" JWT "\"b", "a\"[Filtered]\"b");
    is_cred("curl/8.0 Authorization: Bearer abc.def",
            "curl/8.0 Authorization: Bearer [Filtered]");
    is_cred("curl/8.0 Bearer " JWT " x", "curl/8.0 Bearer [Filtered] x");
    is_cred("x Basic dXNlcjpwYXNzd29yZA== y", "x Basic [Filtered] y");
    is_cred("BEARER\tabc", "BEARER\t[Filtered]");
    is_cred("(bAsIc  u:p)", "(bAsIc  [Filtered]:p)");
    is_cred("x %20Bearer%20abc", "x %20Bearer%20[Filtered]");

    /* kept */
    is_cred("Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/126.0",
            "Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/126.0");
    is_cred("Basic", "Basic");
    is_cred("(Basic; Linux)", "(Basic; Linux)");
    is_cred("Bearers abc", "Bearers abc");
    is_cred("forbearer abc", "forbearer abc");
    is_cred("Basic [x]", "Basic [x]");
    is_cred("python-requests/2.31.0 a.b.c", "python-requests/2.31.0 a.b.c");
    is_cred("e30", "e30");
    is_cred("e30.e30", "e30.e30");

    /* scrubbing again changes nothing */
    is_cred("Bearer [Filtered]", "Bearer [Filtered]");
    is_cred("[Filtered].[Filtered].[Filtered]",
            "[Filtered].[Filtered].[Filtered]");

    /* the length, a cut that never shows a part of the token, size 0 */
    is_int(audit_scrub_credentials("ab " JWT, sizeof("ab " JWT) - 1, out,
                                   sizeof(out)), 13, "the length");
    is_str(out, "ab [Filtered]", "... and the text");
    n = audit_scrub_credentials("abcdef " JWT, sizeof("abcdef " JWT) - 1,
                                out, 12);
    is_str(out, "abcdef [...", "cut in [Filtered]");
    is_int(n, 11, "... at size - 1");
    n = audit_scrub_credentials("Bearer " JWT, sizeof("Bearer " JWT) - 1,
                                out, 10);
    is_str(out, "Bearer...", "cut after Bearer");
    memset(out, 'x', sizeof(out));
    is_int(audit_scrub_credentials("abc", 3, out, 0), 0, "size 0");
    ok(out[0] == 'x', "size 0 writes nothing");
    is_int(audit_scrub_credentials(NULL, 0, out, sizeof(out)), 0, "NULL");
    is_str(out, "", "... is empty");
    is_int(audit_scrub_credentials("e30.e30.x", 7, out, sizeof(out)), 7,
           "only len bytes are read");
    is_str(out, "e30.e30", "... and copied");
}


/* Long names are matched wherever the secret part is. */

static void
test_long(void)
{
    char    name[600];

    memset(name, 'x', sizeof(name));
    memcpy(name + 300, "ToKeN", 5);
    ok(audit_scrub_is_secret_name(scrub, name, sizeof(name)),
       "secret in the middle of a 600-byte name");
    memcpy(name + 595, "token", 5);
    memcpy(name + 300, "xxxxx", 5);
    ok(audit_scrub_is_secret_name(scrub, name, sizeof(name)),
       "secret at the end of a 600-byte name");
    memcpy(name + 595, "xxxxx", 5);
    ok(!audit_scrub_is_secret_name(scrub, name, sizeof(name)),
       "600 x's are not secret");
}


/*
 * Every output size from 0 up: no overflow (exactly sized heap buffers for
 * ASan, and a canary), always a prefix of the full result or that prefix
 * cut with "...", never a byte of the secrets.
 */

static void
test_truncation(void)
{
    int          bad;
    char        *buf;
    size_t       size, n, full, cut;
    const char  *uri;
    char         want[256];

    uri = "/users/ann@x.org/notes?password=hunter2&page=2"
          "&q=555-123-4567&next=/home#token=frag";

    full = audit_scrub_uri(scrub, uri, strlen(uri), want, sizeof(want));
    is_str(want, "/users/[Filtered]/notes?password=[Filtered]&page=2"
                 "&q=[Filtered]&next=/home", "the full result");

    bad = 0;

    for (size = 0; size <= full + 2; size++) {
        buf = malloc(size + 1);
        buf[size] = '#';

        n = audit_scrub_uri(scrub, uri, strlen(uri), buf, size);

        if (buf[size] != '#' || (size > 0 && n >= size)
            || (size > 0 && strlen(buf) != n))
        {
            diag("size %zu: overflow or bad length %zu", size, n);
            bad++;

        } else if (size > full) {
            if (n != full || strcmp(buf, want) != 0) {
                diag("size %zu: %s", size, buf);
                bad++;
            }

        } else if (size > 0) {
            /* cut: a prefix, then as many dots as fit, up to 3 */
            cut = n >= 3 ? n - 3 : 0;

            if (n != size - 1
                || strncmp(buf, want, cut) != 0
                || strspn(buf + cut, ".") != n - cut
                || strstr(buf, "hunter2") || strstr(buf, "ann@")
                || strstr(buf, "555-"))
            {
                diag("size %zu: %s", size, buf);
                bad++;
            }
        }

        free(buf);
    }

    is_int(bad, 0, "truncation at every size is safe");

    /* the path alone, cut */
    buf = malloc(8);
    n = audit_scrub_uri(scrub, "/abcdefghij", 11, buf, 8);
    is_str(buf, "/abc...", "a long path ends in ...");
    is_int(n, 7, "... of size - 1 bytes");
    free(buf);
}


int
main(void)
{
    scrub = audit_scrub_create(NULL, 0);
    if (scrub == NULL) {
        printf("Bail out! audit_scrub_create\n");
        return 1;
    }

    test_secrets();
    test_phi();
    test_shapes();
    test_long();
    test_truncation();
    test_jwt_uri();
    test_credentials();

    audit_scrub_free(scrub);

    return done_testing();
}
