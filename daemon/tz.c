/*
 * tz.c - a reader of TZif files (RFC 8536, versions 1 to 4) and the POSIX TZ
 * rule in their footer.
 *
 * tz_load reads one file whole (at most TZ_FILE_MAX bytes) and keeps only
 * what offsets need: the transition instants and, for each, the UTC offset
 * that starts there. For version 2+ files the 64-bit block is read and the
 * 32-bit block skipped; the footer rule ("GMT0BST,M3.5.0/1,M10.5.0") is
 * parsed at load time and answers for every instant after the last stored
 * transition (Debian's "fat" files stop in 2037), or for all instants when
 * the file stores no transition at all. Before the first transition, time
 * type 0 applies (RFC 9636 section 3.2).
 *
 * Nothing in the file is trusted: every count is checked against the bytes
 * actually present before anything is read, transitions must strictly
 * increase, type indices must exist and offsets must lie within +-26 hours.
 * Files with leap-second records (the "right/" zones) are refused, because
 * Podium's clock is POSIX time.
 *
 * "UTC" is built in and never touches the file system. No global state, no
 * TZ variable, no localtime(3): a tz is an immutable value after tz_load, so
 * any number of zones may be used side by side. Instants are clamped to
 * +-TZ_T_LIMIT (about a billion years) so that date arithmetic cannot
 * overflow.
 */
#include "tz.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

#define TZ_FILE_MAX    (256 * 1024)       /* largest TZif file accepted */
#define TZ_NAME_MAX    128                /* longest zone name accepted */
#define TZ_OFF_MAX     (26 * 3600)        /* largest |UTC offset| accepted */
#define TZ_T_LIMIT     (INT64_C(1) << 55) /* instants are clamped to +-this */
#define TZ_DAY         INT64_C(86400)
#define TZ_HDR_LEN     44
#define TZ_DEFAULT_DIR "/usr/share/zoneinfo"

/* One end of daylight saving time in a POSIX TZ rule. */
typedef struct tz_rule_date {
    char form;    /* 'J' (Jn, 1-365, no Feb 29), 'N' (n, 0-365), 'M' (Mm.w.d) */
    int n, m, w;  /* day number (J, N) or month, week and weekday (M) */
    int32_t secs; /* local time of day of the change, -167h..167h */
} tz_rule_date;

/* The POSIX TZ footer: standard time, optionally with yearly DST. */
typedef struct tz_rule {
    int32_t std_off; /* seconds east of UTC, as in TZif (POSIX signs are inverted) */
    int32_t dst_off;
    bool has_dst;
    tz_rule_date start, end; /* start is in standard time, end in DST */
} tz_rule;

/* A loaded zone. Invariant: trans[] strictly increases, ntrans may be 0. */
struct tz {
    char *name;
    size_t ntrans;
    int64_t *trans;     /* transition instants, Unix seconds */
    int32_t *trans_off; /* offset in force from trans[i] until trans[i + 1] */
    int32_t first_off;  /* offset before trans[0] (time type 0) */
    bool has_rule;      /* footer rule present and nonempty */
    tz_rule rule;
};

/* A rule transition: the instant and the offset it starts. */
typedef struct tz_change {
    int64_t at;
    int32_t off;
} tz_change;

/* Writes a message for a person into err, if there is room for one. */
static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (err == NULL || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* Floor division of a by a positive b. */
static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && a < 0) ? q - 1 : q;
}

/* Clamps an instant into the range date arithmetic is done on. */
static int64_t clamp_t(int64_t t)
{
    return t < -TZ_T_LIMIT ? -TZ_T_LIMIT : t > TZ_T_LIMIT ? TZ_T_LIMIT : t;
}

/* True if name is acceptable as a path below the zoneinfo directory. */
static bool valid_name(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len > TZ_NAME_MAX || name[0] == '/' || name[len - 1] == '/')
        return false;
    if (strstr(name, "..") != NULL || strstr(name, "//") != NULL)
        return false;
    for (const char *p = name; *p != '\0'; p++) {
        char c = *p;
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '/' || c == '_' || c == '+' || c == '-';
        if (!ok)
            return false;
    }
    return true;
}

/* ---- POSIX TZ rule ---------------------------------------------------- */

