/* IBEX_API marks the public functions of libibex: the only symbols the shared library
 * exports (the library is compiled with hidden visibility, IBEX_BUILDING defined). */
#ifndef IBEX_EXPORT_H
#define IBEX_EXPORT_H

#if defined(IBEX_BUILDING) && defined(__GNUC__)
#define IBEX_API __attribute__((visibility("default")))
#else
#define IBEX_API
#endif

#endif
