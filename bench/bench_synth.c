/* Speed of the synthetic generator (ibex/synth.h): casings and lands per second, engine only
 * (make the source, fire its specimens) and with X3P writing (no fsync), one thread.
 * Prints one JSON line per case: median over repeats after a warm-up.
 * Usage: bench_synth [--quick] [--dir DIR]   (--quick: one short repeat, a smoke test) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_usage.h"
#include "ibex/ibex.h"
#include "ibex/synth.h"

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static double cpu_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Seconds per specimen for `count` specimens in sources of `per` specimens each. */
static double run_cartridges(size_t size, int count, int per, const char *dir, int *fail)
{
    ibex_synth_opts o;
    ibex_synth_opts_init(&o);
    o.size = size;
    double t0 = now_s();
    for (int i = 0; i < count; i += per) {
        ibex_synth_firearm *f;
        if (ibex_synth_firearm_create((uint64_t)i + 1, &o, &f, NULL)) {
            *fail = 1;
            return 0;
        }
        for (int k = 0; k < per; k++) {
            ibex_surface *s;
            if (ibex_synth_cartridge_run(f, (uint64_t)k, &s, NULL, NULL)) *fail = 1;
            else {
                if (dir) {
                    char path[4096];
                    snprintf(path, sizeof path, "%s/bench-%d.x3p", dir, k);
                    if (ibex_surface_write_x3p(s, path, IBEX_WRITE_NO_SYNC, NULL)) *fail = 1;
                }
                ibex_surface_free(s);
            }
        }
        ibex_synth_firearm_free(f);
    }
    return (now_s() - t0) / count;
}

static double run_lands(size_t size, int count, const char *dir, int *fail)
{
    ibex_synth_opts o;
    ibex_synth_opts_init(&o);
    o.size = size;
    double t0 = now_s();
    int done = 0;
    for (int b = 0; done < count; b++) {
        ibex_synth_barrel *br;
        if (ibex_synth_barrel_create((uint64_t)b + 1, &o, &br, NULL)) {
            *fail = 1;
            return 0;
        }
        for (int bu = 0; bu < 2 && done < count; bu++)
            for (int l = 0; l < 6 && done < count; l++, done++) {
                ibex_surface *s;
                if (ibex_synth_land_run(br, (uint64_t)bu, l, &s, NULL, NULL)) *fail = 1;
                else {
                    if (dir) {
                        char path[4096];
                        snprintf(path, sizeof path, "%s/bench-land.x3p", dir);
                        if (ibex_surface_write_x3p(s, path, IBEX_WRITE_NO_SYNC, NULL)) *fail = 1;
                    }
                    ibex_surface_free(s);
                }
            }
        ibex_synth_barrel_free(br);
    }
    return (now_s() - t0) / count;
}

static const char usage_text[] =
    "Usage: bench_synth [--quick] [--dir DIR]\n\n"
    "Speed of the synthetic generator: casings and lands per second on one thread, engine only\n"
    "(make the source, fire its specimens) and with X3P writing (no fsync). One JSON line per\n"
    "case: median over repeats after a warm-up.\n\n"
    "  --quick     one short repeat (a smoke test)\n"
    "  --dir DIR   where the X3P files go (default: a temporary folder)\n"
    "  --help      this text\n";

int main(int argc, char **argv)
{
    int u = bench_usage_check(argc, argv, usage_text, "--quick,--dir=");
    if (u >= 0) return u;
    int quick = 0;
    const char *dir = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick")) quick = 1;
        else if (!strcmp(argv[i], "--dir") && i + 1 < argc) dir = argv[++i];
    }
    char tmpl[] = "/tmp/bench_synth-XXXXXX";
    if (!dir) dir = mkdtemp(tmpl);
    if (!dir) {
        perror("mkdtemp");
        return 1;
    }
    static const struct {
        const char *kind;
        size_t size;
        int count;
    } cases[] = {{"cartridge", 64, 2000}, {"cartridge", 128, 1000}, {"cartridge", 256, 100},
                 {"cartridge", 500, 20}, {"bullet", 64, 120}, {"bullet", 400, 12}};
    int fail = 0, reps = quick ? 1 : 5;
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++)
        for (int w = 0; w < 2; w++) { /* w = 1: also write X3P */
            int count = quick ? (cases[k].count / 100 > 4 ? cases[k].count / 100 : 4) : cases[k].count;
            int bullet = cases[k].kind[0] == 'b';
            double t[5], c[5];
            if (!quick) { /* warm-up: FFT plans, page cache */
                if (bullet) run_lands(cases[k].size, 6, w ? dir : NULL, &fail);
                else run_cartridges(cases[k].size, 8, 4, w ? dir : NULL, &fail);
            }
            for (int r = 0; r < reps; r++) {
                double c0 = cpu_s();
                t[r] = bullet ? run_lands(cases[k].size, count, w ? dir : NULL, &fail)
                              : run_cartridges(cases[k].size, count, 4, w ? dir : NULL, &fail);
                c[r] = (cpu_s() - c0) / count;
            }
            qsort(t, (size_t)reps, sizeof *t, cmp_d);
            qsort(c, (size_t)reps, sizeof *c, cmp_d);
            double med = t[reps / 2], cmed = c[reps / 2];
            printf("{\"bench\":\"synth\",\"kind\":\"%s\",\"size\":%zu,\"per_source\":%d,"
                   "\"write_x3p\":%s,\"threads\":1,\"specimens\":%d,\"repeats\":%d,"
                   "\"median_ms_per_specimen\":%.4f,\"specimens_per_second\":%.1f,"
                   "\"cpu_ms_per_specimen\":%.4f,\"specimens_per_cpu_second\":%.1f}\n",
                   cases[k].kind, cases[k].size, bullet ? 12 : 4, w ? "true" : "false", count,
                   reps, med * 1e3, med > 0 ? 1.0 / med : 0.0, cmed * 1e3,
                   cmed > 0 ? 1.0 / cmed : 0.0);
            fflush(stdout);
        }
    char path[4200];
    snprintf(path, sizeof path, "%s/bench-land.x3p", dir);
    unlink(path);
    for (int k = 0; k < 4; k++) {
        snprintf(path, sizeof path, "%s/bench-%d.x3p", dir, k);
        unlink(path);
    }
    if (dir == tmpl) rmdir(dir);
    if (fail) fprintf(stderr, "bench_synth: some generation or write failed\n");
    return fail;
}
