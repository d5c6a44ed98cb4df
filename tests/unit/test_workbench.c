/* The workbench's public calls: options and their refusals, a server on a free loopback
 * port with a fresh 256-bit token each start; and the upload-name cleaning every message
 * relies on. The HTTP rules themselves are tested in a browser and over HTTP (tests/web). */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "ibex/ibex.h"
#include "workbench_internal.h"

static int make_library(const char *path)
{
    ibex_library_opts lo;
    ibex_library_opts_init(&lo);
    lo.flags = IBEX_LIBRARY_WRITE | IBEX_LIBRARY_NOSYNC;
    lo.params = IBEX_INGEST_PARAMS;
    ibex_library *lib = NULL;
    ibex_surface *s = NULL;
    ibex_diag d;
    if (ibex_library_create(path, &lo, &lib, &d) != IBEX_OK || ibex_surface_create(32, 32, 6.25e-6, 6.25e-6, &s))
        return 0;
    for (size_t i = 0; i < 32 * 32; i++) s->z[i] = (float)(1e-6 * (double)(i % 7));
    ibex_surface_sync_mask(s);
    ibex_specimen sp;
    memset(&sp, 0, sizeof sp);
    sp.id = (char *)"one";
    sp.kind = (char *)"cartridge";
    sp.source_path = (char *)"one.x3p";
    memset(sp.sha256, 'a', 64);
    int ok = ibex_library_add(lib, &sp, s, NULL, &d) == IBEX_OK;
    ibex_surface_free(s);
    return ibex_library_close(lib, &d) == IBEX_OK && ok;
}

static int hex64(const char *t)
{
    if (!t || strlen(t) != 64) return 0;
    for (int i = 0; i < 64; i++)
        if (!isxdigit((unsigned char)t[i]) || isupper((unsigned char)t[i])) return 0;
    return 1;
}

int main(void)
{
    ibex_workbench_opts o;
    ibex_workbench_opts_init(&o);
    CHECK(o.struct_size == sizeof o && !strcmp(o.listen, "127.0.0.1:8080") && o.max_upload == IBEX_WORKBENCH_DEFAULT_MAX_UPLOAD);
    CHECK(o.threads == 4 && o.max_jobs == 2 && o.max_shortlist == 100 && o.max_sessions == 64 && !o.lib_path && !o.log);

    char dir[] = "/tmp/ibex-wb-test-XXXXXX", lib[200];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(lib, sizeof lib, "%s/lib.h5", dir);
    CHECK(make_library(lib));

    ibex_workbench *w = NULL;
    ibex_diag d;
    ibex_workbench_opts bad = o;
    bad.struct_size = 0;
    bad.lib_path = lib;
    CHECK(ibex_workbench_create(&bad, &w, &d) == IBEX_ERR_ARG && !w);
    CHECK(ibex_workbench_create(&o, &w, &d) == IBEX_ERR_ARG && !w); /* no library */
    bad = o;
    bad.lib_path = lib;
    bad.listen = "127.0.0.1";
    CHECK(ibex_workbench_create(&bad, &w, &d) == IBEX_ERR_ARG && strstr(d.message, "HOST:PORT"));
    bad.listen = "127.0.0.1:0";
    bad.max_jobs = 0;
    CHECK(ibex_workbench_create(&bad, &w, &d) == IBEX_ERR_ARG);
    bad = o;
    bad.listen = "127.0.0.1:0";
    bad.lib_path = "/nonexistent/lib.h5";
    CHECK(ibex_workbench_create(&bad, &w, &d) != IBEX_OK && !w);

    /* An options struct of an older, shorter caller: the newer fields keep their defaults. */
    bad = o;
    bad.lib_path = lib;
    bad.listen = "127.0.0.1:0";
    bad.temp_dir = dir;
    bad.struct_size = offsetof(ibex_workbench_opts, max_upload);
    ibex_status st = ibex_workbench_create(&bad, &w, &d);
    CHECK_MSG(st == IBEX_OK, "%s", d.message);
    if (w) {
        CHECK(ibex_workbench_port(w) > 0 && hex64(ibex_workbench_token(w)));
        char first[65];
        snprintf(first, sizeof first, "%s", ibex_workbench_token(w));
        ibex_workbench_free(w);
        w = NULL;
        o.lib_path = lib;
        o.listen = "127.0.0.1:0";
        o.temp_dir = dir;
        CHECK(ibex_workbench_create(&o, &w, &d) == IBEX_OK);
        CHECK(w && hex64(ibex_workbench_token(w)) && strcmp(first, ibex_workbench_token(w)) != 0);
        ibex_workbench_free(w);
    }
    ibex_workbench_free(NULL);
    CHECK(ibex_workbench_port(NULL) == 0 && ibex_workbench_token(NULL) == NULL);

    /* Upload names: the base name, no control characters, never cut inside UTF-8. */
    char name[WB_NAME_MAX + 1];
    ibex__wb_clean_name("../../etc/Fadul 1-1.x3p", name, sizeof name);
    CHECK(!strcmp(name, "Fadul 1-1.x3p"));
    ibex__wb_clean_name("C:\\scans\\q.png", name, sizeof name);
    CHECK(!strcmp(name, "q.png"));
    ibex__wb_clean_name("a\r\nb\x1b[31m.x3p", name, sizeof name);
    CHECK(!strcmp(name, "ab[31m.x3p"));
    ibex__wb_clean_name("dir/", name, sizeof name);
    CHECK(!strcmp(name, "upload"));
    ibex__wb_clean_name(NULL, name, sizeof name);
    CHECK(!strcmp(name, "upload"));
    char longname[600];
    memset(longname, 'x', sizeof longname);
    for (int i = WB_NAME_MAX - 3; i < 590; i += 2) memcpy(longname + i, "\xc3\xa9", 2);
    longname[599] = '\0';
    ibex__wb_clean_name(longname, name, sizeof name);
    size_t n = strlen(name);
    CHECK(n <= WB_NAME_MAX && ((unsigned char)name[n - 1] < 0x80 || ((unsigned char)name[n - 2] & 0xe0) == 0xc0));

    /* The folder the servers made and removed is gone; only the library is left. */
    unlink(lib);
    CHECK(rmdir(dir) == 0);
    return check_exit();
}
