
/*
 * Reading small configuration files (key sets, deny-lists) whole.
 */


#ifndef AUDIT_FILE_H
#define AUDIT_FILE_H


#include <stddef.h>


/* Reads the file at path into a malloc()ed buffer, NUL-terminated for
 * convenience (the NUL is not counted in *len).  Files over max bytes are
 * refused so a wrong path (/dev/zero, a log) cannot exhaust memory.
 * Returns NULL with a one-line reason in err (errlen bytes; err may be
 * NULL when errlen is 0).  The one reader of files in the core: key sets
 * (audit_keyset_load()) and deny-lists (audit_idset_load()) use it. */
unsigned char *audit_file_read(const char *path, size_t max, size_t *len,
    char *err, size_t errlen);


#endif /* AUDIT_FILE_H */
