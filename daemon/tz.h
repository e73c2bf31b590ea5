/*
 * tz.h - IANA time zones read from the system's TZif files.
 *
 * The process never touches the TZ environment variable or localtime(3):
 * each challenge holds its own zone object, so zones can differ per
 * challenge and be tested side by side. Times are Unix seconds (UTC);
 * "local seconds" are the local wall-clock time counted as if it were UTC.
 */
#ifndef PODIUM_TZ_H
#define PODIUM_TZ_H

#include <stddef.h>
#include <stdint.h>

typedef struct tz tz;

/* Loads zone `name` ("Europe/London", "UTC") from $PODIUM_ZONEINFO or
 * /usr/share/zoneinfo. Returns NULL and a message in err on failure.
 * Names with "..", a leading "/" or characters outside [A-Za-z0-9/_+-] are
 * refused. The caller owns the result (tz_free). */
tz *tz_load(const char *name, char *err, size_t errlen);
/* Frees a zone; NULL is allowed. */
void tz_free(tz *z);
/* The name the zone was loaded with; owned by the zone. */
const char *tz_name(const tz *z);
/* Offset from UTC in seconds (east positive) in force at Unix time t. */
int32_t tz_offset(const tz *z, int64_t t);
/* Unix time of local wall-clock time `local`. In a gap (spring forward) the
 * result is the first instant after the gap; in an overlap (fall back) it is
 * the earlier of the two instants. */
int64_t tz_local_to_utc(const tz *z, int64_t local);

#endif
