/* Pieces shared by the X3P reader and writer. */
#ifndef IBEX_X3P_INTERNAL_H
#define IBEX_X3P_INTERNAL_H

#include <stddef.h>

#define X3P_NAMESPACE "http://www.opengps.eu/2008/ISO5436_2"
#define X3P_SCHEMA_LOCATION X3P_NAMESPACE " " X3P_NAMESPACE "/ISO5436_2.xsd"

/* IBEX's vendor record: the OpenFMC-style fields that Record2 has no place for,
 * stored as a separate member named by a VendorSpecificID (ISO 5436-2 allows both). */
#define IBEX_VENDOR_ID "urn:ibex:openfmc:1"
#define IBEX_VENDOR_MEMBER "vendor/ibex-openfmc.xml"

/* Lower-case hex MD5 of data into hex[33] (OpenSSL EVP). 0 on failure. */
int ibex__md5_hex(const void *data, size_t size, char hex[33]);

/* 1 for metadata keys that live in Record2, 0 for the vendor record. */
int ibex__meta_in_record2(const char *key);

#endif
