/* Helpers for the exchange and node tests: a scratch directory, a small analytic surface,
 * node keys and a peers.txt. */
#ifndef IBEX_TEST_EXCHANGE_FIXTURE_H
#define IBEX_TEST_EXCHANGE_FIXTURE_H

#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ibex/ibex.h"
#include "ibex/package.h"

static char scratch_[256];

static inline const char *scratch_dir(void)
{
    if (!scratch_[0]) {
        snprintf(scratch_, sizeof scratch_, "/tmp/ibex-exchange-XXXXXX");
        if (!mkdtemp(scratch_)) {
            perror("mkdtemp");
            exit(2);
        }
    }
    return scratch_;
}

static inline void scratch_path(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", scratch_dir(), name);
}

static int rm_one_(const char *p, const struct stat *sb, int flag, struct FTW *f)
{
    (void)sb;
    (void)flag;
    (void)f;
    return remove(p);
}

static inline void scratch_remove(void)
{
    if (scratch_[0]) nftw(scratch_, rm_one_, 16, FTW_DEPTH | FTW_PHYS);
}

/* z = A sin(2 pi x / L) cos(2 pi y / L) in metres on a small grid, with a few holes. */
static inline ibex_surface *analytic_surface(size_t nx, size_t ny)
{
    ibex_surface *s = NULL;
    if (ibex_surface_create(nx, ny, 1.5e-6, 1.5e-6, &s) != IBEX_OK) return NULL;
    for (size_t y = 0; y < ny; y++)
        for (size_t x = 0; x < nx; x++)
            s->z[y * nx + x] = (x * 7 + y * 3) % 17 == 0
                                   ? NAN
                                   : (float)(2e-6 * sin(2 * M_PI * x / 11.0) * cos(2 * M_PI * y / 7.0));
    ibex_surface_sync_mask(s);
    ibex_meta_set(&s->meta, "agency", "Test Lab");
    ibex_meta_set(&s->meta, "specimen_kind", "cartridge");
    return s;
}

/* A key named name, written to DIR/name.key (+ .pub). */
static inline ibex_node_key *make_key(const char *name)
{
    ibex_node_key *k = NULL;
    ibex_diag d;
    char p[512], f[128];
    snprintf(f, sizeof f, "%s.key", name);
    scratch_path(p, sizeof p, f);
    if (ibex_node_key_generate(name, &k, &d) != IBEX_OK || ibex_node_key_write(k, p, &d) != IBEX_OK) {
        fprintf(stderr, "make_key %s: %s\n", name, d.message);
        exit(2);
    }
    return k;
}

/* peers.txt listing the given keys (NULL-terminated). */
static inline void write_peers(const char *path, ibex_node_key *const *keys)
{
    FILE *f = fopen(path, "w");
    if (!f) exit(2);
    fprintf(f, "# test peers\n");
    for (size_t i = 0; keys[i]; i++) {
        char hex[65];
        ibex_node_key_public_hex(keys[i], hex);
        fprintf(f, "%s %s http://127.0.0.1:1\n", ibex_node_key_name(keys[i]), hex);
    }
    fclose(f);
}

static inline unsigned char *slurp(const char *path, size_t *n)
{
    unsigned char *d = NULL;
    ibex_diag dg;
    if (ibex_file_read_all(path, (size_t)1 << 30, &d, n, &dg) != IBEX_OK) return NULL;
    return d;
}

static inline int spit(const char *path, const void *d, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    int ok = fwrite(d, 1, n, f) == n;
    return fclose(f) == 0 && ok;
}

/* One HTTP answer read from fd (until its header and the Content-Length it announces are
 * in, or the end): its status, 0 when the node closed without one, -1 on a receive timeout
 * before any byte, -3 for something that is no HTTP answer; the body into body. */
static inline long http_answer(int fd, char *body, size_t size)
{
    static _Thread_local char in[1 << 16];
    size_t got = 0;
    for (;;) {
        ssize_t k = recv(fd, in + got, sizeof in - 1 - got, 0);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && !got) return -1;
        if (k <= 0) break;
        got += (size_t)k;
        in[got] = 0;
        const char *end = strstr(in, "\r\n\r\n"), *cl = strcasestr(in, "\r\nContent-Length:");
        if (end && cl && cl < end && got >= (size_t)(end + 4 - in) + strtoul(cl + 17, NULL, 10)) break;
        if (got == sizeof in - 1) break;
    }
    in[got] = 0;
    long st = 0;
    if (got && sscanf(in, "HTTP/1.%*d %ld", &st) != 1) st = -3;
    const char *end = strstr(in, "\r\n\r\n");
    if (body && size) snprintf(body, size, "%s", end ? end + 4 : "");
    return st;
}

#endif
