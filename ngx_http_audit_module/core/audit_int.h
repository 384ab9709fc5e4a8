
/*
 * Core-internal: small formatting helpers the encoders share (defined in
 * audit_event.c, used by audit_sentry_*.c too).  The nginx layer never
 * includes this header, nor any other *_int.h: what it may use is in the
 * headers without that suffix.
 */


#ifndef AUDIT_INT_H
#define AUDIT_INT_H


#include <stddef.h>


/* "2026-11-23T03:26:03.123Z" and its NUL: RFC 3339, UTC, milliseconds
 * (years past 9999 clamped). */
void audit_rfc3339_ms(unsigned long long ms, char out[25]);

/* Lowercase hex of p[0..len) into out (2 * len bytes, and a NUL). */
void audit_hex(const unsigned char *p, size_t len, char *out);


#endif /* AUDIT_INT_H */
