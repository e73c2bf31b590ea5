/*
 * jsonw.c - JSON string escaping for hand-written JSON output.
 *
 * Escapes '"', '\\' and control characters; everything else, including
 * UTF-8 sequences, is copied in runs.
 */
#include "jsonw.h"

#include <event2/buffer.h>
#include <string.h>

void jsonw_str(struct evbuffer *b, const char *s)
{
    const char *run = s;
    evbuffer_add(b, "\"", 1);
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        evbuffer_add(b, run, (size_t)(p - run));
        if (c == '"')
            evbuffer_add(b, "\\\"", 2);
        else if (c == '\\')
            evbuffer_add(b, "\\\\", 2);
        else if (c == '\n')
            evbuffer_add(b, "\\n", 2);
        else
            evbuffer_add_printf(b, "\\u%04x", c);
        run = p + 1;
    }
    evbuffer_add(b, run, strlen(run));
    evbuffer_add(b, "\"", 1);
}

void jsonw_str_or_null(struct evbuffer *b, const char *s)
{
    if (s)
        jsonw_str(b, s);
    else
        evbuffer_add(b, "null", 4);
}
