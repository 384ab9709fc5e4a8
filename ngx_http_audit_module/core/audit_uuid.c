/*
 * UUIDv7 (see audit_uuid.h).
 */


#include "audit_uuid.h"


void
audit_uuid7(unsigned char out[16], unsigned long long unix_ms,
    const unsigned char rnd[10])
{
    int  i;

    /* unix_ts_ms, big-endian, so that byte order is time order */
    for (i = 5; i >= 0; i--) {
        out[i] = (unsigned char) (unix_ms & 0xff);
        unix_ms >>= 8;
    }

    out[6] = (unsigned char) (0x70 | (rnd[0] & 0x0f));     /* ver, rand_a */
    out[7] = rnd[1];
    out[8] = (unsigned char) (0x80 | (rnd[2] & 0x3f));     /* var, rand_b */

    for (i = 9; i < 16; i++) {
        out[i] = rnd[i - 6];
    }
}


void
audit_uuid_format(const unsigned char id[16], char out[37])
{
    int                i;
    char              *p;
    static const char  hex[] = "0123456789abcdef";

    p = out;

    for (i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) {
            *p++ = '-';
        }

        *p++ = hex[id[i] >> 4];
        *p++ = hex[id[i] & 0x0f];
    }

    *p = '\0';
}
