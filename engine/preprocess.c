/* Cartridge-case preprocessing: each step a function, its parameters logged in info->steps.
 * What a scan needs is read from its content, never from its spacing or its source:
 *  - cropped: the corners of its valid bounding box (outside the inscribed ellipse) hold
 *    almost no valid point, so the exterior is gone already; otherwise the breech-face
 *    region is found from the radial profile about the primer's centre: primer edge and
 *    firing-pin impression, sector by sector (region());
 *  - band-limited: a cropped scan whose energy at wavelengths beyond the long cut-off is a
 *    small part of the whole was filtered by whoever cropped it (CSAFE's Fadul and Cadre
 *    files: 22-38 % of the RMS; a raw scan: 96 %); filtering twice would narrow its band.
 * Order: robust plane levelling and outlier removal, breech-face region (uncropped scans),
 * block mean by the whole factor between the native and the target spacing (anti-aliasing),
 * bilinear resampling to the target spacing, Gaussian band-pass there (fewer points: a
 * 5-megapixel image preprocesses in a few hundred ms; skipped for band-limited scans), crop
 * to the valid bounding box. Resampling policy: a scan is never upsampled; a scan coarser
 * than the target keeps its spacing, and ibex_preprocess_pair_spacing chooses one spacing
 * for two scans so that only the finer one is resampled. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmc_internal.h"
#include "ibex_internal.h"

void ibex_preprocess_opts_init(ibex_preprocess_opts *o)
{
    memset(o, 0, sizeof *o);
    o->struct_size = sizeof *o;
    o->mode = IBEX_PREPROCESS_AUTO;
    o->spacing = 6.25e-6;
    o->max_side = 1024;
    o->lambda_short = 16e-6;
    o->lambda_long = 500e-6;
    o->outlier_k = 6;
    o->crop_exterior = 1;
    o->remove_firing_pin = 1;
}

static void logf_(ibex_preprocess_info *in, const char *fmt, ...) IBEX__PRINTF(2, 3);
static void logf_(ibex_preprocess_info *in, const char *fmt, ...)
{
    size_t l = strlen(in->steps);
    if (l + 2 >= sizeof in->steps) return;
    if (l) {
        in->steps[l++] = ';';
        in->steps[l++] = ' ';
        in->steps[l] = 0;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(in->steps + l, sizeof in->steps - l, fmt, ap);
    va_end(ap);
}

/* Median of v[0..n) (reorders v); mean of the two middle values for even n. */
static double medianf(float *v, size_t n)
{
    if (!n) return 0;
    float hi = ibex__select_k(v, n, n / 2);
    if (n % 2) return hi;
    float lo = v[0];
    for (size_t i = 1; i < n / 2; i++) /* after selection, v[0..n/2) holds the lower half */
        if (v[i] > lo) lo = v[i];
    return 0.5 * ((double)lo + hi);
}

/* Least-squares plane over points with w[i] set, x and y centred; returns 0 if singular. */
static int fit_plane(const ibex_surface *s, const unsigned char *w, size_t st, double cx,
                     double cy, double p[3])
{
    double S[3][3] = {{0}}, b[3] = {0};
    for (size_t y = 0; y < s->ny; y += st)
        for (size_t x = 0; x < s->nx; x += st) {
            size_t i = y * s->nx + x;
            if (!w[i]) continue;
            double v[3] = {1, (double)x - cx, (double)y - cy}, z = s->z[i];
            for (int r = 0; r < 3; r++) {
                b[r] += v[r] * z;
                for (int c = 0; c < 3; c++) S[r][c] += v[r] * v[c];
            }
        }
    /* Gaussian elimination with partial pivoting on a 3x3 */
    for (int c = 0; c < 3; c++) {
        int piv = c;
        for (int r = c + 1; r < 3; r++)
            if (fabs(S[r][c]) > fabs(S[piv][c])) piv = r;
        if (fabs(S[piv][c]) < 1e-12) return 0;
        for (int k = 0; k < 3; k++) {
            double t = S[c][k];
            S[c][k] = S[piv][k];
            S[piv][k] = t;
        }
        double t = b[c];
        b[c] = b[piv];
        b[piv] = t;
        for (int r = c + 1; r < 3; r++) {
            double f = S[r][c] / S[c][c];
            for (int k = c; k < 3; k++) S[r][k] -= f * S[c][k];
            b[r] -= f * b[c];
        }
    }
    for (int r = 2; r >= 0; r--) {
        double acc = b[r];
        for (int k = r + 1; k < 3; k++) acc -= S[r][k] * p[k];
        p[r] = acc / S[r][r];
    }
    return 1;
}

/* Robust plane: least squares, then refit three times on the points within 3 robust
 * sigma (1.4826 MAD) of the current plane; subtracts it and invalidates |residual| >
 * k sigma when k > 0. The fit uses every st-th point in x and y (at most ~1M points):
 * three parameters need no more, and a 5-megapixel image levels in milliseconds. */
