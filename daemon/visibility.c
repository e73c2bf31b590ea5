/*
 * visibility.c - moving a leader between boards and hidden twins (see
 * visibility.h): a key walk (scanwalk.c) over the boards or the twins, one
 * visibility.lua call per key.
 */
#include "visibility.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boards.h"
#include "event.h"
#include "keys.h"
#include "log.h"
#include "scanwalk.h"
#include "store.h"

typedef struct job {
    store *st;
    boards *bc;
    char org[EVENT_NAME_MAX + 1];
    char leader[EVENT_NAME_MAX + 1];
    bool hide;
    scanwalk *w;
    int changed;
    char name[2 * EVENT_NAME_MAX + 2]; /* "challenge:period" of the call in flight */
    visibility_done_fn *done;
    void *arg;
} job;

/* The walk is over. */
static void on_walked(void *arg, const char *error)
{
    job *j = arg;
    if (error)
        log_err("visibility of %s: %s", j->leader, error);
    j->done(j->arg, error, j->changed);
    free(j);
}

/* visibility.lua's answer: the board's new version, or 0. */
static void on_moved(void *arg, const store_reply *r)
{
    job *j = arg;
    if (r == NULL || store_reply_is_error(r)) {
        scanwalk_fail(j->w, "moving a standing failed");
        return;
    }
    int64_t version = store_reply_int(r);
    if (version > 0) {
        j->changed++;
        boards_note_version(j->bc, j->org, j->name, version);
    }
    scanwalk_next(j->w);
}

/* One board (to hide) or hidden twin (to show): move the leader. */
static void on_key(void *arg, scanwalk *w, const char *key, const char *value)
{
    job *j = arg;
    char ch[EVENT_NAME_MAX + 1], per[PERIOD_ID_MAX + 1];
    (void)value;
    j->w = w;
    if (!keys_split_board(key, ch, sizeof(ch), per, sizeof(per))) {
        scanwalk_next(w);
        return;
    }
    char board[KEYS_MAX], hboard[KEYS_MAX], tboard[KEYS_MAX], tcount[KEYS_MAX], bver[KEYS_MAX],
        leaders[KEYS_MAX];
    keys_board(board, j->org, ch, per);
    keys_team_board(hboard, j->org, "hboard", ch, per);
    keys_team_board(tboard, j->org, "tboard", ch, per);
    keys_team_board(tcount, j->org, "tcount", ch, per);
    keys_org(bver, j->org, "bver");
    keys_org(leaders, j->org, "leaders");
    snprintf(j->name, sizeof(j->name), "%s:%s", ch, per);
    const char *argv[] = {j->hide ? board : hboard,
                          j->hide ? hboard : board,
                          tboard,
                          tcount,
                          bver,
                          leaders,
                          j->leader,
                          j->name,
                          j->hide ? "hide" : "show"};
    size_t lens[9];
    for (int i = 0; i < 9; i++)
        lens[i] = strlen(argv[i]);
    if (store_script(j->st, STORE_SCRIPT_VISIBILITY, 6, 9, argv, lens, on_moved, j) < 0)
        scanwalk_fail(w, "Redis went away");
}

int visibility_set(store *st, boards *bc, const char *org, const char *leader, bool hidden,
                   visibility_done_fn *done, void *arg)
{
    job *j = calloc(1, sizeof(*j));
    if (j == NULL)
        abort();
    j->st = st;
    j->bc = bc;
    snprintf(j->org, sizeof(j->org), "%s", org);
    snprintf(j->leader, sizeof(j->leader), "%s", leader);
    j->hide = hidden;
    j->done = done;
    j->arg = arg;
    char pattern[KEYS_MAX];
    keys_org(pattern, org, hidden ? "board:*" : "hboard:*");
    if (scanwalk_keys(st, pattern, on_key, on_walked, j) < 0) {
        free(j);
        return -1;
    }
    return 0;
}
