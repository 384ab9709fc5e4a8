#include <stdlib.h>
#include <string.h>

#include "audit_b64url_int.h"
#include "tap.h"


static const char  alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";


/* decodes a C string; returns the length or -1 */
static long
decode(const char *s, unsigned char *out, size_t size)
{
    size_t  len;

    if (audit_b64url_decode((const unsigned char *) s, strlen(s), out, size,
                            &len)
        != 0)
    {
        return -1;
    }

    return (long) len;
}


static void
test_known(void)
{
    long            n;
    unsigned char   out[16];

    is_int(decode("", out, sizeof(out)), 0, "empty input decodes to nothing");
    is_int(decode("", NULL, 0), 0, "empty input needs no output buffer");

    n = decode("Zg", out, sizeof(out));
    ok(n == 1 && memcmp(out, "f", 1) == 0, "Zg is f");

    n = decode("Zm8", out, sizeof(out));
    ok(n == 2 && memcmp(out, "fo", 2) == 0, "Zm8 is fo");

    n = decode("Zm9v", out, sizeof(out));
    ok(n == 3 && memcmp(out, "foo", 3) == 0, "Zm9v is foo");

    n = decode("Zm9vYmFy", out, sizeof(out));
    ok(n == 6 && memcmp(out, "foobar", 6) == 0, "Zm9vYmFy is foobar");

    n = decode("-_-_", out, sizeof(out));
    ok(n == 3 && memcmp(out, "\xfb\xff\xbf", 3) == 0,
       "- and _ are 62 and 63");
}


static void
test_rejects(void)
{
    unsigned char  out[16];

    is_int(decode("Zg==", out, sizeof(out)), -1, "padding == rejected");
    is_int(decode("Zm8=", out, sizeof(out)), -1, "padding = rejected");
    is_int(decode("Zm9v====", out, sizeof(out)), -1, "a padding group");
    is_int(decode("Zm+v", out, sizeof(out)), -1, "'+' (base64) rejected");
    is_int(decode("Zm/v", out, sizeof(out)), -1, "'/' (base64) rejected");
    is_int(decode("Zm9 ", out, sizeof(out)), -1, "space rejected");
    is_int(decode("Zm9v\n", out, sizeof(out)), -1, "newline rejected");
    is_int(decode("Zm\xc3\xa9", out, sizeof(out)), -1, "non-ASCII rejected");
    is_int(decode("A", out, sizeof(out)), -1, "length 1 rejected");
    is_int(decode("Zm9vY", out, sizeof(out)), -1, "length 4n+1 rejected");
    is_int(decode("Zh", out, sizeof(out)), -1,
           "non-zero unused bits after 1 byte rejected");
    is_int(decode("Zm9", out, sizeof(out)), -1,
           "non-zero unused bits after 2 bytes rejected");
    is_int(decode("Zm9vYmF", out, sizeof(out)), -1,
           "non-zero unused bits in the last group rejected");
}


static void
test_nul_and_bounds(void)
{
    size_t          len;
    unsigned char   out[8];

    memset(out, 0xa5, sizeof(out));

    ok(audit_b64url_decode((const unsigned char *) "Zm\0v", 4, out,
                           sizeof(out), &len)
       == -1, "an embedded NUL rejected");

    ok(audit_b64url_decode((const unsigned char *) "Zm9vYmFy", 8, out, 5,
                           &len)
       == -1 && out[5] == 0xa5, "too small an output: error, no overrun");

    ok(audit_b64url_decode((const unsigned char *) "Zm9vYmFy", 8, out, 6,
                           &len)
       == 0 && len == 6 && out[6] == 0xa5, "exact output size is enough");

    ok(audit_b64url_decode((const unsigned char *) "Zm9vYmFy", 0, out, 0,
                           &len)
       == 0 && len == 0, "len 0 reads nothing");
}


/* every 2- and 3-character string: accepted exactly when canonical */
static void
test_exhaustive(void)
{
    int             bad2, bad3;
    char            in[4], again[8];
    size_t          len, elen;
    unsigned        a, b, c;
    unsigned char   out[4];
    static const char  extra[] = "=+/. \x80\xff";
    char            set[sizeof(alphabet) + sizeof(extra)];

    bad2 = 0;

    for (a = 0; a < 256; a++) {
        for (b = 0; b < 256; b++) {
            in[0] = (char) a;
            in[1] = (char) b;

            if (audit_b64url_decode((unsigned char *) in, 2, out,
                                    sizeof(out), &len)
                == 0)
            {
                if (len != 1
                    || audit_b64url_encode(out, len, again, sizeof(again),
                                           &elen) != 0
                    || elen != 2 || memcmp(again, in, 2) != 0)
                {
                    bad2++;
                }

            } else if (strchr(alphabet, (int) a) != NULL && a != 0
                       && strchr(alphabet, (int) b) != NULL && b != 0
                       && (strchr(alphabet, (int) b) - alphabet) % 16 == 0)
            {
                bad2++;
            }
        }
    }

    is_int(bad2, 0, "all 65536 two-byte inputs: canonical iff accepted");

    memcpy(set, alphabet, sizeof(alphabet) - 1);
    memcpy(set + sizeof(alphabet) - 1, extra, sizeof(extra));
    bad3 = 0;

    for (a = 0; set[a]; a++) {
        for (b = 0; set[b]; b++) {
            for (c = 0; set[c]; c++) {
                in[0] = set[a];
                in[1] = set[b];
                in[2] = set[c];

                if (audit_b64url_decode((unsigned char *) in, 3, out,
                                        sizeof(out), &len)
                    != 0)
                {
                    /* only alphabet strings ending in 0 mod 4 are valid */
                    if (a < 64 && b < 64 && c < 64 && c % 4 == 0) {
                        bad3++;
                    }

                    continue;
                }

                if (a >= 64 || b >= 64 || c >= 64 || len != 2
                    || audit_b64url_encode(out, len, again, sizeof(again),
                                           &elen) != 0
                    || elen != 3 || memcmp(again, in, 3) != 0)
                {
                    bad3++;
                }
            }
        }
    }

    is_int(bad3, 0, "three-character inputs: canonical iff accepted");
}


static void
test_roundtrip(void)
{
    int             bad;
    char            enc[128];
    size_t          n, i, len, elen;
    unsigned char   in[64], out[64];

    bad = 0;
    memset(in, 0, sizeof(in));

    for (n = 0; n <= sizeof(in); n++) {
        for (i = 0; i < n; i++) {
            in[i] = (unsigned char) (i * 37 + n * 11);
        }

        if (audit_b64url_encode(in, n, enc, sizeof(enc), &elen) != 0
            || elen != AUDIT_B64URL_ENCODED_LEN(n)
            || strlen(enc) != elen
            || strpbrk(enc, "=+/") != NULL
            || audit_b64url_decode((unsigned char *) enc, elen, out,
                                   sizeof(out), &len) != 0
            || len != n || memcmp(in, out, n) != 0)
        {
            bad++;
        }
    }

    is_int(bad, 0, "encode/decode round trip for 0..64 bytes");

    ok(audit_b64url_encode(in, 3, enc, 4, &elen) == -1,
       "encode refuses a buffer without room for the NUL");
    ok(audit_b64url_encode(in, 3, enc, 5, &elen) == 0 && elen == 4,
       "encode fills an exact buffer");
}


int
main(void)
{
    test_known();
    test_rejects();
    test_nul_and_bounds();
    test_exhaustive();
    test_roundtrip();

    return done_testing();
}
