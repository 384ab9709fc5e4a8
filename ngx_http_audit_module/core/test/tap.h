/*
 * A tiny TAP producer for the core's unit tests, run by prove(1).
 *
 *     ok(cond, "name %d", i);
 *     is_int(got, want, "name");
 *     is_str(got, want, "name");
 *     diag("note %s", s);
 *     return done_testing();
 *
 * done_testing() prints the plan ("1..N") and returns the exit status: 0
 * when every test passed, 1 otherwise.  Names take printf formats.
 */

#ifndef AUDIT_TAP_H
#define AUDIT_TAP_H


#include <stdarg.h>
#include <stdio.h>
#include <string.h>


#define ok(cond, ...)                                                       \
    tap_ok(!!(cond), __FILE__, __LINE__, __VA_ARGS__)

#define is_int(got, want, ...)                                              \
    tap_is_int((long long) (got), (long long) (want), __FILE__, __LINE__,  \
               __VA_ARGS__)

#define is_str(got, want, ...)                                              \
    tap_is_str((got), (want), __FILE__, __LINE__, __VA_ARGS__)


static int  tap_run;
static int  tap_failed;


static inline void
diag(const char *fmt, ...)
{
    va_list  args;

    fputs("# ", stdout);
    va_start(args, fmt);
    vprintf(fmt, args);
    va_end(args);
    fputc('\n', stdout);
}


static inline int
tap_vok(int pass, const char *file, int line, const char *fmt, va_list args)
{
    tap_run++;

    if (!pass) {
        tap_failed++;
    }

    printf("%sok %d - ", pass ? "" : "not ", tap_run);
    vprintf(fmt, args);
    fputc('\n', stdout);

    if (!pass) {
        printf("#   Failed test at %s line %d.\n", file, line);
    }

    fflush(stdout);

    return pass;
}


static inline int
tap_ok(int pass, const char *file, int line, const char *fmt, ...)
{
    va_list  args;

    va_start(args, fmt);
    pass = tap_vok(pass, file, line, fmt, args);
    va_end(args);

    return pass;
}


static inline int
tap_is_int(long long got, long long want, const char *file, int line,
    const char *fmt, ...)
{
    int      pass;
    va_list  args;

    va_start(args, fmt);
    pass = tap_vok(got == want, file, line, fmt, args);
    va_end(args);

    if (!pass) {
        printf("#          got: %lld\n#     expected: %lld\n", got, want);
    }

    return pass;
}


static inline int
tap_is_str(const char *got, const char *want, const char *file, int line,
    const char *fmt, ...)
{
    int      pass;
    va_list  args;

    pass = (got == NULL && want == NULL)
           || (got != NULL && want != NULL && strcmp(got, want) == 0);

    va_start(args, fmt);
    pass = tap_vok(pass, file, line, fmt, args);
    va_end(args);

    if (!pass) {
        printf("#          got: %s%s%s\n#     expected: %s%s%s\n",
               got ? "'" : "", got ? got : "NULL", got ? "'" : "",
               want ? "'" : "", want ? want : "NULL", want ? "'" : "");
    }

    return pass;
}


static inline int
done_testing(void)
{
    printf("1..%d\n", tap_run);

    if (tap_failed) {
        diag("Looks like you failed %d test%s of %d.", tap_failed,
             tap_failed == 1 ? "" : "s", tap_run);
    }

    fflush(stdout);

    return tap_failed ? 1 : 0;
}


#endif /* AUDIT_TAP_H */
