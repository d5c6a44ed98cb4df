/* The ingest API (ibex/ingest.h) on small X3P files written here: stored / skipped / refused
 * events, a truncated X3P refused by name, a duplicate id refused by the library, manifest
 * rows, a kind stated by the file, and a cancel through progress that leaves whole committed rows only. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "ibex/ibex.h"

static char dir[256];

#define MAX_EV 64
typedef struct seen {
    size_t n;
    ibex_ingest_outcome what[MAX_EV];
    size_t row[MAX_EV], index[MAX_EV];
    ibex_status st[MAX_EV];
    char file[MAX_EV][512];
    char id[MAX_EV][128];
} seen;

static int on_event(void *user, const ibex_ingest_event *ev)
{
    seen *s = user;
    if (s->n == MAX_EV) return 1;
    size_t k = s->n++;
    s->what[k] = ev->outcome;
    s->row[k] = ev->row;
    s->index[k] = ev->index;
    s->st[k] = ev->status;
    snprintf(s->file[k], sizeof s->file[k], "%s", ev->diag ? ev->diag->file : "");
    snprintf(s->id[k], sizeof s->id[k], "%s", ev->item->id);
    return 0;
}

static size_t cancel_at;
static int cancel_progress(void *user, const char *stage, size_t done, size_t total, double eta)
{
    (void)user, (void)stage, (void)total, (void)eta;
    return done >= cancel_at;
}

static void write_scan(const char *path, unsigned seed)
{
    ibex_surface *s = NULL;
    if (ibex_surface_create(40, 36, 2e-6, 2e-6, &s) != IBEX_OK) exit(1);
    for (size_t i = 0; i < 40 * 36; i++) {
        s->z[i] = (float)(1e-6 * sin(0.3 * (double)i + seed));
        s->valid[i] = 1;
    }
    /* A kind stated by the file: the row takes it (and must not point at freed metadata). */
    if (seed == 2) ibex_meta_set(&s->meta, "specimen_kind", "bullet");
    ibex_diag d;
    if (ibex_surface_write_x3p(s, path, 0, &d) != IBEX_OK) {
        fprintf(stderr, "write %s: %s\n", path, d.message);
        exit(1);
    }
    ibex_surface_free(s);
}

static void truncate_copy(const char *from, const char *to, long keep)
{
    FILE *f = fopen(from, "rb"), *g = fopen(to, "wb");
    char buf[512];
    size_t n = fread(buf, 1, (size_t)keep, f);
    fwrite(buf, 1, n, g);
    fclose(f);
    fclose(g);
}

static ibex_library *new_library(const char *name)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    ibex_library_opts o;
    ibex_library_opts_init(&o);
    o.flags = IBEX_LIBRARY_WRITE | IBEX_LIBRARY_NOSYNC;
    o.params = IBEX_INGEST_PARAMS;
    ibex_library *lib = NULL;
    CHECK(ibex_library_create(p, &o, &lib, NULL) == IBEX_OK);
    return lib;
}

static ibex_status run(ibex_library *lib, const ibex_ingest_list *l, seen *s, ibex_ingest_result *r)
{
    ibex_ingest_opts o;
    ibex_ingest_opts_init(&o);
    o.threads = 2;
    o.event = on_event;
    o.event_user = s;
    memset(s, 0, sizeof *s);
    ibex_ingest_result_init(r);
    ibex_diag d;
    return ibex_ingest_run(lib, l, &o, r, &d);
}

