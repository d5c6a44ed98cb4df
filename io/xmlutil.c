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

/* libxml2 checks each new attribute against the element's earlier ones, so one element
 * with n attributes costs O(n^2): 200k attributes in 462 KB took minutes. A linear pass over
 * the bytes bounds that before libxml2 sees them. It only counts: markup it cannot follow
 * (an unclosed tag or comment) is left for libxml2 to reject, which it does at the first
 * error without doing the quadratic work past it. */
static ibex_status scan_limits(const char *b, size_t n, const char *name, const char **why)
{
    static _Thread_local char msg[200];
    size_t i = 0, depth = 0, elems = 0, attrs = 0;
    while (i < n) {
        const char *lt = memchr(b + i, '<', n - i);
        if (!lt) break;
        i = (size_t)(lt - b) + 1;
        const char *rest = b + i;
        size_t left = n - i;
        const char *end = NULL;
        if (left >= 3 && memcmp(rest, "!--", 3) == 0) {
            for (size_t j = i + 3; j + 2 < n && !end; j++)
                if (b[j] == '-' && b[j + 1] == '-' && b[j + 2] == '>') end = b + j + 2;
        } else if (left >= 8 && memcmp(rest, "![CDATA[", 8) == 0) {
            for (size_t j = i + 8; j + 2 < n && !end; j++)
                if (b[j] == ']' && b[j + 1] == ']' && b[j + 2] == '>') end = b + j + 2;
        } else if (left >= 1 && (rest[0] == '?' || rest[0] == '/')) {
            if (rest[0] == '/' && depth > 0) depth--;
            end = memchr(rest, '>', left);
        } else if (left >= 1 && rest[0] == '!') {
            /* A DOCTYPE: entities are the door to billion-laughs and external-file attacks,
             * and X3P needs none. */
            snprintf(msg, sizeof msg, "%s declares a DTD (entity declarations are refused)", name);
            *why = msg;
            return IBEX_ERR_FORMAT;
        } else {
            /* A start tag: every '=' outside a quoted value starts an attribute. */
            size_t na = 0;
            char quote = 0;
            size_t j = i;
            for (; j < n; j++) {
                char c = b[j];
                if (quote) {
                    if (c == quote) quote = 0;
                } else if (c == '"' || c == '\'') {
                    quote = c;
                } else if (c == '=') {
                    na++;
                } else if (c == '>') {
                    end = b + j;
                    break;
                }
            }
            if (na > IBEX__XML_MAX_ATTRS) {
                snprintf(msg, sizeof msg, "%s has an element with %zu attributes (limit %d)", name,
                         na, IBEX__XML_MAX_ATTRS);
                *why = msg;
                return IBEX_ERR_LIMIT;
            }
            attrs += na;
            elems++;
            if (end && end[-1] != '/') depth++;
            if (depth > IBEX__XML_MAX_DEPTH) {
                snprintf(msg, sizeof msg, "%s nests elements deeper than %d", name, IBEX__XML_MAX_DEPTH);
                *why = msg;
                return IBEX_ERR_LIMIT;
            }
            if (elems > IBEX__XML_MAX_ELEMENTS || attrs > IBEX__XML_MAX_ATTRS_TOTAL) {
                snprintf(msg, sizeof msg, "%s holds more than %s (limit %d)", name,
                         elems > IBEX__XML_MAX_ELEMENTS ? "elements" : "attributes",
                         elems > IBEX__XML_MAX_ELEMENTS ? IBEX__XML_MAX_ELEMENTS
                                                        : IBEX__XML_MAX_ATTRS_TOTAL);
                *why = msg;
                return IBEX_ERR_LIMIT;
            }
        }
        if (!end) break; /* unterminated markup: libxml2 reports it */
        i = (size_t)(end - b) + 1;
    }
    return IBEX_OK;
}

ibex_status ibex__xml_parse_safe(const char *buf, size_t size, const char *name, xmlDocPtr *out,
                                 const char **why)
{
    /* Messages go through ibex_diag, not libxml2's stderr printer. The handler is
     * per thread in libxml2, so every parsing thread sets it. */
    static _Thread_local char msg[200]; /* servers parse on many threads */
    ibex__xml_ready();
    xmlSetGenericErrorFunc(NULL, silence);
    if (size > INT_MAX) {
        snprintf(msg, sizeof msg, "%s is too large", name);
        *why = msg;
        return IBEX_ERR_LIMIT;
    }
    ibex_status st = scan_limits(buf, size, name, why);
    if (st) return st;
    xmlDocPtr doc = xmlReadMemory(buf, (int)size, name, NULL,
                                  XML_PARSE_NONET | XML_PARSE_NOBLANKS | XML_PARSE_NOWARNING |
                                      XML_PARSE_NOERROR);
    if (!doc) {
        const xmlError *e = xmlGetLastError();
        if (e && e->message) {
            snprintf(msg, sizeof msg, "%s is not well-formed XML (line %d: %s", name, e->line,
                     e->message);
            size_t n = strlen(msg);
            while (n > 0 && isspace((unsigned char)msg[n - 1])) msg[--n] = '\0';
            snprintf(msg + n, sizeof msg - n, ")");
        } else {
            snprintf(msg, sizeof msg, "%s is not well-formed XML", name);
        }
        *why = msg;
        return IBEX_ERR_FORMAT;
    }
    /* The scan refuses a DOCTYPE; this catches one it could not see. */
    if (doc->intSubset || doc->extSubset) {
        xmlFreeDoc(doc);
        snprintf(msg, sizeof msg, "%s declares a DTD (entity declarations are refused)", name);
        *why = msg;
        return IBEX_ERR_FORMAT;
    }
    *out = doc;
    return IBEX_OK;
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
