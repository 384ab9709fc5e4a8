
/*
 * Reading small configuration files whole (see audit_file.h).
 */


#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit_file.h"


unsigned char *
audit_file_read(const char *path, size_t max, size_t *len, char *err,
    size_t errlen)
{
    FILE           *f;
    size_t          n, size;
    unsigned char  *buf;

    f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, errlen, "cannot open \"%s\": %s", path,
                 strerror(errno));
        return NULL;
    }

    /* one byte more than allowed tells an over-long file from a full one */
    size = max + 1;

    buf = malloc(size + 1);
    if (buf == NULL) {
        fclose(f);
        snprintf(err, errlen, "out of memory reading \"%s\"", path);
        return NULL;
    }

    n = fread(buf, 1, size, f);

    if (ferror(f)) {
        snprintf(err, errlen, "cannot read \"%s\": %s", path,
                 strerror(errno));
        fclose(f);
        free(buf);
        return NULL;
    }

    fclose(f);

    if (n > max) {
        snprintf(err, errlen, "\"%s\" is larger than %zu bytes", path, max);
        free(buf);
        return NULL;
    }

    buf[n] = '\0';
    *len = n;

    return buf;
}