static void test_events(void)
{
    char scans[300], trunc[400], p[400];
    snprintf(scans, sizeof scans, "%s/scans", dir);
    mkdir(scans, 0755);
    for (unsigned i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s/s%u.x3p", scans, i);
        write_scan(p, i);
    }
    snprintf(trunc, sizeof trunc, "%s/s9.x3p", scans);
    truncate_copy(p, trunc, 300);

    ibex_ingest_list *l = NULL;
    ibex_diag d;
    CHECK(ibex_ingest_list_create(&l) == IBEX_OK);
    CHECK(ibex_ingest_list_add_operand(l, scans, &d) == IBEX_OK);
    CHECK(ibex_ingest_list_count(l) == 5);
    CHECK(!strcmp(ibex_ingest_list_get(l, 4)->id, "s9"));
    ibex_library *lib = new_library("events.h5");
    seen s;
    ibex_ingest_result r;
    CHECK(run(lib, l, &s, &r) == IBEX_OK);
    CHECK(r.stored == 4 && r.refused == 1 && r.skipped == 0 && r.specimens == 4 && r.complete);
    size_t stored = 0, refused = 0;
    for (size_t k = 0; k < s.n; k++) {
        if (s.what[k] == IBEX_INGEST_STORED) {
            CHECK(s.row[k] == stored && s.index[k] == stored);
            stored++;
        } else if (s.what[k] == IBEX_INGEST_REFUSED) {
            refused++;
            CHECK(s.st[k] == IBEX_ERR_FORMAT);
            CHECK_MSG(strstr(s.file[k], "s9.x3p") != NULL, "refusal names '%s'", s.file[k]);
        }
    }
    CHECK(stored == 4 && refused == 1);
    ibex_specimen sp;
    CHECK(ibex_library_get_info(lib, 2, &sp, &d) == IBEX_OK);
    CHECK(!strcmp(sp.kind, "bullet") && !strcmp(sp.region, "land"));
    ibex_specimen_clear(&sp);
    CHECK(ibex_library_get_info(lib, 1, &sp, &d) == IBEX_OK);
    CHECK(!strcmp(sp.kind, "cartridge") && !strcmp(sp.region, "breech-face"));
    ibex_specimen_clear(&sp);

    /* Same bytes again: skipped with the row that holds them. */
    CHECK(run(lib, l, &s, &r) == IBEX_OK);
    CHECK(r.stored == 0 && r.skipped == 4 && r.refused == 1 && r.specimens == 4);
    for (size_t k = 0; k < s.n; k++)
        if (s.what[k] == IBEX_INGEST_SKIPPED) CHECK(s.row[k] == s.index[k]);

    /* Other bytes under an id the library holds: the library refuses the row, named by file. */
    ibex_ingest_list *l2 = NULL;
    snprintf(p, sizeof p, "%s/other.x3p", dir);
    write_scan(p, 77);
    ibex_ingest_item it = {.path = p, .id = "s1"};
    CHECK(ibex_ingest_list_create(&l2) == IBEX_OK);
    CHECK(ibex_ingest_list_add(l2, &it, &d) == IBEX_OK);
    CHECK(run(lib, l2, &s, &r) == IBEX_OK);
    CHECK(s.n == 1 && s.what[0] == IBEX_INGEST_REFUSED && s.st[0] == IBEX_ERR_INTEGRITY);
    CHECK(!strcmp(s.file[0], p));
    CHECK(r.refused == 1 && r.specimens == 4);

    /* Options the run refuses before touching anything. */
    ibex_ingest_opts o;
    ibex_ingest_opts_init(&o);
    const char *meta[] = {"colour=red"};
    o.meta = meta;
    o.n_meta = 1;
    CHECK(ibex_ingest_run(lib, l, &o, NULL, &d) == IBEX_ERR_ARG);
    ibex_ingest_opts raw = {0};
    CHECK(ibex_ingest_run(lib, l, &raw, NULL, &d) == IBEX_ERR_ARG);
    CHECK(ibex_library_close(lib, NULL) == IBEX_OK);
    ibex_ingest_list_free(l);
    ibex_ingest_list_free(l2);
}

