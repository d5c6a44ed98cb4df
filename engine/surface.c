/* ibex_surface: allocation, copy, crop, resample, statistics. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ibex/surface.h"
#include "extras_internal.h"
#include "ibex_internal.h"

ibex_status ibex_surface_create(size_t nx, size_t ny, double dx, double dy, ibex_surface **out)
{
    size_t n;
    if (!out || nx == 0 || ny == 0) return IBEX_ERR_ARG;
    if (!(dx > 0) || !(dy > 0) || !isfinite(dx) || !isfinite(dy)) return IBEX_ERR_ARG;
    if (nx > IBEX_MAX_SIDE || ny > IBEX_MAX_SIDE || !ibex__mul_ok(nx, ny, &n) ||
        n > IBEX_MAX_POINTS)
        return IBEX_ERR_LIMIT;
    ibex_surface *s = calloc(1, sizeof *s);
    if (!s) return IBEX_ERR_NOMEM;
    s->z = malloc(n * sizeof *s->z);
    s->valid = calloc(n, 1);
    if (!s->z || !s->valid) {
        ibex_surface_free(s);
        return IBEX_ERR_NOMEM;
    }
    for (size_t i = 0; i < n; i++) s->z[i] = NAN;
    s->nx = nx;
    s->ny = ny;
    s->dx = dx;
    s->dy = dy;
    *out = s;
    return IBEX_OK;
}

void ibex_surface_free(ibex_surface *s)
{
    if (!s) return;
    free(s->z);
    free(s->valid);
    free(s->z64);
    ibex_meta_clear(&s->meta);
    ibex__extras_free(s->extras);
    free(s);
}

/* A new, all-invalid surface with s's other fields (metadata, kind, units, vendor records). */
static ibex_status like(const ibex_surface *s, size_t nx, size_t ny, double dx, double dy,
                        ibex_surface **out)
{
    ibex_surface *c;
    ibex_status st = ibex_surface_create(nx, ny, dx, dy, &c);
    if (st) return st;
    c->zkind = s->zkind;
    c->x0 = s->x0;
    c->y0 = s->y0;
    memcpy(c->units_note, s->units_note, sizeof c->units_note);
    if ((st = ibex_meta_copy(&c->meta, &s->meta))) {
        ibex_surface_free(c);
        return st;
    }
    if (s->extras) {
        if (!(c->extras = ibex__extras_copy(s->extras))) {
            ibex_surface_free(c);
            return IBEX_ERR_NOMEM;
        }
        /* Members tied to the old grid (mask.png) must not be written with the new one. */
        if (nx != s->nx || ny != s->ny || dx != s->dx || dy != s->dy)
            c->extras->geometry_changed = 1;
    }
    *out = c;
    return IBEX_OK;
}

ibex_status ibex_surface_copy(const ibex_surface *s, ibex_surface **out)
{
    ibex_surface *c;
    if (!s || !out) return IBEX_ERR_ARG;
    ibex_status st = like(s, s->nx, s->ny, s->dx, s->dy, &c);
    if (st) return st;
    size_t n = s->nx * s->ny;
    memcpy(c->z, s->z, n * sizeof *c->z);
    memcpy(c->valid, s->valid, n);
    if (s->z64) {
        if (!(c->z64 = malloc(n * sizeof *c->z64))) {
            ibex_surface_free(c);
            return IBEX_ERR_NOMEM;
        }
        memcpy(c->z64, s->z64, n * sizeof *c->z64);
    }
    *out = c;
    return IBEX_OK;
}

int ibex__surface_z64_current(const ibex_surface *s)
{
    if (!s->z64) return 0;
    size_t n = s->nx * s->ny;
    for (size_t i = 0; i < n; i++)
        if (s->valid[i] && !(isfinite(s->z64[i]) && (float)s->z64[i] == s->z[i])) return 0;
    return 1;
}

void ibex_surface_sync_mask(ibex_surface *s)
{
    size_t n = s->nx * s->ny;
    for (size_t i = 0; i < n; i++) {
        s->valid[i] = isfinite(s->z[i]) ? 1 : 0;
        if (!s->valid[i]) s->z[i] = NAN;
    }
    /* z was edited: the double heights it was rounded from no longer describe it */
    if (s->z64 && !ibex__surface_z64_current(s)) {
        free(s->z64);
        s->z64 = NULL;
    }
}

