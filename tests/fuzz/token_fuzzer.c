/*
 * token_fuzzer.c - fuzz target for the org a bearer token names
 * (auth_token_org), which every request's Authorization header reaches
 * before any lookup.
 *
 * The input (up to its first NUL) is the token; an org it names must be a
 * valid org id, written whole into the buffer.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *token = malloc(size + 1);
    if (token == NULL)
        return 0;
    memcpy(token, data, size);
    token[size] = '\0';
    char org[65], tiny[3];
    if (auth_token_org(token, org, sizeof(org))) {
        if (strlen(org) > 64 || !util_valid_id(org))
            abort();
        if (strcmp(org, "default") != 0 && strlen(token) != AUTH_TOKEN_LEN + strlen(org) + 1)
            abort();
    }
    if (auth_token_org(token, tiny, sizeof(tiny)) && strlen(tiny) >= sizeof(tiny))
        abort(); /* it must stay inside the buffer */
    free(token);
    return 0;
}
