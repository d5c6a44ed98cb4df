/* Small libxml2 helpers for X3P main.xml: safe parsing, lookup by local name,
 * ordered insertion, and number formatting that round-trips. */
#ifndef IBEX_XMLUTIL_H
#define IBEX_XMLUTIL_H

#include <stddef.h>
#include <libxml/tree.h>

#include "ibex/status.h"

/* libxml2's one-time set-up, which is not thread-safe when left to the first call that
 * needs it (ibex synth and ibex ingest read and write X3P on several threads). Called by
 * every entry point here and by the X3P writer; cheap after the first time. */
void ibex__xml_ready(void);

/* Bounds checked on the raw bytes before libxml2 parses them. A real X3P main.xml is a
 * few KB: the scans under datasets/real have at most 58 elements, 3 attributes on one
 * element and depth 5. The per-element bound is what matters for time (libxml2's duplicate
 * check makes one element cost O(n^2) in its attributes); the element bound leaves room for
 * an inline DataList of one <Datum> per point within IBEX_X3P_MAX_XML. */
#define IBEX__XML_MAX_ATTRS 256            /* attributes on one element */
#define IBEX__XML_MAX_ATTRS_TOTAL 65536    /* attributes in the document */
#define IBEX__XML_MAX_DEPTH 64             /* nesting of elements */
#define IBEX__XML_MAX_ELEMENTS (1 << 22)   /* elements in the document */

/* Parse with network access, DTD loading and entity substitution off; a document
 * that declares a DTD at all is refused. name (e.g. "main.xml") starts every message.
 * IBEX_ERR_LIMIT when a bound above is exceeded, IBEX_ERR_FORMAT when the XML is not
 * well-formed or declares a DTD; *why says which. *out is written only on success. */
ibex_status ibex__xml_parse_safe(const char *buf, size_t size, const char *name, xmlDocPtr *out,
                                 const char **why);

/* First element child with this local name (namespace ignored), or NULL. */
xmlNodePtr ibex__xml_child(xmlNodePtr parent, const char *name);

/* Text of the named child, whitespace-trimmed, malloc'd; NULL when absent or empty. */
char *ibex__xml_child_text(xmlNodePtr parent, const char *name);

/* The named child, created if missing. A new child goes before the first existing
 * sibling that comes later in `order` (NULL-terminated schema order), else last. */
xmlNodePtr ibex__xml_ensure_child(xmlNodePtr parent, const char *name, const char *const *order);

/* Ensure the child and set its text content. */
xmlNodePtr ibex__xml_set_child_text(xmlNodePtr parent, const char *name, const char *text,
                                    const char *const *order);

/* Move the children named in order to the front, in that order; others keep their
 * relative order after them. */
void ibex__xml_sort_children(xmlNodePtr parent, const char *const *order);

/* Remove every element child with this local name. */
void ibex__xml_remove_children(xmlNodePtr parent, const char *name);

/* Shortest decimal that reads back as exactly v, with a three-digit exponent as
 * NBTRD and older X3P tools write it ("1.5625e-006"); "0" for zero. */
void ibex__format_double(double v, char *buf, size_t size);

#endif
