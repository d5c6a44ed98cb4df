/* What the HTML and PDF case reports share (io/report_common.c). Not installed. */
#ifndef IBEX_REPORT_INTERNAL_H
#define IBEX_REPORT_INTERNAL_H

#include <stddef.h>

#include "ibex/report.h"

/* Checks r (struct size, pointers, counts, string lengths) and copies it into *out with the
 * defaults filled in (title, software, reference CMC, created). IBEX_ERR_ARG with the reason. */
ibex_status ibex__report_check(const ibex_report *r, ibex_report *out, ibex_diag *d);

/* The statements both forms print, in this order (UTF-8, NUL-terminated). */
extern const char *const ibex__report_notice[2];
/* "The decision threshold (CMC N) ..." for the report's reference CMC. */
void ibex__report_threshold_note(const ibex_report *r, char *out, size_t size);

/* The questioned scan's size: "NX × NY points at S µm (W × H mm)", "" when unknown. */
void ibex__report_size_text(const ibex_report *r, char *out, size_t size);
/* Unix seconds as "YYYY-MM-DD HH:MM:SS UTC" ("" for out-of-range values). */
void ibex__report_time(long long t, char *out, size_t size);
const char *ibex__report_type_name(int type); /* "conclusion", "verification", "?" */
/* "congruent", "congruent (High-CMC only)", "not congruent", "not used" */
const char *ibex__report_cell_state(const ibex_report_cell *c);
const char *ibex__report_str(const char *s); /* s, or "" for NULL */

#endif