static ibex_status level(ibex_surface *s, double k, ibex_preprocess_info *info)
{
    size_t n = s->nx * s->ny, nv = 0;
    unsigned char *w = malloc(n);
    float *res = malloc(n * sizeof *res);
    if (!w || !res) {
        free(w);
        free(res);
        return IBEX_ERR_NOMEM;
    }
    memcpy(w, s->valid, n);
    size_t st = 1;
    while ((n / (st * st)) > 1000000) st++;
    double cx = ((double)s->nx - 1) / 2, cy = ((double)s->ny - 1) / 2, p[3] = {0, 0, 0}, sig = 0;
    for (int it = 0; it < 4; it++) {
        double q[3];
        if (!fit_plane(s, w, st, cx, cy, q)) break;
        memcpy(p, q, sizeof p);
        nv = 0;
        for (size_t y = 0; y < s->ny; y += st)
            for (size_t x = 0; x < s->nx; x += st) {
                size_t i = y * s->nx + x;
                if (s->valid[i])
                    res[nv++] = (float)fabs(s->z[i] - (p[0] + p[1] * ((double)x - cx) + p[2] * ((double)y - cy)));
            }
        sig = 1.4826 * medianf(res, nv);
        for (size_t y = 0; y < s->ny; y += st)
            for (size_t x = 0; x < s->nx; x += st) {
                size_t i = y * s->nx + x;
                double r = s->z[i] - (p[0] + p[1] * ((double)x - cx) + p[2] * ((double)y - cy));
                w[i] = s->valid[i] && (sig <= 0 || fabs(r) <= 3 * sig);
            }
    }
    size_t out = 0;
    for (size_t y = 0; y < s->ny; y++)
        for (size_t x = 0; x < s->nx; x++) {
            size_t i = y * s->nx + x;
            if (!s->valid[i]) continue;
            double r = s->z[i] - (p[0] + p[1] * ((double)x - cx) + p[2] * ((double)y - cy));
            if (k > 0 && sig > 0 && fabs(r) > k * sig) {
                s->z[i] = NAN;
                s->valid[i] = 0;
                out++;
            } else {
                s->z[i] = (float)r;
            }
        }
    /* plane in metres about the origin of the grid */
    info->plane[1] = p[1] / s->dx;
    info->plane[2] = p[2] / s->dy;
    info->plane[0] = p[0] - p[1] * cx - p[2] * cy;
    info->outliers += out;
    free(w);
    free(res);
    return IBEX_OK;
}

/* Mean of the f x f block (bx, by) of s: NAN unless at least half its points are valid. */
static float block_mean(const ibex_surface *s, size_t f, size_t bx, size_t by)
{
    double sum = 0;
    size_t k = 0;
    for (size_t v = 0; v < f; v++)
        for (size_t u = 0; u < f; u++) {
            size_t i = (by * f + v) * s->nx + bx * f + u;
            if (s->valid[i]) {
                sum += s->z[i];
                k++;
            }
        }
    return k && 2 * k >= f * f ? (float)(sum / (double)k) : NAN;
}

/* out[b] = median of the valid ones of in[b-1..b+1] (NAN where in[b] is NAN). */
static void running_median3(const float *in, size_t nb, float *out)
{
    for (size_t b = 0; b < nb; b++) {
        float w[3];
        size_t k = 0;
        for (size_t c = b ? b - 1 : 0; c <= b + 1 && c < nb; c++)
            if (!isnan(in[c])) w[k++] = in[c];
        out[b] = isnan(in[b]) ? NAN : (float)medianf(w, k);
    }
}

/* Fallback breech-face region, when region() finds no flat primer: keep the disc inscribed
 * in the valid bounding box about the valid centroid, and mask the firing-pin impression: the
 * central rings whose median level departs from the breech face (the annulus 0.6-0.9 R)
 * by more than 3 robust sigma, grown by 10%. */
static ibex_status region_inscribed(ibex_surface *s, const ibex_preprocess_opts *o,
                                    ibex_preprocess_info *info)
{
    size_t nx = s->nx, ny = s->ny, x0 = nx, x1 = 0, y0 = ny, y1 = 0, k = 0;
    double mx = 0, my = 0;
    for (size_t y = 0; y < ny; y++)
        for (size_t x = 0; x < nx; x++)
            if (s->valid[y * nx + x]) {
                mx += (double)x;
                my += (double)y;
                k++;
                if (x < x0) x0 = x;
                if (x > x1) x1 = x;
                if (y < y0) y0 = y;
                if (y > y1) y1 = y;
            }
    if (!k) return IBEX_OK;
    mx /= (double)k;
    my /= (double)k;
    double R = 0.5 * fmin((double)(x1 - x0), (double)(y1 - y0));
    if (o->crop_exterior) {
        for (size_t y = 0; y < ny; y++)
            for (size_t x = 0; x < nx; x++) {
                double ex = (double)x - mx, ey = (double)y - my;
                if (ex * ex + ey * ey > R * R) {
                    s->valid[y * nx + x] = 0;
                    s->z[y * nx + x] = NAN;
                }
            }
        info->r_outer = R * s->dx;
        info->centre_x = mx * s->dx;
        info->centre_y = my * s->dy;
        logf_(info, "exterior: disc r=%.0f um about (%.0f, %.0f) um", R * s->dx * 1e6,
              mx * s->dx * 1e6, my * s->dy * 1e6);
    }
    if (!o->remove_firing_pin || R < 10) return IBEX_OK;
    enum { NR = 50 };
    size_t cnt[NR] = {0};
    float **ring = calloc(NR, sizeof *ring);
    float *ann = malloc(nx * ny * sizeof *ann);
    if (!ring || !ann) {
        free(ring);
        free(ann);
        return IBEX_ERR_NOMEM;
    }
    size_t na = 0, sst = 1; /* ring statistics on every sst-th point (<= ~250k points) */
    while (nx * ny / (sst * sst) > 250000) sst++;
    for (size_t y = 0; y < ny; y += sst)
        for (size_t x = 0; x < nx; x += sst) {
            size_t i = y * nx + x;
            if (!s->valid[i]) continue;
            double d = hypot((double)x - mx, (double)y - my) / R;
            if (d >= 0.6 && d <= 0.9) ann[na++] = s->z[i];
            if (d < 1) cnt[(size_t)(d * NR)]++;
        }
    ibex_status st = IBEX_OK;
    for (size_t b = 0; b < NR && !st; b++)
        if (cnt[b] && !(ring[b] = malloc(cnt[b] * sizeof **ring))) st = IBEX_ERR_NOMEM;
    if (!st && na > 16) {
        size_t fill[NR] = {0};
        for (size_t y = 0; y < ny; y += sst)
            for (size_t x = 0; x < nx; x += sst) {
                size_t i = y * nx + x;
                if (!s->valid[i]) continue;
                double d = hypot((double)x - mx, (double)y - my) / R;
                if (d < 1) {
                    size_t b = (size_t)(d * NR);
                    ring[b][fill[b]++] = s->z[i];
                }
            }
        double ref = medianf(ann, na);
        for (size_t i = 0; i < na; i++) ann[i] = (float)fabs(ann[i] - ref);
        double sig = 1.4826 * medianf(ann, na);
        size_t last = 0; /* rings [0, last) depart */
        for (size_t b = 0; b < NR / 2; b++) {
            if (cnt[b] < 8) {
                if (b == last) last = b + 1; /* empty centre rings: the hole itself */
                continue;
            }
            double mb = medianf(ring[b], cnt[b]);
            if (fabs(mb - ref) > 3 * sig) last = b + 1;
            else break;
        }
        if (last > 0 && sig > 0) {
            double rf = 1.1 * R * (double)last / NR;
            for (size_t y = 0; y < ny; y++)
                for (size_t x = 0; x < nx; x++)
                    if (((double)x - mx) * ((double)x - mx) + ((double)y - my) * ((double)y - my) < rf * rf) {
                        s->valid[y * nx + x] = 0;
                        s->z[y * nx + x] = NAN;
                    }
            info->r_firing_pin = rf * s->dx;
            logf_(info, "firing pin: disc r=%.0f um masked", rf * s->dx * 1e6);
        } else {
            logf_(info, "firing pin: none found");
        }
    }
    for (size_t b = 0; b < NR; b++) free(ring[b]);
    free(ring);
    free(ann);
    return st;
}

