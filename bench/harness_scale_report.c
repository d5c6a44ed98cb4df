/* ibex/bench.h scale, the report: the latency figure and the table (scale.md, the command's
 * text output and a section of speed.md), both from the figures' JSON, and the report folder. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_internal.h"

static double med(json_t *o, const char *k)
{
    return json_real_value(json_object_get(json_object_get(o, k), "median"));
}
static double lo_(json_t *o, const char *k) { return json_real_value(json_object_get(json_object_get(o, k), "min")); }
static double hi_(json_t *o, const char *k) { return json_real_value(json_object_get(json_object_get(o, k), "max")); }

int bench_scale_plot(json_t *scale, const char *png)
{
    json_t *sz = json_object_get(scale, "sizes");
    size_t n = json_array_size(sz);
    if (!n || n > 16) return -1;
    double x[16], y[3][16], l[3][16], h[3][16], ymin = 1e9, ymax = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *r = json_array_get(sz, i), *s1 = json_object_get(r, "stage1");
        x[i] = (double)json_integer_value(json_object_get(r, "casings"));
        /* ms: stage-1 search with 1 and 2 threads (in-process), ibex query after open */
        y[0][i] = 1e3 * med(s1, "query_seconds_1_thread");
        l[0][i] = 1e3 * lo_(s1, "query_seconds_1_thread");
        h[0][i] = 1e3 * hi_(s1, "query_seconds_1_thread");
        y[1][i] = 1e3 * med(s1, "query_seconds_2_threads");
        l[1][i] = 1e3 * lo_(s1, "query_seconds_2_threads");
        h[1][i] = 1e3 * hi_(s1, "query_seconds_2_threads");
        y[2][i] = 1e3 * med(r, "query_after_open_seconds");
        l[2][i] = 1e3 * lo_(r, "query_after_open_seconds");
        h[2][i] = 1e3 * hi_(r, "query_after_open_seconds");
        for (int c = 0; c < 3; c++) {
            if (l[c][i] > 0 && l[c][i] < ymin) ymin = l[c][i];
            if (h[c][i] > ymax) ymax = h[c][i];
        }
    }
    if (!(ymax > 0) || !(ymin < ymax)) ymin = ymax > 0 ? ymax / 10 : 1e-3, ymax = ymax > 0 ? ymax : 1;
    bench_plot *fig = bench_plot_create_ex(800, 560, "Query latency against library size (synthetic casings)",
                                          "casings in the library", "milliseconds", x[0] / 2, x[n - 1] * 2, ymin / 2,
                                          ymax * 40, BENCH_PLOT_LOGX | BENCH_PLOT_LOGY); /* room for the legend */
    static const char *lab[3] = {"stage-1 search (SGEMV + top-50), 1 thread", "stage-1 search, 2 threads",
                                 "ibex query after open (descriptor + search)"};
    static const int col[3] = {0, 1, 3};
    for (int c = 0; c < 3 && fig; c++) {
        bench_plot_line(fig, x, y[c], n, col[c], 2, c == 1, lab[c]);
        bench_plot_errorbars(fig, x, l[c], h[c], n, col[c]);
        bench_plot_points(fig, x, y[c], n, col[c], NULL);
    }
    if (fig) bench_plot_legend(fig, 0);
    return fig ? bench_plot_write(fig, png) : -1;
}

