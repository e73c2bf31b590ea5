/*
 * replay.c - runs a libFuzzer target over every file of a corpus directory.
 *
 * Lets fuzz targets run under ctest with any compiler (and under ASan and
 * UBSan builds): each corpus file, and a few generated inputs, are fed to
 * LLVMFuzzerTestOneInput once.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int main(int argc, char **argv);

/* Feeds one file to the target; returns 0 or -1 if it cannot be read. */
static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return -1;
    static uint8_t buf[1 << 20];
    size_t n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    uint8_t *copy = malloc(n ? n : 1);
    memcpy(copy, buf, n);
    LLVMFuzzerTestOneInput(copy, n);
    free(copy);
    return 0;
}

int main(int argc, char **argv)
{
    int files = 0;
    for (int i = 1; i < argc; i++) {
        DIR *d = opendir(argv[i]);
        if (d == NULL) {
            if (replay_file(argv[i]) == 0)
                files++;
            continue;
        }
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            if (de->d_name[0] == '.')
                continue;
            char path[4096];
            snprintf(path, sizeof(path), "%s/%s", argv[i], de->d_name);
            if (replay_file(path) == 0)
                files++;
        }
        closedir(d);
    }
    /* Deterministic pseudo-random inputs, so an empty corpus still exercises the target. */
    uint32_t s = 2463534242u;
    for (int round = 0; round < 2000; round++) {
        uint8_t buf[256];
        size_t n = (size_t)(round % 256);
        for (size_t j = 0; j < n; j++) {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            buf[j] = (uint8_t)s;
        }
        LLVMFuzzerTestOneInput(buf, n);
    }
    printf("replayed %d corpus files and 2000 generated inputs\n", files);
    return 0;
}
