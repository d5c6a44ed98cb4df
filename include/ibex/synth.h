/* Seeded synthetic toolmark surfaces with known ground truth: cartridge-case breech faces
 * and bullet land-engraved areas, for scale tests and controlled experiments.
 *
 * Every surface is a pure function of (source seed, specimen seed, options): the same
 * seeds give the same heights bit for bit, whatever the thread count or call order.
 * Sources (firearms, barrels) are immutable objects made once and fired many times;
 * the *_run calls on a const source are re-entrant. */
#ifndef IBEX_SYNTH_H
#define IBEX_SYNTH_H

#include "ibex/export.h"

#include <stddef.h>
#include <stdint.h>
#include "ibex/status.h"
#include "ibex/progress.h"
#include "ibex/surface.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Breech-face tool-mark families (chosen per firearm from its seed). */
typedef enum ibex_synth_pattern {
    IBEX_SYNTH_FILING = 0,     /* parallel straight lines */
    IBEX_SYNTH_MILLING = 1,    /* arcs of a large circle (fly-cut or end-milled face) */
    IBEX_SYNTH_CROSSHATCH = 2  /* two sets of parallel lines */
} ibex_synth_pattern;

typedef struct ibex_synth_opts {
    size_t struct_size; /* sizeof the struct, set by ibex_synth_opts_init: lets it grow (ABI) */
    /* Grid. Cartridges: size x size points at spacing (defaults 500 and 6.25 um, a
     * 3.125 mm field). Bullets: the land width decides the number of columns and size is
     * the number of rows along the land (defaults 400 rows at 1.5625 um).
     * spacing 0 = the kind's default field divided by size. */
    size_t size;
    double spacing;
    /* 0 (easy: full, even mark transfer, little noise) .. 1 (hard: faint, partial marks,
     * strong primer roughness, many missing regions, strong subclass marks shared by
     * all sources of one family). */
    double difficulty;
    /* Sources made from the same family seed share subclass marks, as consecutively
     * manufactured slides or consecutively rifled barrels do. */
    uint64_t family_seed;
    int lands;            /* lands per barrel (bullets), 3..16; default 6 */
} ibex_synth_opts;

IBEX_API void ibex_synth_opts_init(ibex_synth_opts *o);

/* What the generator did to one specimen: the ground truth a comparator should recover.
 * Cartridge pose: the scan point q (metres from the grid centre) shows the casing point
 * R(rotation) (q - shift), with the casing's own frame centred on its aperture; the casing
 * also sits a few tens of micrometres off in the breech (not reported). */
typedef struct ibex_synth_truth {
    double rotation;      /* cartridge: radians, [0, 2pi); bullet: slant of the striae */
    double shift_x, shift_y; /* metres: cartridge scan translation; bullet: shift_x = lateral
                              * offset of the land centre from the grid centre */
    double transfer;      /* mean fraction of the source marks transferred, 0..1 */
    double missing_fraction; /* share of the region of interest left without data */
    int pattern;          /* cartridge: ibex_synth_pattern of the firearm; bullet: -1 */
    int land_class;       /* bullet: land of the barrel that made this land scan; else -1 */
    int land_offset;      /* bullet: land numbering rotation of this bullet; else -1 */
} ibex_synth_truth;

/* ---- cartridge cases ---- */
typedef struct ibex_synth_firearm ibex_synth_firearm;

IBEX_API ibex_status ibex_synth_firearm_create(uint64_t firearm_seed, const ibex_synth_opts *o,
                                               ibex_synth_firearm **out, ibex_diag *diag);
IBEX_API void ibex_synth_firearm_free(ibex_synth_firearm *f);   /* NULL ok */
IBEX_API ibex_synth_pattern ibex_synth_firearm_get_pattern(const ibex_synth_firearm *f);

/* One fired casing's breech-face scan (heights in metres, invalid outside the aperture and
 * inside the firing-pin hole). truth may be NULL. */
IBEX_API ibex_status ibex_synth_cartridge_run(const ibex_synth_firearm *f, uint64_t shot_seed,
                                              ibex_surface **out, ibex_synth_truth *truth,
                                              ibex_diag *diag);
/* Both steps at once (makes the firearm each call: slower when firing many shots). */
IBEX_API ibex_status ibex_synth_cartridge(uint64_t firearm_seed, uint64_t shot_seed,
                                          const ibex_synth_opts *o, ibex_surface **out,
                                          ibex_synth_truth *truth, ibex_diag *diag);

/* ---- bullets ---- */
typedef struct ibex_synth_barrel ibex_synth_barrel;

