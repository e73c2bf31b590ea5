/*
 * errlist.c - growable list of (JSON Pointer, message) input errors.
 *
 * Allocation failure aborts: the daemon cannot do anything useful then.
 */
#include "errlist.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void errlist_add(errlist *e, const char *pointer, const char *fmt, ...)
{
    if (e->n >= ERRLIST_MAX)
        return;
    if (e->n == e->cap) {
        e->cap = e->cap ? e->cap * 2 : 8;
        e->items = realloc(e->items, e->cap * sizeof(*e->items));
        if (e->items == NULL)
            abort();
    }
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    e->items[e->n].pointer = strdup(pointer ? pointer : "");
    e->items[e->n].message = strdup(msg);
    if (e->items[e->n].pointer == NULL || e->items[e->n].message == NULL)
        abort();
    e->n++;
}

void errlist_clear(errlist *e)
{
    for (size_t i = 0; i < e->n; i++) {
        free(e->items[i].pointer);
        free(e->items[i].message);
    }
    free(e->items);
    e->items = NULL;
    e->n = e->cap = 0;
}
