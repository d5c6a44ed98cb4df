/* Fit the land-score model: L2-regularised logistic regression (Newton / IRLS) on features of
 * every pair of lands within each development set (Hamby 44 and Hamby 252; hamby44_small is
 * left out because it holds the same scans as Hamby 44). Reports cross-validated AUC
 * (leave-one-set-out and 5-fold stratified by pair) and prints the coefficient block that
 * engine/land_model.c carries between FIT-BEGIN and FIT-END.
 * Usage: fit_land_model [--check MODEL_C] [DATA_DIR]   (default $IBEX_DATA or
 * ../shared/datasets/real). --check: refit and compare with the block recorded in MODEL_C
 * (engine/land_model.c); exit 1 when a number differs by more than 1e-3 relative (SIMD
 * variants of the correlation may change the last digits), 77 without data. */
#include "bench_usage.h"
#include "bullet_data.h"

#define NF IBEX_LAND_NFEAT
#define LAMBDA 1.0 /* ridge on standardised features: the classes separate, keep it finite */

typedef struct pairrow {
    double f[NF];
    int y, set;
} pairrow;

/* The library's fit (ibex_land_model_fit) on the rows marked in use. */
static void fit(const pairrow *p, int n, const int *use, ibex_land_model *m)
{
    double *f = malloc((size_t)(n ? n : 1) * NF * sizeof *f);
    int *y = malloc((size_t)(n ? n : 1) * sizeof *y), k = 0;
    for (int i = 0; f && y && i < n; i++)
        if (use[i]) {
            memcpy(f + (size_t)k * NF, p[i].f, sizeof p[i].f);
            y[k++] = p[i].y;
        }
    ibex_diag d;
    if (!f || !y || ibex_land_model_fit(f, y, (size_t)k, LAMBDA, m, &d)) {
        fprintf(stderr, "fit_land_model: %s\n", f && y ? d.message : "out of memory");
        exit(1);
    }
    free(f);
    free(y);
}

/* The 2 * NF + 1 numbers between FIT-BEGIN and FIT-END of the model source, in order. */
static int read_block(const char *path, double *v, int want)
{
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char line[1024];
    int in = 0, n = 0;
    while (fgets(line, sizeof line, f) && n < want) {
        if (strstr(line, "FIT-BEGIN")) { in = 1; continue; }
        if (strstr(line, "FIT-END")) break;
        if (!in) continue;
        char *p = strchr(line, '{');
        while (p && n < want) {
            p++;
            char *e;
            double x = strtod(p, &e);
            if (e == p) break;
            v[n++] = x;
            p = strchr(e, ',');
        }
    }
    fclose(f);
    return n;
}

static const char usage_text[] =
    "Usage: fit_land_model [--check MODEL_C] [DATA_DIR]\n\n"
    "Fits the land-score model (L2-regularised logistic regression) on every land pair of\n"
    "Hamby 44 and Hamby 252; reports cross-validated AUC (leave-one-set-out, 5-fold) and prints\n"
    "the coefficient block of engine/land_model.c. 77 without data.\n\n"
    "  DATA_DIR          the real scans (default $IBEX_DATA, $IBEX_DATA_DEFAULT, ../shared/datasets/real)\n"
    "  --check MODEL_C   refit and compare with the block in MODEL_C; exit 1 when a number\n"
    "                    differs by more than 1e-3 relative\n"
    "  --help            this text\n";