ibex_status ibex_surface_crop(const ibex_surface *s, size_t x, size_t y, size_t w, size_t h,
                              ibex_surface **out)
{
    if (!s || !out || w == 0 || h == 0 || x >= s->nx || y >= s->ny || w > s->nx - x ||
        h > s->ny - y)
        return IBEX_ERR_ARG;
    ibex_surface *c;
    ibex_status st = like(s, w, h, s->dx, s->dy, &c);
    if (st) return st;
    if (s->z64 && !(c->z64 = malloc(w * h * sizeof *c->z64))) {
        ibex_surface_free(c);
        return IBEX_ERR_NOMEM;
    }
    for (size_t r = 0; r < h; r++) {
        memcpy(c->z + r * w, s->z + (y + r) * s->nx + x, w * sizeof *c->z);
        memcpy(c->valid + r * w, s->valid + (y + r) * s->nx + x, w);
        if (c->z64) memcpy(c->z64 + r * w, s->z64 + (y + r) * s->nx + x, w * sizeof *c->z64);
    }
    c->x0 = s->x0 + (double)x * s->dx;
    c->y0 = s->y0 + (double)y * s->dy;
    *out = c;
    return IBEX_OK;
}

ibex_status ibex_surface_resample(const ibex_surface *s, double dx, double dy, ibex_surface **out)
{
    if (!s || !out || !(dx > 0) || !(dy > 0) || !isfinite(dx) || !isfinite(dy))
        return IBEX_ERR_ARG;
    double wx = (double)(s->nx - 1) * s->dx, wy = (double)(s->ny - 1) * s->dy;
    double fnx = floor(wx / dx + 1e-9) + 1, fny = floor(wy / dy + 1e-9) + 1;
    if (fnx > (double)IBEX_MAX_SIDE || fny > (double)IBEX_MAX_SIDE) return IBEX_ERR_LIMIT;
    ibex_surface *c;
    ibex_status st = like(s, (size_t)fnx, (size_t)fny, dx, dy, &c);
    if (st) return st;
    for (size_t r = 0; r < c->ny; r++) {
        double fy = (double)r * dy / s->dy;
        size_t y0 = (size_t)fy;
        if (y0 >= s->ny - 1) y0 = s->ny > 1 ? s->ny - 2 : 0;
        double ty = s->ny > 1 ? fy - (double)y0 : 0;
        size_t y1 = s->ny > 1 ? y0 + 1 : 0;
        for (size_t q = 0; q < c->nx; q++) {
            double fx = (double)q * dx / s->dx;
            size_t x0 = (size_t)fx;
            if (x0 >= s->nx - 1) x0 = s->nx > 1 ? s->nx - 2 : 0;
            double tx = s->nx > 1 ? fx - (double)x0 : 0;
            size_t x1 = s->nx > 1 ? x0 + 1 : 0;
            size_t i00 = y0 * s->nx + x0, i01 = y0 * s->nx + x1;
            size_t i10 = y1 * s->nx + x0, i11 = y1 * s->nx + x1;
            if (!(s->valid[i00] && s->valid[i01] && s->valid[i10] && s->valid[i11])) continue;
            double v = (1 - ty) * ((1 - tx) * s->z[i00] + tx * s->z[i01]) +
                       ty * ((1 - tx) * s->z[i10] + tx * s->z[i11]);
            c->z[r * c->nx + q] = (float)v;
            c->valid[r * c->nx + q] = 1;
        }
    }
    *out = c;
    return IBEX_OK;
}

void ibex_surface_get_stats(const ibex_surface *s, ibex_surface_stats *st)
{
    size_t n = s->nx * s->ny, k = 0;
    double mn = INFINITY, mx = -INFINITY, sum = 0, sum2 = 0;
    for (size_t i = 0; i < n; i++) {
        if (!s->valid[i]) continue;
        double v = s->z[i];
        k++;
        sum += v;
        sum2 += v * v;
        if (v < mn) mn = v;
        if (v > mx) mx = v;
    }
    st->n_valid = k;
    st->valid_fraction = n ? (double)k / (double)n : 0;
    if (k == 0) {
        st->zmin = st->zmax = st->zmean = st->zrms = NAN;
        return;
    }
    st->zmin = mn;
    st->zmax = mx;
    st->zmean = sum / (double)k;
    double var = sum2 / (double)k - st->zmean * st->zmean;
    st->zrms = sqrt(var > 0 ? var : 0);
}
