/* PNG reader and writer: files written here with libpng directly are read back value for
 * value; surfaces written by IBEX come back within 16-bit quantisation with the mask exact,
 * and plain libpng reads what IBEX writes. */
#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "ibex/ibex.h"
#include "png_fixture.h"

static char dir[256];

static void path_of(char *p, size_t n, const char *name) { snprintf(p, n, "%s/%s", dir, name); }

static ibex_surface *read_ok(const char *path, double spacing)
{
    ibex_surface *s = NULL;
    ibex_diag d;
    ibex_diag_clear(&d);
    ibex_status st = ibex_surface_read_png(path, spacing, &s, &d);
    CHECK_MSG(st == IBEX_OK, "%s: %s", path, d.message);
    return st == IBEX_OK ? s : NULL;
}

static void test_grey8(void)
{
    enum { W = 37, H = 23 };
    static unsigned char px[W * H];
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) px[y * W + x] = (unsigned char)((x * 7 + y * 13) % 256);
    png_fixture f = {.w = W, .h = H, .depth = 8, .ctype = PNG_COLOR_TYPE_GRAY, .pixels = px};
    char p[300];
    path_of(p, sizeof p, "grey8.png");
    CHECK(png_fixture_write(&f, p) == 0);
    ibex_surface *s = read_ok(p, 0);
    if (!s) return;
    CHECK(s->nx == W && s->ny == H);
    CHECK(s->zkind == IBEX_Z_INTENSITY);
    CHECK(s->dx == 1e-6 && s->dy == 1e-6); /* no pHYs: the documented default */
    int bad = 0;
    for (int i = 0; i < W * H; i++)
        if (!s->valid[i] || s->z[i] != (float)(px[i] / 255.0)) bad++;
    CHECK_MSG(bad == 0, "%d of %d 8-bit values differ", bad, W * H);
    ibex_surface_free(s);

    /* The caller's spacing wins over the default. */
    s = read_ok(p, 2.5e-6);
    if (s) CHECK(s->dx == 2.5e-6 && s->dy == 2.5e-6);
    ibex_surface_free(s);

    /* ibex_surface_read finds a PNG by its magic bytes when the name does not say so. */
    char q[300];
    path_of(q, sizeof q, "grey8.img");
    CHECK(rename(p, q) == 0);
    ibex_diag d;
    CHECK(ibex_surface_read(q, 0, &s, &d) == IBEX_OK);
    if (s) CHECK(s->nx == W && s->z[W + 1] == (float)(px[W + 1] / 255.0));
    ibex_surface_free(s);
}

static void test_grey16(int interlace)
{
    enum { W = 41, H = 19 };
    static unsigned char px[W * H * 2];
    static unsigned v[W * H];
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            unsigned c = (unsigned)(x * 2593 + y * 7919 + x * y * 31) % 65536u;
            v[y * W + x] = c;
            px[2 * (y * W + x)] = (unsigned char)(c >> 8);
            px[2 * (y * W + x) + 1] = (unsigned char)c;
        }
    png_fixture f = {.w = W, .h = H, .depth = 16, .ctype = PNG_COLOR_TYPE_GRAY, .pixels = px,
                     .ppm = 160000, .interlace = interlace};
    char p[300];
    path_of(p, sizeof p, interlace ? "grey16i.png" : "grey16.png");
    CHECK(png_fixture_write(&f, p) == 0);
    ibex_surface *s = read_ok(p, 0);
    if (!s) return;
    CHECK(s->nx == W && s->ny == H && s->zkind == IBEX_Z_INTENSITY);
    CHECK_NEAR(s->dx, 6.25e-6, 0); /* pHYs 160000 px/m */
    CHECK_NEAR(s->dy, 6.25e-6, 0);
    int bad = 0;
    for (int i = 0; i < W * H; i++)
        if (!s->valid[i] || s->z[i] != (float)(v[i] / 65535.0)) bad++;
    CHECK_MSG(bad == 0, "%d of %d 16-bit values differ (interlace %d)", bad, W * H, interlace);
    ibex_surface_free(s);
}

