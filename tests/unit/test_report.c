/* Case reports (ibex/report.h) from a synthetic report: a tiny PNG made with the library's
 * PNG writer, two conclusions (a conclusion and its verification), text with <script>, & and
 * µ. HTML: self-contained (no http:, no src= but data:, no <script> or <link>), every piece
 * of text escaped, the rows there, the three statements (software's scores, examiners'
 * conclusions, reference threshold). PDF: %PDF- header, every xref offset at "N 0 obj",
 * startxref at the table, the page count, the image object (inflating to w*h*3 bytes), the
 * µ in WinAnsi, a many-candidate report over several pages. Bad input: IBEX_ERR_ARG (NULL,
 * counts over the limits, a NULL array, a picture that is not a PNG, an unset struct size),
 * IBEX_ERR_FORMAT for a damaged PNG in the PDF; never a crash. IBEX_REPORT_DUMP=DIR writes
 * DIR/test_report.pdf. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "check.h"
#include "ibex/ibex.h"
#include "ibex/report.h"
#include "pdf_internal.h"
#include "png_internal.h"

static const char *find(const char *hay, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= n; i++)
        if (!memcmp(hay + i, needle, k)) return hay + i;
    return NULL;
}

static size_t count(const char *hay, size_t n, const char *needle)
{
    size_t c = 0, k = strlen(needle);
    for (size_t i = 0; i + k <= n; i++)
        if (!memcmp(hay + i, needle, k)) c++;
    return c;
}

/* Checks the PDF's structure; returns the page count from /Count (0 when broken). */
static size_t check_pdf(const unsigned char *pdf, size_t n)
{
    const char *s = (const char *)pdf;
    CHECK(n > 100 && !memcmp(s, "%PDF-", 5));
    const char *sx = NULL;
    for (size_t i = n > 40 ? n - 40 : 0; i + 9 <= n; i++)
        if (!memcmp(s + i, "startxref", 9)) sx = s + i;
    CHECK(sx != NULL);
    if (!sx) return 0;
    CHECK(find(s + (n - 6), 6, "%%EOF") != NULL);
    size_t xref = strtoull(sx + 10, NULL, 10);
    CHECK(xref < n && !memcmp(s + xref, "xref\n0 ", 7));
    if (xref >= n || memcmp(s + xref, "xref\n0 ", 7)) return 0;
    char *end;
    size_t nobj = strtoull(s + xref + 7, &end, 10);
    CHECK(nobj > 5 && *end == '\n');
    const char *e = end + 1;
    CHECK(!memcmp(e, "0000000000 65535 f \n", 20));
    for (size_t i = 1; i < nobj; i++) {
        const char *row = e + 20 * i;
        CHECK(row + 20 <= s + n && row[10] == ' ' && !memcmp(row + 11, "00000 n \n", 9));
        size_t off = strtoull(row, NULL, 10);
        char want[32];
        int k = snprintf(want, sizeof want, "%zu 0 obj", i);
        CHECK_MSG(off + (size_t)k <= n && !memcmp(s + off, want, (size_t)k), "object %zu at %zu", i, off);
        CHECK(off == 0 || s[off - 1] == '\n');
    }
    const char *tr = find(s + xref, n - xref, "trailer");
    char size_s[40];
    snprintf(size_s, sizeof size_s, "/Size %zu ", nobj);
    CHECK(tr && find(tr, n - (size_t)(tr - s), size_s));
    const char *cnt = find(s, n, "/Type /Pages /Count ");
    CHECK(cnt != NULL);
    if (!cnt) return 0;
    size_t pages = strtoull(cnt + 20, NULL, 10);
    CHECK_MSG(count(s, n, "/Type /Page ") == pages, "%zu page objects, /Count %zu", count(s, n, "/Type /Page "), pages);
    CHECK(count(s, n, "/BaseFont /Helvetica ") == 1 && count(s, n, "/BaseFont /Courier ") == 1);
    /* each stream's /Length is what lies between "stream\n" and "\nendstream" */
    for (const char *p = s; (p = find(p, n - (size_t)(p - s), "/Length ")); p++) {
        size_t len = strtoull(p + 8, NULL, 10);
        const char *st = find(p, n - (size_t)(p - s), ">>\nstream\n");
        CHECK(st != NULL);
        if (!st) break;
        st += 10;
        CHECK_MSG(st + len + 10 <= s + n && !memcmp(st + len, "\nendstream", 10), "stream length %zu", len);
    }
    return pages;
}

