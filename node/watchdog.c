/* Connection deadlines: libmicrohttpd's idle timeout restarts with every byte, so a peer that
 * sends one byte every few seconds would hold a connection (and, once authenticated, its
 * body memory) for ever. Each connection here has a deadline for what it must have sent by
 * then (its headers; its body at a minimum rate); a thread shuts down the socket of every
 * connection past its deadline, and libmicrohttpd then closes it as it would a dropped one.
 * Entries are removed when libmicrohttpd reports the connection closed, which happens
 * before it closes the socket, so the thread never touches a reused descriptor. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "ibex_internal.h"
#include "node_internal.h"

struct ibex__conn {
    ibex__conn *prev, *next;
    int fd;
    char ip[48];
    double deadline; /* ibex__now() seconds; 0: none */
    char why[96];    /* what was late, for the log */
    int killed;
};

struct ibex__conns {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_t thread;
    int running, stop;
    ibex__conn head; /* circular list sentinel */
    size_t count;
    ibex__conn_kill_fn on_kill;
    void *user;
};

static void *watch(void *arg)
{
    ibex__conns *w = arg;
    pthread_mutex_lock(&w->lock);
    while (!w->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 250000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&w->wake, &w->lock, &ts);
        double now = ibex__now();
        for (ibex__conn *c = w->head.next; c != &w->head; c = c->next) {
            if (c->killed || c->deadline <= 0 || now < c->deadline) continue;
            c->killed = 1;
            shutdown(c->fd, SHUT_RDWR);
            if (w->on_kill) w->on_kill(w->user, c->ip, c->why);
        }
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

ibex__conns *ibex__conns_create(ibex__conn_kill_fn on_kill, void *user)
{
    ibex__conns *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->wake, NULL);
    w->head.next = w->head.prev = &w->head;
    w->on_kill = on_kill;
    w->user = user;
    if (pthread_create(&w->thread, NULL, watch, w) != 0) {
        ibex__conns_free(w);
        return NULL;
    }
    w->running = 1;
    return w;
}

void ibex__conns_stop(ibex__conns *w)
{
    if (!w || !w->running) return;
    pthread_mutex_lock(&w->lock);
    w->stop = 1;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    w->running = 0;
}

void ibex__conns_free(ibex__conns *w)
{
    if (!w) return;
    ibex__conns_stop(w);
    while (w->head.next != &w->head) ibex__conns_remove(w, w->head.next);
    pthread_cond_destroy(&w->wake);
    pthread_mutex_destroy(&w->lock);
    free(w);
}

ibex__conn *ibex__conns_add(ibex__conns *w, int fd, const char *ip, double deadline, const char *why)
{
    ibex__conn *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->fd = fd;
    snprintf(c->ip, sizeof c->ip, "%s", ip ? ip : "?");
    c->deadline = deadline;
    snprintf(c->why, sizeof c->why, "%s", why ? why : "");
    pthread_mutex_lock(&w->lock);
    c->next = &w->head;
    c->prev = w->head.prev;
    w->head.prev->next = c;
    w->head.prev = c;
    w->count++;
    pthread_mutex_unlock(&w->lock);
    return c;
}

void ibex__conns_remove(ibex__conns *w, ibex__conn *c)
{
    if (!w || !c) return;
    pthread_mutex_lock(&w->lock);
    c->prev->next = c->next;
    c->next->prev = c->prev;
    w->count--;
    pthread_mutex_unlock(&w->lock);
    free(c);
}

void ibex__conns_deadline(ibex__conns *w, ibex__conn *c, double deadline, const char *why)
{
    if (!w || !c) return;
    pthread_mutex_lock(&w->lock);
    c->deadline = deadline;
    snprintf(c->why, sizeof c->why, "%s", why ? why : "");
    pthread_mutex_unlock(&w->lock);
}

size_t ibex__conns_count(ibex__conns *w)
{
    pthread_mutex_lock(&w->lock);
    size_t n = w->count;
    pthread_mutex_unlock(&w->lock);
    return n;
}
