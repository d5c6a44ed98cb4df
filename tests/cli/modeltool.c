/* Test helper for the query tests: rewrites a text attribute of a library's index model
 * through the public API, to make "a library built with other parameters".
 * usage: modeltool settext LIB KIND NAME TEXT */
#include <stdio.h>
#include <string.h>

#include "ibex/ibex.h"

int main(int argc, char **argv)
{
    if (argc != 6 || strcmp(argv[1], "settext")) {
        fprintf(stderr, "usage: modeltool settext LIB KIND NAME TEXT\n");
        return 2;
    }
    ibex_library_opts o;
    ibex_library_opts_init(&o);
    o.flags = IBEX_LIBRARY_WRITE;
    ibex_library *lib;
    ibex_diag d;
    if (ibex_library_open(argv[2], &o, &lib, &d) != IBEX_OK ||
        ibex_library_model_put_text(lib, argv[3], argv[4], argv[5], &d) != IBEX_OK ||
        ibex_library_close(lib, &d) != IBEX_OK) {
        fprintf(stderr, "modeltool: %s\n", d.message);
        return 1;
    }
    return 0;
}