/* Parses [+-]hh[:mm[:ss]] with hh <= max_h into seconds; advances *p. */
static bool rule_parse_hms(const char **p, int max_h, int32_t *out)
{
    const char *s = *p;
    int sign = 1;
    if (*s == '+' || *s == '-')
        sign = *s++ == '-' ? -1 : 1;
    int part[3] = {0, 0, 0};
    for (int i = 0; i < 3; i++) {
        if (i > 0) {
            if (*s != ':')
                break;
            s++;
        }
        int digits = 0, v = 0;
        while (*s >= '0' && *s <= '9' && digits < 3) {
            v = v * 10 + (*s++ - '0');
            digits++;
        }
        if (digits == 0 || (i > 0 && (digits != 2 || v > 59)))
            return false;
        part[i] = v;
    }
    if (part[0] > max_h)
        return false;
    *out = sign * (part[0] * 3600 + part[1] * 60 + part[2]);
    *p = s;
    return true;
}

/* Skips a zone abbreviation: 3+ letters, or <...> of [A-Za-z0-9+-]. */
static bool rule_skip_abbr(const char **p)
{
    const char *s = *p;
    size_t n = 0;
    if (*s == '<') {
        s++;
        while ((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
               *s == '+' || *s == '-') {
            s++;
            n++;
        }
        if (*s != '>')
            return false;
        s++;
    } else {
        while ((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z')) {
            s++;
            n++;
        }
    }
    if (n < 3)
        return false;
    *p = s;
    return true;
}

/* Parses a non-negative decimal number of at most 3 digits; advances *p. */
static bool rule_parse_num(const char **p, int *out)
{
    const char *s = *p;
    int v = 0, digits = 0;
    while (*s >= '0' && *s <= '9' && digits < 3) {
        v = v * 10 + (*s++ - '0');
        digits++;
    }
    if (digits == 0)
        return false;
    *out = v;
    *p = s;
    return true;
}

/* Parses one rule date "Jn", "n" or "Mm.w.d", with optional "/time". */
static bool rule_parse_date(const char **p, tz_rule_date *d)
{
    const char *s = *p;
    memset(d, 0, sizeof(*d));
    if (*s == 'J') {
        s++;
        d->form = 'J';
        if (!rule_parse_num(&s, &d->n) || d->n < 1 || d->n > 365)
            return false;
    } else if (*s == 'M') {
        s++;
        d->form = 'M';
        if (!rule_parse_num(&s, &d->m) || d->m < 1 || d->m > 12 || *s++ != '.' ||
            !rule_parse_num(&s, &d->w) || d->w < 1 || d->w > 5 || *s++ != '.' ||
            !rule_parse_num(&s, &d->n) || d->n > 6)
            return false;
    } else {
        d->form = 'N';
        if (!rule_parse_num(&s, &d->n) || d->n > 365)
            return false;
    }
    d->secs = 2 * 3600;
    if (*s == '/') {
        s++;
        if (!rule_parse_hms(&s, 167, &d->secs)) /* RFC 8536 version 3 range */
            return false;
    }
    *p = s;
    return true;
}

/* Parses a whole POSIX TZ string into r; false if malformed. */
static bool rule_parse(const char *s, tz_rule *r)
{
    int32_t v = 0;
    memset(r, 0, sizeof(*r));
    if (!rule_skip_abbr(&s) || !rule_parse_hms(&s, 24, &v))
        return false;
    r->std_off = -v;
    r->dst_off = r->std_off;
    if (*s == '\0')
        return true;
    if (!rule_skip_abbr(&s))
        return false;
    r->has_dst = true;
    r->dst_off = r->std_off + 3600;
    if (*s != ',' && *s != '\0') {
        if (!rule_parse_hms(&s, 24, &v))
            return false;
        r->dst_off = -v;
    }
    /* A footer with DST must say when; there is no "posixrules" default here. */
    if (*s++ != ',' || !rule_parse_date(&s, &r->start) || *s++ != ',' ||
        !rule_parse_date(&s, &r->end) || *s != '\0')
        return false;
    return true;
}

/* Local seconds (wall clock counted as UTC) at which date d happens in year y. */
static int64_t rule_local(const tz_rule_date *d, int64_t y)
{
    int64_t jan1 = util_days_from_civil(y, 1, 1);
    int64_t day;
    if (d->form == 'J') {
        bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        day = jan1 + d->n - 1 + (leap && d->n >= 60 ? 1 : 0);
    } else if (d->form == 'N') {
        day = jan1 + d->n;
    } else {
        int64_t first = util_days_from_civil(y, d->m, 1);
        int64_t next =
            d->m == 12 ? util_days_from_civil(y + 1, 1, 1) : util_days_from_civil(y, d->m + 1, 1);
        int64_t wd_first = ((first + 4) % 7 + 7) % 7; /* 1970-01-01 was a Thursday; 0 = Sunday */
        day = first + (d->n - wd_first + 7) % 7 + 7 * (d->w - 1);
        while (day >= next)
            day -= 7;
    }
    return day * TZ_DAY + d->secs;
}

/* Fills out[0..5] with the rule's changes in years y-1..y+1, in the order
 * they take effect (by instant, and within a tie by year and rule order). */
static void rule_changes(const tz_rule *r, int64_t y, tz_change out[6])
{
    for (int i = 0; i < 3; i++) {
        tz_change a = {rule_local(&r->start, y - 1 + i) - r->std_off, r->dst_off};
        tz_change b = {rule_local(&r->end, y - 1 + i) - r->dst_off, r->std_off};
        if (b.at < a.at) { /* southern hemisphere: DST ends first in the year */
            tz_change tmp = a;
            a = b;
            b = tmp;
        }
        out[2 * i] = a;
        out[2 * i + 1] = b;
    }
    /* Stable insertion sort: adjacent years can overlap with extreme times. */
    for (int i = 1; i < 6; i++)
        for (int j = i; j > 0 && out[j].at < out[j - 1].at; j--) {
            tz_change tmp = out[j];
            out[j] = out[j - 1];
            out[j - 1] = tmp;
        }
}

/* The year in which instant t falls in the rule's standard time. */
static int64_t rule_year(const tz_rule *r, int64_t t)
{
    int64_t y;
    int m, d;
    util_civil_from_days(floor_div(t + r->std_off, TZ_DAY), &y, &m, &d);
    return y;
}

/* Offset the rule gives at instant t. */
static int32_t rule_offset(const tz_rule *r, int64_t t)
{
    if (!r->has_dst)
        return r->std_off;
    tz_change c[6];
    rule_changes(r, rule_year(r, t), c);
    int32_t off = r->std_off;
    for (int i = 0; i < 6 && c[i].at <= t; i++)
        off = c[i].off;
    return off;
}

/* First rule change strictly after t; false if the rule has no DST. */
static bool rule_next(const tz_rule *r, int64_t t, int64_t *when)
{
    if (!r->has_dst)
        return false;
    int64_t y = rule_year(r, t);
    for (int k = 0; k < 2; k++) {
        tz_change c[6];
        rule_changes(r, y + 2 * k, c);
        for (int i = 0; i < 6; i++)
            if (c[i].at > t) {
                *when = c[i].at;
                return true;
            }
    }
    return false;
}

/* ---- TZif parsing ----------------------------------------------------- */

/* Reads a big-endian unsigned 32-bit integer. */
static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Reads a big-endian signed 64-bit integer. */
static int64_t be64(const unsigned char *p)
{
    uint64_t v = (uint64_t)be32(p) << 32 | be32(p + 4);
    return (int64_t)v;
}

/* The six counts of a TZif header. */
typedef struct tzif_counts {
    uint32_t isut, isstd, leap, time, type, chr;
} tzif_counts;

/* Checks the header at p (len bytes left) and computes its data block size
 * for time fields of tsize bytes; false with a message if it is invalid. */
static bool tzif_header(const unsigned char *p, size_t len, size_t tsize, tzif_counts *c,
                        size_t *block, char *err, size_t errlen)
{
    if (len < TZ_HDR_LEN || memcmp(p, "TZif", 4) != 0) {
        set_err(err, errlen, "not a TZif file");
        return false;
    }
    c->isut = be32(p + 20);
    c->isstd = be32(p + 24);
    c->leap = be32(p + 28);
    c->time = be32(p + 32);
    c->type = be32(p + 36);
    c->chr = be32(p + 40);
    if (c->type == 0 || c->type > 256 || c->chr == 0 || (c->isut != 0 && c->isut != c->type) ||
        (c->isstd != 0 && c->isstd != c->type)) {
        set_err(err, errlen, "TZif header has inconsistent counts");
        return false;
    }
    /* Every count is below 2^32, so this sum cannot overflow 64 bits. */
    uint64_t need = (uint64_t)c->time * (tsize + 1) + (uint64_t)c->type * 6 + c->chr +
                    (uint64_t)c->leap * (tsize + 4) + c->isstd + c->isut;
    if (need > len - TZ_HDR_LEN) {
        set_err(err, errlen, "TZif file is truncated or its counts are too large");
        return false;
    }
    *block = (size_t)need;
    return true;
}

/* Fills z from the data block at p described by c with tsize-byte times. */
static bool tzif_data(tz *z, const unsigned char *p, const tzif_counts *c, size_t tsize, char *err,
                      size_t errlen)
{
    if (c->leap != 0) {
        set_err(err, errlen, "zone files with leap seconds are not supported");
        return false;
    }
    const unsigned char *times = p;
    const unsigned char *idx = times + (size_t)c->time * tsize;
    const unsigned char *types = idx + c->time;
    int32_t offs[256];
    for (uint32_t i = 0; i < c->type; i++) {
        const unsigned char *tt = types + 6 * (size_t)i;
        int32_t off = (int32_t)be32(tt);
        if (off < -TZ_OFF_MAX || off > TZ_OFF_MAX || tt[4] > 1 || tt[5] >= c->chr) {
            set_err(err, errlen, "TZif local time type %u is invalid", (unsigned)i);
            return false;
        }
        offs[i] = off;
    }
    z->first_off = offs[0];
    z->ntrans = c->time;
    if (c->time == 0)
        return true;
    z->trans = calloc(c->time, sizeof(*z->trans));
    z->trans_off = calloc(c->time, sizeof(*z->trans_off));
    if (z->trans == NULL || z->trans_off == NULL) {
        set_err(err, errlen, "out of memory");
        return false;
    }
    for (uint32_t i = 0; i < c->time; i++) {
        const unsigned char *tp = times + (size_t)i * tsize;
        int64_t t = tsize == 8 ? be64(tp) : (int64_t)(int32_t)be32(tp);
        if ((i > 0 && t <= z->trans[i - 1]) || idx[i] >= c->type) {
            set_err(err, errlen, "TZif transition %u is out of order or has a bad type",
                    (unsigned)i);
            return false;
        }
        z->trans[i] = t;
        z->trans_off[i] = offs[idx[i]];
    }
    return true;
}

/* Parses a whole TZif image into z; false with a message if invalid. */
static bool tzif_parse(tz *z, const unsigned char *buf, size_t len, char *err, size_t errlen)
{
    tzif_counts c;
    size_t block = 0;
    if (!tzif_header(buf, len, 4, &c, &block, err, errlen))
        return false;
    char version = (char)buf[4];
    if (version != '\0' && (version < '2' || version > '4')) {
        set_err(err, errlen, "unsupported TZif version 0x%02x", (unsigned char)version);
        return false;
    }
    if (version == '\0')
        return tzif_data(z, buf + TZ_HDR_LEN, &c, 4, err, errlen);

    /* Version 2+: skip the 32-bit block; the second header and data follow. */
    const unsigned char *p = buf + TZ_HDR_LEN + block;
    size_t left = len - TZ_HDR_LEN - block;
    if (!tzif_header(p, left, 8, &c, &block, err, errlen))
        return false;
    if (!tzif_data(z, p + TZ_HDR_LEN, &c, 8, err, errlen))
        return false;

    /* Footer: "\n" TZ-string "\n". */
    const char *f = (const char *)p + TZ_HDR_LEN + block;
    left -= TZ_HDR_LEN + block;
    const char *nl = left > 1 && f[0] == '\n' ? memchr(f + 1, '\n', left - 1) : NULL;
    if (nl == NULL) {
        set_err(err, errlen, "TZif footer is missing");
        return false;
    }
    size_t flen = (size_t)(nl - f - 1);
    if (flen == 0)
        return true;
    char footer[256];
    if (flen >= sizeof(footer) || memchr(f + 1, '\0', flen) != NULL) {
        set_err(err, errlen, "TZif footer is malformed");
        return false;
    }
    memcpy(footer, f + 1, flen);
    footer[flen] = '\0';
    if (!rule_parse(footer, &z->rule) || z->rule.std_off < -TZ_OFF_MAX ||
        z->rule.std_off > TZ_OFF_MAX || z->rule.dst_off < -TZ_OFF_MAX ||
        z->rule.dst_off > TZ_OFF_MAX) {
        set_err(err, errlen, "TZif footer rule \"%s\" is not understood", footer);
        return false;
    }
    z->has_rule = true;
    return true;
}

/* Reads the regular file at path into a new buffer of at most TZ_FILE_MAX
 * bytes; the caller frees *buf. */
static bool read_file(const char *path, unsigned char **buf, size_t *len, char *err, size_t errlen)
{
    bool ok = false;
    unsigned char *data = NULL;
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        set_err(err, errlen, "%s",
                errno == ENOENT || errno == ENOTDIR ? "unknown time zone" : strerror(errno));
        goto out;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        set_err(err, errlen, "not a time zone file");
        goto out;
    }
    if (st.st_size > TZ_FILE_MAX) {
        set_err(err, errlen, "time zone file is larger than %d bytes", TZ_FILE_MAX);
        goto out;
    }
    data = malloc((size_t)st.st_size + 1);
    if (data == NULL) {
        set_err(err, errlen, "out of memory");
        goto out;
    }
    size_t got = 0;
    while (got <= (size_t)st.st_size) { /* one byte more, to notice a growing file */
        ssize_t n = read(fd, data + got, (size_t)st.st_size + 1 - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            set_err(err, errlen, "reading time zone file: %s", strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    if (got > (size_t)st.st_size) {
        set_err(err, errlen, "time zone file changed while being read");
        goto out;
    }
    *buf = data;
    *len = got;
    data = NULL;
    ok = true;
out:
    free(data);
    if (fd >= 0)
        close(fd);
    return ok;
}

/* ---- public ----------------------------------------------------------- */

tz *tz_load(const char *name, char *err, size_t errlen)
{
    tz *z = NULL;
    unsigned char *buf = NULL;
    size_t len = 0;
    char path[4096];
    char why[200] = "";

    if (name == NULL || !valid_name(name)) {
        set_err(err, errlen, "invalid time zone name \"%s\"", name ? name : "(null)");
        return NULL;
    }
    z = calloc(1, sizeof(*z));
    if (z == NULL || (z->name = strdup(name)) == NULL) {
        set_err(err, errlen, "out of memory");
        goto fail;
    }
    if (strcmp(name, "UTC") == 0)
        return z; /* built in: no transitions, offset 0 */

    const char *dir = getenv("PODIUM_ZONEINFO");
    if (dir == NULL || dir[0] == '\0')
        dir = TZ_DEFAULT_DIR;
    int n = snprintf(path, sizeof(path), "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= sizeof(path)) {
        set_err(err, errlen, "time zone path for \"%s\" is too long", name);
        goto fail;
    }
    if (!read_file(path, &buf, &len, why, sizeof(why)) ||
        !tzif_parse(z, buf, len, why, sizeof(why))) {
        set_err(err, errlen, "time zone \"%s\": %s", name, why);
        goto fail;
    }
    free(buf);
    return z;
fail:
    free(buf);
    tz_free(z);
    return NULL;
}

void tz_free(tz *z)
{
    if (z == NULL)
        return;
    free(z->name);
    free(z->trans);
    free(z->trans_off);
    free(z);
}

const char *tz_name(const tz *z)
{
    return z->name;
}

/* Largest i with trans[i] <= t, for trans[0] <= t (binary search). */
static size_t trans_index(const tz *z, int64_t t)
{
    size_t lo = 0, hi = z->ntrans; /* trans[lo] <= t < trans[hi], trans[ntrans] = +inf */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (z->trans[mid] <= t)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

int32_t tz_offset(const tz *z, int64_t t)
{
    t = clamp_t(t);
    if (z->ntrans == 0)
        return z->has_rule ? rule_offset(&z->rule, t) : z->first_off;
    if (t < z->trans[0])
        return z->first_off;
    if (t > z->trans[z->ntrans - 1] && z->has_rule)
        return rule_offset(&z->rule, t);
    return z->trans_off[trans_index(z, t)];
}

/* First instant after t at which the zone may change offset; false if none. */
static bool tz_next_change(const tz *z, int64_t t, int64_t *when)
{
    if (z->ntrans == 0 || t >= z->trans[z->ntrans - 1])
        return z->has_rule && rule_next(&z->rule, t, when);
    if (t < z->trans[0]) {
        *when = z->trans[0];
        return true;
    }
    *when = z->trans[trans_index(z, t) + 1]; /* t < trans[ntrans - 1] here */
    return true;
}

/*
 * The zone's history near `local` is a run of segments [T_i, T_i+1), each
 * with one offset o_i. Walking them in time order from two days before,
 * the first segment whose instant local - o_i lies inside it is the answer;
 * taking the first makes an overlap resolve to the earlier instant. If
 * local falls after one segment's end and before the next one's start in
 * their own offsets, it lies in a gap, and the answer is the boundary T.
 * Offsets are within 26 hours, so the walk ends within a few segments.
 */
int64_t tz_local_to_utc(const tz *z, int64_t local)
{
    local = clamp_t(local);
    int64_t seg = local - 2 * TZ_DAY;
    int32_t off = tz_offset(z, seg);
    for (int guard = 0; guard < 64; guard++) {
        int64_t cand = local - off;
        int64_t next = 0;
        if (!tz_next_change(z, seg, &next) || cand < next)
            return cand;
        int32_t next_off = tz_offset(z, next);
        if (local - next_off < next)
            return next; /* in the gap before `next` */
        seg = next;
        off = next_off;
    }
    return local - off; /* unreachable with sane data */
}