/* Segmentation of an uncropped (raw) scan, all in physical units:
 *  - centre: the point about which the scan is most concentric (least height variance
 *    within 40 um rings, on 40 um block means), searched over the middle 30 % of the
 *    valid box: primer edge, gap, firing-pin impression and flow-back share it;
 *  - radial profile: median height in 20 um rings about it (3-ring running median);
 *  - primer gap: the most prominent interior minimum of the profile (>= 20 um below the
 *    heights on both sides), else the end of the data;
 *  - breech face: walking inwards from the gap, the first 100 um of flat profile (slope
 *    <= 0.1) gives its level; it is grown inwards and outwards over the rings whose median
 *    is within max(10 um, 3 robust sigma of the ring medians) of that level, and the plane
 *    of the points in it removed; twice, so the rings are measured on the breech-face plane;
 *  - edges, in 36 sectors of 10 deg (primer, aperture and pin need not be concentric): the
 *    sector's face is its longest run of rings within that tolerance meeting the face ring;
 *    outwards it ends at the primer edge (rounded into the gap), inwards at the firing-pin
 *    impression (the pit, and the primer flowed back into the firing-pin aperture, above
 *    the face); both cut with a 40 um margin, the radii interpolated between sectors.
 * No flat primer in the profile: the inscribed disc (region_inscribed). info->plane stays
 * the whole scan's plane; the face plane removed here is not added to it. */
#define SEG_CELL 40e-6      /* block size of the centre search */
#define SEG_BIN 20e-6       /* ring width of the radial profile */
#define SEG_SEARCH 0.15     /* centre searched within +-15 % of the valid box's smaller side */
#define SEG_PROMINENCE 20e-6 /* the gap lies this far below the profile on both sides */
#define SEG_FLAT_SLOPE 0.1  /* flat profile: |dz/dr| at most this */
#define SEG_FLAT_RUN 100e-6 /* flat run that anchors the breech-face level */
#define SEG_TOL_MIN 10e-6   /* rings within max(this, 3 sigma) of the face level belong to it */
#define SEG_MARGIN 40e-6   /* cut inside the primer edge and outside the firing pin */

/* Height variance about ring means (ring width 1 cell) within radius rl of (cx, cy) on the
 * block-mean grid g (cnx x cny, NAN = empty). */
static double ring_variance(const float *g, size_t cnx, size_t cny, double cx, double cy,
                            double rl, double *acc)
{
    size_t nb = (size_t)rl + 2;
    memset(acc, 0, 3 * nb * sizeof *acc);
    size_t ylo = cy > rl ? (size_t)(cy - rl) : 0, xlo = cx > rl ? (size_t)(cx - rl) : 0;
    size_t yhi = (size_t)fmin((double)cny - 1, cy + rl), xhi = (size_t)fmin((double)cnx - 1, cx + rl);
    for (size_t y = ylo; y <= yhi; y++)
        for (size_t x = xlo; x <= xhi; x++) {
            float z = g[y * cnx + x];
            if (isnan(z)) continue;
            double r = hypot((double)x - cx, (double)y - cy);
            if (r >= rl) continue;
            double *a = acc + 3 * (size_t)r;
            a[0] += 1;
            a[1] += z;
            a[2] += (double)z * z;
        }
    double v = 0, n = 0;
    for (size_t b = 0; b < nb; b++) {
        double *a = acc + 3 * b;
        if (a[0] < 2) continue;
        v += a[2] - a[1] * a[1] / a[0];
        n += a[0];
    }
    return n > 0 ? v / n : INFINITY;
}

/* Radial profile about (cx, cy) (points): median height of every sst-th point in rings of
 * width bw points; prof[b] = NAN for rings with fewer than 8 valid points. */
static ibex_status radial_profile(const ibex_surface *s, double cx, double cy, double bw,
                                  size_t nb, size_t sst, float *prof, size_t *cnt)
{
    size_t nx = s->nx, ny = s->ny, *off = calloc(nb + 1, sizeof *off);
    size_t *fill = calloc(nb, sizeof *fill);
    float *raw = malloc(nb * sizeof *raw), *v = NULL;
    ibex_status st = IBEX_OK;
    if (!off || !fill || !raw) {
        st = IBEX_ERR_NOMEM;
        goto done;
    }
    memset(cnt, 0, nb * sizeof *cnt);
    /* two passes over the sampled points: count per ring, then gather the heights */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t y = 0; y < ny; y += sst)
            for (size_t x = 0; x < nx; x += sst) {
                size_t i = y * nx + x;
                if (!s->valid[i]) continue;
                size_t b = (size_t)(hypot((double)x - cx, (double)y - cy) / bw);
                if (b >= nb) continue;
                if (pass == 0) cnt[b]++;
                else v[off[b] + fill[b]++] = s->z[i];
            }
        if (pass == 0) {
            for (size_t b = 0; b < nb; b++) off[b + 1] = off[b] + cnt[b];
            if (!(v = malloc((off[nb] ? off[nb] : 1) * sizeof *v))) {
                st = IBEX_ERR_NOMEM;
                goto done;
            }
        }
    }
    for (size_t b = 0; b < nb; b++)
        raw[b] = cnt[b] >= 8 ? (float)medianf(v + off[b], cnt[b]) : NAN;
    running_median3(raw, nb, prof);
