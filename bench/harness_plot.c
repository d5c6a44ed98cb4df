/* Report figures drawn with cairo: axes with nice ticks, series, legend, PNG output.
 * Built without cairo (meson option plots disabled), bench_plot_create gives NULL and
 * the reports say their figures were not drawn. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_internal.h"

int ibex_bench_get_plots(void) { return bench_plots_built(); }
void ibex_bench_plots_free(void) { bench_plot_cleanup(); }

#if IBEX_HAVE_PLOTS
#include <cairo.h>
#include <fontconfig/fontconfig.h>

int bench_plots_built(void) { return 1; }

#define MAX_LEGEND 8

typedef struct legend_entry {
    char label[96];
    int colour, kind; /* 0 line, 1 dashed line, 2 bar, 3 point */
} legend_entry;

struct bench_plot {
    cairo_surface_t *surf;
    cairo_t *cr;
    int w, h;
    double left, right, top, bottom; /* plot area in pixels */
    double xmin, xmax, ymin, ymax; /* in axis units: log10 of the data on a log axis */
    int logx, logy;
    legend_entry leg[MAX_LEGEND];
    int n_leg;
};

/* Okabe-Ito palette: blue, vermillion, bluish green, orange, reddish purple, sky blue,
 * yellow, black. */
static const double palette[8][3] = {
    {0.000, 0.447, 0.698}, {0.835, 0.369, 0.000}, {0.000, 0.620, 0.451},
    {0.902, 0.624, 0.000}, {0.800, 0.475, 0.655}, {0.337, 0.706, 0.914},
    {0.941, 0.894, 0.259}, {0.000, 0.000, 0.000}};

static void set_colour(cairo_t *cr, int c, double alpha)
{
    const double *p = palette[((c % 8) + 8) % 8];
    cairo_set_source_rgba(cr, p[0], p[1], p[2], alpha);
}

/* Heckbert's nice numbers: a tick step of 1, 2 or 5 times a power of ten. */
static double nice_num(double x, int round_it)
{
    double e = floor(log10(x)), f = x / pow(10, e), nf;
    if (round_it) nf = f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10;
    else nf = f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10;
    return nf * pow(10, e);
}

static double px(const bench_plot *p, double x)
{
    if (p->logx) x = log10(x);
    return p->left + (x - p->xmin) / (p->xmax - p->xmin) * (p->right - p->left);
}
static double py(const bench_plot *p, double y)
{
    if (p->logy) y = log10(y);
    return p->bottom - (y - p->ymin) / (p->ymax - p->ymin) * (p->bottom - p->top);
}

static void text_at(cairo_t *cr, const char *s, double x, double y, double ax, double ay)
{
    cairo_text_extents_t e;
    cairo_text_extents(cr, s, &e);
    cairo_move_to(cr, x - ax * e.width - e.x_bearing, y - ay * e.height - e.y_bearing);
    cairo_show_text(cr, s);
}

static void fmt_tick(char *buf, size_t n, double v, double step)
{
    int dec = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
    if (fabs(v) < step * 1e-6) v = 0;
    snprintf(buf, n, "%.*f", dec, v);
}

