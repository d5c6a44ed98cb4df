/* The case report as one self-contained HTML document (include/ibex/report.h): inline CSS,
 * the pictures as data: URIs, no script and nothing fetched from anywhere. Every piece of
 * text is escaped (& < > " '), control characters dropped and malformed UTF-8 replaced by
 * U+FFFD, so text from an upload's file name or an examiner's notes cannot change the page. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ibex/report.h"
#include "ibex_internal.h"
#include "report_internal.h"

typedef struct out {
    char *d;
    size_t n, cap;
    int bad;
} out;

static void add(out *o, const char *s, size_t n)
{
    if (o->bad) return;
    if (o->n + n + 1 > o->cap) {
        size_t cap = o->cap ? o->cap : 16384;
        while (cap < o->n + n + 1) {
            if (cap > SIZE_MAX / 2) {
                o->bad = 1;
                return;
            }
            cap *= 2;
        }
        char *d = realloc(o->d, cap);
        if (!d) {
            o->bad = 1;
            return;
        }
        o->d = d;
        o->cap = cap;
    }
    memcpy(o->d + o->n, s, n);
    o->n += n;
    o->d[o->n] = '\0';
}

static void lit(out *o, const char *s)
{
    add(o, s, strlen(s));
}

static void fmt(out *o, const char *f, ...) IBEX__PRINTF(2, 3);
static void fmt(out *o, const char *f, ...)
{
    char tmp[1024];
    va_list ap;
    va_start(ap, f);
    int k = vsnprintf(tmp, sizeof tmp, f, ap);
    va_end(ap);
    if (k < 0) o->bad = 1;
    else add(o, tmp, (size_t)k < sizeof tmp ? (size_t)k : sizeof tmp - 1);
}

/* Length of the valid UTF-8 sequence at s, or 0. */
static size_t utf8_len(const unsigned char *s)
{
    unsigned c = s[0];
    size_t n;
    unsigned long cp;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) n = 2, cp = c & 0x1F;
    else if (c >= 0xE0 && c <= 0xEF) n = 3, cp = c & 0x0F;
    else if (c >= 0xF0 && c <= 0xF4) n = 4, cp = c & 0x07;
    else return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

/* Escaped text; newlines kept as they are (inside <pre>) or as <br> (keep_lines 2). */
static void esc_lines(out *o, const char *s, int keep_lines)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    while (*p) {
        size_t k = utf8_len(p);
        if (!k) {
            lit(o, "\xEF\xBF\xBD");
            p++;
            continue;
        }
        unsigned c = *p;
        if (k > 1) {
            add(o, (const char *)p, k);
        } else if (c == '&') {
            lit(o, "&amp;");
        } else if (c == '<') {
            lit(o, "&lt;");
        } else if (c == '>') {
            lit(o, "&gt;");
        } else if (c == '"') {
            lit(o, "&quot;");
        } else if (c == '\'') {
            lit(o, "&#39;");
        } else if (c == '\n') {
            lit(o, keep_lines == 2 ? "<br>" : keep_lines ? "\n" : " ");
        } else if (c == '\t') {
            lit(o, " ");
        } else if (c >= 0x20 && c != 0x7F) {
            add(o, (const char *)p, 1);
        } /* other control characters: dropped */
        p += k;
    }
}

static void esc(out *o, const char *s)
{
    esc_lines(o, s, 0);
}

static void base64(out *o, const unsigned char *d, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char q[4];
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)d[i] << 16;
        if (i + 1 < n) v |= (unsigned)d[i + 1] << 8;
        if (i + 2 < n) v |= d[i + 2];
        q[0] = tab[(v >> 18) & 63];
        q[1] = tab[(v >> 12) & 63];
        q[2] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
        q[3] = i + 2 < n ? tab[v & 63] : '=';
        add(o, q, 4);
    }
}

static void num(out *o, double v, int prec)
{
    if (!isfinite(v)) lit(o, "&ndash;");
    else fmt(o, "%.*f", prec, v);
}