done:
    free(raw);
    free(off);
    free(v);
    free(fill);
    return st;
}

/* Robust plane of the valid points whose radius about (cx, cy) lies in [r0, r1) (points),
 * subtracted from the whole surface; robust sigma of the residuals in that ring to *sig. */
static ibex_status face_plane(ibex_surface *s, double cx, double cy, double r0, double r1,
                              size_t sst, double *sig)
{
    size_t nx = s->nx, ny = s->ny, n = nx * ny;
    unsigned char *ring = calloc(n, 1), *w = malloc(n);
    float *res = malloc(n * sizeof *res);
    if (!ring || !w || !res) {
        free(ring);
        free(w);
        free(res);
        return IBEX_ERR_NOMEM;
    }
    for (size_t y = 0; y < ny; y += sst)
        for (size_t x = 0; x < nx; x += sst) {
            size_t i = y * nx + x;
            double r = hypot((double)x - cx, (double)y - cy);
            ring[i] = s->valid[i] && r >= r0 && r < r1;
        }
    memcpy(w, ring, n);
#define FACE_RESIDUAL(x, y, i) (s->z[i] - (p[0] + p[1] * ((double)(x) - cx) + p[2] * ((double)(y) - cy)))
    double p[3] = {0, 0, 0};
    *sig = 0;
    for (int it = 0; it < 3; it++) {
        double q[3];
        if (!fit_plane(s, w, sst, cx, cy, q)) break;
        memcpy(p, q, sizeof p);
        size_t k = 0;
        for (size_t y = 0; y < ny; y += sst)
            for (size_t x = 0; x < nx; x += sst)
                if (ring[y * nx + x]) res[k++] = (float)fabs(FACE_RESIDUAL(x, y, y * nx + x));
        *sig = 1.4826 * medianf(res, k);
        for (size_t y = 0; y < ny; y += sst)
            for (size_t x = 0; x < nx; x += sst) {
                size_t i = y * nx + x;
                w[i] = ring[i] && fabs(FACE_RESIDUAL(x, y, i)) <= 3 * *sig;
            }
    }
    for (size_t y = 0; y < ny; y++)
        for (size_t x = 0; x < nx; x++) {
            size_t i = y * nx + x;
            if (s->valid[i]) s->z[i] = (float)FACE_RESIDUAL(x, y, i);
        }
#undef FACE_RESIDUAL
    free(ring);
    free(w);
    free(res);
    return IBEX_OK;
}

/* Grow the run [*b0, *b1) of rings within tol of level zb as far as it goes both ways. */
static void grow_run(const float *prof, size_t nb, double zb, double tol, size_t *b0, size_t *b1)
{
    while (*b0 > 0 && !isnan(prof[*b0 - 1]) && fabs(prof[*b0 - 1] - zb) <= tol) (*b0)--;
    while (*b1 < nb && !isnan(prof[*b1]) && fabs(prof[*b1] - zb) <= tol) (*b1)++;
}

/* Per-sector edges: in each of SEG_NS angular sectors about (cx, cy), the median height in
 * rings of width bw points (3-ring running median); the face there is the longest run of
 * rings within tol of zb (inside ring bg) that meets the whole scan's face ring [g0, g1);
 * rin/rout in points (equal when none), smoothed by a running median of 3 sectors. Rings
 * near the centre (under 20 points per sector) with under 5 valid points in a sector take
 * the whole ring's median gprof. */
#define SEG_NS 36
static ibex_status sector_edges(const ibex_surface *s, double cx, double cy, double bw,
                                size_t g0, size_t g1, size_t bg, double zb, double tol,
                                const float *gprof, size_t gnb, double *rin, double *rout)
{
    size_t nx = s->nx, ny = s->ny, nb = bg + 1, nc = SEG_NS * nb;
    size_t *cnt = calloc(nc + 1, sizeof *cnt), *fill = calloc(nc, sizeof *fill);
    float *v = NULL, *pr = malloc(nb * sizeof *pr), *sm = malloc(nb * sizeof *sm);
    ibex_status st = IBEX_OK;
    if (!cnt || !fill || !pr || !sm) st = IBEX_ERR_NOMEM;
    for (int pass = 0; pass < 2 && !st; pass++) {
        for (size_t y = 0; y < ny; y++)
            for (size_t x = 0; x < nx; x++) {
                size_t i = y * nx + x;
                if (!s->valid[i]) continue;
                double ex = (double)x - cx, ey = (double)y - cy;
                size_t b = (size_t)(hypot(ex, ey) / bw);
                if (b >= nb) continue;
                double a = atan2(ey, ex) / (2 * M_PI) + 0.5; /* [0, 1] */
                size_t k = (size_t)(a * SEG_NS) % SEG_NS, c = k * nb + b;
                if (pass == 0) cnt[c + 1]++;
                else v[cnt[c] + fill[c]++] = s->z[i];
            }
        if (pass == 0) {
            for (size_t c = 0; c < nc; c++) cnt[c + 1] += cnt[c];
            if (!(v = malloc((cnt[nc] ? cnt[nc] : 1) * sizeof *v))) st = IBEX_ERR_NOMEM;
        }
    }
    double ri[SEG_NS], ro[SEG_NS];
    for (size_t k = 0; k < SEG_NS && !st; k++) {
        for (size_t b = 0; b < nb; b++) {
            size_t c = k * nb + b, m = cnt[c + 1] - cnt[c];
            /* rings too short in a sector (near the centre) take the whole ring's median */
            int short_ring = 2 * M_PI * ((double)b + 0.5) * bw * bw < 20 * SEG_NS;
            pr[b] = m >= 5 ? (float)medianf(v + cnt[c], m) : short_ring && b < gnb ? gprof[b] : NAN;
        }
        running_median3(pr, nb, sm);
        /* the longest run of rings within tol that meets the face ring [g0, g1) */
        size_t b0 = 0, b1 = 0, b = 0;
#define SEG_IN(b) (!isnan(sm[b]) && fabs(sm[b] - zb) <= tol)
        while (b < bg) {
            if (!SEG_IN(b)) {
                b++;
                continue;
            }
            size_t r0 = b;
            while (b < bg && SEG_IN(b)) b++;
            if (r0 < g1 && b > g0 && b - r0 > b1 - b0) {
                b0 = r0;
                b1 = b;
            }
        }
#undef SEG_IN
        ri[k] = (double)b0 * bw;
        ro[k] = (double)b1 * bw;
    }
    for (size_t k = 0; k < SEG_NS && !st; k++) {
        double a[3] = {ri[(k + SEG_NS - 1) % SEG_NS], ri[k], ri[(k + 1) % SEG_NS]};
        double b[3] = {ro[(k + SEG_NS - 1) % SEG_NS], ro[k], ro[(k + 1) % SEG_NS]};
        rin[k] = fmax(fmin(a[0], a[1]), fmin(fmax(a[0], a[1]), a[2]));
        rout[k] = fmax(fmin(b[0], b[1]), fmin(fmax(b[0], b[1]), b[2]));
    }
    free(cnt);
    free(fill);
    free(v);
    free(pr);
    free(sm);
    return st;
}

