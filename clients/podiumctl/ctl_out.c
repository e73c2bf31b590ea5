/*
 * ctl_out.c - aligned tables and terminal colour for podiumctl (ctl_out.h).
 */
#include "ctl_out.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define MAX_COLS 12

struct cell {
    char *text;
    ctl_style style;
};

struct ctl_table {
    size_t ncols, nrows, cap;
    const char *headers[MAX_COLS];
    ctl_align align[MAX_COLS];
    struct cell *cells; /* nrows * ncols */
    size_t filled;      /* cells of the current row */
};

static bool colour;

void ctl_out_colour(bool on)
{
    colour = on;
}

const char *ctl_style_on(ctl_style s)
{
    static const char *const seq[] = {"", "\033[1m", "\033[2m", "\033[32m", "\033[31m", "\033[33m"};
    return colour ? seq[s] : "";
}

const char *ctl_style_off(void)
{
    return colour ? "\033[0m" : "";
}

/* Characters (UTF-8 code points) in s. */
static size_t width(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

/* Aborts on exhaustion: nothing useful can follow in a command-line tool. */
static void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n);
    if (p == NULL) {
        fputs("podiumctl: out of memory\n", stderr);
        exit(5);
    }
    return p;
}

ctl_table *ctl_table_new(const char *const *headers, const ctl_align *align)
{
    ctl_table *t = xrealloc(NULL, sizeof(*t));
    memset(t, 0, sizeof(*t));
    while (headers[t->ncols] && t->ncols < MAX_COLS) {
        t->headers[t->ncols] = headers[t->ncols];
        t->align[t->ncols] = align ? align[t->ncols] : CTL_LEFT;
        t->ncols++;
    }
    return t;
}

void ctl_table_row(ctl_table *t)
{
    if (t->nrows > 0) /* pad the row before */
        while (t->filled < t->ncols)
            ctl_table_cell(t, CTL_PLAIN, "%s", "");
    if ((t->nrows + 1) * t->ncols > t->cap) {
        t->cap = (t->nrows + 1) * t->ncols * 2;
        t->cells = xrealloc(t->cells, t->cap * sizeof(*t->cells));
    }
    t->nrows++;
    t->filled = 0;
}

void ctl_table_cell(ctl_table *t, ctl_style s, const char *fmt, ...)
{
    if (t->nrows == 0 || t->filled == t->ncols)
        return;
    va_list ap;
    va_start(ap, fmt);
    char *text = NULL;
    if (vasprintf(&text, fmt, ap) < 0)
        text = NULL;
    va_end(ap);
    struct cell *c = &t->cells[(t->nrows - 1) * t->ncols + t->filled++];
    c->text = text ? text : xrealloc(NULL, 1);
    if (text == NULL)
        c->text[0] = '\0';
    c->style = s;
}

void ctl_table_print(ctl_table *t, FILE *out)
{
    size_t w[MAX_COLS];
    if (t->nrows == 0) { /* a header over nothing says less than this */
        fprintf(out, "%s(none)%s\n", ctl_style_on(CTL_DIM), ctl_style_off());
        free(t);
        return;
    }
    if (t->nrows > 0)
        while (t->filled < t->ncols)
            ctl_table_cell(t, CTL_PLAIN, "%s", "");
    for (size_t c = 0; c < t->ncols; c++) {
        w[c] = width(t->headers[c]);
        for (size_t r = 0; r < t->nrows; r++) {
            size_t cw = width(t->cells[r * t->ncols + c].text);
            w[c] = cw > w[c] ? cw : w[c];
        }
    }
    for (size_t r = 0; r <= t->nrows; r++) {
        for (size_t c = 0; c < t->ncols; c++) {
            const char *text = r == 0 ? t->headers[c] : t->cells[(r - 1) * t->ncols + c].text;
            ctl_style s = r == 0 ? CTL_BOLD : t->cells[(r - 1) * t->ncols + c].style;
            size_t pad = w[c] - width(text);
            bool last = c + 1 == t->ncols;
            if (t->align[c] == CTL_RIGHT)
                fprintf(out, "%*s", (int)pad, "");
            fprintf(out, "%s%s%s", ctl_style_on(s), text, s ? ctl_style_off() : "");
            if (t->align[c] == CTL_LEFT && !last)
                fprintf(out, "%*s", (int)pad, "");
            fputs(last ? "\n" : "  ", out);
        }
    }
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i].text);
    free(t->cells);
    free(t);
}