static void test_alpha_and_colour(void)
{
    /* 8-bit grey + alpha: alpha 0 is a missing point, any other alpha a valid one. */
    enum { W = 9, H = 4 };
    unsigned char ga[W * H * 2];
    for (int i = 0; i < W * H; i++) {
        ga[2 * i] = (unsigned char)(i * 5);
        ga[2 * i + 1] = (unsigned char)(i % 3 == 0 ? 0 : i % 3 == 1 ? 1 : 255);
    }
    png_fixture f = {.w = W, .h = H, .depth = 8, .ctype = PNG_COLOR_TYPE_GRAY_ALPHA, .pixels = ga};
    char p[300];
    path_of(p, sizeof p, "ga8.png");
    CHECK(png_fixture_write(&f, p) == 0);
    ibex_surface *s = read_ok(p, 0);
    if (s) {
        int bad = 0;
        for (int i = 0; i < W * H; i++) {
            int want = i % 3 != 0;
            if (s->valid[i] != want) bad++;
            else if (want && s->z[i] != (float)(ga[2 * i] / 255.0)) bad++;
            else if (!want && !isnan(s->z[i])) bad++;
        }
        CHECK_MSG(bad == 0, "%d grey+alpha points wrong", bad);
    }
    ibex_surface_free(s);

    /* Palette of greys (luminance of r=g=b is the grey itself), with a transparent entry;
     * and pure red, green, blue, whose luminance is the Rec. 709 weight (+-1 count). */
    png_color pal[7] = {{0, 0, 0}, {90, 90, 90}, {200, 200, 200}, {255, 255, 255},
                        {255, 0, 0}, {0, 255, 0}, {0, 0, 255}};
    unsigned char trns[7] = {255, 255, 0, 255, 255, 255, 255};
    unsigned char idx[7] = {0, 1, 2, 3, 4, 5, 6};
    png_fixture g = {.w = 7, .h = 1, .depth = 8, .ctype = PNG_COLOR_TYPE_PALETTE, .pixels = idx,
                     .palette = pal, .npalette = 7, .trns = trns, .ntrns = 7};
    path_of(p, sizeof p, "pal.png");
    CHECK(png_fixture_write(&g, p) == 0);
    s = read_ok(p, 0);
    if (s) {
        CHECK(s->z[0] == 0.0f && s->z[1] == (float)(90 / 255.0) && s->z[3] == 1.0f);
        CHECK(!s->valid[2] && isnan(s->z[2]));
        const double w709[3] = {0.2126, 0.7152, 0.0722};
        for (int c = 0; c < 3; c++)
            CHECK_NEAR(s->z[4 + c] * 255.0, w709[c] * 255.0, 1.0);
    }
    ibex_surface_free(s);
}

static ibex_surface *make_surface(size_t nx, size_t ny)
{
    ibex_surface *s = NULL;
    if (ibex_surface_create(nx, ny, 3.5e-6, 4.25e-6, &s) != IBEX_OK) return NULL;
    for (size_t y = 0; y < ny; y++)
        for (size_t x = 0; x < nx; x++) {
            size_t i = y * nx + x;
            int hole = (x * x + y * 3) % 11 == 0;
            s->z[i] = hole ? NAN : (float)(2e-6 * sin(0.3 * (double)x) + 1e-6 * cos(0.17 * (double)y) -
                                          5e-7 * (double)x / (double)nx);
        }
    ibex_surface_sync_mask(s);
    s->x0 = 1.25e-3;
    s->y0 = -2e-4;
    ibex_meta_set(&s->meta, "comment", "breech face, \xc3\xa9prouv\xc3\xa9"); /* UTF-8 */
    ibex_meta_set(&s->meta, "agency", "Lab A");
    return s;
}

static int count_tmp_files(void)
{
    int n = 0;
    DIR *dd = opendir(dir);
    struct dirent *e;
    while (dd && (e = readdir(dd)))
        if (strstr(e->d_name, ".tmp-")) n++;
    if (dd) closedir(dd);
    return n;
}