/* r(theta) interpolated between sector centres */
static double sector_r(const double *r, double ex, double ey)
{
    double a = (atan2(ey, ex) / (2 * M_PI) + 0.5) * SEG_NS - 0.5;
    double f = floor(a), t = a - f;
    size_t k0 = (size_t)((long)f + SEG_NS) % SEG_NS, k1 = (k0 + 1) % SEG_NS;
    return (1 - t) * r[k0] + t * r[k1];
}

static ibex_status region(ibex_surface *s, const ibex_preprocess_opts *o,
                          ibex_preprocess_info *info)
{
    size_t nx = s->nx, ny = s->ny, x0 = nx, x1 = 0, y0 = ny, y1 = 0;
    for (size_t y = 0; y < ny; y++)
        for (size_t x = 0; x < nx; x++)
            if (s->valid[y * nx + x]) {
                if (x < x0) x0 = x;
                if (x > x1) x1 = x;
                if (y < y0) y0 = y;
                if (y > y1) y1 = y;
            }
    if (x0 > x1) return IBEX_OK;
    double dx = s->dx;
    /* block means for the centre search */
    size_t bs = (size_t)fmax(1, floor(SEG_CELL / dx + 0.5)), cnx = nx / bs, cny = ny / bs;
    double side = fmin((double)(x1 - x0), (double)(y1 - y0)); /* points */
    double hs = SEG_SEARCH * side / (double)bs, rl = (0.5 - SEG_SEARCH) * side / (double)bs;
    if (cnx < 8 || cny < 8 || rl < 8) return region_inscribed(s, o, info);
    float *g = malloc(cnx * cny * sizeof *g);
    double *acc = malloc(3 * ((size_t)rl + 2) * sizeof *acc);
    if (!g || !acc) {
        free(g);
        free(acc);
        return IBEX_ERR_NOMEM;
    }
    for (size_t cy = 0; cy < cny; cy++)
        for (size_t cx = 0; cx < cnx; cx++) g[cy * cnx + cx] = block_mean(s, bs, cx, cy);
    /* coarse-to-fine search (block units; block (i) covers points [i bs, (i+1) bs)) */
    double bx = (0.5 * (double)(x0 + x1) + 0.5) / (double)bs - 0.5;
    double by = (0.5 * (double)(y0 + y1) + 0.5) / (double)bs - 0.5;
    double best = INFINITY, ccx = bx, ccy = by;
    double step[3] = {fmax(1, hs / 8), 1, 0.25}; /* each level spans +-1 step of the last */
    for (int lv = 0; lv < 3; lv++) {
        double sp = lv ? step[lv - 1] : hs, ox = lv ? ccx : bx, oy = lv ? ccy : by;
        for (double v = -sp; v <= sp + 1e-9; v += step[lv])
            for (double u = -sp; u <= sp + 1e-9; u += step[lv]) {
                if (fabs(ox + u - bx) > hs || fabs(oy + v - by) > hs) continue;
                double c = ring_variance(g, cnx, cny, ox + u, oy + v, rl, acc);
                if (c < best) {
                    best = c;
                    ccx = ox + u;
                    ccy = oy + v;
                }
            }
    }
    free(g);
    free(acc);
    double mx = (ccx + 0.5) * (double)bs - 0.5, my = (ccy + 0.5) * (double)bs - 0.5; /* points */
    /* radial profile out to the farthest corner of the valid box */
    double bw = SEG_BIN / dx, rmax = 0;
    const double cxs[2] = {(double)x0, (double)x1}, cys[2] = {(double)y0, (double)y1};
    for (int a = 0; a < 2; a++)
        for (int b = 0; b < 2; b++) rmax = fmax(rmax, hypot(cxs[a] - mx, cys[b] - my));
    size_t nb = (size_t)(rmax / bw) + 1, sst = 1;
    while (nx * ny / (sst * sst) > 250000) sst++;
    float *prof = malloc(nb * sizeof *prof);
    size_t *cnt = malloc(nb * sizeof *cnt);
    if (!prof || !cnt) {
        free(prof);
        free(cnt);
        return IBEX_ERR_NOMEM;
    }
    ibex_status st = radial_profile(s, mx, my, bw, nb, sst, prof, cnt);
    size_t b0 = 0, b1 = 0, bg = nb;
    double zb = 0, sig = 0, tol = SEG_TOL_MIN;
    if (!st) {
        /* primer gap: the most prominent interior minimum */
        double bestp = SEG_PROMINENCE;
        float *lmax = malloc(nb * sizeof *lmax);
        if (!lmax) st = IBEX_ERR_NOMEM;
        for (size_t b = 0; lmax && b < nb; b++) {
            float prev = b ? lmax[b - 1] : -INFINITY;
            lmax[b] = isnan(prof[b]) ? prev : fmaxf(prev, prof[b]);
        }
        float rmx = -INFINITY;
        for (size_t b = nb; lmax && b-- > 1;) {
            if (isnan(prof[b])) continue;
            double pr = fmin(lmax[b - 1], rmx) - prof[b];
            if (pr >= bestp) {
                bestp = pr;
                bg = b;
            }
            rmx = fmaxf(rmx, prof[b]);
        }
        free(lmax);
        if (bg == nb) /* no gap: the data ends at the primer */
            while (bg > 0 && isnan(prof[bg - 1])) bg--;
        /* the first flat run inwards from the gap anchors the face level */
        size_t run = (size_t)ceil(SEG_FLAT_RUN / SEG_BIN), lo = 0;
        int found = 0;
        for (size_t e = bg; !st && e >= run + 2 && !found; e--) {
            size_t ok = 1;
            for (size_t b = e - run; b < e && ok; b++)
                ok = b + 1 < nb && !isnan(prof[b - 1]) && !isnan(prof[b]) && !isnan(prof[b + 1]) &&
                     fabs((double)prof[b + 1] - prof[b - 1]) <= 2 * SEG_FLAT_SLOPE * SEG_BIN;
            if (ok) {
                lo = e - run;
                found = 1;
            }
        }
        if (!st && found) {
            float tmp[64];
            size_t k = 0;
            for (size_t b = lo; b < lo + run && k < 64; b++) tmp[k++] = prof[b];
            zb = medianf(tmp, k);
            b0 = lo;
            b1 = lo + run;
            for (int it = 0; it < 3 && !st; it++) {
                grow_run(prof, nb, zb, tol, &b0, &b1);
                if (b1 > bg) b1 = bg;
                if (it == 2) break;
                /* the breech-face plane over the run found, then the profile again */
                if ((st = face_plane(s, mx, my, (double)b0 * bw, (double)b1 * bw, sst, &sig))) break;
                if ((st = radial_profile(s, mx, my, bw, nb, sst, prof, cnt))) break;
                /* level and scatter of the ring medians over the middle half of the run */
                size_t c0 = b0 + (b1 - b0) / 4, c1 = b1 - (b1 - b0) / 4, k = 0;
                float *t = malloc((c1 - c0 + 1) * sizeof *t);
                if (!t) {
                    st = IBEX_ERR_NOMEM;
                    break;
                }
                for (size_t b = c0; b < c1; b++)
                    if (!isnan(prof[b])) t[k++] = prof[b];
                zb = medianf(t, k);
                for (size_t j = 0; j < k; j++) t[j] = (float)fabs(t[j] - zb);
                tol = fmax(SEG_TOL_MIN, 3 * 1.4826 * medianf(t, k));
                free(t);
                /* restart from the middle of the run */
                size_t mid = (b0 + b1) / 2;
                b0 = mid;
                b1 = mid + 1;
            }
        }
        if (!st && !found) {
            free(prof);
            free(cnt);
            logf_(info, "no flat primer in the radial profile");
            return region_inscribed(s, o, info);
        }
    }
    if (st) {
        free(prof);
        free(cnt);
        return st;
    }
    /* edges sector by sector, walked from the middle of the face ring */
    double rin[SEG_NS], rout[SEG_NS], em = SEG_MARGIN / dx;
    if ((st = sector_edges(s, mx, my, bw, b0, b1, bg, zb, tol, prof, nb, rin, rout))) {
        free(prof);
        free(cnt);
        return st;
    }
    free(prof);
    free(cnt);
    double rimin = INFINITY, rimax = 0, romin = INFINITY, romax = 0;
    for (size_t k = 0; k < SEG_NS; k++) {
        if (rout[k] <= rin[k]) rin[k] = rout[k] = (double)(b0 + b1) / 2 * bw; /* no face */
        rin[k] = o->remove_firing_pin && rin[k] > 0 ? rin[k] + em : 0;
        rout[k] = o->crop_exterior ? rout[k] - em : INFINITY;
        rimin = fmin(rimin, rin[k]);
        rimax = fmax(rimax, rin[k]);
        romin = fmin(romin, rout[k]);
        romax = fmax(romax, rout[k]);
    }
    for (size_t y = 0; y < ny; y++)
        for (size_t x = 0; x < nx; x++) {
            double ex = (double)x - mx, ey = (double)y - my, r = hypot(ex, ey);
            if (r > sector_r(rout, ex, ey) || r < sector_r(rin, ex, ey)) {
                s->valid[y * nx + x] = 0;
                s->z[y * nx + x] = NAN;
            }
        }
    double re = 0, rf = 0;
    for (size_t k = 0; k < SEG_NS; k++) {
        re += rout[k] / SEG_NS;
        rf += rin[k] / SEG_NS;
    }
    info->centre_x = mx * dx;
    info->centre_y = my * s->dy;
    logf_(info,
          "breech face: level %.1f um (sigma %.1f, tol %.1f) over r %.0f-%.0f um about "
          "(%.0f, %.0f) um, gap at %.0f um",
          zb * 1e6, sig * 1e6, tol * 1e6, (double)b0 * bw * dx * 1e6, (double)b1 * bw * dx * 1e6,
          mx * dx * 1e6, my * s->dy * 1e6, (double)bg * bw * dx * 1e6);
    if (o->crop_exterior) {
        info->r_outer = re * dx;
        logf_(info, "exterior: outside r=%.0f um (%.0f-%.0f by sector) masked", re * dx * 1e6,
              romin * dx * 1e6, romax * dx * 1e6);
    }
    if (o->remove_firing_pin) {
        info->r_firing_pin = rf * dx;
        if (rf > 0)
            logf_(info, "firing pin: inside r=%.0f um (%.0f-%.0f by sector) masked", rf * dx * 1e6,
                  rimin * dx * 1e6, rimax * dx * 1e6);
        else logf_(info, "firing pin: none found");
    }
    return IBEX_OK;
}

