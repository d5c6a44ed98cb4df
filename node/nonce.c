/* Replay guard: a fixed-capacity FIFO of recent (node, nonce) pairs with a chained hash
 * index. Memory is bounded by the capacity; when every slot holds a nonce still within its
 * lifetime the request is refused (503) rather than forgetting one early, which would let
 * that nonce be replayed. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "node_internal.h"

/* 20 bytes a nonce: 96 bits of SHA-256(node, nonce) make a false "replay" of a fresh nonce
 * about 2^-96 likely per pair; time in seconds since the cache was made. */
typedef struct slot {
    unsigned char key[12];
    uint32_t t;
    int32_t next; /* next slot in the same bucket, -1 ends */
} slot;

struct ibex__nonce_cache {
    pthread_mutex_t lock;
    slot *slots;
    int32_t *buckets;
    size_t cap, nb, oldest, count;
    int ttl;
    time_t t0;
};

ibex__nonce_cache *ibex__nonce_create(size_t capacity, int ttl_s)
{
    if (capacity == 0 || capacity > ((size_t)1 << 24)) return NULL;
    ibex__nonce_cache *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->cap = capacity;
    c->nb = 1;
    while (c->nb < 2 * capacity) c->nb <<= 1;
    c->slots = calloc(capacity, sizeof *c->slots);
    c->buckets = malloc(c->nb * sizeof *c->buckets);
    if (!c->slots || !c->buckets || pthread_mutex_init(&c->lock, NULL) != 0) {
        free(c->slots);
        free(c->buckets);
        free(c);
        return NULL;
    }
    memset(c->buckets, 0xff, c->nb * sizeof *c->buckets);
    c->ttl = ttl_s;
    c->t0 = -1; /* set by the first check */
    return c;
}

void ibex__nonce_free(ibex__nonce_cache *c)
{
    if (!c) return;
    pthread_mutex_destroy(&c->lock);
    free(c->slots);
    free(c->buckets);
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
    c->oldest = (c->oldest + 1) % c->cap;
    c->count--;
}

int ibex__nonce_check(ibex__nonce_cache *c, const char *node, const char *nonce, time_t now)
{
    /* Keyed by a hash of both, so two nodes' nonces never collide by design. */
    unsigned char full[32], key[12];
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const unsigned char *)node, strlen(node) + 1);
    crypto_hash_sha256_update(&st, (const unsigned char *)nonce, strlen(nonce));
    crypto_hash_sha256_final(&st, full);
    memcpy(key, full, sizeof key);
    int r;
    pthread_mutex_lock(&c->lock);
    if (c->t0 < 0) c->t0 = now;
    uint32_t rel = now > c->t0 ? (uint32_t)(now - c->t0) : 0;
    while (c->count && (int64_t)c->slots[c->oldest].t + c->ttl < (int64_t)rel) drop_oldest(c);
    size_t b = bucket_of(c, key);
    for (int32_t i = c->buckets[b]; i >= 0; i = c->slots[i].next)
        if (memcmp(c->slots[i].key, key, sizeof key) == 0) {
            pthread_mutex_unlock(&c->lock);
            return 0;
        }
    if (c->count == c->cap) {
        r = -1;
    } else {
        size_t i = (c->oldest + c->count) % c->cap;
        memcpy(c->slots[i].key, key, sizeof key);
        /* The FIFO must stay ordered in time for expiry from the front. */
        uint32_t last = c->count ? c->slots[(c->oldest + c->count - 1) % c->cap].t : rel;
        c->slots[i].t = rel > last ? rel : last;
        c->slots[i].next = c->buckets[b];
        c->buckets[b] = (int32_t)i;
        c->count++;
        r = 1;
    }
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
