/* libxml2 helpers for X3P: safe parsing and schema-ordered editing. */
#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>

#include "xmlutil.h"

static pthread_once_t xml_once = PTHREAD_ONCE_INIT;

static void xml_init(void)
{
    xmlInitParser();
}

void ibex__xml_ready(void)
{
    pthread_once(&xml_once, xml_init);
}

static void silence(void *ctx, const char *msg, ...)
{
    (void)ctx;
    (void)msg;
}

xmlDocPtr ibex__xml_parse_safe(const char *buf, size_t size, const char **why)
{
    /* Messages go through ibex_diag, not libxml2's stderr printer. The handler is
     * per thread in libxml2, so every parsing thread sets it. */
    ibex__xml_ready();
    xmlSetGenericErrorFunc(NULL, silence);
    if (size > INT_MAX) {
        *why = "main.xml is too large";
        return NULL;
    }
    xmlDocPtr doc = xmlReadMemory(buf, (int)size, "main.xml", NULL,
                                  XML_PARSE_NONET | XML_PARSE_NOBLANKS | XML_PARSE_NOWARNING |
                                      XML_PARSE_NOERROR);
    if (!doc) {
        const xmlError *e = xmlGetLastError();
        static _Thread_local char msg[200]; /* servers parse on many threads */
        if (e && e->message) {
            snprintf(msg, sizeof msg, "main.xml is not well-formed XML (line %d: %s", e->line,
                     e->message);
            size_t n = strlen(msg);
            while (n > 0 && isspace((unsigned char)msg[n - 1])) msg[--n] = '\0';
            snprintf(msg + n, sizeof msg - n, ")");
            *why = msg;
        } else {
            *why = "main.xml is not well-formed XML";
        }
        return NULL;
    }
    /* Entities are the door to billion-laughs and external-file attacks; X3P needs none. */
    if (doc->intSubset || doc->extSubset) {
        xmlFreeDoc(doc);
        *why = "main.xml declares a DTD (entity declarations are refused)";
        return NULL;
    }
    return doc;
}

xmlNodePtr ibex__xml_child(xmlNodePtr parent, const char *name)
{
    if (!parent) return NULL;
    for (xmlNodePtr c = parent->children; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE && strcmp((const char *)c->name, name) == 0) return c;
    return NULL;
}

char *ibex__xml_child_text(xmlNodePtr parent, const char *name)
{
    xmlNodePtr c = ibex__xml_child(parent, name);
    if (!c) return NULL;
    xmlChar *t = xmlNodeGetContent(c);
    if (!t) return NULL;
    const char *b = (const char *)t;
    while (*b && isspace((unsigned char)*b)) b++;
    size_t n = strlen(b);
    while (n > 0 && isspace((unsigned char)b[n - 1])) n--;
    char *r = NULL;
    if (n > 0 && (r = malloc(n + 1))) {
        memcpy(r, b, n);
        r[n] = '\0';
    }
    xmlFree(t);
    return r;
}

static int rank(const char *name, const char *const *order)
{
    for (int i = 0; order && order[i]; i++)
        if (strcmp(order[i], name) == 0) return i;
    return INT_MAX;
}

xmlNodePtr ibex__xml_ensure_child(xmlNodePtr parent, const char *name, const char *const *order)
{
    xmlNodePtr c = ibex__xml_child(parent, name);
    if (c) return c;
    c = xmlNewNode(NULL, (const xmlChar *)name);
    if (!c) return NULL;
    int r = rank(name, order);
    for (xmlNodePtr s = parent->children; s; s = s->next) {
        if (s->type == XML_ELEMENT_NODE && rank((const char *)s->name, order) > r &&
            rank((const char *)s->name, order) != INT_MAX) {
            return xmlAddPrevSibling(s, c);
        }
    }
    return xmlAddChild(parent, c);
}

xmlNodePtr ibex__xml_set_child_text(xmlNodePtr parent, const char *name, const char *text,
                                    const char *const *order)
{
    xmlNodePtr c = ibex__xml_ensure_child(parent, name, order);
    if (!c) return NULL;
    xmlChar *esc = xmlEncodeSpecialChars(parent->doc, (const xmlChar *)(text ? text : ""));
    xmlNodeSetContent(c, esc);
    xmlFree(esc);
    return c;
}

void ibex__xml_sort_children(xmlNodePtr parent, const char *const *order)
{
    xmlNodePtr anchor = NULL; /* last node placed */
    for (int i = 0; order[i]; i++) {
        xmlNodePtr c = parent->children, next;
        for (; c; c = next) {
            next = c->next;
            if (c->type != XML_ELEMENT_NODE || strcmp((const char *)c->name, order[i])) continue;
            xmlUnlinkNode(c);
            if (anchor)
                xmlAddNextSibling(anchor, c);
            else if (parent->children)
                xmlAddPrevSibling(parent->children, c);
            else
                xmlAddChild(parent, c);
            anchor = c;
        }
    }
}

void ibex__xml_remove_children(xmlNodePtr parent, const char *name)
{
    xmlNodePtr c;
    while ((c = ibex__xml_child(parent, name))) {
        xmlUnlinkNode(c);
        xmlFreeNode(c);
    }
}

void ibex__format_double(double v, char *buf, size_t size)
{
    if (v == 0) {
        snprintf(buf, size, "0");
        return;
    }
    char tmp[64];
    if (v == floor(v) && fabs(v) < 1e15) {
        snprintf(buf, size, "%.0f", v);
        return;
    }
    for (int p = 0; p <= 17; p++) {
        snprintf(tmp, sizeof tmp, "%.*e", p, v);
        if (strtod(tmp, NULL) == v) break;
    }
    /* Widen the exponent to three digits: "e-06" -> "e-006". */
    char *e = strchr(tmp, 'e');
    if (e && (e[1] == '-' || e[1] == '+')) {
        int ex = atoi(e + 1);
        char mant[64];
        size_t m = (size_t)(e - tmp);
        memcpy(mant, tmp, m);
        mant[m] = '\0';
        snprintf(buf, size, "%se%c%03d", mant, ex < 0 ? '-' : '+', ex < 0 ? -ex : ex);
    } else {
        snprintf(buf, size, "%s", tmp);
    }
}
