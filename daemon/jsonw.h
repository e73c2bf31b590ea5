/*
 * jsonw.h - small helpers for writing JSON into an evbuffer.
 *
 * Hot paths (event answers, board pages) write JSON directly instead of
 * building jansson trees; these keep the escaping in one place.
 */
#ifndef PODIUM_JSONW_H
#define PODIUM_JSONW_H

struct evbuffer;

/* Appends s as a JSON string literal, quoted and escaped. s must be UTF-8. */
void jsonw_str(struct evbuffer *b, const char *s);
/* Appends s as a JSON string literal, or null when s is NULL. */
void jsonw_str_or_null(struct evbuffer *b, const char *s);

#endif
