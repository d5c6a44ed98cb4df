/* The workbench's defaults: the same with and without the node feature. */
#include <string.h>

#include "ibex/workbench.h"

void ibex_workbench_opts_init(ibex_workbench_opts *o)
{
    memset(o, 0, sizeof *o);
    o->struct_size = sizeof *o;
    o->listen = "127.0.0.1:8080";
    o->max_upload = IBEX_WORKBENCH_DEFAULT_MAX_UPLOAD;
    o->threads = 4;
    o->max_jobs = 2;
    o->max_shortlist = 100;
    o->max_sessions = 64;
    o->prefetch = 3;
}
