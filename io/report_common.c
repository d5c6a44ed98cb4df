/* The case report's checks and the statements both of its forms print (report_html.c,
 * report_pdf.c). */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ibex/ibex.h"
#include "ibex/report.h"
#include "ibex_internal.h"
#include "report_internal.h"

const char *const ibex__report_notice[2] = {
    "The scores, ranks and cell counts in this report are computed by the software; they are not conclusions.",
    "The conclusions are the examiners' own, as recorded in the audit trail with who recorded them and when.",
};

void ibex__report_threshold_note(const ibex_report *r, char *out, size_t size)
{
    snprintf(out, size,
             "The decision threshold (CMC %d) is shown as a reference only: a count at or above it is not an "
             "identification, and one below it is not an elimination.",
             r->reference_cmc);
}

void ibex_report_init(ibex_report *r)
{
    if (!r) return;
    memset(r, 0, sizeof *r);
    r->struct_size = sizeof *r;
    r->reference_cmc = 6;
}

void ibex__report_time(long long t, char *out, size_t size)
{
    out[0] = '\0';
    time_t tt = (time_t)t;
    struct tm tm;
    if ((long long)tt == t && gmtime_r(&tt, &tm)) strftime(out, size, "%Y-%m-%d %H:%M:%S UTC", &tm);
}

const char *ibex__report_type_name(int type)
{
    return type == IBEX_RECORD_CONCLUSION ? "conclusion" : type == IBEX_RECORD_VERIFICATION ? "verification" : "?";
}

const char *ibex__report_cell_state(const ibex_report_cell *c)
{
    if (!c->used) return "not used";
    return c->congruent == 1 ? "congruent" : c->congruent == 2 ? "congruent (High-CMC only)" : "not congruent";
}

const char *ibex__report_str(const char *s)
{
    return s ? s : "";
}

static int too_long(const char *s)
{
    return s && strnlen(s, IBEX_REPORT_MAX_TEXT + 1) > IBEX_REPORT_MAX_TEXT;
}

static ibex_status text_refused(ibex_diag *d, const char *what)
{
    return ibex__fail(d, IBEX_ERR_ARG, "", -1, "%s is longer than %u bytes", what, (unsigned)IBEX_REPORT_MAX_TEXT);
}

