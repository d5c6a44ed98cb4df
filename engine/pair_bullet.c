/* ibex_compare_bullets: the bullet comparison of `ibex compare` (two bullets, or one land
 * against a bullet) as one call: land positions from the land numbers, every land pairing,
 * and the verdict of the mode. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ibex/pair.h"
#include "ibex_internal.h"

ibex_bullet_verdict ibex_land_verdict(double s)
{
    return s >= IBEX_LAND_ID ? IBEX_BULLET_IDENTIFICATION
           : s <= IBEX_LAND_ELIM ? IBEX_BULLET_ELIMINATION
                                 : IBEX_BULLET_INCONCLUSIVE;
}

static int is_sep(char c)
{
    return c == '_' || c == '-' || c == ' ';
}

int ibex_land_name_parse(const char *name, char *bullet, size_t size)
{
    if (!name) name = "";
    const char *base = strrchr(name, '/');
    base = base ? base + 1 : name;
    size_t len = strlen(base);
    if (len > 4 && (!strcasecmp(base + len - 4, ".x3p") || !strcasecmp(base + len - 4, ".png"))) len -= 4;
    size_t start = len, end = len;
    int number = 0;
    /* the last "Land" followed (after separators) by digits */
    for (size_t i = 0; i + 4 <= len; i++) {
        if (strncmp(base + i, "Land", 4)) continue;
        size_t k = i + 4;
        while (k < len && is_sep(base[k])) k++;
        if (k >= len || !isdigit((unsigned char)base[k])) continue;
        int v = 0;
        size_t e = k;
        while (e < len && isdigit((unsigned char)base[e]) && v < 100000) v = v * 10 + (base[e++] - '0');
        start = i;
        end = e;
        number = v;
    }
    /* else a final separator, 'L' and digits */
    if (!number && len >= 3) {
        size_t e = len, k = len;
        while (k > 0 && isdigit((unsigned char)base[k - 1])) k--;
        if (k < e && k >= 2 && base[k - 1] == 'L' && is_sep(base[k - 2]) && e - k <= 5) {
            number = atoi(base + k);
            start = k - 1;
            end = e;
        }
    }
    if (bullet && size) {
        size_t a = start;
        while (a > 0 && is_sep(base[a - 1])) a--;
        size_t rest = number ? len - end : 0;
        if (!number) a = len;
        const char *tail = base + end;
        if (a == 0 && rest) { /* the land part came first: the rest, separators trimmed */
            while (rest && is_sep(*tail)) tail++, rest--;
        }
        size_t n = a + rest < size - 1 ? a + rest : size - 1;
        size_t na = a < n ? a : n;
        memcpy(bullet, base, na);
        memcpy(bullet + na, tail, n - na);
        bullet[n] = '\0';
    }
    return number;
}

void ibex_bullet_pair_result_free(ibex_bullet_pair_result *r)
{
    if (!r) return;
    for (int k = 0; k < 2; k++) {
        free((void *)r->bullet[k].lands);
        free(r->input[k]);
    }
    ibex_bullet_result_free(r->bullets);
    free(r);
}

/* Positions of the lands: number - 1 when every land has a distinct number in 1..64 (the
 * scans of a bullet need not all be there, nor come in order), else the order given.
 * Returns how many positions the bullet has. */
static size_t positions(const ibex_pair_land *l, size_t n, size_t *pos)
{
    int ok = n > 0;
    size_t maxn = 0;
    for (size_t i = 0; i < n && ok; i++) {
        int k = l[i].number;
        if (k < 1 || k > 64) ok = 0;
        for (size_t j = 0; j < i && ok; j++)
            if (l[j].number == k) ok = 0;
        if (ok && (size_t)k > maxn) maxn = (size_t)k;
    }
    for (size_t i = 0; i < n; i++) pos[i] = ok ? (size_t)l[i].number - 1 : i;
    return ok ? maxn : n;
}