static void test_roundtrip(void)
{
    ibex_surface *s = make_surface(83, 61);
    CHECK(s != NULL);
    if (!s) return;
    ibex_surface_stats st;
    ibex_surface_get_stats(s, &st);
    char p[300];
    path_of(p, sizeof p, "round.png");
    ibex_diag d;
    CHECK(ibex_surface_write_png(s, p, &d) == IBEX_OK);
    CHECK(count_tmp_files() == 0);
    ibex_surface *r = read_ok(p, 0);
    if (r) {
        CHECK(r->nx == s->nx && r->ny == s->ny);
        CHECK(r->zkind == IBEX_Z_HEIGHT);
        CHECK(r->dx == s->dx && r->dy == s->dy && r->x0 == s->x0 && r->y0 == s->y0);
        /* 16-bit quantisation: half a step of (max - min) / 65535, plus float32 rounding. */
        double tol = (st.zmax - st.zmin) / 65535.0;
        int mask_bad = 0, z_bad = 0;
        double worst = 0;
        for (size_t i = 0; i < s->nx * s->ny; i++) {
            if (r->valid[i] != s->valid[i]) mask_bad++;
            if (s->valid[i]) {
                double e = fabs((double)r->z[i] - (double)s->z[i]);
                if (e > worst) worst = e;
                if (e > tol) z_bad++;
            } else if (!isnan(r->z[i])) {
                mask_bad++;
            }
        }
        CHECK_MSG(mask_bad == 0, "%d mask differences", mask_bad);
        CHECK_MSG(z_bad == 0, "%d heights off by more than %g (worst %g)", z_bad, tol, worst);
        const char *c = ibex_meta_get(&r->meta, "comment");
        CHECK(c && strcmp(c, s->meta.comment) == 0);
        c = ibex_meta_get(&r->meta, "agency");
        CHECK(c && strcmp(c, "Lab A") == 0);
    }
    ibex_surface_free(r);

    /* Plain libpng sees 16-bit grey + alpha: alpha is the mask, grey orders like the heights,
     * and pHYs holds the nearest whole number of pixels per metre. */
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    CHECK(png_image_begin_read_from_file(&img, p) != 0);
    CHECK(img.width == s->nx && img.height == s->ny);
    CHECK((img.format & PNG_FORMAT_FLAG_ALPHA) && !(img.format & PNG_FORMAT_FLAG_COLOR));
    png_image_free(&img);
    FILE *fp = fopen(p, "rb");
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    if (fp && png && info && !setjmp(png_jmpbuf(png))) {
        png_init_io(png, fp);
        png_read_png(png, info, PNG_TRANSFORM_IDENTITY, NULL);
        CHECK(png_get_bit_depth(png, info) == 16);
        CHECK(png_get_color_type(png, info) == PNG_COLOR_TYPE_GRAY_ALPHA);
        png_uint_32 px = 0, py = 0;
        int unit = -1;
        CHECK(png_get_pHYs(png, info, &px, &py, &unit) != 0);
        CHECK(unit == PNG_RESOLUTION_METER && px == 285714 && py == 235294); /* 1/3.5um, 1/4.25um */
        png_bytepp rows = png_get_rows(png, info);
        unsigned lo_c = 65535, hi_c = 0;
        int bad = 0;
        for (size_t y = 0; y < s->ny; y++)
            for (size_t x = 0; x < s->nx; x++) {
                const unsigned char *q = rows[y] + 4 * x;
                unsigned g = (unsigned)q[0] << 8 | q[1], a = (unsigned)q[2] << 8 | q[3];
                size_t i = y * s->nx + x;
                if ((a == 65535) != (s->valid[i] == 1) || (a != 0 && a != 65535)) bad++;
                if (a) {
                    if (g < lo_c) lo_c = g;
                    if (g > hi_c) hi_c = g;
                }
            }
        CHECK_MSG(bad == 0, "%d alpha values disagree with the mask", bad);
        CHECK(lo_c == 0 && hi_c == 65535); /* full 16-bit range used */
    }
    png_destroy_read_struct(png ? &png : NULL, info ? &info : NULL, NULL);
    if (fp) fclose(fp);

    /* Spacing given by the caller overrides the file's. */
    r = read_ok(p, 2e-6);
    if (r) CHECK(r->dx == 2e-6 && r->dy == 2e-6 && r->zkind == IBEX_Z_HEIGHT);
    ibex_surface_free(r);

    /* Flat and empty surfaces survive too (scale 0). */
    for (size_t i = 0; i < s->nx * s->ny; i++) s->z[i] = s->valid[i] ? 3e-6f : NAN;
    CHECK(ibex_surface_write_png(s, p, &d) == IBEX_OK);
    r = read_ok(p, 0);
    if (r) {
        int bad = 0;
        for (size_t i = 0; i < s->nx * s->ny; i++)
            if (r->valid[i] != s->valid[i] || (s->valid[i] && r->z[i] != 3e-6f)) bad++;
        CHECK_MSG(bad == 0, "flat surface: %d points differ", bad);
    }
    ibex_surface_free(r);
    for (size_t i = 0; i < s->nx * s->ny; i++) s->z[i] = NAN;
    ibex_surface_sync_mask(s);
    CHECK(ibex_surface_write_png(s, p, &d) == IBEX_OK);
    r = read_ok(p, 0);
    if (r) {
        ibex_surface_stats rs;
        ibex_surface_get_stats(r, &rs);
        CHECK(rs.n_valid == 0);
    }
    ibex_surface_free(r);
    ibex_surface_free(s);
}

