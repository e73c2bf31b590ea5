/*
 * errlist.h - a list of input errors, each a JSON Pointer and a message.
 *
 * Validators append every problem they find instead of stopping at the
 * first, so that a person fixing a rules file or a batch sees all of them.
 * The HTTP layer turns the list into the "errors" member of problem+json.
 */
#ifndef PODIUM_ERRLIST_H
#define PODIUM_ERRLIST_H

#include <stddef.h>

typedef struct errlist_item {
    char *pointer; /* RFC 6901 JSON Pointer, "" for the whole document */
    char *message; /* for a person: what is wrong and what is expected */
} errlist_item;

typedef struct errlist {
    errlist_item *items;
    size_t n, cap;
} errlist;

#define ERRLIST_MAX 100 /* further errors are counted, not kept */

/* Appends an error; the pointer and formatted message are copied. */
void errlist_add(errlist *e, const char *pointer, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Frees the items and empties the list; the list itself may be reused. */
void errlist_clear(errlist *e);

#endif
