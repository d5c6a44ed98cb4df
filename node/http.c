/* libmicrohttpd helpers shared by the node server (node/server.c) and the workbench
 * (workbench/server.c): listen addresses, client addresses, libmicrohttpd's own messages. */
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http_internal.h"

int ibex__http_parse_listen(const char *s, struct sockaddr_storage *ss, int *v6, int *loopback)
{
    char host[128];
    int lb = 0;
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s || (size_t)(colon - s) >= sizeof host) return 0;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    char *end;
    errno = 0;
    unsigned long port = strtoul(colon + 1, &end, 10);
    if (colon[1] < '0' || colon[1] > '9' || errno || *end || port > 65535) return 0;
    memset(ss, 0, sizeof *ss);
    if (host[0] == '[') {
        size_t hl = strlen(host);
        if (hl < 3 || host[hl - 1] != ']') return 0;
        host[hl - 1] = '\0';
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        *v6 = 1;
        if (inet_pton(AF_INET6, host + 1, &a->sin6_addr) != 1) return 0;
        lb = IN6_IS_ADDR_LOOPBACK(&a->sin6_addr);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)ss;
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)port);
        *v6 = 0;
        if (!strcmp(host, "localhost")) strcpy(host, "127.0.0.1");
        if (inet_pton(AF_INET, host, &a->sin_addr) != 1) return 0;
        lb = (ntohl(a->sin_addr.s_addr) >> 24) == 127;
    }
    if (loopback) *loopback = lb;
    return 1;
}

void ibex__http_client_ip(struct MHD_Connection *c, char ip[INET6_ADDRSTRLEN])
{
    strcpy(ip, "?");
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!ci || !ci->client_addr) return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, ip, INET6_ADDRSTRLEN);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, ip, INET6_ADDRSTRLEN);
}

void ibex__http_mhd_log(FILE *log, pthread_mutex_t *lock, const char *fm, va_list ap)
{
    if (!log) return;
    pthread_mutex_lock(lock);
    fputs("libmicrohttpd: ", log);
    vfprintf(log, fm, ap);
    fflush(log);
    pthread_mutex_unlock(lock);
}