int main(int argc, char **argv)
{
    int u = bench_usage_check(argc, argv, usage_text, "--check=");
    if (u >= 0) return u;
    const char *check = NULL;
    if (argc > 2 && !strcmp(argv[1], "--check")) {
        check = argv[2];
        argv += 2;
        argc -= 2;
    }
    const char *data = argc > 1 ? argv[1] : getenv("IBEX_DATA");
    if ((!data || !data[0]) && getenv("IBEX_DATA_DEFAULT")) data = getenv("IBEX_DATA_DEFAULT");
    if (!data || !data[0]) data = IBEX_SOURCE_ROOT "/../shared/datasets/real";
    const char *sets[2] = {"bullet/hamby44", "bullet/hamby252"};
    ibex_land_opts o;
    ibex_land_opts_init(&o);
    pairrow *p = calloc(4096, sizeof *p);
    int n = 0;
    for (int s = 0; s < 2; s++) {
        bland *v;
        int m = bd_load(data, sets[s], 0, &o, 1, &v);
        if (m < 0) {
            fprintf(stderr, "fit_land_model: no data at %s/%s\n", data, sets[s]);
            return 77;
        }
        for (int i = 0; i < m; i++)
            for (int j = i + 1; j < m; j++) {
                ibex_land_result r;
                if (!v[i].sig || !v[j].sig || ibex_land_compare(v[i].sig, v[j].sig, &r, NULL))
                    continue;
                ibex_land_features(&r, p[n].f);
                p[n].y = v[i].key[0] && !strcmp(v[i].key, v[j].key);
                p[n].set = s;
                n++;
            }
        for (int i = 0; i < m; i++) ibex_land_signature_free(v[i].sig);
        free(v);
    }
    int *use = malloc(n * sizeof *use), npos = 0;
    double *sc = malloc(n * sizeof *sc);
    int *lab = malloc(n * sizeof *lab);
    for (int i = 0; i < n; i++) {
        lab[i] = p[i].y;
        npos += p[i].y;
    }
    ibex_land_model mdl;
    const double *mu = mdl.mean, *sd = mdl.sdev, *w = mdl.coef;
    /* Leave one set out. */
    for (int s = 0; s < 2; s++) {
        for (int i = 0; i < n; i++) use[i] = p[i].set != s;
        fit(p, n, use, &mdl);
        int k = 0;
        double *ts = malloc(n * sizeof *ts);
        int *tl = malloc(n * sizeof *tl);
        for (int i = 0; i < n; i++)
            if (p[i].set == s) {
                ts[k] = ibex_land_model_apply(&mdl, p[i].f);
                tl[k++] = p[i].y;
            }
        printf("{\"cv\":\"leave-one-set-out\",\"test_set\":\"%s\",\"pairs\":%d,\"auc\":%.4f}\n",
               sets[s], k, bd_auc(ts, tl, k));
        free(ts);
        free(tl);
    }
    /* 5-fold, stratified: matches and non-matches dealt round-robin in data order. */
    int cp = 0, cn = 0;
    int *fold = malloc(n * sizeof *fold);
    for (int i = 0; i < n; i++) fold[i] = p[i].y ? cp++ % 5 : cn++ % 5;
    for (int f = 0; f < 5; f++) {
        for (int i = 0; i < n; i++) use[i] = fold[i] != f;
        fit(p, n, use, &mdl);
        for (int i = 0; i < n; i++)
            if (fold[i] == f) sc[i] = ibex_land_model_apply(&mdl, p[i].f);
    }
    printf("{\"cv\":\"5-fold\",\"pairs\":%d,\"matches\":%d,\"auc\":%.4f}\n", n, npos,
           bd_auc(sc, lab, n));
    /* Final model on everything. */
    for (int i = 0; i < n; i++) use[i] = 1;
    fit(p, n, use, &mdl);
    for (int i = 0; i < n; i++) sc[i] = ibex_land_model_apply(&mdl, p[i].f);
    printf("{\"fit\":\"all\",\"pairs\":%d,\"matches\":%d,\"train_auc\":%.4f}\n", n, npos,
           bd_auc(sc, lab, n));
    if (check) {
        double rec[3 * NF + 1], now[3 * NF + 1];
        for (int k = 0; k < NF; k++) {
            now[k] = mu[k];
            now[NF + k] = sd[k];
        }
        for (int k = 0; k <= NF; k++) now[2 * NF + k] = w[k];
        int got = read_block(check, rec, 3 * NF + 1), bad = 0;
        if (got != 3 * NF + 1) {
            fprintf(stderr, "fit_land_model: %s: no complete FIT block (%d numbers)\n", check, got);
            return 1;
        }
        for (int k = 0; k < 3 * NF + 1; k++)
            if (fabs(rec[k] - now[k]) > 1e-3 * fmax(fabs(now[k]), 1e-3)) {
                fprintf(stderr, "fit_land_model: number %d: recorded %.6g, refit %.6g\n", k, rec[k], now[k]);
                bad = 1;
            }
        fprintf(stderr, "recorded model %s the refit\n", bad ? "DIFFERS from" : "matches");
        return bad;
    }
    printf("/* FIT-BEGIN (generated by bench/fit_land_model; do not edit by hand) */\n");
    printf("static const double mean[IBEX_LAND_NFEAT] = {");
    for (int k = 0; k < NF; k++) printf("%s%.6g", k ? ", " : "", mu[k]);
    printf("};\nstatic const double sdev[IBEX_LAND_NFEAT] = {");
    for (int k = 0; k < NF; k++) printf("%s%.6g", k ? ", " : "", sd[k]);
    printf("};\nstatic const double coef[IBEX_LAND_NFEAT + 1] = {");
    for (int k = 0; k <= NF; k++) printf("%s%.6g", k ? ", " : "", w[k]);
    printf("};\n/* FIT-END */\n");
    free(p);
    free(use);
    free(sc);
    free(lab);
    free(fold);
    return 0;
}