IBEX_API ibex_status ibex_synth_barrel_create(uint64_t barrel_seed, const ibex_synth_opts *o,
                                              ibex_synth_barrel **out, ibex_diag *diag);
IBEX_API void ibex_synth_barrel_free(ibex_synth_barrel *b);     /* NULL ok */
IBEX_API int ibex_synth_barrel_get_lands(const ibex_synth_barrel *b);

/* Scan of land `land` (0-based, the bullet's own numbering) of the bullet fired with
 * bullet_seed. The barrel land that engraved it is (land + offset) mod lands, where the
 * offset is drawn per bullet (truth->land_class, truth->land_offset). */
IBEX_API ibex_status ibex_synth_land_run(const ibex_synth_barrel *b, uint64_t bullet_seed, int land,
                                         ibex_surface **out, ibex_synth_truth *truth, ibex_diag *diag);
IBEX_API ibex_status ibex_synth_land(uint64_t barrel_seed, uint64_t bullet_seed, int land,
                                     const ibex_synth_opts *o, ibex_surface **out,
                                     ibex_synth_truth *truth, ibex_diag *diag);

/* Seed of item `index` under `parent` (splitmix64 mixing): how the CLI derives firearm,
 * shot, barrel and bullet seeds from one set seed. */
IBEX_API uint64_t ibex_synth_seed_derive(uint64_t parent, uint64_t index);

/* ---- jobs: a whole synthetic set, on disk or in a library -------------------------- */

/* F firearms x K casings (cartridge) or B barrels x K bullets x L lands (bullet), written as
 * one X3P file per scan under out_dir plus out_dir/MANIFEST.tsv with the columns of the real
 * data sets' manifest (same_source_key = firearm for cartridges, barrel land for bullets),
 * or stored into `library` (created when missing, packed layout) with the rows ingest
 * would make from that manifest (id SET:SPECIMEN; sha256 = SHA-256 of the surface's bytes),
 * committed every few thousand scans so a killed run keeps what was committed and a rerun
 * skips the ids already stored. The same job gives byte-identical files whatever the
 * thread count. */
typedef struct ibex_synth_job {
    size_t struct_size;   /* sizeof the struct, set by ibex_synth_job_init: lets it grow (ABI) */
    int bullet;           /* 0: cartridge cases, 1: bullet lands */
    uint64_t seed;        /* set seed; default 1 */
    long sources;         /* firearms or barrels; 0 = 10 */
    long per_source;      /* casings per firearm (0 = 4) or bullets per barrel (0 = 2) */
    int lands;            /* bullet: lands per barrel, 3..16; 0 = 6 */
    size_t size;          /* as ibex_synth_opts.size; 0 = the kind's default */
    double spacing;       /* as ibex_synth_opts.spacing; 0 = the kind's default */
    double difficulty;    /* 0..1; default 0.5 */
    const char *set;      /* set name in the manifest and keys; NULL = "synth-sSEED" */
    const char *out_dir;  /* write files here (made if missing), or */
    const char *library;  /* store into this library: exactly one of the two */
    unsigned threads;     /* worker threads; 0 = online CPUs (at most 64) */
    int no_sync;          /* skip fsync per file: never partial files, not durable on power loss */
} ibex_synth_job;

typedef struct ibex_synth_job_result {
    size_t struct_size;   /* set by ibex_synth_job_result_init; that many bytes are written */
    long scans, sources, per_source, lands;
    char set[64];
    char manifest[4096];  /* out_dir: the manifest written */
    long stored, skipped_existing, commits; /* library: scans stored, ids already held, commits */
    size_t library_specimens;
    unsigned threads;
    double seconds;
} ibex_synth_job_result;

IBEX_API void ibex_synth_job_init(ibex_synth_job *j);
IBEX_API void ibex_synth_job_result_init(ibex_synth_job_result *r);
/* The job's settings checked as run would check them, before anything is made (IBEX_ERR_ARG
 * with the reason). */
IBEX_API ibex_status ibex_synth_job_check(const ibex_synth_job *j, ibex_diag *diag);
/* Runs the job. progress (may be NULL) is called after each batch of sources with scans done
 * of the total; returning nonzero stops the job (IBEX_ERR_CANCELLED): no manifest is left,
 * a library keeps what was committed. out may be NULL. */
IBEX_API ibex_status ibex_synth_job_run(const ibex_synth_job *j, ibex_progress_fn progress, void *user,
                                        ibex_synth_job_result *out, ibex_diag *diag);

#ifdef __cplusplus
}
#endif
#endif
