/*
 * visibility.c - moving a leader between boards and hidden twins (see
 * visibility.h). A job alternates SCAN steps and visibility.lua calls, one
 * command in flight at a time; the keys a SCAN step returns are queued.
 */
#include "visibility.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boards.h"
#include "event.h"
#include "keys.h"
#include "log.h"
#include "store.h"

typedef struct job {
    store *st;
    boards *bc;
    char org[EVENT_NAME_MAX + 1];
    char leader[EVENT_NAME_MAX + 1];
    bool hide;
    char cursor[32];
    char **queue; /* board keys (source side) still to move */
    size_t n, next;
    int changed;
    char name[2 * EVENT_NAME_MAX + 2]; /* "challenge:period" of the call in flight */
    visibility_done_fn *done;
    void *arg;
} job;

static void scan(job *j);

/* Frees the queue's keys from index `from` on. */
static void drop_queue(job *j)
{
    for (size_t i = 0; i < j->n; i++)
        free(j->queue[i]);
    free(j->queue);
    j->queue = NULL;
    j->n = j->next = 0;
}

/* Ends the job. */
static void finish(job *j, const char *error)
{
    if (error)
        log_err("visibility of %s: %s", j->leader, error);
    j->done(j->arg, error, j->changed);
    drop_queue(j);
    free(j);
}

static void on_moved(void *arg, const store_reply *r);

/* Moves the leader on the next queued board, or scans on. */
static void move_next(job *j)
{
    if (j->next == j->n) {
        drop_queue(j);
        if (strcmp(j->cursor, "0") == 0)
            finish(j, NULL);
        else
            scan(j);
        return;
    }
    const char *src = j->queue[j->next++];
    /* src is "podium:{org}:<board|hboard>:<ch>:<per>" */
    const char *kind = strstr(src, "}:");
    const char *rest = kind ? strchr(kind + 2, ':') : NULL;
    const char *colon = rest ? strrchr(rest + 1, ':') : NULL;
    if (rest == NULL || colon == NULL) {
        move_next(j);
        return;
    }
    char ch[EVENT_NAME_MAX + 1], per[PERIOD_ID_MAX + 1];
    snprintf(ch, sizeof(ch), "%.*s", (int)(colon - rest - 1), rest + 1);
    snprintf(per, sizeof(per), "%s", colon + 1);
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
        finish(j, "Redis went away");
}

static void on_moved(void *arg, const store_reply *r)
{
    job *j = arg;
    if (r == NULL || store_reply_is_error(r)) {
        finish(j, "moving a standing failed");
        return;
    }
    int64_t version = store_reply_int(r);
    if (version > 0) {
        j->changed++;
        boards_note_version(j->bc, j->name, version);
    }
    move_next(j);
}

/* SCAN reply: queue the keys, move on them. */
static void on_scan(void *arg, const store_reply *r)
{
    job *j = arg;
    const char *cursor = store_reply_str(store_reply_at(r, 0), NULL);
    const store_reply *keys = store_reply_at(r, 1);
    if (r == NULL || store_reply_is_error(r) || cursor == NULL) {
        finish(j, "scanning the boards failed");
        return;
    }
    snprintf(j->cursor, sizeof(j->cursor), "%s", cursor);
    j->n = store_reply_len(keys);
    j->queue = calloc(j->n + 1, sizeof(char *));
    if (j->queue == NULL)
        abort();
    for (size_t i = 0; i < j->n; i++) {
        const char *k = store_reply_str(store_reply_at(keys, i), NULL);
        j->queue[i] = strdup(k ? k : "");
        if (j->queue[i] == NULL)
            abort();
    }
    move_next(j);
}

/* One SCAN step over the boards (to hide) or their twins (to show). */
static void scan(job *j)
{
    char pattern[KEYS_MAX];
    keys_org(pattern, j->org, j->hide ? "board:*" : "hboard:*");
    const char *argv[] = {"SCAN", j->cursor, "MATCH", pattern, "COUNT", "200"};
    size_t lens[6];
    for (int i = 0; i < 6; i++)
        lens[i] = strlen(argv[i]);
    if (store_command(j->st, on_scan, j, 6, argv, lens) < 0)
        finish(j, "Redis went away");
}

int visibility_set(store *st, boards *bc, const char *org, const char *leader, bool hidden,
                   visibility_done_fn *done, void *arg)
{
    if (!store_ready(st))
        return -1;
    job *j = calloc(1, sizeof(*j));
    if (j == NULL)
        abort();
    j->st = st;
    j->bc = bc;
    snprintf(j->org, sizeof(j->org), "%s", org);
    snprintf(j->leader, sizeof(j->leader), "%s", leader);
    j->hide = hidden;
    snprintf(j->cursor, sizeof(j->cursor), "0");
    j->done = done;
    j->arg = arg;
    scan(j);
    return 0;
}
