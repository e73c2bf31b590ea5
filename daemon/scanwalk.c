/*
 * scanwalk.c - SCAN and HSCAN walks, one page and one item at a time (see
 * scanwalk.h). A page's items are copied, since a reply lives only during
 * its callback while the caller may take several callbacks per item.
 */
#include "scanwalk.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"
#include "store.h"

struct scanwalk {
    store *st;
    char key[KEYS_MAX]; /* "" for SCAN, the hash for HSCAN */
    char pattern[KEYS_MAX];
    char cursor[32];
    char **items; /* key, or field then value, per item */
    size_t n, next, per;
    scanwalk_item_fn *item;
    scanwalk_done_fn *done;
    void *arg;
};

/* Frees the current page. */
static void drop_page(scanwalk *w)
{
    for (size_t i = 0; i < w->n; i++)
        free(w->items[i]);
    free(w->items);
    w->items = NULL;
    w->n = w->next = 0;
}

/* Ends the walk. */
static void finish(scanwalk *w, const char *error)
{
    scanwalk_done_fn *done = w->done;
    void *arg = w->arg;
    drop_page(w);
    free(w);
    done(arg, error);
}

void scanwalk_fail(scanwalk *w, const char *error)
{
    finish(w, error);
}

static void ask(scanwalk *w);

void scanwalk_next(scanwalk *w)
{
    if (w->next < w->n) {
        size_t i = w->next;
        w->next += w->per;
        w->item(w->arg, w, w->items[i], w->per == 2 ? w->items[i + 1] : NULL);
        return;
    }
    drop_page(w);
    if (strcmp(w->cursor, "0") == 0)
        finish(w, NULL);
    else
        ask(w);
}

/* A page: copy its items, then hand out the first. */
static void on_page(void *arg, const store_reply *r)
{
    scanwalk *w = arg;
    const char *cursor = store_reply_str(store_reply_at(r, 0), NULL);
    const store_reply *items = store_reply_at(r, 1);
    if (r == NULL || store_reply_is_error(r) || cursor == NULL) {
        finish(w, "a SCAN failed");
        return;
    }
    snprintf(w->cursor, sizeof(w->cursor), "%s", cursor);
    w->n = store_reply_len(items) / w->per * w->per;
    w->items = calloc(w->n + 1, sizeof(char *));
    if (w->items == NULL)
        abort();
    for (size_t i = 0; i < w->n; i++) {
        const char *s = store_reply_str(store_reply_at(items, i), NULL);
        w->items[i] = strdup(s ? s : "");
        if (w->items[i] == NULL)
            abort();
    }
    scanwalk_next(w);
}

/* Asks for the next page. */
static void ask(scanwalk *w)
{
    const char *argv[7];
    size_t lens[7];
    int argc = 0;
    argv[argc++] = w->key[0] ? "HSCAN" : "SCAN";
    if (w->key[0])
        argv[argc++] = w->key;
    argv[argc++] = w->cursor;
    argv[argc++] = "MATCH";
    argv[argc++] = w->pattern;
    argv[argc++] = "COUNT";
    argv[argc++] = "200";
    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    if (store_command(w->st, on_page, w, argc, argv, lens) < 0)
        finish(w, "Redis went away");
}

/* Starts a walk. */
static int start(store *st, const char *key, const char *pattern, scanwalk_item_fn *item,
                 scanwalk_done_fn *done, void *arg)
{
    if (!store_ready(st))
        return -1;
    scanwalk *w = calloc(1, sizeof(*w));
    if (w == NULL)
        abort();
    w->st = st;
    snprintf(w->key, sizeof(w->key), "%s", key);
    snprintf(w->pattern, sizeof(w->pattern), "%s", pattern);
    snprintf(w->cursor, sizeof(w->cursor), "0");
    w->per = key[0] ? 2 : 1;
    w->item = item;
    w->done = done;
    w->arg = arg;
    ask(w);
    return 0;
}

int scanwalk_keys(store *st, const char *pattern, scanwalk_item_fn *item, scanwalk_done_fn *done,
                  void *arg)
{
    return start(st, "", pattern, item, done, arg);
}

int scanwalk_fields(store *st, const char *key, const char *pattern, scanwalk_item_fn *item,
                    scanwalk_done_fn *done, void *arg)
{
    return start(st, key, pattern, item, done, arg);
}
