/* Replay guard: a fixed-capacity FIFO of recent (node, nonce) pairs with a chained hash
 * index. Memory is bounded by the capacity, and each class (a peer) by its share of it, so
 * one busy peer cannot crowd out the others; when a class holds its share of nonces still
 * within their lifetime its request is refused (503) rather than forgetting one early, which
 * would let that nonce be replayed.
 *
 * With a journal, every accepted nonce is appended to a file before it counts as fresh, and
 * the live ones are read back at start: a restart forgets nothing a timestamp still admits.
 * A record is 24 bytes: the 12-byte key, the class (u32, little-endian) and the time (i64,
 * Unix seconds, little-endian); a torn last record is ignored. The file is rewritten with
 * only the live records at start and whenever it has grown past twice the capacity. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "atomic_file.h"
#include "ibex_internal.h"
#include "node_internal.h"

#define RECORD 24

/* 96 bits of SHA-256(node, nonce) make a false "replay" of a fresh nonce about 2^-96 likely
 * per pair; time in seconds since the cache was made. */
typedef struct slot {
    unsigned char key[12];
    uint32_t t;
    uint32_t cls;
    int32_t next; /* next slot in the same bucket, -1 ends */
} slot;

struct ibex__nonce_cache {
    pthread_mutex_t lock;
    slot *slots;
    int32_t *buckets;
    size_t *per_class;
    size_t cap, nb, oldest, count, classes, quota;
    int ttl;
    time_t t0;
    int fd;                /* journal, -1 without */
    char *path;
    size_t journal_records; /* records in the journal file */
};

ibex__nonce_cache *ibex__nonce_create(size_t capacity, int ttl_s, size_t classes)
{
    if (capacity == 0 || capacity > ((size_t)1 << 24) || classes == 0) return NULL;
    ibex__nonce_cache *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->cap = capacity;
    c->classes = classes;
    c->quota = capacity / classes ? capacity / classes : 1;
    c->nb = 1;
    while (c->nb < 2 * capacity) c->nb <<= 1;
    c->slots = calloc(capacity, sizeof *c->slots);
    c->buckets = malloc(c->nb * sizeof *c->buckets);
    c->per_class = calloc(classes, sizeof *c->per_class);
    if (!c->slots || !c->buckets || !c->per_class || pthread_mutex_init(&c->lock, NULL) != 0) {
        free(c->slots);
        free(c->buckets);
        free(c->per_class);
        free(c);
        return NULL;
    }
    memset(c->buckets, 0xff, c->nb * sizeof *c->buckets);
    c->ttl = ttl_s;
    c->t0 = -1; /* set by the first check or the journal */
    c->fd = -1;
    return c;
}

void ibex__nonce_free(ibex__nonce_cache *c)
{
    if (!c) return;
    if (c->fd >= 0) close(c->fd);
    pthread_mutex_destroy(&c->lock);
    free(c->path);
    free(c->slots);
    free(c->buckets);
    free(c->per_class);
    free(c);
}

static size_t bucket_of(const ibex__nonce_cache *c, const unsigned char key[12])
{
    uint64_t h;
    memcpy(&h, key, sizeof h);
    return (size_t)(h & (c->nb - 1));
}

static void drop_oldest(ibex__nonce_cache *c)
{
    size_t i = c->oldest;
    int32_t *p = &c->buckets[bucket_of(c, c->slots[i].key)];
    while (*p != (int32_t)i) p = &c->slots[*p].next;
    *p = c->slots[i].next;
    c->per_class[c->slots[i].cls]--;
    c->oldest = (c->oldest + 1) % c->cap;
    c->count--;
}

static void expire(ibex__nonce_cache *c, uint32_t rel)
{
    while (c->count && (int64_t)c->slots[c->oldest].t + c->ttl < (int64_t)rel) drop_oldest(c);
}

static int find(const ibex__nonce_cache *c, const unsigned char key[12])
{
    for (int32_t i = c->buckets[bucket_of(c, key)]; i >= 0; i = c->slots[i].next)
        if (memcmp(c->slots[i].key, key, 12) == 0) return 1;
    return 0;
}

/* Appends at the FIFO's end; the caller has checked room in the table and the class. */
static void insert(ibex__nonce_cache *c, const unsigned char key[12], size_t cls, uint32_t rel)
{
    size_t i = (c->oldest + c->count) % c->cap, b = bucket_of(c, key);
    memcpy(c->slots[i].key, key, 12);
    /* The FIFO must stay ordered in time for expiry from the front. */
    uint32_t last = c->count ? c->slots[(c->oldest + c->count - 1) % c->cap].t : rel;
    c->slots[i].t = rel > last ? rel : last;
    c->slots[i].cls = (uint32_t)cls;
    c->slots[i].next = c->buckets[b];
    c->buckets[b] = (int32_t)i;
    c->per_class[cls]++;
    c->count++;
}

static void encode(unsigned char rec[RECORD], const unsigned char key[12], uint32_t cls, int64_t t)
{
    memcpy(rec, key, 12);
    for (int k = 0; k < 4; k++) rec[12 + k] = (unsigned char)(cls >> (8 * k));
    for (int k = 0; k < 8; k++) rec[16 + k] = (unsigned char)((uint64_t)t >> (8 * k));
}

