/* Internals of the HDF5 reference library shared by io/h5lib*.c and future index code.
 * Crash safety is a rollback journal kept below HDF5, in a virtual file driver:
 * before any byte of the last committed file is overwritten, its old contents go to
 * LIB.h5-journal; a commit flushes HDF5, syncs and unlinks the journal (the commit
 * point); opening a library with a journal left by a killed writer writes the old
 * bytes back and truncates to the committed size (as SQLite's rollback journal). */
#ifndef IBEX_H5LIB_INTERNAL_H
#define IBEX_H5LIB_INTERNAL_H

#include <hdf5.h>
#include <stddef.h>
#include <stdint.h>

#include "ibex/library.h"

/* How the driver treats writes. */
enum {
    IBEX__J_READONLY = 0, /* any write is an error */
    IBEX__J_SCRATCH = 1,  /* a private temporary file: write freely */
    IBEX__J_JOURNAL = 2   /* writes only inside a transaction, old bytes journaled first */
};

/* Shared between the library handle and the driver instance (passed through the fapl). */
typedef struct ibex__jctl {
    int mode;
    int in_txn;
    int jfd;             /* journal descriptor during a transaction, else -1 */
    uint64_t committed;  /* data file size when the transaction began */
    int durable;         /* fdatasync journal before overwriting, data before commit */
    int journal_unsynced;
    int poisoned;        /* a write failed: discard every later write, roll back */
    int err;             /* errno of the first failure */
    char what[48];       /* which step failed */
} ibex__jctl;

/* The driver id (registered once; HDF5 calls must be serialised by the caller). */
hid_t ibex__jvfd_id(void);
/* A file access property list using the driver with ctl (caller closes it). */
hid_t ibex__jvfd_fapl(ibex__jctl *ctl);

/* Journal path for a library path ("LIB.h5-journal"); 0 if it does not fit. */
int ibex__journal_path(const char *lib, char *out, size_t size);
/* Start a transaction: write the journal header (committed = current size of lib). */
ibex_status ibex__journal_begin(ibex__jctl *ctl, const char *lib, int data_fd, ibex_diag *diag);
/* Commit: sync the data file (data_fd), unlink the journal, sync the folder. */
ibex_status ibex__journal_commit(ibex__jctl *ctl, const char *lib, int data_fd, ibex_diag *diag);
/* Undo an interrupted transaction if LIB-journal exists; *recovered = 1 when it did.
 * Needs write access to lib; the caller holds the exclusive data lock. */
ibex_status ibex__journal_recover(const char *lib, int *recovered, ibex_diag *diag);
/* Drop an in-process transaction's journal descriptor (after recover). */
void ibex__journal_forget(ibex__jctl *ctl);

/* Library internals for code that stores more under /index (HDF5 is not thread-safe:
 * hold ibex__library_lock around any HDF5 call). */
void ibex__library_lock(void);
void ibex__library_unlock(void);
hid_t ibex__library_file(const ibex_library *lib);
/* ibex_library_create, or with legacy set a library of schema 1 (2 when packed) as IBEX
 * wrote them before schema 3 (variable-length strings, HDF5's earliest formats), for tests
 * that old libraries still read and take writes. */
ibex_status ibex__library_create_format(const char *path, const ibex_library_opts *o, int legacy,
                                        ibex_library **out, ibex_diag *diag);

/* A write step of another file's structures: fn(file, legacy, arg, diag) runs under the library
 * lock inside the open transaction (ibex_library_begin) or one of its own, committed after it;
 * a status other than IBEX_OK (fn fills diag) or a failed write rolls the transaction back.
 * legacy: the library is of schema 1 or 2 (make groups and datasets as those did). */
typedef ibex_status (*ibex__write_step_fn)(hid_t file, int legacy, void *arg, ibex_diag *diag);
ibex_status ibex__library_write_step(ibex_library *lib, ibex__write_step_fn fn, void *arg, const char *what,
                                     ibex_diag *diag);
/* A group made as the library makes its own (attributes in the checksummed header). */
hid_t ibex__library_make_group(hid_t loc, const char *name, int legacy);
/* A chunked dataset creation list with Fletcher32 (and shuffle + deflate when compress). */
hid_t ibex__library_dcpl(int rank, const hsize_t *chunk, int compress);

/* A string attribute, written (replacing one of that name; 1 ok) or read (fixed or variable
 * length; malloc'd, NULL when absent or not a string). */
int ibex__h5_attr_write_str(hid_t obj, const char *name, const char *v);
char *ibex__h5_attr_read_str(hid_t obj, const char *name);

/* The innermost message of HDF5's error stack (then cleared); call right after the
 * failing call, before any other HDF5 call resets the stack. */
const char *ibex__h5_error(char buf[256]);

/* Packed surface stacks (h5lib_stack.c; schema 2). Path of the stack of nx x ny surfaces. */
void ibex__stack_path(size_t nx, size_t ny, char *out, size_t size);
/* Appends n surfaces of nx x ny; *first = stack index of the first. 1 ok, 0 HDF5 failure. */
int ibex__stack_append(hid_t file, size_t nx, size_t ny, size_t n, const float *const *z,
                       const uint8_t *const *valid, uint64_t *first);
/* Reads surface `index` of the stack at gpath: 1 read, 0 gpath is not a stack (a per-specimen
 * group), -1 a stack whose read failed (err says why; the HDF5 error stack is kept). */
int ibex__stack_read(hid_t file, const char *gpath, uint64_t index, size_t nx, size_t ny, float *z,
                     uint8_t *valid, char *err, size_t errsize);

#endif