/* Every page's footer numbers it of the whole: "page i of N" once for each i, N the count. */
static void check_footers(const unsigned char *pdf, size_t n, size_t pages)
{
    char want[48];
    for (size_t i = 1; i <= pages + 1; i++) {
        snprintf(want, sizeof want, "(page %zu of %zu)", i, pages);
        CHECK_MSG(count((const char *)pdf, n, want) == (i <= pages ? 1u : 0u), "%s", want);
    }
    snprintf(want, sizeof want, "of %zu)", pages + 1);
    CHECK(!find((const char *)pdf, n, want));
}

static void check_image(const unsigned char *pdf, size_t n, size_t w, size_t h)
{
    const char *s = (const char *)pdf;
    const char *im = find(s, n, "/Subtype /Image");
    CHECK(im != NULL);
    if (!im) return;
    char want[80];
    snprintf(want, sizeof want, "/Width %zu /Height %zu /ColorSpace /DeviceRGB", w, h);
    CHECK(find(im, 120, want) != NULL);
    CHECK(find(im, 200, "/Filter /FlateDecode") != NULL);
    const char *len = find(im, 300, "/Length ");
    const char *st = find(im, 300, "stream\n");
    CHECK(len && st);
    if (!len || !st) return;
    size_t zn = strtoull(len + 8, NULL, 10);
    uLongf rn = (uLongf)(w * h * 3 + 16);
    unsigned char *raw = malloc(rn);
    CHECK(raw && uncompress(raw, &rn, (const unsigned char *)st + 7, (uLong)zn) == Z_OK && rn == w * h * 3);
    /* the top-left pixel is the PNG's red */
    CHECK(raw && raw[0] == 200 && raw[1] == 20 && raw[2] == 30);
    free(raw);
    CHECK(find(s, n, "/Im1 Do") != NULL);
}

