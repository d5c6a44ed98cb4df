/* Small libxml2 helpers for X3P main.xml: safe parsing, lookup by local name,
 * ordered insertion, and number formatting that round-trips. */
#ifndef IBEX_XMLUTIL_H
#define IBEX_XMLUTIL_H

#include <stddef.h>
#include <libxml/tree.h>

/* libxml2's one-time set-up, which is not thread-safe when left to the first call that
 * needs it (ibex synth and ibex ingest read and write X3P on several threads). Called by
 * every entry point here and by the X3P writer; cheap after the first time. */
void ibex__xml_ready(void);

/* Parse with network access, DTD loading and entity substitution off; a document
 * that declares a DTD at all is refused (*why says so). NULL on failure. */
xmlDocPtr ibex__xml_parse_safe(const char *buf, size_t size, const char **why);

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
