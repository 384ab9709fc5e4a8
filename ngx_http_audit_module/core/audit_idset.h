
/*
 * A set of identifiers (revoked session ids), built once from a text file
 * of one id per line and then only searched.  Immutable after build, so
 * every worker can read it without locks.
 */


#ifndef AUDIT_IDSET_H
#define AUDIT_IDSET_H


#include <stddef.h>


typedef struct audit_idset_s  audit_idset_t;


/* Builds the set from text: one id per line, blank lines and lines that
 * start with '#' ignored, surrounding spaces and tabs trimmed.  Returns
 * NULL and a reason in err on failure (out of memory, an id over 256
 * bytes). */
audit_idset_t *audit_idset_parse(const char *text, size_t len, char *err,
    size_t errlen);

/* Reads a file (at most 16 MiB) and parses it. */
audit_idset_t *audit_idset_load(const char *path, char *err, size_t errlen);

void audit_idset_free(audit_idset_t *set);
size_t audit_idset_size(const audit_idset_t *set);
int audit_idset_contains(const audit_idset_t *set, const char *id,
    size_t len);


#endif /* AUDIT_IDSET_H */
