#include "audit_b64url_int.h"


/* 0x80 marks a byte outside the alphabet; valid values are 0..63. */
#define AUDIT_B64URL_BAD  0x80

static const unsigned char  audit_b64url_dtable[256] = {
    0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
    0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
    0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
    0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
    0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,       /*  !"#$%&' */
    0x80, 0x80, 0x80, 0x80, 0x80, 62,   0x80, 0x80,       /* ()*+,-./ */
    52,   53,   54,   55,   56,   57,   58,   59,         /* 01234567 */
    60,   61,   0x80, 0x80, 0x80, 0x80, 0x80, 0x80,       /* 89:;<=>? */
    0x80, 0,    1,    2,    3,    4,    5,    6,          /* @ABCDEFG */
    7,    8,    9,    10,   11,   12,   13,   14,         /* HIJKLMNO */
    15,   16,   17,   18,   19,   20,   21,   22,         /* PQRSTUVW */
    23,   24,   25,   0x80, 0x80, 0x80, 0x80, 63,         /* XYZ[\]^_ */
    0x80, 26,   27,   28,   29,   30,   31,   32,         /* `abcdefg */
    33,   34,   35,   36,   37,   38,   39,   40,         /* hijklmno */
    41,   42,   43,   44,   45,   46,   47,   48,         /* pqrstuvw */
    49,   50,   51,   0x80, 0x80, 0x80, 0x80, 0x80,       /* xyz{|}~  */
    0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
    0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
    0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
    0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
    0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
    0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
    0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
    0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
    0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
    0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
    0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
    0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
    0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
    0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
    0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
    0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80
};

static const char  audit_b64url_etable[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";


int
audit_b64url_decode(const unsigned char *src, size_t len, unsigned char *dst,
    size_t size, size_t *outlen)
{
    size_t          full, rest, need, i;
    unsigned        a, b, c, d, bad;
    unsigned char  *p;

    full = len / 4;
    rest = len % 4;

    /* 4n+1 characters carry 6 bits of a byte: never a valid encoding */
    if (rest == 1) {
        return -1;
    }

    need = full * 3 + (rest ? rest - 1 : 0);
    if (need > size) {
        return -1;
    }

    p = dst;
    bad = 0;

    /* validity is checked once per call, which keeps the loop branch-free */
    for (i = 0; i < full; i++, src += 4) {
        a = audit_b64url_dtable[src[0]];
        b = audit_b64url_dtable[src[1]];
        c = audit_b64url_dtable[src[2]];
        d = audit_b64url_dtable[src[3]];
        bad |= a | b | c | d;

        *p++ = (unsigned char) (a << 2 | b >> 4);
        *p++ = (unsigned char) (b << 4 | c >> 2);
        *p++ = (unsigned char) (c << 6 | d);
    }

    if (rest == 2) {
        a = audit_b64url_dtable[src[0]];
        b = audit_b64url_dtable[src[1]];
        bad |= a | b;

        /*
         * the low 4 bits of the last character are not part of a byte;
         * AUDIT_B64URL_BAD has them clear and is caught below
         */
        if (b & 0x0f) {
            return -1;
        }

        *p++ = (unsigned char) (a << 2 | b >> 4);

    } else if (rest == 3) {
        a = audit_b64url_dtable[src[0]];
        b = audit_b64url_dtable[src[1]];
        c = audit_b64url_dtable[src[2]];
        bad |= a | b | c;

        /* the low 2 bits of the last character are not part of a byte */
        if (c & 0x03) {
            return -1;
        }

        *p++ = (unsigned char) (a << 2 | b >> 4);
        *p++ = (unsigned char) (b << 4 | c >> 2);
    }

    if (bad & AUDIT_B64URL_BAD) {
        return -1;
    }

    *outlen = need;

    return 0;
}


int
audit_b64url_encode(const unsigned char *src, size_t len, char *dst,
    size_t size, size_t *outlen)
{
    size_t  need, i;
    char   *p;

    need = AUDIT_B64URL_ENCODED_LEN(len);
    if (size == 0 || need > size - 1) {
        return -1;
    }

    p = dst;

    for (i = 0; i + 3 <= len; i += 3) {
        *p++ = audit_b64url_etable[src[i] >> 2];
        *p++ = audit_b64url_etable[(src[i] & 0x03) << 4 | src[i + 1] >> 4];
        *p++ = audit_b64url_etable[(src[i + 1] & 0x0f) << 2 | src[i + 2] >> 6];
        *p++ = audit_b64url_etable[src[i + 2] & 0x3f];
    }

    if (len - i == 1) {
        *p++ = audit_b64url_etable[src[i] >> 2];
        *p++ = audit_b64url_etable[(src[i] & 0x03) << 4];

    } else if (len - i == 2) {
        *p++ = audit_b64url_etable[src[i] >> 2];
        *p++ = audit_b64url_etable[(src[i] & 0x03) << 4 | src[i + 1] >> 4];
        *p++ = audit_b64url_etable[(src[i + 1] & 0x0f) << 2];
    }

    *p = '\0';
    *outlen = need;

    return 0;
}