/* Bullet k of the result: npos positions holding the given lands. */
static int place(ibex_bullet_pair_result *r, int k, const ibex_pair_land *l, size_t n,
                 const size_t *pos, size_t npos)
{
    const ibex_land_signature **s = calloc(npos, sizeof *s);
    r->input[k] = malloc(npos * sizeof *r->input[k]);
    r->bullet[k].lands = s;
    r->bullet[k].n_lands = npos;
    if (!s || !r->input[k]) return -1;
    for (size_t p = 0; p < npos; p++) r->input[k][p] = -1;
    for (size_t i = 0; i < n; i++) {
        size_t p = npos == 1 ? 0 : pos[i];
        s[p] = l[i].sig;
        r->input[k][p] = (long)i;
    }
    return 0;
}

static const char *land_name(const ibex_pair_land *l, const long *input, size_t p)
{
    long i = input[p];
    return i >= 0 && l[i].name ? l[i].name : "?";
}

/* The highest land score of a compared pair, and (land to bullet) the verdict it gives. */
static void best_pair(ibex_bullet_pair_result *r, const ibex_pair_land *a, const ibex_pair_land *b)
{
    const ibex_bullet_result *br = r->bullets;
    size_t nA = r->bullet[0].n_lands, nB = r->bullet[1].n_lands;
    r->best_land_score = -1;
    for (size_t i = 0; i < nA; i++)
        for (size_t j = 0; j < nB; j++)
            if (br->compared[i * nB + j] && br->pairs[i * nB + j].score > r->best_land_score) {
                r->best_land_score = br->pairs[i * nB + j].score;
                r->best_i = i;
                r->best_j = j;
            }
    r->verdict = br->verdict;
    snprintf(r->reason, sizeof r->reason, "%s", br->reason);
    if (r->mode != IBEX_BULLET_PAIR_LAND_TO_BULLET) return;
    /* One land against a bullet: no phase to find, so the verdict rests on the best pair. */
    if (r->best_land_score < 0) {
        r->verdict = IBEX_BULLET_UNSUITABLE;
        snprintf(r->reason, sizeof r->reason, "no usable land pair");
        return;
    }
    r->verdict = ibex_land_verdict(r->best_land_score);
    snprintf(r->reason, sizeof r->reason, "best land pair %s ~ %s, land score %.3f",
             land_name(a, r->input[0], r->best_i), land_name(b, r->input[1], r->best_j),
             r->best_land_score);
}

ibex_status ibex_compare_bullets(const ibex_pair_land *a, size_t na, const ibex_pair_land *b,
                                 size_t nb, ibex_bullet_pair_result **out, ibex_diag *diag)
{
    if (!a || !b || !na || !nb || !out)
        return ibex__fail(diag, IBEX_ERR_ARG, "", -1, "a bullet needs at least one land");
    ibex_bullet_pair_result *r = calloc(1, sizeof *r);
    size_t *pa = calloc(na, sizeof *pa), *pb = calloc(nb, sizeof *pb);
    ibex_status st = IBEX_ERR_NOMEM;
    if (!r || !pa || !pb) goto fail;
    r->mode = (na == 1) != (nb == 1) ? IBEX_BULLET_PAIR_LAND_TO_BULLET : IBEX_BULLET_PAIR_BULLETS;
    size_t npa = positions(a, na, pa), npb = positions(b, nb, pb);
    size_t n = npa > npb ? npa : npb;
    if (r->mode == IBEX_BULLET_PAIR_LAND_TO_BULLET) n = na > nb ? npa : npb;
    size_t nA = r->mode && na == 1 ? 1 : n, nB = r->mode && nb == 1 ? 1 : n;
    if (place(r, 0, a, na, pa, nA) || place(r, 1, b, nb, pb, nB)) goto fail;
    if ((st = ibex_bullet_compare(&r->bullet[0], &r->bullet[1], &r->bullets, diag))) goto done;
    best_pair(r, a, b);
    free(pa);
    free(pb);
    *out = r;
    return IBEX_OK;
fail:
    st = ibex__fail(diag, IBEX_ERR_NOMEM, "", -1, "out of memory");
done:
    free(pa);
    free(pb);
    ibex_bullet_pair_result_free(r);
    return st;
}
