/* What the harness's studies and reports share: progress and failures, the clock, report
 * files written whole, the machine and build description, and how timings are summarised. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench_internal.h"

int bench_progress_report(bench_progress *p, const char *stage, size_t done, size_t total)
{
    if (!p) return 0;
    if (p->cancelled) return 1;
    double now = ibex__now();
    if (done == 0 || p->t0 <= 0) p->t0 = now;
    if (!p->fn || (p->last_stage && !strcmp(p->last_stage, stage) && p->last_done == done)) return 0;
    p->last_stage = stage, p->last_done = done;
    /* Time left from the pace so far (unknown before the first unit). */
    double eta = done > 0 && done <= total ? (now - p->t0) / (double)done * (double)(total - done) : -1;
    if (p->fn(p->user, stage, done, total, eta)) p->cancelled = 1;
    return p->cancelled;
}

ibex_status bench_write_text(const char *path, const char *text, ibex_diag *diag)
{
    size_t n = strlen(path) + 16;
    char *tmp = malloc(n);
    if (!tmp) return ibex__fail(diag, IBEX_ERR_NOMEM, "", -1, "out of memory");
    snprintf(tmp, n, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    int rc = !f || fputs(text, f) < 0;
    if (f && fclose(f) != 0) rc = 1;
    if (!rc && rename(tmp, path) != 0) rc = 1;
    ibex_status s = IBEX_OK;
    if (rc) {
        s = ibex__fail(diag, IBEX_ERR_IO, "", -1, "%s: cannot write: %s", path, strerror(errno));
        unlink(tmp);
    }
    free(tmp);
    return s;
}

void bench_cpu_model(char *buf, size_t n)
{
    snprintf(buf, n, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) != 0) continue;
        char *c = strchr(line, ':');
        if (!c) continue;
        c++;
        while (*c == ' ' || *c == '\t') c++;
        c[strcspn(c, "\n")] = 0;
        snprintf(buf, n, "%s", c);
        break;
    }
    fclose(f);
}

void bench_git_revision(char *buf, size_t n)
{
    snprintf(buf, n, "unknown");
    FILE *p = popen("git -C '" IBEX_SOURCE_ROOT "' rev-parse HEAD 2>/dev/null", "r");
    if (!p) return;
    char rev[64] = "";
    int ok = fgets(rev, sizeof rev, p) != NULL;
    if (pclose(p) != 0 || !ok) return;
    rev[strcspn(rev, "\n")] = 0;
    if (strlen(rev) < 7) return;
    int dirty = 0;
    p = popen("git -C '" IBEX_SOURCE_ROOT "' status --porcelain --untracked-files=no 2>/dev/null", "r");
    if (p) {
        char l[8];
        dirty = fgets(l, sizeof l, p) != NULL;
        pclose(p);
    }
    snprintf(buf, n, "%s%s", rev, dirty ? "-dirty" : "");
}

double bench_load_average(void)
{
    double l = NAN;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf", &l) != 1) l = NAN;
        fclose(f);
    }
    return l;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

json_t *bench_spread(double *v, size_t n, const char *unit)
{
    qsort(v, n, sizeof *v, cmp_d);
    double med = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
    return json_pack("{s:f, s:f, s:f, s:I, s:s}", "median", med, "min", v[0], "max", v[n - 1],
                     "repeats", (json_int_t)n, "unit", unit);
}
