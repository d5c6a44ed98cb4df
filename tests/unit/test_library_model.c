/* Library storage of the per-kind index model (/index/<kind>: float32 matrices and text
 * attributes): bit-exact round trip, replacement, absent items, refusals, and crash
 * safety (a writer that dies inside a transaction leaves the last committed model).
 * References: the arrays written. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "ibex/ibex.h"
#include "ibex/library.h"

static int same(const float *a, const float *b, size_t n) { return memcmp(a, b, n * sizeof *a) == 0; }

int main(void)
{
    char dir[] = "/tmp/ibex_model_XXXXXX";
    if (!mkdtemp(dir)) return 1;
    char path[300];
    snprintf(path, sizeof path, "%s/lib.h5", dir);
    ibex_library_opts o;
    ibex_library_opts_init(&o);
    o.flags = IBEX_LIBRARY_WRITE | IBEX_LIBRARY_NOSYNC;
    o.params = "preprocess=none\n";
    ibex_library *lib = NULL;
    ibex_diag d;
    CHECK(ibex_library_create(path, &o, &lib, &d) == IBEX_OK);
    if (!lib) return check_exit();

    enum { R = 5, C = 37 };
    float a[R * C], b[R * C];
    for (int i = 0; i < R * C; i++) {
        a[i] = (float)(i * 0.37 - 11.0) / 3.0f; /* non-representable decimals: bit test */
        b[i] = -a[i] * 1.5f;
    }
    CHECK(ibex_library_model_put_matrix(lib, "cartridge", "pca_basis", R, C, a, &d) == IBEX_OK);
    CHECK(ibex_library_model_put_text(lib, "cartridge", "descriptor_opts", "ibex-descriptor-v1 x=1", &d) == IBEX_OK);
    /* transaction: replace the matrix and add a text, committed together */
    CHECK(ibex_library_begin(lib, &d) == IBEX_OK);
    CHECK(ibex_library_model_put_matrix(lib, "cartridge", "pca_basis", R, C, b, &d) == IBEX_OK);
    CHECK(ibex_library_model_put_text(lib, "cartridge", "pca_fit_count", "40", &d) == IBEX_OK);
    CHECK(ibex_library_commit(lib, &d) == IBEX_OK);
    /* refusals */
    CHECK(ibex_library_model_put_matrix(lib, "../x", "m", 1, 1, a, &d) == IBEX_ERR_ARG);
    CHECK(ibex_library_model_put_matrix(lib, "cartridge", "a/b", 1, 1, a, &d) == IBEX_ERR_ARG);
    CHECK(ibex_library_model_put_text(lib, "cartridge", "t", NULL, &d) == IBEX_ERR_ARG);
    CHECK(ibex_library_close(lib, &d) == IBEX_OK);

    /* A writer that dies inside a transaction (no commit, no close). */
    pid_t pid = fork();
    if (pid == 0) {
        ibex_library *w = NULL;
        ibex_library_opts ow;
        ibex_library_opts_init(&ow);
        ow.flags = IBEX_LIBRARY_WRITE | IBEX_LIBRARY_NOSYNC;
        if (ibex_library_open(path, &ow, &w, NULL) != IBEX_OK) _exit(3);
        if (ibex_library_begin(w, NULL) != IBEX_OK) _exit(4);
        if (ibex_library_model_put_matrix(w, "cartridge", "pca_basis", R, C, a, NULL) != IBEX_OK) _exit(5);
        if (ibex_library_model_put_text(w, "cartridge", "pca_fit_count", "999", NULL) != IBEX_OK) _exit(6);
        _exit(0); /* killed before the commit */
    }
    int ws = 0;
    waitpid(pid, &ws, 0);
    CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);

    /* Read-only reopen: the last committed model, bit-exact. */
    CHECK(ibex_library_open(path, NULL, &lib, &d) == IBEX_OK);
    size_t r = 0, c = 0;
    float *x = NULL;
    CHECK(ibex_library_model_get_matrix(lib, "cartridge", "pca_basis", &r, &c, &x, &d) == IBEX_OK);
    CHECK(r == R && c == C && x && same(x, b, R * C));
    free(x);
    char *t = NULL;
    CHECK(ibex_library_model_get_text(lib, "cartridge", "pca_fit_count", &t, &d) == IBEX_OK);
    CHECK(t && !strcmp(t, "40"));
    free(t);
    t = NULL;
    CHECK(ibex_library_model_get_text(lib, "cartridge", "descriptor_opts", &t, &d) == IBEX_OK);
    CHECK(t && !strcmp(t, "ibex-descriptor-v1 x=1"));
    free(t);
    x = NULL;
    CHECK(ibex_library_model_get_matrix(lib, "bullet", "pca_basis", &r, &c, &x, &d) == IBEX_ERR_FORMAT && !x);
    CHECK(strstr(d.message, "/index/bullet/pca_basis") != NULL);
    CHECK(ibex_library_model_get_matrix(lib, "cartridge", "pca_mean", &r, &c, &x, &d) == IBEX_ERR_FORMAT);
    CHECK(ibex_library_model_get_text(lib, "cartridge", "nothing", &t, &d) == IBEX_ERR_FORMAT);
    CHECK(ibex_library_model_put_text(lib, "cartridge", "x", "y", &d) == IBEX_ERR_ARG); /* read-only */
    ibex_library_close(lib, NULL);

    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", dir);
    return check_exit();
}