static void draw_axes(bench_plot *p, const char *title, const char *xlabel, const char *ylabel)
{
    cairo_t *cr = p->cr;
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    /* grid and ticks */
    for (int axis = 0; axis < 2; axis++) {
        double lo = axis ? p->ymin : p->xmin, hi = axis ? p->ymax : p->xmax;
        int logax = axis ? p->logy : p->logx;
        /* Linear: nice steps. Log: one tick per decade, or at 1, 2, 5 x 10^k when the
         * axis spans under three decades. */
        double step = logax ? fmax(1, round((hi - lo) / 6)) : nice_num((hi - lo) / 5, 1);
        double ticks[64];
        int nt = 0;
        if (logax && hi - lo < 3) {
            for (double e = floor(lo); e <= ceil(hi) && nt < 60; e++)
                for (int k = 0; k < 3; k++) {
                    double t = e + log10((double[]){1, 2, 5}[k]);
                    if (t >= lo - 1e-9 && t <= hi + 1e-9) ticks[nt++] = t;
                }
        } else {
            for (double t = ceil(lo / step - 1e-9) * step; t <= hi + step * 1e-9 && nt < 64; t += step)
                ticks[nt++] = t;
        }
        for (int ti = 0; ti < nt; ti++) {
            double t = ticks[ti];
            char buf[32];
            if (logax) snprintf(buf, sizeof buf, "%g", pow(10, t));
            else fmt_tick(buf, sizeof buf, t, step);
            double v = logax ? pow(10, t) : t; /* px/py take data units */
            cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
            cairo_set_line_width(cr, 1);
            if (axis) {
                double y = round(py(p, v)) + 0.5;
                cairo_move_to(cr, p->left, y), cairo_line_to(cr, p->right, y);
                cairo_stroke(cr);
                cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
                cairo_move_to(cr, p->left - 5, y), cairo_line_to(cr, p->left, y);
                cairo_stroke(cr);
                cairo_set_font_size(cr, 12);
                text_at(cr, buf, p->left - 8, y, 1, 0.5);
            } else {
                double x = round(px(p, v)) + 0.5;
                cairo_move_to(cr, x, p->top), cairo_line_to(cr, x, p->bottom);
                cairo_stroke(cr);
                cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
                cairo_move_to(cr, x, p->bottom), cairo_line_to(cr, x, p->bottom + 5);
                cairo_stroke(cr);
                cairo_set_font_size(cr, 12);
                text_at(cr, buf, x, p->bottom + 9, 0.5, 0);
            }
        }
    }
    /* frame */
    cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
    cairo_set_line_width(cr, 1);
    cairo_rectangle(cr, p->left + 0.5, p->top + 0.5, p->right - p->left - 1, p->bottom - p->top - 1);
    cairo_stroke(cr);
    /* labels */
    cairo_set_font_size(cr, 14);
    text_at(cr, xlabel, 0.5 * (p->left + p->right), p->h - 12, 0.5, 1);
    cairo_save(cr);
    cairo_translate(cr, 18, 0.5 * (p->top + p->bottom));
    cairo_rotate(cr, -M_PI / 2);
    text_at(cr, ylabel, 0, 0, 0.5, 0.5);
    cairo_restore(cr);
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_BOLD);
    cairo_set_font_size(cr, 15);
    text_at(cr, title, 0.5 * (p->left + p->right), 14, 0.5, 0);
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
}

bench_plot *bench_plot_create(int w, int h, const char *title, const char *xlabel,
                              const char *ylabel, double xmin, double xmax, double ymin,
                              double ymax)
{
    return bench_plot_create_ex(w, h, title, xlabel, ylabel, xmin, xmax, ymin, ymax, 0);
}

bench_plot *bench_plot_create_ex(int w, int h, const char *title, const char *xlabel,
                                 const char *ylabel, double xmin, double xmax, double ymin,
                                 double ymax, unsigned flags)
{
    int logx = (flags & BENCH_PLOT_LOGX) != 0, logy = (flags & BENCH_PLOT_LOGY) != 0;
    if ((logx && !(xmin > 0 && xmax > 0)) || (logy && !(ymin > 0 && ymax > 0))) return NULL;
    if (logx) xmin = log10(xmin), xmax = log10(xmax);
    if (logy) ymin = log10(ymin), ymax = log10(ymax);
    bench_plot *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->surf = cairo_image_surface_create(CAIRO_FORMAT_RGB24, w, h);
    p->cr = cairo_create(p->surf);
    if (cairo_status(p->cr) != CAIRO_STATUS_SUCCESS) {
        cairo_destroy(p->cr);
        cairo_surface_destroy(p->surf);
        free(p);
        return NULL;
    }
    if (!(xmax > xmin)) xmax = xmin + 1;
    if (!(ymax > ymin)) ymax = ymin + 1;
    p->w = w, p->h = h;
    p->left = 78, p->right = w - 24, p->top = 44, p->bottom = h - 58;
    p->xmin = xmin, p->xmax = xmax, p->ymin = ymin, p->ymax = ymax;
    p->logx = logx, p->logy = logy;
    cairo_set_source_rgb(p->cr, 1, 1, 1);
    cairo_paint(p->cr);
    draw_axes(p, title, xlabel, ylabel);
    return p;
}

static void clip_to_area(bench_plot *p)
{
    cairo_save(p->cr);
    cairo_rectangle(p->cr, p->left + 1, p->top + 1, p->right - p->left - 2, p->bottom - p->top - 2);
    cairo_clip(p->cr);
}

static void add_legend(bench_plot *p, const char *label, int colour, int kind)
{
    if (!label || p->n_leg >= MAX_LEGEND) return;
    legend_entry *e = &p->leg[p->n_leg++];
    snprintf(e->label, sizeof e->label, "%s", label);
    e->colour = colour, e->kind = kind;
}