void bench_scale_markdown(json_t *scale, FILE *f)
{
    json_t *sz = json_object_get(scale, "sizes");
    fprintf(f, "| casings | build /s (wall) | index /s (wall) | library on disk | index rows in memory | "
               "stage 1, 1 thread | 2 threads | of stream read (1 thread) | batch-64 SGEMM of peak | "
               "query after open | open + load | query process CPU | query peak RSS | mates in top 10 / 50 / shortlist (size) | stage 2 per pair |\n"
               "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for (size_t i = 0; i < json_array_size(sz); i++) {
        json_t *r = json_array_get(sz, i), *b = json_object_get(r, "build"), *s1 = json_object_get(r, "stage1");
        json_t *rc = json_object_get(r, "recall"), *s2 = json_object_get(r, "stage2");
        char per_pair[32];
        snprintf(per_pair, sizeof per_pair, "%.2f s", json_real_value(json_object_get(s2, "seconds_per_pair_wall")));
        fprintf(f, "| %lld | %.0f | %.0f | %.1f MiB (%.1f KiB/casing) | %.1f MiB | %.3f ms [%.3f, %.3f] | %.3f ms | "
                   "%.2f | %.2f | %.1f ms [%.1f, %.1f] | %.2f s | %.2f s | %.0f MiB | %.2f / %.2f / %.2f (%lld) | %s |\n",
                (long long)json_integer_value(json_object_get(r, "casings")),
                json_real_value(json_object_get(b, "ingest_per_second")),
                json_real_value(json_object_get(b, "index_per_second")),
                (double)json_integer_value(json_object_get(r, "library_bytes")) / 1048576.0,
                json_real_value(json_object_get(r, "library_bytes_per_casing")) / 1024.0,
                (double)json_integer_value(json_object_get(s1, "index_memory_bytes")) / 1048576.0,
                1e3 * med(s1, "query_seconds_1_thread"), 1e3 * lo_(s1, "query_seconds_1_thread"),
                1e3 * hi_(s1, "query_seconds_1_thread"), 1e3 * med(s1, "query_seconds_2_threads"),
                json_real_value(json_object_get(s1, "fraction_of_stream_read_1_thread")),
                json_real_value(json_object_get(s1, "batch64_fraction_of_sgemm_1_thread")),
                1e3 * med(r, "query_after_open_seconds"), 1e3 * lo_(r, "query_after_open_seconds"),
                1e3 * hi_(r, "query_after_open_seconds"), med(r, "query_open_and_load_seconds"),
                med(r, "query_process_cpu_seconds"),
                (double)json_integer_value(json_object_get(r, "query_peak_rss_kib")) / 1024.0,
                json_real_value(json_object_get(rc, "recall_at_10")), json_real_value(json_object_get(rc, "recall_at_50")),
                json_real_value(json_object_get(rc, "recall_at_shortlist")),
                (long long)json_integer_value(json_object_get(rc, "shortlist")), s2 ? per_pair : "not run");
    }
    /* After the table: a paragraph inside it would split it. */
    int any = 0;
    for (size_t i = 0; i < json_array_size(sz); i++) {
        json_t *r = json_array_get(sz, i), *s2 = json_object_get(r, "stage2");
        if (!s2) continue;
        long long np = (long long)json_integer_value(json_object_get(s2, "pairs"));
        fprintf(f, "%s%lld casings %.1f s (%lld pair%s timed in %.1f s)", any++ ? "; " : "\nTop 50 with stage 2 "
                "(CMC of 50 shortlisted pairs on all threads, projected from the timed pairs), after open: ",
                (long long)json_integer_value(json_object_get(r, "casings")),
                json_real_value(json_object_get(s2, "projected_top50_after_open_seconds")), np, np == 1 ? "" : "s",
                json_real_value(json_object_get(s2, "seconds")));
    }
    if (any) fprintf(f, ".\n");
}

ibex_status bench_scale_write(json_t *scale, const char *text, const char *out_dir, const char *rev,
                              ibex_diag *diag)
{
    if (ibex__make_dirs(out_dir) != 0)
        return ibex__fail(diag, IBEX_ERR_IO, out_dir, -1, "cannot create the report folder: %s", strerror(errno));
    size_t pl = strlen(out_dir) + 16;
    char *p = malloc(pl), *md = NULL;
    if (!p) return ibex__fail(diag, IBEX_ERR_NOMEM, "", -1, "out of memory");
    snprintf(p, pl, "%s/scale.json", out_dir);
    ibex_status rc = bench_write_text(p, text, diag);
    snprintf(p, pl, "%s/scale.png", out_dir);
    if (!rc && bench_plots_built() && bench_scale_plot(scale, p))
        rc = ibex__fail(diag, IBEX_ERR_IO, p, -1, "cannot draw the plot");
    size_t ml = 0;
    FILE *f = rc ? NULL : open_memstream(&md, &ml);
    if (!rc && !f) rc = ibex__fail(diag, IBEX_ERR_NOMEM, "", -1, "out of memory");
    if (f) {
        size_t grid = (size_t)json_integer_value(json_object_get(scale, "grid"));
        fprintf(f, "# IBEX library scale\n\nibex %s, git %s. Synthetic casings, %zu x %zu points; "
                   "medians [min, max] over repeats.\n\n", IBEX_VERSION_STRING, rev, grid, grid);
        bench_scale_markdown(scale, f);
        if (bench_plots_built()) fprintf(f, "\n![query latency against library size](scale.png)\n");
        else fprintf(f, "\n%s: query latency against library size.\n", NOT_DRAWN);
        fclose(f);
        snprintf(p, pl, "%s/scale.md", out_dir);
        rc = bench_write_text(p, md, diag);
    }
    free(md);
    free(p);
    return rc;
}
