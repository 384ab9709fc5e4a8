/*
 * What must never reach a log in clear: the values of secret-looking query
 * parameters (passwords, tokens, keys, one-time codes), values that look
 * like patient identifiers (e-mail addresses, phone numbers, US SSNs), and
 * credentials wherever they stand (JWTs, "Bearer"/"Basic" credentials).
 *
 * A scrubber is built once from the configuration and is immutable after
 * that, so workers share it without locking.  Scrubbing writes into a
 * caller's buffer and never allocates.
 */

#ifndef AUDIT_SCRUB_H
#define AUDIT_SCRUB_H


#include <stddef.h>


/* The longest name audit_scrub_create() accepts. */
#define AUDIT_SCRUB_NAME_MAX  64

/* What a scrubbed value or path segment is replaced with. */
#define AUDIT_SCRUB_FILTERED  "[Filtered]"


typedef struct audit_scrub_s  audit_scrub_t;


/*
 * Creates a scrubber that treats as secret every parameter name that
 * contains, ignoring case, one of
 *
 *     password passwd pwd token secret key auth session code otp pin ssn
 *     credential signature sig
 *
 * or one of the nextra names in extra (audit_scrub NAME ...; NULL/0 for
 * none).  The names are copied.  Returns NULL on OOM or when an extra name
 * is NULL, empty or longer than AUDIT_SCRUB_NAME_MAX.
 *
 * Matching by substring errs on the side of filtering: "monkey" and
 * "zipcode" are secret too.
 */
audit_scrub_t *audit_scrub_create(const char *const *extra, size_t nextra);

void audit_scrub_free(audit_scrub_t *s);

/*
 * Copies the request URI uri[0..len) (path and optional ?query, no NUL
 * needed) into out, which has room for size bytes, and NUL-terminates it:
 *
 *   - the value of a query parameter whose name looks secret, and the value
 *     of any parameter that contains an e-mail address, a phone number (9
 *     or more digits with + ( ) - . or space between them) or a US SSN
 *     (ddd-dd-dddd), becomes "[Filtered]"; so does a value that carries a
 *     nested secret parameter ("next=/cb?token=abc" or its %-encoding),
 *     and a parameter name that itself looks like PHI;
 *   - path segments that contain an e-mail address or an SSN, or a
 *     secret-looking ";name=value" (";jsessionid="), become "[Filtered]";
 *     the rest of the path is kept as it is;
 *   - a fragment ("#...") is dropped;
 *   - in what is kept of each path segment, query name and query value,
 *     credentials become "[Filtered]" as audit_scrub_credentials() says
 *     ("/reset/<jwt>", "?jwt=<jwt>", "?h=Bearer+<token>", "?<jwt>=1").
 *
 * Values are %-decoded for the checks only: what is kept is copied as it
 * was.  Parameters are separated by '&'.
 *
 * When out is too small the copy ends in "..."; a secret or PHI value is
 * never written even in part.  Returns the length written (without the
 * NUL); 0 when size is 0, in which case nothing is written.  With s NULL
 * nothing is filtered (the fragment is still dropped).
 */
size_t audit_scrub_uri(const audit_scrub_t *s, const char *uri, size_t len,
    char *out, size_t size);

/*
 * Copies text[0..len) (no NUL needed; a User-Agent, or a piece of a URI)
 * into out, which has room for size bytes, and NUL-terminates it, with
 * each credential in it replaced by "[Filtered]":
 *
 *   - a JWT-shaped string: a run of base64url characters and dots that
 *     begins the text or follows any other byte or a %XX escape, holds
 *     two dots or more, and whose first segment base64url-decodes to the
 *     start of a JSON object: '{', blanks, then '"' or '}' ("eyJ", "e30",
 *     "ewog"; up to 16 characters of it are decoded).  "%2E" counts as a
 *     dot, so a %-encoded JWT is found too; a JWS, a JWE and an unsecured
 *     JWT ("e30.e30.") alike.  The whole run is replaced;
 *   - the credentials after the word "Bearer" or "Basic" (any case, not
 *     the end of a longer word) and spaces, tabs, '+' or %20/%09: the run
 *     of token68 characters, '=' and other %XX escapes that follows.  The
 *     scheme stays: "Bearer [Filtered]".
 *
 * Kept: "a.b.c", "v1.2.3", "app.min.js", base64url segments whose first
 * part does not decode so ("YWJj.ZGVm.Z2hp"; "example.co.uk", which
 * decodes to '{' and a control byte), "Basic" with nothing after it.  It
 * errs on the side of filtering: "Basic mode" loses "mode".
 *
 * One pass, no decoding unless an 'e' begins a run followed by 'y', '3'
 * or 'w' (what '{' and '"', '}' or a blank encode to) or a 'b' begins a
 * word.
 * When out is too small the copy ends in "..." as in audit_scrub_uri(); a
 * credential is never written even in part, since the whole input is
 * scanned.  Returns the length written (without the NUL); 0 when size is
 * 0, in which case nothing is written.
 */
size_t audit_scrub_credentials(const char *text, size_t len, char *out,
    size_t size);

/* Returns 1 when the parameter name name[0..len), %-decoded, looks
 * secret; 0 otherwise and when s is NULL. */
int audit_scrub_is_secret_name(const audit_scrub_t *s, const char *name,
    size_t len);


#endif /* AUDIT_SCRUB_H */
