/* What the command's benchmarks use of the search (the search itself: include/ibex/search.h). */
#ifndef IBEX_CLI_QUERY_H
#define IBEX_CLI_QUERY_H

#include "ibex/search.h"

/* The default stage-1 shortlist for n indexed specimens (ibex_search_default_shortlist). */
static inline size_t query_default_shortlist(size_t n) { return ibex_search_default_shortlist(n); }

#endif