/* Rewrites the journal with the live entries (write, fsync, rename) and reopens it for
 * appending. 1 on success; on failure the old file and descriptor stay. */
static int compact(ibex__nonce_cache *c)
{
    size_t pl = strlen(c->path) + 8;
    char *tmp = malloc(pl);
    unsigned char *buf = malloc(4096 * RECORD);
    int ok = tmp && buf;
    int fd = -1;
    if (ok) {
        snprintf(tmp, pl, "%s.tmp", c->path);
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        ok = fd >= 0;
    }
    for (size_t k = 0; ok && k < c->count; k += 4096) {
        size_t m = c->count - k < 4096 ? c->count - k : 4096;
        for (size_t q = 0; q < m; q++) {
            const slot *s = &c->slots[(c->oldest + k + q) % c->cap];
            encode(buf + q * RECORD, s->key, s->cls, (int64_t)c->t0 + s->t);
        }
        ok = ibex__write_all(fd, buf, m * RECORD);
    }
    ok = ok && fsync(fd) == 0;
    if (fd >= 0) close(fd);
    ok = ok && rename(tmp, c->path) == 0;
    int nfd = ok ? open(c->path, O_WRONLY | O_APPEND | O_CLOEXEC) : -1;
    if (nfd >= 0) {
        if (c->fd >= 0) close(c->fd);
        c->fd = nfd;
        c->journal_records = c->count;
    } else if (tmp) {
        unlink(tmp);
    }
    free(tmp);
    free(buf);
    return nfd >= 0;
}

ibex_status ibex__nonce_journal(ibex__nonce_cache *c, const char *path, time_t now, ibex_diag *diag)
{
    if (!c || !path) return ibex__fail(diag, IBEX_ERR_ARG, "", -1, "no replay journal path");
    if (!(c->path = ibex__strdup(path))) return ibex__fail(diag, IBEX_ERR_NOMEM, path, -1, "out of memory");
    FILE *f = fopen(path, "rb");
    if (!f && errno != ENOENT) return ibex__fail(diag, IBEX_ERR_IO, path, -1, "cannot read the replay journal: %s", strerror(errno));
    /* Entries older than the table's lifetime are dropped as they are read; t0 is the oldest
     * time that can still be live, so relative times stay small. */
    c->t0 = now - c->ttl - 1;
    unsigned char rec[RECORD];
    while (f && fread(rec, 1, RECORD, f) == RECORD) {
        uint32_t cls = 0;
        uint64_t t = 0;
        for (int k = 0; k < 4; k++) cls |= (uint32_t)rec[12 + k] << (8 * k);
        for (int k = 0; k < 8; k++) t |= (uint64_t)rec[16 + k] << (8 * k);
        int64_t ts = (int64_t)t;
        if (ts + c->ttl < (int64_t)now || ts > (int64_t)now + 86400) continue; /* expired, or nonsense */
        /* A peer list that changed since: its classes are counted in the last one. */
        if (cls >= c->classes) cls = (uint32_t)(c->classes - 1);
        if (find(c, rec)) continue;
        if (c->count == c->cap) drop_oldest(c); /* a smaller capacity than before: keep the newest */
        if (c->per_class[cls] >= c->quota) continue;
        insert(c, rec, cls, (uint32_t)(ts - c->t0));
    }
    if (f) fclose(f);
    if (!compact(c))
        return ibex__fail(diag, IBEX_ERR_IO, path, -1, "cannot write the replay journal: %s", strerror(errno));
    return IBEX_OK;
}

int ibex__nonce_check(ibex__nonce_cache *c, size_t cls, const char *node, const char *nonce, time_t now)
{
    /* Keyed by a hash of both, so two nodes' nonces never collide by design. */
    unsigned char full[32], key[12];
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const unsigned char *)node, strlen(node) + 1);
    crypto_hash_sha256_update(&st, (const unsigned char *)nonce, strlen(nonce));
    crypto_hash_sha256_final(&st, full);
    memcpy(key, full, sizeof key);
    if (cls >= c->classes) cls = c->classes - 1;
    int r = IBEX__NONCE_FRESH;
    pthread_mutex_lock(&c->lock);
    if (c->t0 < 0) c->t0 = now;
    uint32_t rel = now > c->t0 ? (uint32_t)(now - c->t0) : 0;
    expire(c, rel);
    if (find(c, key)) {
        r = IBEX__NONCE_REPLAY;
    } else if (c->count == c->cap || c->per_class[cls] >= c->quota) {
        r = IBEX__NONCE_FULL;
    } else if (c->fd >= 0) {
        /* Recorded before it counts: a crash right after still remembers it. */
        unsigned char rec[RECORD];
        encode(rec, key, (uint32_t)cls, (int64_t)c->t0 + rel);
        if (c->journal_records >= 2 * c->cap) compact(c);
        if (!ibex__write_all(c->fd, rec, sizeof rec)) r = IBEX__NONCE_IO;
        else c->journal_records++;
    }
    if (r == IBEX__NONCE_FRESH) insert(c, key, cls, rel);
    pthread_mutex_unlock(&c->lock);
    return r;
}

size_t ibex__nonce_count(ibex__nonce_cache *c)
{
    pthread_mutex_lock(&c->lock);
    size_t n = c->count;
    pthread_mutex_unlock(&c->lock);
    return n;
}
