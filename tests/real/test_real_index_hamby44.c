/* Stage-1 bullet descriptor on the Hamby 44 land scans (truth: same_source_key in
 * MANIFEST.tsv; lands AA..AF of barrel 1 on two bullets, plus three unknown lands).
 * Each land: signature by the bullet engine (ibex_land_signature_create, default options),
 * then ibex_descriptor_run_profiles with one land and the bullet descriptor options; the
 * lands are ranked by raw cosine (no PCA: 15 lands are too few to fit one). For every
 * ordered same-source pair the rank of the mate among the 14 others is reported.
 *
 * Measured 2026-11-23: 18 ordered pairs, 14 at rank 1, 18 within the top 3. With the
 * content-based groove shoulders (2026-12-02; closer to the manual grooves on Hamby 44 and
 * Houston) 13 at rank 1 (B2-L5 -> B1-L1 and E -> X now second, X -> E now first), still 18
 * within the top 3. These are the regression bounds. Only 15 lands: a small, easy set (one barrel), not a validation. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "ibex/ibex.h"
#include "ibex/bullet.h"
#include "ibex/index.h"

#define TOP1 13
#define TOP3 18
#define MAXS 32

int main(void)
{
    const char *data = getenv("IBEX_DATA") ? getenv("IBEX_DATA") : getenv("IBEX_DATA_DEFAULT");
    char fn[1100], line[8192];
    struct stat sb;
    snprintf(fn, sizeof fn, "%s/bullet/hamby44", data ? data : "");
    if (!data || stat(fn, &sb) || !S_ISDIR(sb.st_mode))
        return check_skip("Hamby 44 scans not found (set IBEX_DATA or run datasets/fetch.sh)");
    snprintf(fn, sizeof fn, "%s/MANIFEST.tsv", data);
    FILE *f = fopen(fn, "r");
    if (!f) return check_skip("MANIFEST.tsv not found");
    static char paths[MAXS][1100], keys[MAXS][64];
    int n = 0;
    while (fgets(line, sizeof line, f) && n < MAXS) {
        char *col[16], *s = line;
        int nc = 0;
        for (char *t; nc < 16 && (t = strsep(&s, "\t\n"));) col[nc++] = t;
        size_t l0 = strlen(col[0]);
        if (nc < 13 || strncmp(col[0], "bullet/hamby44/", 15) || l0 < 4 || strcmp(col[0] + l0 - 4, ".x3p"))
            continue;
        snprintf(paths[n], sizeof paths[n], "%s/%s", data, col[0]);
        snprintf(keys[n], sizeof keys[n], "%s", col[12]);
        n++;
    }
    fclose(f);
    if (n < 2) return check_skip("MANIFEST.tsv lists no Hamby 44 lands");

    ibex_descriptor_opts o;
    ibex_descriptor_opts_init_bullet(&o);
    ibex_descriptor *dp = NULL;
    ibex_diag dg;
    CHECK(ibex_descriptor_create(&o, &dp, &dg) == IBEX_OK);
    if (!dp) return check_exit();
    size_t p = ibex_descriptor_size(dp);
    float *raw = calloc((size_t)n * p, sizeof *raw);
    ibex_land_opts lo;
    ibex_land_opts_init(&lo);
    for (int i = 0; i < n; i++) {
        ibex_surface *s = NULL;
        ibex_land_signature *sg = NULL;
        ibex_status st = ibex_surface_read_x3p(paths[i], 0, &s, &dg);
        if (!st) st = ibex_land_signature_create(s, &lo, &sg, &dg);
        CHECK_MSG(st == IBEX_OK, "%s: %s", paths[i], dg.message);
        if (!st) {
            const float *pr[1] = {sg->sig};
            size_t np[1] = {sg->n};
            st = ibex_descriptor_run_profiles(dp, pr, np, 1, sg->spacing, paths[i], raw + (size_t)i * p, &dg);
            CHECK_MSG(st == IBEX_OK, "%s: %s", paths[i], dg.message);
        }
        ibex_land_signature_free(sg);
        ibex_surface_free(s);
    }
    int pairs = 0, top1 = 0, top3 = 0;
    for (int q = 0; q < n; q++) {
        double sc[MAXS];
        for (int j = 0; j < n; j++) {
            double ab = 0, aa = 0, bb = 0;
            for (size_t k = 0; k < p; k++) {
                ab += (double)raw[q * p + k] * raw[j * p + k];
                aa += (double)raw[q * p + k] * raw[q * p + k];
                bb += (double)raw[j * p + k] * raw[j * p + k];
            }
            sc[j] = aa > 0 && bb > 0 ? ab / sqrt(aa * bb) : 0;
        }
        for (int j = 0; j < n; j++) {
            if (j == q || strcmp(keys[j], keys[q])) continue;
            int rank = 1;
            for (int m = 0; m < n; m++)
                if (m != q && m != j && (sc[m] > sc[j] || (sc[m] == sc[j] && m < j))) rank++;
            printf("%s -> %s: rank %d of %d\n", strrchr(paths[q], '/') + 1, strrchr(paths[j], '/') + 1, rank, n - 1);
            pairs++;
            top1 += rank == 1;
            top3 += rank <= 3;
        }
    }
    printf("pairs %d, rank 1: %d, top 3: %d\n", pairs, top1, top3);
    CHECK(pairs > 0);
    CHECK_MSG(top1 >= TOP1, "rank-1 pairs %d < %d", top1, TOP1);
    CHECK_MSG(top3 >= TOP3, "top-3 pairs %d < %d", top3, TOP3);
    free(raw);
    ibex_descriptor_free(dp);
    return check_exit();
}