static void td(out *o, const char *s)
{
    lit(o, "<td>");
    esc(o, s);
    lit(o, "</td>");
}

static const char css[] =
    "body{font-family:Helvetica,Arial,sans-serif;font-size:10.5pt;color:#111;margin:2em auto;max-width:60em;"
    "padding:0 1em;line-height:1.35}"
    "h1{font-size:17pt;margin:0 0 .3em}h2{font-size:13pt;margin:1.6em 0 .4em;border-bottom:1px solid #999}"
    "h3{font-size:11pt;margin:1.2em 0 .3em}"
    "table{border-collapse:collapse;margin:.3em 0;width:100%}"
    "th,td{border:1px solid #bbb;padding:2px 5px;text-align:left;vertical-align:top}"
    "th{background:#eee}td.n{text-align:right;font-variant-numeric:tabular-nums}"
    "table.kv{width:auto}table.kv th{width:11em}"
    ".notice{border:2px solid #555;background:#f6f6f0;padding:.5em .9em;margin:1em 0}"
    ".notice p{margin:.3em 0}"
    "pre{background:#f4f4f4;padding:.5em;white-space:pre-wrap;font-size:9.5pt}"
    ".hash{font-family:Courier,monospace;font-size:9pt;word-break:break-all}"
    "img{max-width:100%;border:1px solid #ccc}"
    "tr.c1 td:first-child{border-left:4px solid #2a2}tr.c2 td:first-child{border-left:4px solid #e80}"
    ".why{font-size:9pt}.muted{color:#555}"
    "@media print{body{margin:0;max-width:none}h2{break-after:avoid}section.pair{break-inside:auto}}";

static void kv(out *o, const char *k, const char *v)
{
    lit(o, "<tr><th>");
    esc(o, k);
    lit(o, "</th><td>");
    esc(o, v && *v ? v : "\xE2\x80\x93");
    lit(o, "</td></tr>\n");
}

static void kv_hash(out *o, const char *k, const char *v)
{
    lit(o, "<tr><th>");
    esc(o, k);
    lit(o, "</th><td class=\"hash\">");
    esc(o, v && *v ? v : "\xE2\x80\x93");
    lit(o, "</td></tr>\n");
}

static void candidates(out *o, const ibex_report *r)
{
    lit(o, "<h2>Ranked candidates</h2>\n");
    if (!r->n_candidates) {
        lit(o, "<p class=\"muted\">No candidates.</p>\n");
        return;
    }
    fmt(o, "<p class=\"muted\">The software's ranking, best first. CMC: congruent matching cells; the "
           "reference line is CMC %d.</p>\n", r->reference_cmc);
    lit(o, "<table class=\"cands\"><thead><tr><th>Rank</th><th>Specimen</th><th>Firearm</th><th>Set</th>"
           "<th>Stage 1</th><th>CMC</th><th>High-CMC</th><th>Score</th></tr></thead><tbody>\n");
    for (size_t i = 0; i < r->n_candidates; i++) {
        const ibex_report_candidate *c = &r->candidates[i];
        fmt(o, "<tr><td class=\"n\">%zu</td>", c->rank);
        td(o, ibex__report_str(c->id));
        td(o, ibex__report_str(c->firearm));
        td(o, ibex__report_str(c->set));
        lit(o, "<td class=\"n\">");
        num(o, c->stage1, 3);
        lit(o, "</td>");
        if (c->cmc >= 0) fmt(o, "<td class=\"n\">%d</td><td class=\"n\">%d</td>", c->cmc, c->cmc_high);
        else lit(o, "<td class=\"n\">&ndash;</td><td class=\"n\">&ndash;</td>");
        lit(o, "<td class=\"n\">");
        num(o, c->cmc >= 0 ? c->score : NAN, 3);
        lit(o, "</td></tr>\n");
    }
    lit(o, "</tbody></table>\n");
}