void bench_plot_line(bench_plot *p, const double *x, const double *y, size_t n, int colour,
                     double width, int dashed, const char *label)
{
    clip_to_area(p);
    cairo_t *cr = p->cr;
    set_colour(cr, colour, 1);
    cairo_set_line_width(cr, width);
    cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
    double dash[] = {6, 4};
    cairo_set_dash(cr, dash, dashed ? 2 : 0, 0);
    for (size_t i = 0; i < n; i++) {
        if (i == 0) cairo_move_to(cr, px(p, x[i]), py(p, y[i]));
        else cairo_line_to(cr, px(p, x[i]), py(p, y[i]));
    }
    cairo_stroke(cr);
    cairo_restore(cr);
    add_legend(p, label, colour, dashed ? 1 : 0);
}

void bench_plot_steps(bench_plot *p, const double *x, const double *y, size_t n, int colour,
                      const char *label)
{
    clip_to_area(p);
    cairo_t *cr = p->cr;
    set_colour(cr, colour, 1);
    cairo_set_line_width(cr, 2.2);
    for (size_t i = 0; i < n; i++) {
        if (i == 0) cairo_move_to(cr, px(p, x[i]), py(p, y[i]));
        else {
            cairo_line_to(cr, px(p, x[i]), py(p, y[i - 1]));
            cairo_line_to(cr, px(p, x[i]), py(p, y[i]));
        }
    }
    cairo_stroke(cr);
    cairo_restore(cr);
    add_legend(p, label, colour, 0);
}

void bench_plot_bars(bench_plot *p, const double *edges, const double *h, size_t nbins,
                     int colour, const char *label)
{
    clip_to_area(p);
    cairo_t *cr = p->cr;
    for (size_t i = 0; i < nbins; i++) {
        if (!(h[i] > 0)) continue;
        double x0 = px(p, edges[i]), x1 = px(p, edges[i + 1]), y0 = p->bottom, y1 = py(p, h[i]);
        cairo_rectangle(cr, x0, y1, x1 - x0, y0 - y1);
        set_colour(cr, colour, 0.45);
        cairo_fill_preserve(cr);
        set_colour(cr, colour, 0.9);
        cairo_set_line_width(cr, 1);
        cairo_stroke(cr);
    }
    cairo_restore(cr);
    add_legend(p, label, colour, 2);
}

void bench_plot_points(bench_plot *p, const double *x, const double *y, size_t n, int colour,
                       const char *label)
{
    clip_to_area(p);
    cairo_t *cr = p->cr;
    for (size_t i = 0; i < n; i++) {
        cairo_arc(cr, px(p, x[i]), py(p, y[i]), 4.5, 0, 2 * M_PI);
        set_colour(cr, colour, 1);
        cairo_fill_preserve(cr);
        cairo_set_source_rgb(cr, 1, 1, 1);
        cairo_set_line_width(cr, 1.2);
        cairo_stroke(cr);
    }
    cairo_restore(cr);
    add_legend(p, label, colour, 3);
}

void bench_plot_errorbars(bench_plot *p, const double *x, const double *lo, const double *hi,
                          size_t n, int colour)
{
    clip_to_area(p);
    cairo_t *cr = p->cr;
    set_colour(cr, colour, 1);
    cairo_set_line_width(cr, 1.5);
    for (size_t i = 0; i < n; i++) {
        double X = px(p, x[i]), a = py(p, lo[i]), b = py(p, hi[i]);
        cairo_move_to(cr, X, a), cairo_line_to(cr, X, b);
        cairo_move_to(cr, X - 4, a), cairo_line_to(cr, X + 4, a);
        cairo_move_to(cr, X - 4, b), cairo_line_to(cr, X + 4, b);
    }
    cairo_stroke(cr);
    cairo_restore(cr);
}

void bench_plot_vline(bench_plot *p, double x, int colour, const char *label)
{
    double y0 = p->logy ? pow(10, p->ymin) : p->ymin, y1 = p->logy ? pow(10, p->ymax) : p->ymax;
    double xs[2] = {x, x}, ys[2] = {y0, y1};
    bench_plot_line(p, xs, ys, 2, colour, 1.5, 1, label);
}

