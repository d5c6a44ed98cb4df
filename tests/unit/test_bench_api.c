/* ibex/bench.h through the public API only: options defaults and their size-versioned copy,
 * argument errors, the method table, and cancellation through the progress callback. The
 * scans are placeholders: every run here stops before reading one, or fails on it. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "ibex/ibex.h"

static int calls;

static int cancel_at_once(void *user, const char *stage, size_t done, size_t total, double eta)
{
    (void)user, (void)stage, (void)done, (void)total, (void)eta;
    calls++;
    return 1;
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f) fputs(text, f), fclose(f);
}

int main(void)
{
    char dir[] = "/tmp/ibex-test-bench-XXXXXX";
    if (!mkdtemp(dir)) return 1;
    char man[256], a[256], b[256], out[256];
    snprintf(man, sizeof man, "%s/M.tsv", dir);
    snprintf(a, sizeof a, "%s/a.x3p", dir);
    snprintf(b, sizeof b, "%s/b.x3p", dir);
    snprintf(out, sizeof out, "%s/report", dir);
    write_text(a, "not an x3p");
    write_text(b, "not an x3p");
    write_text(man, "relative_path\tkind\tset\tsame_source_key\n"
                    "a.x3p\tcartridge\ts\tG1\nb.x3p\tcartridge\ts\tG1\n");

    /* The method table: cartridge methods first, the first of a kind its default. */
    size_t nm = ibex_bench_method_count();
    CHECK(nm >= 4);
    ibex_bench_method_info mi;
    CHECK(ibex_bench_method_get(0, &mi) == IBEX_OK && !strcmp(mi.kind, "cartridge") && mi.name[0]);
    CHECK(ibex_bench_method_get(nm, &mi) == IBEX_ERR_ARG);
    const char *bullet_method = NULL;
    for (size_t i = 0; i < nm; i++)
        if (!ibex_bench_method_get(i, &mi) && !strcmp(mi.kind, "bullet") && !bullet_method) bullet_method = mi.name;
    CHECK(bullet_method != NULL);

    ibex_bench_accuracy_opts o;
    ibex_bench_accuracy_opts_init(&o);
    CHECK(o.struct_size == sizeof o && o.seed == 1 && o.resamples == 0 && !strcmp(o.out_dir, "bench-report"));
    ibex_bench_accuracy *res = NULL;
    ibex_diag d;

    /* Argument errors. */
    o.manifest = man;
    o.out_dir = out;
    o.method = "no-such-method";
    CHECK(ibex_bench_accuracy_run(&o, &res, &d) == IBEX_ERR_ARG && res == NULL);
    o.method = bullet_method;
    o.kind = "cartridge";
    CHECK(ibex_bench_accuracy_run(&o, &res, &d) == IBEX_ERR_ARG);
    o.method = NULL;
    o.kind = "shoe";
    CHECK(ibex_bench_accuracy_run(&o, &res, &d) == IBEX_ERR_ARG);
    o.kind = NULL;
    ibex_bench_accuracy_opts bad = o;
    bad.struct_size = 0;
    CHECK(ibex_bench_accuracy_run(&bad, &res, &d) == IBEX_ERR_ARG);
    bad = o;
    bad.manifest = "/nonexistent/M.tsv";
    CHECK(ibex_bench_accuracy_run(&bad, &res, &d) == IBEX_ERR_IO && strstr(d.message, "/nonexistent/M.tsv"));

    /* Cancelled at the first report: no scan read, no report folder. */
    o.progress = cancel_at_once;
    calls = 0;
    ibex_status s = ibex_bench_accuracy_run(&o, &res, &d);
    CHECK_MSG(s == IBEX_ERR_CANCELLED, "status %d", (int)s);
    CHECK(calls == 1 && res == NULL);
    struct stat sb;
    CHECK(stat(out, &sb) != 0);

    /* A caller built before `progress` existed: the library reads only its bytes, so the
     * callback set past them is not seen and the run goes on to the (unreadable) scans. */
    o.struct_size = offsetof(ibex_bench_accuracy_opts, progress);
    calls = 0;
    s = ibex_bench_accuracy_run(&o, &res, &d);
    CHECK_MSG(s != IBEX_OK && s != IBEX_ERR_CANCELLED, "status %d", (int)s);
    CHECK(calls == 0 && res == NULL);
    CHECK(d.message[0] || d.file[0]);

    /* Results: NULL is safe. */
    CHECK(ibex_bench_accuracy_get_count(NULL) == 0 && ibex_bench_accuracy_get_note(NULL, 0) == NULL);
    ibex_bench_study_figures f;
    ibex_bench_study_figures_init(&f);
    CHECK(f.struct_size == sizeof f);
    CHECK(ibex_bench_accuracy_get(NULL, 0, &f) == IBEX_ERR_ARG);
    ibex_bench_accuracy_free(NULL);

    /* Speed: options checked before anything runs. */
    ibex_bench_speed_opts so;
    ibex_bench_speed_opts_init(&so);
    CHECK(so.struct_size == sizeof so && so.grid == 0 && so.out_dir == NULL);
    so.grid = 4;
    ibex_bench_speed *sp = NULL;
    CHECK(ibex_bench_speed_run(&so, &sp, &d) == IBEX_ERR_ARG && sp == NULL);
    so.grid = 64;
    so.repeats = 1;
    so.manifest = man;
    so.progress = cancel_at_once;
    CHECK(ibex_bench_speed_run(&so, &sp, &d) == IBEX_ERR_CANCELLED && sp == NULL);
    ibex_bench_speed_free(NULL);

    /* Scale: options checked before any child runs. */
    ibex_bench_scale_opts co;
    ibex_bench_scale_opts_init(&co);
    CHECK(co.struct_size == sizeof co && co.stage2_pairs == IBEX_BENCH_DEFAULT && co.program == NULL);
    ibex_bench_scale *sc = NULL;
    CHECK(ibex_bench_scale_run(&co, &sc, &d) == IBEX_ERR_ARG && sc == NULL); /* no program */
    co.program = "/nonexistent/ibex";
    co.grid = 8;
    CHECK(ibex_bench_scale_run(&co, &sc, &d) == IBEX_ERR_ARG && sc == NULL);
    co.grid = 0;
    size_t small[1] = {60}, tiny[1] = {64};
    co.sizes = small;
    co.n_sizes = 1;
    CHECK(ibex_bench_scale_run(&co, &sc, &d) == IBEX_ERR_ARG && sc == NULL); /* below 64 casings */
    co.sizes = tiny;
    co.queries = 17;
    CHECK(ibex_bench_scale_run(&co, &sc, &d) == IBEX_ERR_ARG && sc == NULL); /* more than 16 */
    ibex_bench_scale_figures cf;
    ibex_bench_scale_figures_init(&cf);
    CHECK(cf.struct_size == sizeof cf);
    CHECK(ibex_bench_scale_get_count(NULL) == 0 && ibex_bench_scale_get(NULL, 0, &cf) == IBEX_ERR_ARG);
    ibex_bench_scale_free(NULL);

    CHECK(ibex_bench_get_plots() == 0 || ibex_bench_get_plots() == 1);
    unlink(a), unlink(b), unlink(man), rmdir(dir);
    return check_exit();
}