int main(void)
{
    /* a tiny picture: 12 x 8, red with a blue square */
    ibex_image *img = NULL;
    CHECK(ibex_image_create(12, 8, &img) == IBEX_OK);
    if (!img) return check_exit();
    ibex_image_fill(img, 200, 20, 30);
    ibex_image_rect(img, 4, 2, 4, 4, 0, 0, 255);
    unsigned char *png = NULL;
    size_t png_n = 0;
    CHECK(ibex__image_png_mem(img, &png, &png_n, NULL) == IBEX_OK);
    ibex_image_free(img);

    ibex_report_cell cells[3] = {
        {0, 0, 0, 1, 0.71, 12.5, -3.0, 1.5, 1, "congruent: CCF 0.71 >= 0.50 & <b>fine</b>"},
        {1, 0, 1, 1, 0.32, 80, 41, -6, 0, "not congruent: CCF 0.32 < 0.50"},
        {2, 1, 0, 0, NAN, NAN, NAN, NAN, 0, "not used: 20% of the cell measured, 15% needed"},
    };
    ibex_report_pair pair = {0};
    pair.rank = 1;
    pair.questioned = "Q <script>alert(1)</script>.x3p";
    pair.candidate = "K-1 & co";
    pair.cmc = 7;
    pair.cmc_high = 9;
    pair.score = 0.61;
    pair.theta_deg = -3;
    pair.dx_um = 12;
    pair.dy_um = -4;
    pair.png = png;
    pair.png_n = png_n;
    pair.cells = cells;
    pair.n_cells = 3;

    ibex_report_candidate cands[2] = {
        {1, "K-1 & co", "F1 <Glock>", "set\xC2\xB5", 0.93, 7, 9, 0.61},
        {2, "K-2", "F2", NULL, 0.41, -1, -1, NAN},
    };
    ibex_conclusion cv[2];
    memset(cv, 0, sizeof cv);
    for (int i = 0; i < 2; i++) {
        cv[i].struct_size = sizeof cv[i];
        memset(cv[i].questioned_sha256, 'a', 64);
        memset(cv[i].candidate_sha256, 'b', 64);
        cv[i].questioned_name = "Q.x3p";
        cv[i].candidate_name = "K-1";
        cv[i].conclusion = "identification";
        cv[i].seq = (uint64_t)i + 1;
        cv[i].time = 1764770000 + 60 * i;
    }
    cv[0].type = IBEX_RECORD_CONCLUSION;
    cv[0].examiner = "alice";
    cv[0].role = "examiner";
    cv[0].notes = "Firing pin aperture shear <script>x</script> & breech face marks; 50 \xC2\xB5m.";
    memset(cv[0].sha256, 'c', 64);
    cv[1].type = IBEX_RECORD_VERIFICATION;
    cv[1].examiner = "bob";
    cv[1].role = "verifier";
    cv[1].verifies = 1;
    memset(cv[1].sha256, 'd', 64);
    memset(cv[1].prev_sha256, 'c', 64);

    ibex_report r;
    ibex_report_init(&r);
    CHECK(r.struct_size == sizeof r && r.reference_cmc == 6);
    r.title = "Case report";
    r.case_id = "2026-0042 <b>&</b>";
    r.software = "ibex test";
    r.library = "lab.h5";
    r.parameters = "CMC: 8 x 8 cells\nCCF >= 0.50; rotation within 6\xC2\xB0; shift within 20 \xC2\xB5m";
    r.created = 1764770400;
    r.questioned.name = "Q <script>alert(1)</script>.x3p";
    r.questioned.sha256 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    r.questioned.kind = "cartridge";
    r.questioned.nx = 600;
    r.questioned.ny = 580;
    r.questioned.spacing_um = 3.125;
    r.candidates = cands;
    r.n_candidates = 2;
    r.pairs = &pair;
    r.n_pairs = 1;
    r.conclusions = cv;
    r.n_conclusions = 2;

    /* ---- HTML ---- */
    char *html = NULL;
    size_t hn = 0;
    ibex_diag d;
    CHECK(ibex_report_html(&r, &html, &hn, &d) == IBEX_OK);
    CHECK(html && strlen(html) == hn);
    if (html) {
        CHECK(!strncmp(html, "<!DOCTYPE html>", 15));
        CHECK(!find(html, hn, "<script") && !find(html, hn, "<SCRIPT"));
        CHECK(!find(html, hn, "http://") && !find(html, hn, "https://") && !find(html, hn, "<link") &&
              !find(html, hn, "url("));
        size_t src = count(html, hn, "src=");
        CHECK(src == 1 && count(html, hn, "src=\"data:image/png;base64,") == src);
        CHECK(find(html, hn, "Q &lt;script&gt;alert(1)&lt;/script&gt;.x3p") != NULL);
        CHECK(find(html, hn, "2026-0042 &lt;b&gt;&amp;&lt;/b&gt;") != NULL);
        CHECK(find(html, hn, "K-1 &amp; co") != NULL && find(html, hn, "F1 &lt;Glock&gt;") != NULL);
        CHECK(find(html, hn, "&amp; &lt;b&gt;fine&lt;/b&gt;") != NULL);
        CHECK(find(html, hn, "50 \xC2\xB5m.") != NULL);
        CHECK(find(html, hn, "set\xC2\xB5") != NULL);
        /* rows: 2 candidates, 3 cells, 2 records */
        CHECK(count(html, hn, "<tr><td class=\"n\">") >= 4);
        CHECK(count(html, hn, "<tr class=\"c") == 3);
        CHECK(find(html, hn, "<td>alice</td>") && find(html, hn, "<td>bob</td>") &&
              find(html, hn, "<td>verification</td>"));
        CHECK(find(html, hn, "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc") != NULL);
        CHECK(find(html, hn, "computed by the software") && find(html, hn, "examiners&#39; own") &&
              find(html, hn, "decision threshold (CMC 6) is shown as a reference only"));
        CHECK(find(html, hn, "2025-12-03 ") != NULL); /* the report's time */
        /* the picture's base64 decodes to the PNG's first bytes */
        CHECK(find(html, hn, "base64,iVBORw0KGgo") != NULL);
    }
    free(html);

    /* ---- PDF ---- */
    unsigned char *pdf = NULL;
    size_t pn = 0;
    CHECK(ibex_report_pdf(&r, &pdf, &pn, &d) == IBEX_OK);
    if (pdf) {
        size_t pages = check_pdf(pdf, pn);
        CHECK(pages >= 1 && pages <= 3);
        check_image(pdf, pn, 12, 8);
        check_footers(pdf, pn, pages);
        CHECK(find((char *)pdf, pn, "50 \\265m.") != NULL); /* µ as WinAnsi 0xB5 */
        CHECK(find((char *)pdf, pn, "(Case report)") != NULL);
        CHECK(find((char *)pdf, pn, "alice") && find((char *)pdf, pn, "verification"));
        CHECK(find((char *)pdf, pn, "reference only") != NULL);
        CHECK(find((char *)pdf, pn, "/CreationDate (D:2025120") != NULL);
        const char *dir = getenv("IBEX_REPORT_DUMP"); /* for a look (pdfinfo, qpdf --check) */
        if (dir) {
            char path[1024];
            snprintf(path, sizeof path, "%s/test_report.pdf", dir);
            FILE *f = fopen(path, "wb");
            if (f) {
                fwrite(pdf, 1, pn, f);
                fclose(f);
            }
        }
    }
    free(pdf);

    /* many candidates: several pages, every one listed */
    enum { MANY = 300 };
    ibex_report_candidate *many = calloc(MANY, sizeof *many);
    char (*ids)[16] = calloc(MANY, sizeof *ids);
    for (size_t i = 0; many && ids && i < MANY; i++) {
        snprintf(ids[i], sizeof ids[i], "S-%04zu", i + 1);
        many[i] = (ibex_report_candidate){i + 1, ids[i], "F", "set", 1.0 / (double)(i + 1), (int)(i % 9), 1, 0.5};
    }
    ibex_report r2 = r;
    r2.candidates = many;
    r2.n_candidates = MANY;
    r2.n_pairs = 0;
    r2.n_conclusions = 0;
    r2.conclusions = NULL;
    pdf = NULL;
    CHECK(ibex_report_pdf(&r2, &pdf, &pn, &d) == IBEX_OK);
    if (pdf) {
        size_t pages = check_pdf(pdf, pn);
        CHECK_MSG(pages >= 5, "%zu pages", pages);
        check_footers(pdf, pn, pages);
        CHECK(find((char *)pdf, pn, "(S-0001)") && find((char *)pdf, pn, "(S-0300)"));
        CHECK(!find((char *)pdf, pn, "/Subtype /Image"));
        CHECK(find((char *)pdf, pn, "No conclusion has been recorded") != NULL);
        /* the table's header repeated on every page of the list */
        CHECK(count((char *)pdf, pn, "(High-CMC) Tj") >= pages - 1);
    }
    free(pdf);
    html = NULL;
    CHECK(ibex_report_html(&r2, &html, &hn, &d) == IBEX_OK && html && find(html, hn, "S-0300"));
    free(html);
    free(many);
    free(ids);

    /* an empty report is still a report */
    ibex_report e;
    ibex_report_init(&e);
    CHECK(ibex_report_pdf(&e, &pdf, &pn, &d) == IBEX_OK && check_pdf(pdf, pn) == 1);
    free(pdf);
    CHECK(ibex_report_html(&e, &html, &hn, &d) == IBEX_OK && find(html, hn, "No candidates."));
    free(html);

    /* ---- bad input ---- */
    html = (char *)1;
    pdf = (unsigned char *)1;
    CHECK(ibex_report_html(NULL, &html, &hn, &d) == IBEX_ERR_ARG && html == NULL && d.message[0]);
    CHECK(ibex_report_pdf(NULL, &pdf, &pn, &d) == IBEX_ERR_ARG && pdf == NULL);
    CHECK(ibex_report_html(&r, NULL, &hn, &d) == IBEX_ERR_ARG);
    CHECK(ibex_report_pdf(&r, &pdf, NULL, NULL) == IBEX_ERR_ARG);
    ibex_report b = r;
    b.n_candidates = IBEX_REPORT_MAX_CANDIDATES + 1;
    CHECK(ibex_report_html(&b, &html, &hn, &d) == IBEX_ERR_ARG && strstr(d.message, "candidates"));
    CHECK(ibex_report_pdf(&b, &pdf, &pn, &d) == IBEX_ERR_ARG);
    b = r;
    b.n_candidates = (size_t)-1;
    CHECK(ibex_report_pdf(&b, &pdf, &pn, &d) == IBEX_ERR_ARG);
    b = r;
    b.n_pairs = 5000;
    CHECK(ibex_report_pdf(&b, &pdf, &pn, &d) == IBEX_ERR_ARG);
    b = r;
    b.n_conclusions = (size_t)1 << 40;
    CHECK(ibex_report_html(&b, &html, &hn, &d) == IBEX_ERR_ARG);
    b = r;
    b.candidates = NULL;
    CHECK(ibex_report_html(&b, &html, &hn, &d) == IBEX_ERR_ARG);
    b = r;
    b.struct_size = 0;
    CHECK(ibex_report_pdf(&b, &pdf, &pn, &d) == IBEX_ERR_ARG);
    ibex_report_pair bp = pair;
    b = r;
    b.pairs = &bp;
    bp.n_cells = IBEX_REPORT_MAX_CELLS + 1;
    CHECK(ibex_report_pdf(&b, &pdf, &pn, &d) == IBEX_ERR_ARG);
    bp = pair;
    bp.cells = NULL;
    CHECK(ibex_report_html(&b, &html, &hn, &d) == IBEX_ERR_ARG);
    bp = pair;
    bp.png = (const unsigned char *)"GIF89a not a png";
    bp.png_n = 16;
    CHECK(ibex_report_html(&b, &html, &hn, &d) == IBEX_ERR_ARG && strstr(d.message, "not a PNG"));
    CHECK(ibex_report_pdf(&b, &pdf, &pn, &d) == IBEX_ERR_ARG);
    unsigned char broken[64];
    memcpy(broken, png, png_n < 40 ? png_n : 40);
    memset(broken + 40, 0x55, sizeof broken - 40);
    bp.png = broken;
    bp.png_n = sizeof broken;
    pdf = NULL;
    CHECK(ibex_report_pdf(&b, &pdf, &pn, &d) == IBEX_ERR_FORMAT && pdf == NULL);
    bp = pair;
    bp.png_n = (size_t)IBEX_REPORT_MAX_PNG + 1;
    CHECK(ibex_report_pdf(&b, &pdf, &pn, &d) == IBEX_ERR_ARG);
    {
        ibex_report_pair five[5];
        for (int i = 0; i < 5; i++) {
            five[i] = pair;
            five[i].png_n = (size_t)60 << 20; /* refused before a byte past the signature is read */
        }
        b = r;
        b.pairs = five;
        b.n_pairs = 5;
        CHECK(ibex_report_html(&b, &html, &hn, &d) == IBEX_ERR_ARG && strstr(d.message, "in all"));
    }
    /* over-long text */
    char *big = malloc(IBEX_REPORT_MAX_TEXT + 2);
    if (big) {
        memset(big, 'x', IBEX_REPORT_MAX_TEXT + 1);
        big[IBEX_REPORT_MAX_TEXT + 1] = '\0';
        b = r;
        b.parameters = big;
        CHECK(ibex_report_html(&b, &html, &hn, &d) == IBEX_ERR_ARG);
        /* at the limit: fine, wrapped over pages */
        big[IBEX_REPORT_MAX_TEXT] = '\0';
        for (size_t i = 0; i < IBEX_REPORT_MAX_TEXT; i += 97) big[i] = ' ';
        pdf = NULL;
        CHECK(ibex_report_pdf(&b, &pdf, &pn, &d) == IBEX_OK && check_pdf(pdf, pn) > 2);
        free(pdf);
        free(big);
    }
    /* malformed UTF-8 and control characters: escaped, never passed through */
    b = r;
    b.title = "bad \xFF\xC0 utf8 \x01\x1b[31m";
    html = NULL;
    CHECK(ibex_report_html(&b, &html, &hn, &d) == IBEX_OK && html && !find(html, hn, "\xFF") && !find(html, hn, "\x1b"));
    free(html);
    pdf = NULL;
    CHECK(ibex_report_pdf(&b, &pdf, &pn, &d) == IBEX_OK && pdf && check_pdf(pdf, pn) >= 1);
    free(pdf);

    /* random bytes in every string: both forms still well-formed, no byte passed raw */
    {
        unsigned seed = 7;
        char txt[6][300];
        for (int it = 0; it < 40; it++) {
            for (int k = 0; k < 6; k++) {
                size_t len = 1 + (size_t)(it * 37 + k * 11) % (sizeof txt[k] - 1);
                for (size_t i = 0; i < len; i++) {
                    seed = seed * 1103515245u + 12345u;
                    txt[k][i] = (char)(1 + (seed >> 16) % 255);
                }
                txt[k][len] = '\0';
            }
            b = r;
            bp = pair;
            b.pairs = &bp;
            b.title = txt[0];
            b.case_id = txt[1];
            b.parameters = txt[2];
            b.questioned.name = txt[3];
            bp.candidate = txt[4];
            ibex_conclusion c2[2];
            memcpy(c2, cv, sizeof c2);
            c2[0].notes = txt[5];
            b.conclusions = c2;
            html = NULL;
            pdf = NULL;
            CHECK(ibex_report_html(&b, &html, &hn, &d) == IBEX_OK && html && strlen(html) == hn);
            if (html) CHECK(!find(html, hn, "<script") && !find(html, hn, "\x01"));
            CHECK(ibex_report_pdf(&b, &pdf, &pn, &d) == IBEX_OK && pdf && check_pdf(pdf, pn) >= 1);
            free(html);
            free(pdf);
        }
    }

    /* the WinAnsi mapping */
    char wa[32];
    CHECK(ibex__pdf_winansi("\xC2\xB5m \xE2\x82\xAC \xE4\xB8\xAD \xC3\xA9", wa, sizeof wa) == 8 &&
          !memcmp(wa, "\xB5m \x80 ? \xE9", 8));
    CHECK(ibex__pdf_text_width(PDF_COURIER, 10, "abcd") == 24.0);

    free(png);
    return check_exit();
}
