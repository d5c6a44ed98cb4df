/* One pair of specimens compared the way `ibex compare` compares them, as one call each:
 * two cartridge cases (preprocessing at the pair's spacing, Congruent Matching Cells, the
 * shipped calibration's likelihood ratio), and two bullets given as land signatures (land
 * positions from their numbers, every land pairing, the bullet verdict or, for one land
 * against a bullet, the best land pair's). The command, the Python package and the examples
 * call these, so the method is written down once. No file is read here: callers read the
 * scans (ibex_surface_read) and make the land signatures (ibex_land_signature_create). */
#ifndef IBEX_PAIR_H
#define IBEX_PAIR_H
#include "ibex/export.h"
#include <stddef.h>
#include "ibex/bullet.h"
#include "ibex/calibration.h"
#include "ibex/compare.h"
#include "ibex/prealign.h"
#include "ibex/status.h"
#include "ibex/surface.h"
#ifdef __cplusplus
extern "C" {
#endif

/* ---- cartridge cases -------------------------------------------------------------- */

/* Options, set up by ibex_pair_opts_init. The method's own options are pointed to, not
 * embedded, so each can grow without moving the fields after it. */
typedef struct ibex_pair_opts {
    size_t struct_size; /* sizeof the struct, set by ibex_pair_opts_init: lets it grow (ABI) */
    const ibex_preprocess_opts *preprocess; /* NULL: defaults; its spacing is the target the
                                               pair spacing is derived from */
    const ibex_cmc_opts *cmc;               /* NULL: defaults */
    int prealign;                           /* 1: full-circle pre-registration first
                                               (ibex_cmc_plan_run_prealigned); default 0 */
    const ibex_prealign_opts *prealign_opts; /* NULL: defaults */
} ibex_pair_opts;
IBEX_API void ibex_pair_opts_init(ibex_pair_opts *o);

/* Everything the comparison made, owned by the result (ibex_pair_result_free). */
typedef struct ibex_pair_result {
    double spacing;                   /* metres: ibex_preprocess_pair_spacing of the inputs */
    ibex_surface *prepared[2];        /* the compared surfaces (for pictures, ibex_cmc_align);
                                         a caller may take one: read it, set the pointer to
                                         NULL, and free it later with ibex_surface_free */
    ibex_preprocess_info *info[2];    /* what preprocessing did to a and b */
    ibex_cmc_result *cmc;             /* the CMC result (rotations for the original b) */
    ibex_prealign_result *prealign;   /* the pre-registration, NULL without opts.prealign */
    const ibex_calibration *calibration; /* shipped calibration of the method, or NULL when
                                            the options are not the method it was fitted on */
    double log10_lr;                  /* its bounded log10 LR of cmc->cmc; NaN without one */
    const char *lr_verbal;            /* ENFSI words of log10_lr (static); NULL without one */
    const char *simd;                 /* kernel set the CMC plan used (static string) */
    double t_preprocess, t_compare;   /* wall clock, seconds: both preprocessings; the CMC
                                         plan, pre-registration and run */
} ibex_pair_result;

/* a_raw, b_raw: two scans as read (not yet preprocessed), both topographies or both
 * images. In order, as `ibex compare A B`: the pair spacing, a then b preprocessed with the
 * preprocess options at that spacing, the CMC plan and run (after the pre-registration with
 * opts.prealign), the shipped calibration's LR when it applies. On failure the diag names
 * the surface at fault as "A" or "B" in diag->file (callers put their file names there);
 * mixed kinds (a 3D topography with a 2D image) are IBEX_ERR_ARG. o may be NULL. *out is
 * written only on success. */
IBEX_API ibex_status ibex_compare_cartridges(const ibex_surface *a_raw, const ibex_surface *b_raw,
                                             const ibex_pair_opts *o, ibex_pair_result **out,
                                             ibex_diag *diag);
IBEX_API void ibex_pair_result_free(ibex_pair_result *r); /* NULL ok */

/* ---- bullets ---------------------------------------------------------------------- */

/* Verdict of one land score: identification >= IBEX_LAND_ID, elimination <= IBEX_LAND_ELIM,
 * else inconclusive (land to land, and one land against a bullet). */
IBEX_API ibex_bullet_verdict ibex_land_verdict(double score);

/* The land a scan's name stands for, and the bullet it belongs to: the N of the last
 * "Land_N" / "LandN" / "Land N" / "Land-N" in the base name of `name` (a path or an id), else
 * of a final "-LN" / "_LN" / " LN" ("HFSCP-BA-B30-L1", "Br1-B1-L1"); 0 when there is none.
 * bullet (optional, size bytes) gets the base name without its extension (.x3p, .png) and
 * without that land part, separators trimmed: "Barrel_1-Bullet_1-Land_3.x3p" and
 * "Barrel_1-Bullet_1-Land_5.x3p" both give "Barrel_1-Bullet_1" (lands 3 and 5); a name with
 * no land part is its own bullet. The land numbers of ibex_pair_land come from here. */
IBEX_API int ibex_land_name_parse(const char *name, char *bullet, size_t size);

/* A land as given: its signature (NULL when missing or unusable), its number around the
 * bullet (the N of "Land_N" in a file name; 0 when unknown), and a name for the reason text
 * (NULL: "?"). */
typedef struct ibex_pair_land {
    const ibex_land_signature *sig;
    int number;
    const char *name;
} ibex_pair_land;

typedef enum ibex_bullet_pair_mode {
    IBEX_BULLET_PAIR_BULLETS = 0,       /* bullet to bullet: the best cyclic phase decides */
    IBEX_BULLET_PAIR_LAND_TO_BULLET = 1 /* exactly one side has one land: the best land
                                           pair decides, by its land score */
} ibex_bullet_pair_mode;

typedef struct ibex_bullet_pair_result {
    ibex_bullet_pair_mode mode;
    ibex_bullet bullet[2];     /* the bullets compared: land positions and signatures
                                  (for ibex_picture_bullet) */
    long *input[2];            /* per land position of bullet k, the index of the given
                                  land placed there, or -1 (positions no land has) */
    ibex_bullet_result *bullets; /* ibex_bullet_compare of bullet[0] and bullet[1] */
    double best_land_score;    /* highest land score of a compared pair; -1 when none */
    size_t best_i, best_j;     /* its land positions in bullet[0] and bullet[1] (0, 0 if none) */
    ibex_bullet_verdict verdict; /* bullets->verdict, or in land-to-bullet mode
                                    ibex_land_verdict(best_land_score) (unsuitable when no
                                    pair was compared) */
    char reason[1024];         /* one line: why this verdict */
} ibex_bullet_pair_result;

/* Bullet a (na lands) against bullet b (nb lands, na, nb >= 1), as `ibex compare` does.
 * Positions: land numbers (1..64) when every land of a bullet has a distinct one, position
 * number - 1, over max(number) positions; else the order given. The two bullets get
 * max(positions of a, positions of b) positions; in land-to-bullet mode the single land
 * takes one position and the bullet keeps its own count. One land against one land is
 * ibex_land_compare and ibex_land_verdict. *out is written only on success. */
IBEX_API ibex_status ibex_compare_bullets(const ibex_pair_land *a, size_t na,
                                          const ibex_pair_land *b, size_t nb,
                                          ibex_bullet_pair_result **out, ibex_diag *diag);
IBEX_API void ibex_bullet_pair_result_free(ibex_bullet_pair_result *r); /* NULL ok */

#ifdef __cplusplus
}
#endif
#endif