static void pair(out *o, const ibex_report *r, size_t i)
{
    const ibex_report_pair *p = &r->pairs[i];
    fmt(o, "<section class=\"pair\">\n<h3>Pair %zu: ", i + 1);
    esc(o, p->questioned && *p->questioned ? p->questioned : ibex__report_str(r->questioned.name));
    lit(o, " and ");
    esc(o, p->candidate && *p->candidate ? p->candidate : "candidate");
    if (p->rank) fmt(o, " (rank %zu)", p->rank);
    lit(o, "</h3>\n");
    fmt(o, "<p>CMC %d, High-CMC %d, score ", p->cmc, p->cmc_high);
    num(o, p->score, 3);
    lit(o, "; consensus pose of the candidate onto the questioned scan: rotation ");
    num(o, p->theta_deg, 1);
    lit(o, "&deg;, shift ");
    num(o, p->dx_um, 0);
    lit(o, ", ");
    num(o, p->dy_um, 0);
    lit(o, " &micro;m.</p>\n");
    if (p->png && p->png_n) {
        lit(o, "<p><img alt=\"The registered pair with its cells outlined and numbered\" src=\"data:image/png;base64,");
        base64(o, p->png, p->png_n);
        lit(o, "\"></p>\n");
    } else {
        lit(o, "<p class=\"muted\">No picture of this pair.</p>\n");
    }
    if (!p->n_cells) {
        lit(o, "<p class=\"muted\">No cell table.</p>\n</section>\n");
        return;
    }
    lit(o, "<table class=\"cells\"><thead><tr><th>Cell</th><th>Row</th><th>Col</th><th>CCF</th><th>dx (&micro;m)</th>"
           "<th>dy (&micro;m)</th><th>&theta; (&deg;)</th><th>Outcome</th><th>Why</th></tr></thead><tbody>\n");
    for (size_t k = 0; k < p->n_cells; k++) {
        const ibex_report_cell *c = &p->cells[k];
        fmt(o, "<tr class=\"c%d\"><td class=\"n\">%zu</td><td class=\"n\">%d</td><td class=\"n\">%d</td>",
            c->used ? (c->congruent == 1 || c->congruent == 2 ? c->congruent : 0) : 0, c->n, c->row, c->col);
        for (int f = 0; f < 4; f++) {
            double v = !c->used ? NAN : f == 0 ? c->ccf : f == 1 ? c->dx_um : f == 2 ? c->dy_um : c->theta_deg;
            lit(o, "<td class=\"n\">");
            num(o, v, f == 0 ? 3 : f == 3 ? 1 : 0);
            lit(o, "</td>");
        }
        td(o, ibex__report_cell_state(c));
        lit(o, "<td class=\"why\">");
        esc(o, ibex__report_str(c->why));
        lit(o, "</td></tr>\n");
    }
    lit(o, "</tbody></table>\n</section>\n");
}

static void trail(out *o, const ibex_report *r)
{
    lit(o, "<h2>Examiners' conclusions (audit trail)</h2>\n");
    if (!r->n_conclusions) {
        lit(o, "<p class=\"muted\">No conclusion has been recorded for this case.</p>\n");
        return;
    }
    lit(o, "<p class=\"muted\">Every record as stored, oldest first. Each record holds the SHA-256 of the one "
           "before it, so a record changed or removed afterwards is detected.</p>\n");
    lit(o, "<table class=\"trail\"><thead><tr><th>Seq</th><th>Time</th><th>Examiner</th><th>Role</th><th>Type</th>"
           "<th>Conclusion</th><th>Verifies</th><th>Notes</th></tr></thead><tbody>\n");
    for (size_t i = 0; i < r->n_conclusions; i++) {
        const ibex_conclusion *c = &r->conclusions[i];
        char when[40];
        ibex__report_time(c->time, when, sizeof when);
        fmt(o, "<tr><td class=\"n\">%llu</td>", (unsigned long long)c->seq);
        td(o, when);
        td(o, ibex__report_str(c->examiner));
        td(o, ibex__report_str(c->role));
        td(o, ibex__report_type_name((int)c->type));
        td(o, ibex__report_str(c->conclusion));
        if (c->type == IBEX_RECORD_VERIFICATION) fmt(o, "<td class=\"n\">%llu</td>", (unsigned long long)c->verifies);
        else lit(o, "<td>&ndash;</td>");
        lit(o, "<td>");
        esc_lines(o, ibex__report_str(c->notes), 2);
        lit(o, "</td></tr>\n");
        lit(o, "<tr><td></td><td colspan=\"7\" class=\"hash\">questioned ");
        esc(o, c->questioned_name && *c->questioned_name ? c->questioned_name : "");
        lit(o, " ");
        esc(o, c->questioned_sha256);
        lit(o, "<br>candidate ");
        esc(o, c->candidate_name && *c->candidate_name ? c->candidate_name : "");
        lit(o, " ");
        esc(o, c->candidate_sha256);
        lit(o, "<br>record ");
        esc(o, c->sha256);
        lit(o, "</td></tr>\n");
    }
    lit(o, "</tbody></table>\n");
}

