/* Bad PNG inputs: each gives its documented status and a one-line message naming the file and
 * the problem, writes nothing to the out-parameter, and allocates nothing a lying header asks
 * for. Files are made from a good PNG (written with libpng directly) by editing bytes. */
#include <dirent.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "ibex/ibex.h"
#include "png_fixture.h"

static char dir[256];

static void check_read(const char *name, ibex_status want, const char *phrase)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    ibex_surface *s = NULL;
    ibex_diag d;
    ibex_diag_clear(&d);
    ibex_status st = ibex_surface_read_png(path, 0, &s, &d);
    CHECK_MSG(st == want, "%s: status %d (%s), expected %d; message: %s", name, st,
              ibex_strerror(st), want, d.message);
    CHECK_MSG(s == NULL, "%s: out-parameter written on failure", name);
    CHECK_MSG(strcmp(d.file, path) == 0, "%s: diag names '%s'", name, d.file);
    CHECK_MSG(strstr(d.message, phrase) != NULL, "%s: message '%s' lacks '%s'", name, d.message,
              phrase);
    char line[1200];
    ibex_diag_format(&d, st, line, sizeof line);
    CHECK_MSG(strchr(line, '\n') == NULL && strstr(line, path) == line, "%s: not one line naming the file: %s",
              name, line);
    fprintf(stderr, "  %-18s -> %s\n", name, line);
    /* ibex_surface_read (used by every subcommand) reports the same. */
    ibex_status st2 = ibex_surface_read(path, 0, &s, &d);
    CHECK_MSG(st2 == want && s == NULL, "%s: ibex_surface_read gave %d", name, st2);
    ibex_surface_free(s);
}

static void save(const png_bytes *pb, size_t n, const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    CHECK(png_bytes_save(pb, n, path) == 0);
}

/* A copy of good with IHDR width/height replaced (CRC recomputed, so only the size lies). */
static void lying_ihdr(const png_bytes *good, unsigned long w, unsigned long h, const char *name)
{
    png_bytes b = {malloc(good->n), good->n};
    if (!b.b) return;
    memcpy(b.b, good->b, good->n);
    size_t i = png_bytes_find(&b, "IHDR");
    put_be32(b.b + i + 8, w);
    put_be32(b.b + i + 12, h);
    png_bytes_fix_crc(&b, i);
    save(&b, b.n, name);
    free(b.b);
}

