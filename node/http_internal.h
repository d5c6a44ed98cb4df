/* libmicrohttpd helpers shared by the node server and the workbench (not installed). */
#ifndef IBEX_NODE_HTTP_INTERNAL_H
#define IBEX_NODE_HTTP_INTERNAL_H

#include <arpa/inet.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/socket.h>

#include <microhttpd.h>

/* HOST:PORT with an IPv4 address, localhost or [IPv6] into *ss; *v6 for IPv6, *loopback (may
 * be NULL) when the address is a loopback one. 1 on success. */
int ibex__http_parse_listen(const char *s, struct sockaddr_storage *ss, int *v6, int *loopback);
/* The client's address as text ("?" when unknown). */
void ibex__http_client_ip(struct MHD_Connection *c, char ip[INET6_ADDRSTRLEN]);
/* One libmicrohttpd message to log (NULL: dropped), under lock. */
void ibex__http_mhd_log(FILE *log, pthread_mutex_t *lock, const char *fm, va_list ap);

#endif