ibex_status ibex_report_html(const ibex_report *rin, char **html, size_t *n, ibex_diag *diag)
{
    if (!html || !n) return ibex__fail(diag, IBEX_ERR_ARG, "", -1, "no place for the HTML (NULL)");
    *html = NULL;
    *n = 0;
    ibex_report r;
    ibex_status st = ibex__report_check(rin, &r, diag);
    if (st) return st;
    out o = {0};
    char when[40], note[300];
    ibex__report_time(r.created, when, sizeof when);
    ibex__report_threshold_note(&r, note, sizeof note);
    lit(&o, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>");
    esc(&o, r.title);
    if (r.case_id && *r.case_id) {
        lit(&o, " \xE2\x80\x93 ");
        esc(&o, r.case_id);
    }
    lit(&o, "</title>\n<style>");
    lit(&o, css);
    lit(&o, "</style>\n</head>\n<body>\n<h1>");
    esc(&o, r.title);
    lit(&o, "</h1>\n<table class=\"kv\">\n");
    kv(&o, "Case", r.case_id);
    kv(&o, "Report made", when);
    kv(&o, "Software", r.software);
    kv(&o, "Reference library", r.library);
    lit(&o, "</table>\n<div class=\"notice\">\n");
    for (size_t i = 0; i < sizeof ibex__report_notice / sizeof ibex__report_notice[0]; i++) {
        lit(&o, "<p>");
        esc(&o, ibex__report_notice[i]);
        lit(&o, "</p>\n");
    }
    lit(&o, "<p>");
    esc(&o, note);
    lit(&o, "</p>\n</div>\n");

    lit(&o, "<h2>Questioned scan</h2>\n<table class=\"kv\">\n");
    kv(&o, "Name", r.questioned.name);
    kv_hash(&o, "SHA-256", r.questioned.sha256);
    kv(&o, "Kind", r.questioned.kind);
    char size[160];
    ibex__report_size_text(&r, size, sizeof size);
    kv(&o, "Size", size);
    lit(&o, "</table>\n");
    if (r.parameters && *r.parameters) {
        lit(&o, "<h2>Method and parameters</h2>\n<pre>");
        esc_lines(&o, r.parameters, 1);
        lit(&o, "</pre>\n");
    }
    candidates(&o, &r);
    lit(&o, "<h2>Compared pairs</h2>\n");
    if (!r.n_pairs) lit(&o, "<p class=\"muted\">No pair was compared in full for this report.</p>\n");
    for (size_t i = 0; i < r.n_pairs; i++) pair(&o, &r, i);
    trail(&o, &r);
    lit(&o, "<p class=\"muted\">");
    esc(&o, ibex__report_notice[0]);
    lit(&o, " ");
    esc(&o, note);
    lit(&o, "</p>\n</body>\n</html>\n");
    if (o.bad) {
        free(o.d);
        return ibex__fail(diag, IBEX_ERR_NOMEM, "", -1, "out of memory writing the report");
    }
    *html = o.d;
    *n = o.n;
    return IBEX_OK;
}