ibex_status ibex__report_check(const ibex_report *r, ibex_report *out, ibex_diag *d)
{
    if (!r) return ibex__fail(d, IBEX_ERR_ARG, "", -1, "no report (NULL)");
    ibex_report loc;
    ibex_report_init(&loc);
    if (r->struct_size != sizeof loc && !ibex__opts_merge(&loc, sizeof loc, r))
        return ibex__opts_refused(d, "ibex_report");
    if (r->struct_size == sizeof loc) loc = *r;
    if (loc.n_candidates > IBEX_REPORT_MAX_CANDIDATES)
        return ibex__fail(d, IBEX_ERR_ARG, "", -1, "%zu candidates; a report takes at most %d", loc.n_candidates,
                          IBEX_REPORT_MAX_CANDIDATES);
    if (loc.n_pairs > IBEX_REPORT_MAX_PAIRS)
        return ibex__fail(d, IBEX_ERR_ARG, "", -1, "%zu compared pairs; a report takes at most %d", loc.n_pairs,
                          IBEX_REPORT_MAX_PAIRS);
    if (loc.n_conclusions > IBEX_REPORT_MAX_CONCLUSIONS)
        return ibex__fail(d, IBEX_ERR_ARG, "", -1, "%zu conclusions; a report takes at most %d", loc.n_conclusions,
                          IBEX_REPORT_MAX_CONCLUSIONS);
    if ((loc.n_candidates && !loc.candidates) || (loc.n_pairs && !loc.pairs) ||
        (loc.n_conclusions && !loc.conclusions))
        return ibex__fail(d, IBEX_ERR_ARG, "", -1, "a count is set but its array is NULL");
    if (loc.reference_cmc < 0 || loc.reference_cmc > 1000000)
        return ibex__fail(d, IBEX_ERR_ARG, "", -1, "reference CMC %d is out of range", loc.reference_cmc);
    if (!(loc.questioned.spacing_um >= 0 && loc.questioned.spacing_um < 1e9))
        return ibex__fail(d, IBEX_ERR_ARG, "", -1, "the questioned scan's spacing is not a length");
    const char *top[] = {loc.title, loc.case_id, loc.software, loc.library, loc.parameters, loc.questioned.name,
                         loc.questioned.sha256, loc.questioned.kind};
    for (size_t i = 0; i < sizeof top / sizeof top[0]; i++)
        if (too_long(top[i])) return text_refused(d, "a field of the report");
    for (size_t i = 0; i < loc.n_candidates; i++) {
        const ibex_report_candidate *c = &loc.candidates[i];
        if (too_long(c->id) || too_long(c->firearm) || too_long(c->set)) return text_refused(d, "a candidate's field");
    }
    size_t png_total = 0;
    for (size_t i = 0; i < loc.n_pairs; i++) {
        const ibex_report_pair *p = &loc.pairs[i];
        png_total += p->png_n < IBEX_REPORT_MAX_PNG_TOTAL ? p->png_n : IBEX_REPORT_MAX_PNG_TOTAL;
        if (png_total > IBEX_REPORT_MAX_PNG_TOTAL)
            return ibex__fail(d, IBEX_ERR_ARG, "", -1, "the pictures are over %u bytes in all",
                              (unsigned)IBEX_REPORT_MAX_PNG_TOTAL);
        if (p->n_cells > IBEX_REPORT_MAX_CELLS)
            return ibex__fail(d, IBEX_ERR_ARG, "", -1, "pair %zu has %zu cells; a report takes at most %d", i + 1,
                              p->n_cells, IBEX_REPORT_MAX_CELLS);
        if (p->n_cells && !p->cells) return ibex__fail(d, IBEX_ERR_ARG, "", -1, "pair %zu: cells is NULL", i + 1);
        if (p->png_n && !p->png) return ibex__fail(d, IBEX_ERR_ARG, "", -1, "pair %zu: png is NULL", i + 1);
        if (p->png_n > IBEX_REPORT_MAX_PNG)
            return ibex__fail(d, IBEX_ERR_ARG, "", -1, "pair %zu: the picture is %zu bytes; at most %u", i + 1,
                              p->png_n, (unsigned)IBEX_REPORT_MAX_PNG);
        if (p->png_n && (p->png_n < 8 || memcmp(p->png, "\x89PNG\r\n\x1a\n", 8)))
            return ibex__fail(d, IBEX_ERR_ARG, "", -1, "pair %zu: the picture is not a PNG", i + 1);
        if (too_long(p->questioned) || too_long(p->candidate)) return text_refused(d, "a pair's name");
        for (size_t k = 0; k < p->n_cells; k++)
            if (too_long(p->cells[k].why)) return text_refused(d, "a cell's reason");
    }
    for (size_t i = 0; i < loc.n_conclusions; i++) {
        const ibex_conclusion *c = &loc.conclusions[i];
        if (too_long(c->examiner) || too_long(c->role) || too_long(c->conclusion) || too_long(c->notes) ||
            too_long(c->case_id) || too_long(c->questioned_name) || too_long(c->candidate_name) ||
            too_long(c->method) || too_long(c->parameters) || too_long(c->scores) || too_long(c->software))
            return text_refused(d, "a conclusion's field");
        /* fixed-size hash fields must hold a terminated string */
        if (!memchr(c->questioned_sha256, 0, sizeof c->questioned_sha256) ||
            !memchr(c->candidate_sha256, 0, sizeof c->candidate_sha256) ||
            !memchr(c->sha256, 0, sizeof c->sha256) || !memchr(c->prev_sha256, 0, sizeof c->prev_sha256))
            return ibex__fail(d, IBEX_ERR_ARG, "", -1, "conclusion %zu: a SHA-256 field is not terminated", i + 1);
    }
    if (!loc.title || !*loc.title) loc.title = "Case report";
    if (!loc.software || !*loc.software) loc.software = "ibex " IBEX_VERSION_STRING;
    if (!loc.created) loc.created = (int64_t)time(NULL);
    *out = loc;
    return IBEX_OK;
}

void ibex__report_size_text(const ibex_report *r, char *out, size_t size)
{
    out[0] = '\0';
    size_t nx = r->questioned.nx, ny = r->questioned.ny;
    double sp = r->questioned.spacing_um;
    if (!nx || !ny) return;
    if (sp > 0)
        snprintf(out, size, "%zu \xC3\x97 %zu points at %.3g \xC2\xB5m (%.2f \xC3\x97 %.2f mm)", nx, ny, sp,
                 (double)nx * sp / 1000, (double)ny * sp / 1000);
    else
        snprintf(out, size, "%zu \xC3\x97 %zu points", nx, ny);
}
