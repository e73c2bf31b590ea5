/*
 * ctl_out.h - podiumctl's output for people: aligned tables, colour only on
 * a terminal (and never with NO_COLOR set or --no-color).
 *
 * A table is filled row by row with cells (copied), then printed once, so
 * that every column is as wide as its widest cell; one without rows prints
 * "(none)". Widths count characters
 * (UTF-8 code points), not bytes, so names with accents line up.
 */
#ifndef PODIUMCTL_OUT_H
#define PODIUMCTL_OUT_H

#include <stdbool.h>
#include <stdio.h>

typedef enum { CTL_LEFT, CTL_RIGHT } ctl_align;
typedef enum { CTL_PLAIN, CTL_BOLD, CTL_DIM, CTL_GREEN, CTL_RED, CTL_YELLOW } ctl_style;

typedef struct ctl_table ctl_table;

/* Sets whether styles are printed (terminal, NO_COLOR, --no-color). */
void ctl_out_colour(bool on);
/* The escape sequence that starts style s, or "" without colour. */
const char *ctl_style_on(ctl_style s);
/* The escape sequence that ends a style, or "". */
const char *ctl_style_off(void);

/* A table with n columns named by the NULL-terminated headers. */
ctl_table *ctl_table_new(const char *const *headers, const ctl_align *align);
/* Starts a row. */
void ctl_table_row(ctl_table *t);
/* Adds a cell (copied) with a style to the current row. */
void ctl_table_cell(ctl_table *t, ctl_style s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Prints the table to out and frees it. */
void ctl_table_print(ctl_table *t, FILE *out);

#endif