static int tmp_files_in(const char *d)
{
    int n = 0;
    DIR *dd = opendir(d);
    struct dirent *e;
    while (dd && (e = readdir(dd)))
        if (strstr(e->d_name, ".tmp-")) n++;
    if (dd) closedir(dd);
    return n;
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/ibex-test-badpng-XXXXXX");
    if (!mkdtemp(dir)) return 1;
    /* A lying header must be refused before allocating: cap the address space well below what
     * 100000 x 100000 points (50 GB) would need, so an attempt fails loudly instead of passing. */
#ifndef __SANITIZE_ADDRESS__ /* ASan's shadow memory already exceeds any such cap */
    struct rlimit rl = {(rlim_t)4 << 30, (rlim_t)4 << 30};
    setrlimit(RLIMIT_AS, &rl);
#endif

    enum { W = 64, H = 48 };
    static unsigned char px[W * H * 2];
    for (int i = 0; i < W * H * 2; i++) px[i] = (unsigned char)((i * 131) ^ (i >> 3));
    png_fixture f = {.w = W, .h = H, .depth = 16, .ctype = PNG_COLOR_TYPE_GRAY, .pixels = px};
    char good_path[512];
    snprintf(good_path, sizeof good_path, "%s/good.png", dir);
    CHECK(png_fixture_write(&f, good_path) == 0);
    png_bytes good = {0, 0};
    CHECK(png_bytes_load(good_path, &good) == 0);
    size_t ihdr = png_bytes_find(&good, "IHDR"), idat = png_bytes_find(&good, "IDAT");
    CHECK(ihdr == 8 && idat > 0);
    if (!good.b || !idat) return check_exit();
    ibex_surface *s = NULL;
    ibex_diag d;
    CHECK(ibex_surface_read_png(good_path, 0, &s, &d) == IBEX_OK); /* the base file is fine */
    ibex_surface_free(s);
    s = NULL;

    save(&good, 0, "empty.png");
    check_read("empty.png", IBEX_ERR_FORMAT, "empty");
    const char text[] = "P5\n64 48\n255\nthis is a PGM, not a PNG";
    png_bytes t = {(unsigned char *)text, sizeof text - 1};
    save(&t, t.n, "notpng.png");
    check_read("notpng.png", IBEX_ERR_FORMAT, "not a PNG");
    save(&good, 5, "sig5.png");
    check_read("sig5.png", IBEX_ERR_FORMAT, "truncated");
    save(&good, 20, "in_ihdr.png");
    check_read("in_ihdr.png", IBEX_ERR_FORMAT, "truncated");
    save(&good, idat + 8 + be32(good.b + idat) / 2, "in_idat.png");
    check_read("in_idat.png", IBEX_ERR_FORMAT, "truncated");
    save(&good, good.n - 12, "no_iend.png"); /* the image is whole, the file is not */
    check_read("no_iend.png", IBEX_ERR_FORMAT, "truncated");

    lying_ihdr(&good, 100000, 100000, "huge_ihdr.png");
    check_read("huge_ihdr.png", IBEX_ERR_LIMIT, "too large");
    lying_ihdr(&good, 200000, 2, "wide_ihdr.png"); /* beyond IBEX_MAX_SIDE: libpng's own limit */
    check_read("wide_ihdr.png", IBEX_ERR_LIMIT, "too large");
    lying_ihdr(&good, 0, 48, "zero_ihdr.png");
    check_read("zero_ihdr.png", IBEX_ERR_FORMAT, "corrupted PNG");
    /* Within the limits, but far more pixels than ~650 bytes of deflate can hold: refused
     * from the file size alone, before allocating 9 million points. */
    lying_ihdr(&good, 3000, 3000, "lying_ihdr.png");
    check_read("lying_ihdr.png", IBEX_ERR_FORMAT, "lying header");
    lying_ihdr(&good, 64, 100, "short_data.png"); /* plausible size, data for 48 rows only */
    check_read("short_data.png", IBEX_ERR_FORMAT, "Not enough image data");

    png_bytes b = {malloc(good.n), good.n};
    if (b.b) {
        /* The IDAT checksum itself damaged: libpng checks it once the chunk is read. */
        memcpy(b.b, good.b, good.n);
        b.b[idat + 8 + be32(good.b + idat) + 1] ^= 0x10;
        save(&b, b.n, "idat_crc.png");
        check_read("idat_crc.png", IBEX_ERR_INTEGRITY, "CRC");
        /* One flipped bit in the IDAT data, CRC left alone: libpng inflates as it reads, so
         * zlib meets the damage before the chunk's CRC is checked. */
        memcpy(b.b, good.b, good.n);
        b.b[idat + 8 + 20] ^= 0x10;
        save(&b, b.n, "idat_flip.png");
        check_read("idat_flip.png", IBEX_ERR_FORMAT, "damaged image data");
        /* Same damage with the CRC recomputed: zlib finds the stream corrupt instead. */
        memcpy(b.b, good.b, good.n);
        for (size_t k = 2; k < 40; k++) b.b[idat + 8 + k] ^= 0x5a;
        png_bytes_fix_crc(&b, idat);
        save(&b, b.n, "idat_zlib.png");
        check_read("idat_zlib.png", IBEX_ERR_FORMAT, "damaged image data");
        /* A damaged IHDR CRC. */
        memcpy(b.b, good.b, good.n);
        b.b[ihdr + 8 + 13] ^= 0xff;
        save(&b, b.n, "ihdr_crc.png");
        check_read("ihdr_crc.png", IBEX_ERR_INTEGRITY, "CRC");
        free(b.b);
    }

    char p[512];
    /* A text chunk whose length field claims 2 GB in a file of a few hundred bytes: libpng
     * would allocate the claimed length before reading it, so the reader refuses the chunk
     * from its header, before IDAT and after it. */
    static const char comment[] = "Comment\0a short comment";
    png_bytes lie = png_bytes_insert_chunk(&good, ihdr + 25, "tEXt", 0x7fff0000ul, comment,
                                           sizeof comment - 1);
    if (lie.b) save(&lie, lie.n, "huge_text.png");
    check_read("huge_text.png", IBEX_ERR_FORMAT, "claims 2147418112 bytes");
    free(lie.b);
    size_t iend = png_bytes_find(&good, "IEND");
    lie = png_bytes_insert_chunk(&good, iend, "zTXt", 0x7fff0000ul, comment, sizeof comment - 1);
    if (lie.b) save(&lie, lie.n, "huge_ztxt_late.png");
    check_read("huge_ztxt_late.png", IBEX_ERR_FORMAT, "chunk zTXt");
    free(lie.b);
    /* One byte longer than the rest of the file (data and CRC): the same refusal. */
    lie = png_bytes_insert_chunk(&good, ihdr + 25, "tEXt", sizeof comment - 1 + (good.n - ihdr - 25) + 1,
                                 comment, sizeof comment - 1);
    if (lie.b) save(&lie, lie.n, "long_text.png");
    check_read("long_text.png", IBEX_ERR_FORMAT, "truncated or lying");
    free(lie.b);
    /* A truthful text chunk inserted the same way reads. */
    lie = png_bytes_insert_chunk(&good, ihdr + 25, "tEXt", sizeof comment - 1, comment,
                                 sizeof comment - 1);
    if (lie.b) save(&lie, lie.n, "fine_text.png");
    snprintf(p, sizeof p, "%s/fine_text.png", dir);
    CHECK(ibex_surface_read_png(p, 0, &s, &d) == IBEX_OK);
    ibex_surface_free(s);
    s = NULL;
    free(lie.b);

    /* IBEX text chunks with a nonsense value are refused, not half applied. */
    png_text tx[3];
    memset(tx, 0, sizeof tx);
    const char *kv[3][2] = {{"IBEX zkind", "height"}, {"IBEX z scale", "1e-9"}, {"IBEX dx", "-3"}};
    for (int i = 0; i < 3; i++) {
        tx[i].compression = PNG_TEXT_COMPRESSION_NONE;
        tx[i].key = (char *)kv[i][0];
        tx[i].text = (char *)kv[i][1];
    }
    png_fixture ft = f;
    ft.text = tx;
    ft.ntext = 3;
    snprintf(p, sizeof p, "%s/bad_text.png", dir);
    CHECK(png_fixture_write(&ft, p) == 0);
    check_read("bad_text.png", IBEX_ERR_FORMAT, "IBEX dx");
    ft.ntext = 2; /* scale without offset */
    snprintf(p, sizeof p, "%s/half_text.png", dir);
    CHECK(png_fixture_write(&ft, p) == 0);
    check_read("half_text.png", IBEX_ERR_FORMAT, "incomplete");

    check_read("missing.png", IBEX_ERR_IO, "cannot open");

    /* Writers: a failed rename (the target is a directory) leaves no file behind. */
    char sub[512];
    snprintf(sub, sizeof sub, "%s/adir.png", dir);
    CHECK(mkdir(sub, 0700) == 0);
    CHECK(ibex_surface_read_png(good_path, 0, &s, &d) == IBEX_OK);
    if (s) {
        ibex_diag_clear(&d);
        CHECK(ibex_surface_write_png(s, sub, &d) == IBEX_ERR_IO);
        CHECK(strcmp(d.file, sub) == 0);
        snprintf(p, sizeof p, "%s/no/such/dir/out.png", dir);
        CHECK(ibex_surface_write_png(s, p, &d) == IBEX_ERR_IO && strcmp(d.file, p) == 0);
        ibex_image *im = NULL;
        CHECK(ibex_image_create(4, 4, &im) == IBEX_OK);
        CHECK(ibex_image_write_png(im, sub, &d) == IBEX_ERR_IO);
        ibex_image_free(im);
        CHECK(tmp_files_in(dir) == 0);
        ibex_surface_free(s);
    }
    free(good.b);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return check_exit();
}