static ibex_status replace(ibex_surface **s, ibex_surface *n)
{
    ibex_surface_free(*s);
    *s = n;
    return IBEX_OK;
}

/* Mean of each f x f block (valid when at least half its points are): an anti-aliasing
 * shrink before filtering scans much finer than the target spacing, so the band-pass FFTs
 * run on f^2 fewer points. */
static ibex_status block_shrink(ibex_surface **ps, size_t f)
{
    ibex_surface *s = *ps, *o;
    size_t nx = s->nx / f, ny = s->ny / f;
    if (nx < 1 || ny < 1) return IBEX_OK;
    /* an nx x ny surface carrying s's metadata; every point is overwritten below */
    ibex_status st = ibex_surface_crop(s, 0, 0, nx, ny, &o);
    if (st) return st;
    ibex_surface *r = o;
    r->dx = s->dx * (double)f;
    r->dy = s->dy * (double)f;
    for (size_t y = 0; y < r->ny; y++)
        for (size_t x = 0; x < r->nx; x++) {
            size_t o2 = y * r->nx + x;
            r->z[o2] = block_mean(s, f, x, y);
            r->valid[o2] = !isnan(r->z[o2]);
        }
    r->x0 = s->x0;
    r->y0 = s->y0;
    return replace(ps, r);
}

