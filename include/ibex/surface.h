/* A measured surface: a regular grid of heights with an explicit validity mask. */
#ifndef IBEX_SURFACE_H
#define IBEX_SURFACE_H

#include "ibex/export.h"

#include <stddef.h>
#include <stdint.h>
#include "ibex/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Refuse anything larger before allocating: 2^27 points is 512 MiB of float32 heights. */
#define IBEX_MAX_POINTS ((size_t)1 << 27)
#define IBEX_MAX_SIDE ((size_t)1 << 17)

/* Metadata: ISO 25178-72 Record2 fields and OpenFMC-style case fields.
 * Each X(name, description) is one NUL-terminated string (or NULL when absent). */
#define IBEX_META_FIELDS(X)                                                    \
    X(date, "measurement date and time (ISO 8601)")                         \
    X(creator, "person or software that made the measurement")              \
    X(instrument_manufacturer, "instrument manufacturer")                   \
    X(instrument_model, "instrument model")                                 \
    X(instrument_serial, "instrument serial number")                        \
    X(instrument_version, "instrument software version")                    \
    X(calibration_date, "instrument calibration date")                      \
    X(probing_type, "probing system type (Contacting, NonContacting)")      \
    X(probing_id, "probing system identification (objective)")              \
    X(comment, "free comment")                                              \
    X(agency, "agency (lab) that holds the specimen")                       \
    X(case_number, "lab case number")                                       \
    X(specimen_id, "specimen identifier within the lab")                    \
    X(specimen_kind, "cartridge or bullet")                                 \
    X(region, "region of interest: breech-face, firing-pin, aperture-shear, land") \
    X(firearm_make, "firearm make (brand)")                                 \
    X(firearm_model, "firearm model")                                       \
    X(firearm_serial, "firearm serial number")                              \
    X(calibre, "calibre")

typedef struct ibex_meta {
#define IBEX_META_MEMBER_(name, desc) char *name;
    IBEX_META_FIELDS(IBEX_META_MEMBER_)
#undef IBEX_META_MEMBER_
} ibex_meta;

IBEX_API size_t ibex_meta_count(void);
IBEX_API const char *ibex_meta_key(size_t i);         /* NULL past the end */
IBEX_API const char *ibex_meta_describe(size_t i);    /* NULL past the end */
IBEX_API const char *ibex_meta_get(const ibex_meta *m, const char *key); /* NULL if unset or unknown */
/* Copies value; NULL or "" unsets. IBEX_ERR_ARG for an unknown key, and for a value that
 * ibex_meta_check refuses (X3P keeps metadata as XML text, so anything else could be written
 * but never read back). */
IBEX_API ibex_status ibex_meta_set(ibex_meta *m, const char *key, const char *value);
/* IBEX_OK when value (NULL ok) is UTF-8 text that XML 1.0 can hold: no control characters
 * but tab, LF and CR, no invalid or overlong UTF-8, no surrogates, U+FFFE or U+FFFF. Else
 * IBEX_ERR_ARG, and diag names the key, the problem and its byte offset. The key is only
 * used in the message. */
IBEX_API ibex_status ibex_meta_check(const char *key, const char *value, ibex_diag *diag);
IBEX_API ibex_status ibex_meta_copy(ibex_meta *dst, const ibex_meta *src);
IBEX_API void ibex_meta_clear(ibex_meta *m);

typedef enum ibex_zkind {
    IBEX_Z_HEIGHT = 0,    /* z in metres (3D topography) */
    IBEX_Z_INTENSITY = 1  /* z is image grey level scaled to 0..1 (2D photograph) */
} ibex_zkind;

/* Vendor records kept from an X3P file so a read-modify-write preserves them. */
typedef struct ibex_x3p_extras ibex_x3p_extras;

/* Heights z[y*nx + x] (x fastest, as X3P stores them). The invariant every
 * function keeps: valid[i] == 1 and z[i] finite, or valid[i] == 0 and z[i] NaN.
 *
 * z64 is NULL unless the surface was read with IBEX_READ_FLOAT64 from a file whose heights
 * float32 cannot hold exactly: it then holds those heights in double precision (metres,
 * NaN where invalid), so that a read-write with IBEX_WRITE_FLOAT64 is lossless. It is
 * current while, at every valid point, z[i] == (float)z64[i]; the X3P writer checks that
 * and, when z was changed, writes z widened instead. ibex_surface_copy and
 * ibex_surface_crop carry it, every other operation makes a surface without it, and
 * ibex_surface_sync_mask drops it once z has been changed. Appended last for ABI reasons. */
typedef struct ibex_surface {
    size_t nx, ny;        /* points along x (columns) and y (rows) */
    double dx, dy;        /* spacing in metres */
    double x0, y0;        /* position of point (0,0) in metres */
    float *z;
    uint8_t *valid;
    ibex_zkind zkind;
    ibex_meta meta;
    char units_note[96];  /* "" or how the file's units were normalised */
    ibex_x3p_extras *extras; /* NULL unless read from X3P with vendor records */
    double *z64;          /* NULL, or the file's heights in double precision (above) */
} ibex_surface;

/* All points invalid (NaN). Refuses sizes over IBEX_MAX_POINTS / IBEX_MAX_SIDE. */
IBEX_API ibex_status ibex_surface_create(size_t nx, size_t ny, double dx, double dy, ibex_surface **out);
IBEX_API void ibex_surface_free(ibex_surface *s);
IBEX_API ibex_status ibex_surface_copy(const ibex_surface *s, ibex_surface **out);

/* Set valid[] from isfinite(z[]) and put NaN in every invalid point; call it after editing z.
 * Drops z64 when z no longer matches it. */
IBEX_API void ibex_surface_sync_mask(ibex_surface *s);

/* Rectangle [x, x+w) x [y, y+h); metadata, vendor XML and z64 kept, grid-bound vendor files
 * dropped. */
IBEX_API ibex_status ibex_surface_crop(const ibex_surface *s, size_t x, size_t y, size_t w, size_t h,
                                       ibex_surface **out);
/* Resample to spacing (dx, dy) by bilinear interpolation over valid points only:
 * an output point is valid when all four neighbours are. */
IBEX_API ibex_status ibex_surface_resample(const ibex_surface *s, double dx, double dy, ibex_surface **out);

typedef struct ibex_surface_stats {
    size_t n_valid;
    double valid_fraction;
    double zmin, zmax, zmean, zrms; /* over valid points; NaN when none */
} ibex_surface_stats;
IBEX_API void ibex_surface_get_stats(const ibex_surface *s, ibex_surface_stats *st);

#ifdef __cplusplus
}
#endif
#endif
