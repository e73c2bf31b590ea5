/*
 * util.h - checked parsing of numbers, durations and times from outside.
 *
 * Every number that comes from a config file, a request or a rules file goes
 * through these: they reject empty strings, trailing junk, overflow and
 * out-of-range values instead of guessing (no atoi anywhere).
 */
#ifndef PODIUM_UTIL_H
#define PODIUM_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Parses a base-10 integer in [min, max]; the whole string must be used. */
bool util_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
    __attribute__((warn_unused_result));
/* Parses a finite decimal number in [min, max]; the whole string must be used. */
bool util_parse_double(const char *s, double min, double max, double *out)
    __attribute__((warn_unused_result));
/* Parses a duration "90s", "2m", "15m", "1h", "1d" or a plain number of
 * seconds, into seconds, in [0, max]. */
bool util_parse_duration(const char *s, int64_t max, int64_t *out)
    __attribute__((warn_unused_result));
/* Parses an RFC 3339 date-time ("2026-11-27T10:00:00Z",
 * "2026-11-27T10:00:00.250+01:00") into Unix milliseconds. */
bool util_parse_rfc3339(const char *s, int64_t *ms_out) __attribute__((warn_unused_result));
/* Formats Unix milliseconds as RFC 3339 UTC with millisecond precision
 * ("2026-11-27T10:00:00.250Z"); out needs 32 bytes. */
void util_format_rfc3339(int64_t ms, char out[32]);
/* Days since 1970-01-01 of a proleptic Gregorian date (month 1-12). */
int64_t util_days_from_civil(int64_t y, int m, int d);
/* Inverse of util_days_from_civil. */
void util_civil_from_days(int64_t days, int64_t *y, int *m, int *d);
/* True if s matches ^[a-z0-9][a-z0-9._-]{0,63}$ (ids of leaders, teams, challenges). */
bool util_valid_id(const char *s);
/* Levenshtein distance of two names of at most 64 bytes, ignoring ASCII
 * case (for "did you mean" hints); SIZE_MAX when either is longer. */
size_t util_edit_distance(const char *a, const char *b);
/* Writes v in decimal into out (at least 21 bytes), NUL-terminated; returns
 * the length. Faster than snprintf on hot paths. */
size_t util_i64toa(int64_t v, char *out);
/* Writes the SHA-256 of p[0..n) as 64 lowercase hex digits and a NUL. The
 * digest is fetched from OpenSSL once, not per call (the per-call fetch of
 * SHA256() costs more than hashing a token). Not thread-safe. */
void util_sha256_hex(const void *p, size_t n, char out[65]);
/* Current wall-clock time in Unix milliseconds. */
int64_t util_now_ms(void);

#endif