void bench_plot_legend(bench_plot *p, int corner)
{
    if (!p->n_leg) return;
    cairo_t *cr = p->cr;
    cairo_set_font_size(cr, 12);
    double wmax = 0;
    for (int i = 0; i < p->n_leg; i++) {
        cairo_text_extents_t e;
        cairo_text_extents(cr, p->leg[i].label, &e);
        if (e.x_advance > wmax) wmax = e.x_advance;
    }
    double row = 19, bw = wmax + 48, bh = row * p->n_leg + 10;
    double x = corner == 1 || corner == 2 ? p->right - bw - 10 : p->left + 10;
    double y = corner < 2 ? p->top + 10 : p->bottom - bh - 10;
    cairo_rectangle(cr, x + 0.5, y + 0.5, bw, bh);
    cairo_set_source_rgba(cr, 1, 1, 1, 0.9);
    cairo_fill_preserve(cr);
    cairo_set_source_rgb(cr, 0.7, 0.7, 0.7);
    cairo_set_line_width(cr, 1);
    cairo_stroke(cr);
    for (int i = 0; i < p->n_leg; i++) {
        const legend_entry *e = &p->leg[i];
        double cy = y + 5 + row * (i + 0.5), sx = x + 8;
        if (e->kind == 2) {
            cairo_rectangle(cr, sx, cy - 6, 24, 12);
            set_colour(cr, e->colour, 0.45);
            cairo_fill_preserve(cr);
            set_colour(cr, e->colour, 0.9);
            cairo_stroke(cr);
        } else if (e->kind == 3) {
            cairo_arc(cr, sx + 12, cy, 4.5, 0, 2 * M_PI);
            set_colour(cr, e->colour, 1);
            cairo_fill(cr);
        } else {
            double dash[] = {6, 4};
            cairo_set_dash(cr, dash, e->kind == 1 ? 2 : 0, 0);
            cairo_set_line_width(cr, 2.2);
            set_colour(cr, e->colour, 1);
            cairo_move_to(cr, sx, cy), cairo_line_to(cr, sx + 24, cy);
            cairo_stroke(cr);
            cairo_set_dash(cr, dash, 0, 0);
        }
        cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
        text_at(cr, e->label, sx + 32, cy, 0, 0.5);
    }
}

int bench_plot_write(bench_plot *p, const char *path)
{
    if (!p) return 1;
    cairo_surface_flush(p->surf);
    /* Through a temporary name, so a report never holds half a PNG. */
    size_t n = strlen(path) + 8;
    char *tmp = malloc(n);
    int rc = 1;
    if (tmp) {
        snprintf(tmp, n, "%s.tmp", path);
        rc = cairo_surface_write_to_png(p->surf, tmp) != CAIRO_STATUS_SUCCESS;
        if (!rc && rename(tmp, path) != 0) rc = 1;
        if (rc) remove(tmp);
        free(tmp);
    }
    cairo_destroy(p->cr);
    cairo_surface_destroy(p->surf);
    free(p);
    return rc;
}

void bench_plot_cleanup(void)
{
    /* Release cairo's and fontconfig's caches so leak checkers see a clean exit. */
    cairo_debug_reset_static_data();
    FcFini();
}

#else /* no cairo: nothing is drawn */

int bench_plots_built(void) { return 0; }

bench_plot *bench_plot_create(int w, int h, const char *title, const char *xlabel,
                              const char *ylabel, double xmin, double xmax, double ymin,
                              double ymax)
{
    (void)w, (void)h, (void)title, (void)xlabel, (void)ylabel, (void)xmin, (void)xmax, (void)ymin, (void)ymax;
    return NULL;
}

bench_plot *bench_plot_create_ex(int w, int h, const char *title, const char *xlabel,
                                 const char *ylabel, double xmin, double xmax, double ymin,
                                 double ymax, unsigned flags)
{
    (void)flags;
    return bench_plot_create(w, h, title, xlabel, ylabel, xmin, xmax, ymin, ymax);
}

/* Without a plot to draw on, the series calls never run (every caller stops at NULL). */
void bench_plot_errorbars(bench_plot *p, const double *x, const double *lo, const double *hi,
                          size_t n, int colour)
{
    (void)p, (void)x, (void)lo, (void)hi, (void)n, (void)colour;
}
void bench_plot_line(bench_plot *p, const double *x, const double *y, size_t n, int colour,
                     double width, int dashed, const char *label)
{
    (void)p, (void)x, (void)y, (void)n, (void)colour, (void)width, (void)dashed, (void)label;
}
void bench_plot_steps(bench_plot *p, const double *x, const double *y, size_t n, int colour,
                      const char *label)
{
    (void)p, (void)x, (void)y, (void)n, (void)colour, (void)label;
}
void bench_plot_bars(bench_plot *p, const double *edges, const double *h, size_t nbins,
                     int colour, const char *label)
{
    (void)p, (void)edges, (void)h, (void)nbins, (void)colour, (void)label;
}
void bench_plot_points(bench_plot *p, const double *x, const double *y, size_t n, int colour,
                       const char *label)
{
    (void)p, (void)x, (void)y, (void)n, (void)colour, (void)label;
}
void bench_plot_vline(bench_plot *p, double x, int colour, const char *label)
{
    (void)p, (void)x, (void)colour, (void)label;
}
void bench_plot_legend(bench_plot *p, int corner) { (void)p, (void)corner; }
int bench_plot_write(bench_plot *p, const char *path)
{
    (void)p, (void)path;
    return 1;
}
void bench_plot_cleanup(void) {}
#endif