static ibex_status crop_valid(ibex_surface **s)
{
    ibex_surface *a = *s;
    size_t x0 = a->nx, x1 = 0, y0 = a->ny, y1 = 0;
    for (size_t y = 0; y < a->ny; y++)
        for (size_t x = 0; x < a->nx; x++)
            if (a->valid[y * a->nx + x]) {
                if (x < x0) x0 = x;
                if (x > x1) x1 = x;
                if (y < y0) y0 = y;
                if (y > y1) y1 = y;
            }
    if (x0 > x1 || (x0 == 0 && y0 == 0 && x1 == a->nx - 1 && y1 == a->ny - 1)) return IBEX_OK;
    ibex_surface *c;
    ibex_status st = ibex_surface_crop(a, x0, y0, x1 - x0 + 1, y1 - y0 + 1, &c);
    return st ? st : replace(s, c);
}

/* Fraction of the valid bounding box's corners (outside its inscribed ellipse) that is
 * valid: about 0 for a scan cropped to the breech face, about 1 for a whole scan. */
static double corner_valid(const ibex_surface *s)
{
    size_t x0 = s->nx, x1 = 0, y0 = s->ny, y1 = 0;
    for (size_t y = 0; y < s->ny; y++)
        for (size_t x = 0; x < s->nx; x++)
            if (s->valid[y * s->nx + x]) {
                if (x < x0) x0 = x;
                if (x > x1) x1 = x;
                if (y < y0) y0 = y;
                if (y > y1) y1 = y;
            }
    if (x0 >= x1 || y0 >= y1) return 1;
    double cx = 0.5 * (double)(x0 + x1), cy = 0.5 * (double)(y0 + y1);
    double ax = 0.5 * (double)(x1 - x0), ay = 0.5 * (double)(y1 - y0);
    size_t k = 0, t = 0;
    for (size_t y = y0; y <= y1; y++)
        for (size_t x = x0; x <= x1; x++) {
            double u = ((double)x - cx) / ax, v = ((double)y - cy) / ay;
            if (u * u + v * v <= 1) continue;
            t++;
            k += s->valid[y * s->nx + x];
        }
    return t ? (double)k / (double)t : 1;
}

/* RMS of the part of a levelled surface beyond wavelength lambda, over its whole RMS. */
static ibex_status long_wave_fraction(const ibex_surface *s, double lambda, double *out)
{
    size_t n = s->nx * s->ny;
    float *h = malloc(n * sizeof *h);
    if (!h) return IBEX_ERR_NOMEM;
    ibex_status st = ibex__bandpass(s->z, s->valid, s->nx, s->ny, s->dx, s->dy, 0, lambda, h);
    if (st) {
        free(h);
        return st;
    }
    double m = 0, e = 0, el = 0;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (s->valid[i]) {
            m += s->z[i];
            k++;
        }
    m = k ? m / (double)k : 0;
    for (size_t i = 0; i < n; i++)
        if (s->valid[i]) {
            double z = s->z[i] - m, l = (double)s->z[i] - h[i];
            e += z * z;
            el += l * l;
        }
    free(h);
    *out = e > 0 ? sqrt(el / e) : 0;
    return IBEX_OK;
}

#define CROPPED_CORNERS 0.25   /* valid fraction of the corners below which a scan is cropped
                                  (cropped scans: 1-6 %, the edge of the disc; whole scans ~100 %) */
#define BAND_LIMITED 0.6       /* long-wave RMS fraction below which a scan was band-passed */
#define SPACING_TOL 0.01       /* spacings this close (relative) count as equal (as in CMC) */

static int near_spacing(double d, double target)
{
    return fabs(d - target) <= SPACING_TOL * target;
}

/* One spacing for comparing two scans: the target, or the coarser scan's spacing when that
 * is coarser than the target; a spacing within 1 % of the target counts as the target. */
double ibex_preprocess_pair_spacing(const ibex_surface *a, const ibex_surface *b,
                                    const ibex_preprocess_opts *o)
{
    ibex_preprocess_opts dflt;
    ibex_preprocess_opts_init(&dflt);
    if (!ibex__opts_merge(&dflt, sizeof dflt, o)) return NAN; /* struct_size not set */
    o = &dflt;
    double t = o->spacing;
    const ibex_surface *s[2] = {a, b};
    for (int i = 0; i < 2; i++) {
        if (!s[i]) continue;
        double d = s[i]->dx > s[i]->dy ? s[i]->dx : s[i]->dy;
        if (t > 0 && near_spacing(d, t)) continue;
        if (d > t) t = d;
    }
    return t;
}

