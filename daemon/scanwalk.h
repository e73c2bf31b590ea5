/*
 * scanwalk.h - visiting every key (SCAN) or hash field (HSCAN) that
 * matches a pattern, one at a time, without blocking Redis.
 *
 * The walker asks for a page (COUNT 200), hands its items to the caller one
 * by one, and asks for the next page when the caller has finished with the
 * last item (scanwalk_next). Items may be handed out twice, as SCAN may
 * return a key twice: what callers do per item must be idempotent.
 */
#ifndef PODIUM_SCANWALK_H
#define PODIUM_SCANWALK_H

struct store;
typedef struct scanwalk scanwalk;

/* One item: a key (value NULL) or a hash field and its value. The callee
 * calls scanwalk_next(w) once done with it, now or from a later callback. */
typedef void scanwalk_item_fn(void *arg, scanwalk *w, const char *item, const char *value);
/* The walk is over: error NULL when every item was visited. */
typedef void scanwalk_done_fn(void *arg, const char *error);

/* Walks the keys matching pattern. Returns -1 when the store is not ready. */
int scanwalk_keys(struct store *st, const char *pattern, scanwalk_item_fn *item,
                  scanwalk_done_fn *done, void *arg);
/* Walks the fields of hash `key` matching pattern. */
int scanwalk_fields(struct store *st, const char *key, const char *pattern, scanwalk_item_fn *item,
                    scanwalk_done_fn *done, void *arg);
/* Goes on with the next item. */
void scanwalk_next(scanwalk *w);
/* Ends the walk with an error (done is called, the walker freed). */
void scanwalk_fail(scanwalk *w, const char *error);

#endif
