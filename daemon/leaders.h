/*
 * leaders.h - a leader's page (GET /v1/leaders/{id}), for every front end.
 */
#ifndef PODIUM_LEADERS_H
#define PODIUM_LEADERS_H

#include <stdbool.h>
#include <stddef.h>

#include "app.h"
#include "rules.h"

/* Called once: status 200 with the page's JSON (valid during the call),
 * 404 when there is no such leader, 503 when Redis could not be asked. */
typedef void leaders_cb(void *arg, int status, const char *json, size_t len);

/* Reads leader `id` of org, whose rules in force are r (held meanwhile;
 * NULL answers 503); `admin` adds the adjustments' private fields. May
 * call cb before returning. */
void leaders_read(app *a, const char *org, const rules *r, const char *id, bool admin,
                  leaders_cb *cb, void *arg);

#endif