ibex_status ibex_preprocess(const ibex_surface *in, const ibex_preprocess_opts *o,
                            ibex_surface **out, ibex_preprocess_info *info, ibex_diag *diag)
{
    ibex_preprocess_opts dflt;
    ibex_preprocess_info local;
    ibex_preprocess_opts_init(&dflt);
    if (!ibex__opts_merge(&dflt, sizeof dflt, o)) return ibex__opts_refused(diag, "ibex_preprocess_opts");
    o = &dflt;
    if (!info) info = &local;
    if (!in || !out || !in->z || !in->valid)
        return ibex__fail(diag, IBEX_ERR_ARG, "", -1, "no surface");
    if (in->nx * in->ny > IBEX_PREPROCESS_MAX_POINTS || in->nx > IBEX_MAX_SIDE || in->ny > IBEX_MAX_SIDE)
        return ibex__fail(diag, IBEX_ERR_LIMIT, "", -1,
                          "surface of %zu x %zu points is over the comparison limit of %zu points",
                          in->nx, in->ny, (size_t)IBEX_PREPROCESS_MAX_POINTS);
    if (!(o->spacing >= 0) || !isfinite(o->spacing) || !(in->dx > 0) || !(in->dy > 0))
        return ibex__fail(diag, IBEX_ERR_ARG, "", -1, "bad spacing");
    memset(info, 0, sizeof *info);
    info->spacing_in = in->dx;
    ibex_surface *s;
    ibex_status st = ibex_surface_copy(in, &s);
    if (st) return ibex__fail(diag, st, "", -1, "out of memory");
    ibex_surface_sync_mask(s);
    free(s->z64); /* every step below changes z in place */
    s->z64 = NULL;
    ibex_surface_stats stt;
    ibex_surface_get_stats(s, &stt);
    double target = o->spacing > 0 ? o->spacing : s->dx;
    if (stt.n_valid == 0) {
        logf_(info, "no valid points: nothing done");
        info->spacing_out = s->dx;
        *out = s;
        return IBEX_OK;
    }
    /* never upsample: a scan coarser than the target keeps its own spacing */
    double native = s->dx > s->dy ? s->dx : s->dy;
    if (native > target && !near_spacing(native, target)) {
        target = native;
        logf_(info, "kept %.4g um (coarser than the target; never upsampled)", native * 1e6);
    }
    int at_spacing = near_spacing(s->dx, target) && near_spacing(s->dy, target);
    int auto_mode = o->mode == IBEX_PREPROCESS_AUTO && s->zkind == IBEX_Z_HEIGHT;
    double cv = corner_valid(s);
    info->cropped = cv < CROPPED_CORNERS;
    int full = o->mode == IBEX_PREPROCESS_FULL || (auto_mode && !info->cropped);
    if ((st = level(s, full ? o->outlier_k : 0, info))) goto fail;
    logf_(info, "plane: robust LS (3 sigma trimmed x3)%s", full ? "" : ", no outlier removal");
    int bandpass = full && (o->lambda_short > 0 || o->lambda_long > 0);
    if (auto_mode && info->cropped) {
        /* cropped already: band-pass only if whoever cropped it did not filter it */
        double lf = 0;
        if (o->lambda_long > 0 && (st = long_wave_fraction(s, o->lambda_long, &lf))) goto fail;
        info->long_wave_fraction = lf;
        info->band_limited = o->lambda_long > 0 && lf < BAND_LIMITED;
        bandpass = !info->band_limited && (o->lambda_short > 0 || o->lambda_long > 0);
        info->already_processed = info->band_limited;
        logf_(info, "cropped (corners %.0f%% valid)%s: RMS beyond %.0f um %.0f%%", 100 * cv,
              info->band_limited ? ", band-limited" : "", o->lambda_long * 1e6, 100 * lf);
    }
    if (full && o->outlier_k > 0) logf_(info, "outliers: %zu beyond %.1f sigma", info->outliers, o->outlier_k);
    if (full && !info->cropped && (o->crop_exterior || o->remove_firing_pin))
        if ((st = region(s, o, info))) goto fail;
    size_t f = (size_t)floor(target / s->dx + 1e-9);
    if (full && f >= 2 && !at_spacing) {
        if ((st = block_shrink(&s, f))) goto fail;
        logf_(info, "block mean %zu x %zu (anti-alias) to %.4g um", f, f, s->dx * 1e6);
        at_spacing = near_spacing(s->dx, target) && near_spacing(s->dy, target);
    }
    if (!at_spacing) {
        ibex_surface *r;
        if ((st = ibex_surface_resample(s, target, target, &r))) goto fail;
        replace(&s, r);
        logf_(info, "resampled %.4g -> %.4g um", info->spacing_in * 1e6, target * 1e6);
    }
    if (bandpass) {
        if ((st = ibex__bandpass(s->z, s->valid, s->nx, s->ny, s->dx, s->dy, o->lambda_short,
                                 o->lambda_long, s->z)))
            goto fail;
        logf_(info, "band-pass: Gaussian regression %.0f-%.0f um (NaN-aware)", o->lambda_short * 1e6,
              o->lambda_long * 1e6);
    }
    if ((st = crop_valid(&s))) goto fail;
    if (o->max_side && (s->nx > o->max_side || s->ny > o->max_side)) {
        double f = (double)(s->nx > s->ny ? s->nx : s->ny) / (double)o->max_side;
        ibex_surface *r;
        if ((st = ibex_surface_resample(s, s->dx * f, s->dy * f, &r))) goto fail;
        replace(&s, r);
        if ((st = crop_valid(&s))) goto fail;
        logf_(info, "shrunk to %zu x %zu (max side %zu)", s->nx, s->ny, o->max_side);
    }
    info->spacing_out = s->dx;
    ibex_surface_get_stats(s, &stt);
    info->valid_fraction = stt.valid_fraction;
    {
        char note[512];
        snprintf(note, sizeof note, "ibex preprocess: %s", info->steps);
        ibex_meta_set(&s->meta, "comment", note);
    }
    *out = s;
    return IBEX_OK;
fail:
    ibex_surface_free(s);
    return ibex__fail(diag, st, "", -1, "preprocessing failed: %s", ibex_strerror(st));
}