/* An intensity image read, written and read again stays an intensity image in 0..1. */
static void test_intensity_roundtrip(void)
{
    unsigned char px[16 * 3];
    for (int i = 0; i < 48; i++) px[i] = (unsigned char)(i * 5 + 10);
    png_fixture f = {.w = 16, .h = 3, .depth = 8, .ctype = PNG_COLOR_TYPE_GRAY, .pixels = px,
                     .ppm = 395256};
    char p[300], q[300];
    path_of(p, sizeof p, "int8.png");
    path_of(q, sizeof q, "int16.png");
    CHECK(png_fixture_write(&f, p) == 0);
    ibex_surface *s = read_ok(p, 0), *r = NULL;
    ibex_diag d;
    if (s) CHECK(ibex_surface_write_png(s, q, &d) == IBEX_OK);
    if (s) r = read_ok(q, 0);
    if (s && r) {
        CHECK(r->zkind == IBEX_Z_INTENSITY && r->dx == s->dx && r->dx == 1.0 / 395256);
        double worst = 0;
        for (int i = 0; i < 48; i++) worst = fmax(worst, fabs((double)r->z[i] - s->z[i]));
        CHECK_MSG(worst <= (245 - 10) / 255.0 / 65535.0, "worst %g", worst);
    }
    ibex_surface_free(s);
    ibex_surface_free(r);
}

static void test_image_write(void)
{
    ibex_image *im = NULL;
    CHECK(ibex_image_create(13, 7, &im) == IBEX_OK);
    if (!im) return;
    for (size_t i = 0; i < 13 * 7 * 3; i++) im->rgb[i] = (unsigned char)(i * 37 + 11);
    char p[300];
    path_of(p, sizeof p, "rgb.png");
    ibex_diag d;
    CHECK(ibex_image_write_png(im, p, &d) == IBEX_OK);
    CHECK(count_tmp_files() == 0);
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    unsigned char back[13 * 7 * 3];
    int ok = png_image_begin_read_from_file(&img, p) != 0;
    CHECK(ok && img.width == 13 && img.height == 7);
    if (ok) {
        img.format = PNG_FORMAT_RGB;
        CHECK(png_image_finish_read(&img, NULL, back, 13 * 3, NULL) != 0);
        CHECK(memcmp(back, im->rgb, sizeof back) == 0);
    }
    png_image_free(&img);
    ibex_image_free(im);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/ibex-test-png-XXXXXX");
    if (!mkdtemp(dir)) return 1;
    test_grey8();
    test_grey16(PNG_INTERLACE_NONE);
    test_grey16(PNG_INTERLACE_ADAM7);
    test_alpha_and_colour();
    test_roundtrip();
    test_intensity_roundtrip();
    test_image_write();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return check_exit();
}
