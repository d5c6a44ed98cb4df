/* The workbench in a libibex built without the node feature (-Dnode=disabled: no
 * libmicrohttpd or libsodium): the same ABI, and creating a server says why it cannot. */

#include "ibex/workbench.h"
#include "ibex_internal.h"

ibex_status ibex_workbench_create(const ibex_workbench_opts *o, ibex_workbench **out, ibex_diag *diag)
{
    (void)o;
    (void)out;
    return ibex__fail(diag, IBEX_ERR_UNSUPPORTED, "", -1,
                      "this libibex was built without the workbench (it needs the node feature: libmicrohttpd, libsodium)");
}

unsigned ibex_workbench_port(const ibex_workbench *w)
{
    (void)w;
    return 0;
}

const char *ibex_workbench_token(const ibex_workbench *w)
{
    (void)w;
    return NULL;
}

void ibex_workbench_free(ibex_workbench *w)
{
    (void)w;
}

ibex_status ibex_workbench_account_add(const char *path, const char *name, const char *role, const char *password,
                                       ibex_diag *diag)
{
    (void)path; (void)name; (void)role; (void)password;
    return ibex__fail(diag, IBEX_ERR_UNSUPPORTED, "", -1, "this libibex was built without the workbench (node feature)");
}
