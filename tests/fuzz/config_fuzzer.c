/*
 * config_fuzzer.c - fuzz target of the config file parser.
 *
 * Each input is loaded as a podiumd.conf over the defaults, then checked and
 * freed, so that ASan sees every path through quoting, comments, limits and
 * value parsing. The same bytes, cut at the first newline, also go through
 * config_set (the command-line path) and config_parse_hostport. Broken
 * invariants (a refusal without a message, a port out of range) abort.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    config c;
    char err[512] = "";
    config_defaults(&c);
    int rc = config_load_buffer(&c, (const char *)data, size, "fuzz.conf", err, sizeof(err));
    /* A refusal always says where and why. */
    if (rc != 0 && strncmp(err, "fuzz.conf:", 10) != 0)
        abort();
    if (rc == 0 && config_check(&c, err, sizeof(err)) == 0) {
        char names[256];
        config running;
        config_defaults(&running);
        (void)config_reload_fixed(&c, &running, names, sizeof(names));
        config_free(&running);
    }

    /* First line as "name value" for config_set, and whole as a listen address. */
    size_t n = size < 4096 ? size : 4096;
    char *line = malloc(n + 1);
    if (line == NULL)
        abort();
    memcpy(line, data, n);
    line[n] = '\0';
    line[strcspn(line, "\n")] = '\0';
    char *value = strchr(line, ' ');
    if (value != NULL) {
        *value++ = '\0';
        err[0] = '\0';
        if (config_set(&c, line, value, "--fuzz", err, sizeof(err)) != 0 && err[0] == '\0')
            abort();
    }
    char host[64];
    int port;
    if (config_parse_hostport(value != NULL ? value : line, host, sizeof(host), &port) == 0 &&
        (port < 0 || port > 65535 || strlen(host) >= sizeof(host)))
        abort();
    free(line);
    config_free(&c);
    return 0;
}
