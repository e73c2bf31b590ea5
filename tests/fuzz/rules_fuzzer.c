/*
 * rules_fuzzer.c - libFuzzer target for rules.c: rule set documents.
 *
 * Each input goes to rules_parse. Beyond crashes, leaks and sanitizer
 * reports, the target checks rules.h's contract and aborts when it breaks:
 * a good parse has no errors and compiled rules that keep the invariants in
 * rules.c's header; a failed one has at least one error. Every error has a
 * JSON Pointer ("" or starting with '/') and a non-empty message in valid
 * UTF-8, since the HTTP layer sends both as JSON strings. The input is not
 * NUL-terminated, so any read past `size` is caught by ASan.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rules.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* True if s is valid UTF-8. */
static int valid_utf8(const unsigned char *s)
{
    while (*s) {
        size_t n = *s < 0x80         ? 1
                   : (*s >> 5) == 6  ? 2
                   : (*s >> 4) == 14 ? 3
                   : (*s >> 3) == 30 ? 4
                                     : 0;
        if (n == 0)
            return 0;
        for (size_t i = 1; i < n; i++)
            if ((s[i] & 0xC0) != 0x80)
                return 0;
        s += n;
    }
    return 1;
}

/* Aborts unless every error is well formed. */
static void check_errors(const errlist *e)
{
    for (size_t i = 0; i < e->n; i++) {
        const char *p = e->items[i].pointer, *m = e->items[i].message;
        if ((p[0] != '\0' && p[0] != '/') || m[0] == '\0' ||
            !valid_utf8((const unsigned char *)p) || !valid_utf8((const unsigned char *)m))
            abort();
    }
}

/* Aborts unless a list of ids is NULL/0 or 1..n unique valid ids. */
static void check_ids(char **v, size_t n)
{
    if ((v == NULL) != (n == 0))
        abort();
    for (size_t i = 0; i < n; i++) {
        if (!util_valid_id(v[i]))
            abort();
        for (size_t j = 0; j < i; j++)
            if (strcmp(v[i], v[j]) == 0)
                abort();
    }
}

/* Aborts unless compiled rules keep the invariants of rules.c. */
static void check_rules(const rules *r, const uint8_t *data, size_t size)
{
    if (r->n_activities < 1 || r->n_activities > RULES_MAX_ACTIVITIES || r->n_challenges < 1 ||
        r->n_challenges > RULES_MAX_CHALLENGES)
        abort();
    if (memcmp(r->source, data, size) != 0 || r->source[size] != '\0')
        abort();
    for (size_t i = 0; i < r->n_activities; i++) {
        const rules_activity *a = &r->activities[i];
        if (!util_valid_id(a->id) || rules_activity_index(r, a->id) != (int)i ||
            !(a->points >= -10000 && a->points <= 10000) || a->daily_cap < 0 ||
            a->daily_cap > 10000 || a->cooldown < 0 || a->cooldown > 7 * 86400)
            abort();
        int64_t p = rules_points(r, i, r->n_channel ? r->channel[0].name : NULL,
                                 r->n_stakeholder ? r->stakeholder[0].name : NULL);
        if (p < -100000000 || p > 100000000)
            abort();
    }
    for (size_t i = 0; i < r->n_channel; i++)
        if (!util_valid_id(r->channel[i].name) || !(r->channel[i].factor > 0) ||
            r->channel[i].factor > 100)
            abort();
    for (size_t i = 0; i < r->n_stakeholder; i++)
        if (!util_valid_id(r->stakeholder[i].name) || !(r->stakeholder[i].factor > 0) ||
            r->stakeholder[i].factor > 100)
            abort();
    for (size_t i = 0; i < r->n_campaigns; i++)
        if (r->campaigns[i].name == NULL || r->campaigns[i].starts >= r->campaigns[i].ends)
            abort();
    for (size_t i = 0; i < r->n_challenges; i++) {
        const rules_challenge *ch = &r->challenges[i];
        if (!util_valid_id(ch->id) || rules_challenge_index(r, ch->id) != (int)i ||
            ch->name == NULL || ch->zone == NULL || ch->period.zone != ch->zone ||
            ch->period.week_start < 0 || ch->period.week_start > 6 || ch->grace < 0 ||
            ch->grace > 7 * 86400)
            abort();
        if (ch->period.kind == PERIOD_FIXED && ch->period.fixed_start >= ch->period.fixed_end)
            abort();
        size_t counted = 0;
        for (size_t k = 0; k < RULES_MAX_ACTIVITIES; k++) {
            if (ch->counts[k] && k >= r->n_activities)
                abort();
            counted += ch->counts[k];
        }
        if (counted == 0)
            abort();
        for (size_t g = 0; g < ch->n_goals; g++)
            if (ch->goals[g].id == NULL || ch->goals[g].activity >= r->n_activities ||
                !ch->counts[ch->goals[g].activity] || ch->goals[g].count < 1)
                abort();
        check_ids(ch->teams, ch->n_teams);
        check_ids(ch->leaders, ch->n_leaders);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    errlist e = {0};
    rules *r = rules_parse((const char *)data, size, &e);
    if (r == NULL) {
        if (e.n == 0)
            abort();
    } else {
        if (e.n != 0)
            abort();
        check_rules(r, data, size);
    }
    check_errors(&e);
    rules_free(r);
    errlist_clear(&e);
    return 0;
}