static void test_cancel(void)
{
    char scans[300], p[400];
    snprintf(scans, sizeof scans, "%s/many", dir);
    mkdir(scans, 0755);
    for (unsigned i = 0; i < 10; i++) {
        snprintf(p, sizeof p, "%s/m%02u.x3p", scans, i);
        write_scan(p, 100 + i);
    }
    ibex_ingest_list *l = NULL;
    ibex_diag d;
    CHECK(ibex_ingest_list_create(&l) == IBEX_OK);
    CHECK(ibex_ingest_list_add_operand(l, scans, &d) == IBEX_OK);
    ibex_library *lib = new_library("cancel.h5");
    seen s;
    memset(&s, 0, sizeof s);
    ibex_ingest_opts o;
    ibex_ingest_opts_init(&o);
    o.batch = 3;
    o.event = on_event;
    o.event_user = &s;
    o.progress = cancel_progress;
    cancel_at = 5;
    ibex_ingest_result r;
    ibex_ingest_result_init(&r);
    CHECK(ibex_ingest_run(lib, l, &o, &r, &d) == IBEX_ERR_CANCELLED);
    CHECK(!r.complete && r.stored == 5 && r.not_stored == 5 && s.n == 5);
    CHECK(ibex_library_close(lib, NULL) == IBEX_OK);

    /* Reopened: exactly the rows reported stored, each whole. */
    char path[512];
    snprintf(path, sizeof path, "%s/cancel.h5", dir);
    CHECK(ibex_library_open(path, NULL, &lib, &d) == IBEX_OK);
    CHECK(ibex_library_count(lib) == s.n);
    for (size_t k = 0; k < s.n; k++) {
        ibex_specimen sp;
        ibex_surface *surf = NULL;
        CHECK(ibex_library_get_info(lib, s.row[k], &sp, &d) == IBEX_OK);
        CHECK(!strcmp(sp.id, s.id[k]));
        ibex_specimen_clear(&sp);
        CHECK(ibex_library_get_surface(lib, s.row[k], &surf, &d) == IBEX_OK && surf && surf->nx == 40);
        ibex_surface_free(surf);
    }
    ibex_library_close(lib, NULL);
    ibex_ingest_list_free(l);
}

static void test_lists(void)
{
    char man[300], p[400];
    snprintf(man, sizeof man, "%s/MANIFEST.tsv", dir);
    FILE *f = fopen(man, "w");
    fputs("relative_path\tkind\tset\tspecimen_id\tfirearm_id\n"
          "scans/s0.x3p\tcartridge\tA\tK1\tF1\n"
          "scans/s1.x3p\tbullet\tA\tL1\tF2\n"
          "notes.txt\tcartridge\t\t\t\n"
          "\n"
          "scans/s2.x3p\tcartridge\t\t\t\n",
          f);
    fclose(f);
    ibex_ingest_list *l = NULL;
    ibex_diag d;
    CHECK(ibex_ingest_list_create(&l) == IBEX_OK);
    CHECK(ibex_ingest_list_read_manifest(l, man, "cartridge", &d) == IBEX_OK);
    CHECK(ibex_ingest_list_count(l) == 2);
    const ibex_ingest_item *a = ibex_ingest_list_get(l, 0), *b = ibex_ingest_list_get(l, 1);
    CHECK(a && !strcmp(a->id, "A:K1") && !strcmp(a->firearm_id, "F1") && !a->same_source_key);
    snprintf(p, sizeof p, "%s/scans/s0.x3p", dir);
    CHECK(a && !strcmp(a->path, p));
    CHECK(b && !strcmp(b->id, "scans/s2") && !b->set && !b->specimen_id);
    CHECK(ibex_ingest_list_get(l, 2) == NULL);

    f = fopen(man, "w");
    fputs("a\tb\n1\t2\n", f);
    fclose(f);
    CHECK(ibex_ingest_list_read_manifest(l, man, NULL, &d) == IBEX_ERR_FORMAT);
    CHECK(strstr(d.message, "line 1") != NULL && !strcmp(d.file, man));
    snprintf(p, sizeof p, "%s/nope.x3p", dir);
    CHECK(ibex_ingest_list_add_operand(l, p, &d) == IBEX_ERR_IO && !strcmp(d.file, p));
    CHECK(ibex_ingest_list_count(l) == 2);
    CHECK(ibex_ingest_meta_key_known("firearm_id") && ibex_ingest_meta_key_known("agency"));
    CHECK(!ibex_ingest_meta_key_known("colour"));
    ibex_ingest_list_free(l);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/ibex_ingest_XXXXXX");
    if (!mkdtemp(dir)) return 1;
    test_events();
    test_cancel();
    test_lists();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (!check_failures_ && system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return check_exit();
}
