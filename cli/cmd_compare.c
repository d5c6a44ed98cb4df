/* ibex compare: decide whether the inputs are cartridge cases or bullets, then hand over. */
#include <string.h>
#include <sys/stat.h>

#include "cli.h"

/* Options whose value is a separate word, so it is not taken for an operand. */
static int takes_value(const char *a)
{
    static const char *const v[] = {"--png", "--cells", "--threads", NULL};
    for (int i = 0; v[i]; i++)
        if (!strcmp(a, v[i])) return 1;
    return 0;
}

/* --kind wins; else a directory operand, --lands-a / --lands-b, or more than two operands
 * means bullets (a bullet is a set of land scans); else the first readable scan decides:
 * its specimen_kind metadata, or without it an elongated grid (a land is >= 2x longer than
 * wide) means a bullet. Everything else is a cartridge case. The help of
 * compare_cartridge.c and compare_bullet.c states this rule: keep them in step. */
static int looks_like_bullet(int argc, char **argv)
{
    int operands = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--kind=bullet")) return 1;
        if (!strcmp(a, "--kind=cartridge")) return 0;
        if (!strcmp(a, "--kind") && i + 1 < argc) return strcmp(argv[i + 1], "bullet") == 0;
        if (!strcmp(a, "--lands-a") || !strcmp(a, "--lands-b")) return 1;
        if (takes_value(a)) {
            i++;
            continue;
        }
        if (a[0] == '-') continue;
        operands++;
        struct stat st;
        if (stat(a, &st) == 0 && S_ISDIR(st.st_mode)) return 1;
    }
    if (operands > 2) return 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (takes_value(a)) {
            i++;
            continue;
        }
        if (a[0] == '-') continue;
        ibex_surface *s = NULL;
        if (ibex_surface_read(a, IBEX_READ_NO_VERIFY, &s, NULL) != IBEX_OK) continue;
        const char *k = s->meta.specimen_kind;
        int bullet = k ? strcmp(k, "bullet") == 0
                       : (s->nx >= 2 * s->ny || s->ny >= 2 * s->nx);
        ibex_surface_free(s);
        return bullet;
    }
    return 0;
}

int cmd_compare(int argc, char **argv)
{
    return looks_like_bullet(argc, argv) ? compare_bullet_main(argc, argv)
                                         : compare_cartridge_main(argc, argv);
}
