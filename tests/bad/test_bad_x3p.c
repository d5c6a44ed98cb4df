/* Bad X3P inputs: each must give its documented status and a message naming the file and
 * the problem, without crashing or allocating beyond the limits. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "ibex/ibex.h"
#include "x3p_fixture.h"

static char dir[256];

typedef struct expect {
    const char *name;
    ibex_status status;
    const char *phrase; /* must appear in the message */
} expect;

static void check_read(const char *path, const expect *e, unsigned flags)
{
    ibex_surface *s = NULL;
    ibex_diag d;
    ibex_diag_clear(&d);
    ibex_status st = ibex_surface_read_x3p(path, flags, &s, &d);
    CHECK_MSG(st == e->status, "%s: status %d (%s), expected %d; message: %s", e->name, st,
              ibex_strerror(st), e->status, d.message);
    CHECK_MSG(s == NULL, "%s: out-parameter written on failure", e->name);
    CHECK_MSG(strcmp(d.file, path) == 0, "%s: diag names '%s'", e->name, d.file);
    CHECK_MSG(strstr(d.message, e->phrase) != NULL, "%s: message '%s' lacks '%s'", e->name,
              d.message, e->phrase);
    char line[1200];
    ibex_diag_format(&d, st, line, sizeof line);
    CHECK_MSG(strchr(line, '\n') == NULL, "%s: message is not one line", e->name);
    ibex_surface_free(s);
}

static void case_fixture(const char *name, const fixture *f, ibex_status status, const char *phrase)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    CHECK(fixture_write(f, p) == 0);
    expect e = {name, status, phrase};
    check_read(p, &e, 0);
}

static void write_bytes(const char *path, const void *data, size_t n)
{
    FILE *fp = fopen(path, "wb");
    if (fp) {
        fwrite(data, 1, n, fp);
        fclose(fp);
    }
}

static const char *billion_laughs =
    "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\">"
    "<!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">"
    "<!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">]>"
    "<p:ISO5436_2 xmlns:p=\"http://www.opengps.eu/2008/ISO5436_2\"><Record1>&lol3;</Record1></p:ISO5436_2>";
static const char *external_entity =
    "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>"
    "<p:ISO5436_2 xmlns:p=\"http://www.opengps.eu/2008/ISO5436_2\"><Record1>&xxe;</Record1></p:ISO5436_2>";

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/ibex-test-bad-XXXXXX");
    if (!mkdtemp(dir)) return 1;
    fixture f;
    char p[512];

    /* Container problems. */
    fixture_init(&f);
    f.nx = 64;
    f.ny = 64;
    snprintf(p, sizeof p, "%s/truncated.x3p", dir);
    CHECK(fixture_write(&f, p) == 0);
    CHECK(truncate(p, 300) == 0);
    check_read(p, &(expect){"truncated zip", IBEX_ERR_FORMAT, "not a valid zip"}, 0);

    snprintf(p, sizeof p, "%s/notzip.x3p", dir);
    write_bytes(p, "this is plain text, not a zip archive\n", 38);
    check_read(p, &(expect){"not a zip", IBEX_ERR_FORMAT, "not a valid zip"}, 0);

    snprintf(p, sizeof p, "%s/empty.x3p", dir);
    write_bytes(p, "", 0);
    check_read(p, &(expect){"empty file", IBEX_ERR_FORMAT, "zip"}, 0);

    snprintf(p, sizeof p, "%s/missing-file.x3p", dir);
    check_read(p, &(expect){"missing file", IBEX_ERR_IO, "cannot read"}, 0);

    fixture_init(&f);
    f.omit_main = 1;
    case_fixture("nomain.x3p", &f, IBEX_ERR_FORMAT, "no main.xml");

    /* XML problems. */
    fixture_init(&f);
    f.xml_override = "<p:ISO5436_2 xmlns:p=\"x\"><Record1><FeatureType>SUR</Feat";
    case_fixture("notxml.x3p", &f, IBEX_ERR_FORMAT, "not well-formed");
    f.xml_override = billion_laughs;
    case_fixture("entities.x3p", &f, IBEX_ERR_FORMAT, "entit");
    f.xml_override = external_entity;
    case_fixture("external.x3p", &f, IBEX_ERR_FORMAT, "DTD");
    f.xml_override = "<?xml version=\"1.0\"?><html><body>hello</body></html>";
    case_fixture("wrongroot.x3p", &f, IBEX_ERR_FORMAT, "root");

    /* Markup that libxml2 parses in quadratic time (attributes on one element) or that
     * nests without bound is refused by a linear scan before libxml2 sees it. */
    size_t cap = (size_t)1 << 20;
    char *big = malloc(cap);
    CHECK(big != NULL);
    if (big) {
        static const char head[] = "<?xml version=\"1.0\"?><p:ISO5436_2 xmlns:p=\"x\"><Record1";
        size_t k = (size_t)snprintf(big, cap, "%s", head);
        for (int i = 0; i < 50000; i++) k += (size_t)snprintf(big + k, cap - k, " a%d='>'", i);
        snprintf(big + k, cap - k, "/></p:ISO5436_2>");
        f.xml_override = big;
        case_fixture("attrs.x3p", &f, IBEX_ERR_LIMIT, "main.xml has an element with 50000 attributes");

        k = (size_t)snprintf(big, cap, "<?xml version=\"1.0\"?><p:ISO5436_2 xmlns:p=\"x\">");
        for (int i = 0; i < 10000; i++) k += (size_t)snprintf(big + k, cap - k, "<Record1 a=\"1\" b='2'>");
        for (int i = 0; i < 10000; i++) k += (size_t)snprintf(big + k, cap - k, "</Record1>");
        snprintf(big + k, cap - k, "</p:ISO5436_2>");
        case_fixture("deep.x3p", &f, IBEX_ERR_LIMIT, "main.xml nests elements deeper than");

        /* Many attributes spread over many elements: each element is cheap, the total is
         * bounded all the same. */
        k = (size_t)snprintf(big, cap, "<?xml version=\"1.0\"?><p:ISO5436_2 xmlns:p=\"x\">");
        for (int i = 0; i < 20000; i++)
            k += (size_t)snprintf(big + k, cap - k, "<V a='1' b='2' c='3' d='4'/>");
        snprintf(big + k, cap - k, "</p:ISO5436_2>");
        case_fixture("attrs-total.x3p", &f, IBEX_ERR_LIMIT, "main.xml holds more than attributes");

        /* Attribute-like text inside comments, CDATA and character data is not counted, and
         * depth within the limit is accepted as far as the XML goes. */
        k = (size_t)snprintf(big, cap, "<?xml version=\"1.0\"?><html>");
        for (int i = 0; i < 40; i++) k += (size_t)snprintf(big + k, cap - k, "<d>");
        for (int i = 0; i < 1000; i++)
            k += (size_t)snprintf(big + k, cap - k, "<!-- <x a=1 b=2> --><![CDATA[<y c=3>]]> e=f ");
        for (int i = 0; i < 40; i++) k += (size_t)snprintf(big + k, cap - k, "</d>");
        snprintf(big + k, cap - k, "</html>");
        case_fixture("attrs-hidden.x3p", &f, IBEX_ERR_FORMAT, "root");
        f.xml_override = NULL;
        free(big);
    }

    /* Lying sizes. */
    fixture_init(&f);
    f.decl_nx = 8; /* data.bin holds 7 x 5 */
    case_fixture("sizes.x3p", &f, IBEX_ERR_FORMAT, "Record3 declares");
    fixture_init(&f);
    f.decl_nx = 1000000;
    f.decl_ny = 1000000;
    case_fixture("huge.x3p", &f, IBEX_ERR_LIMIT, "exceeds the limit");
    fixture_init(&f);
    f.decl_nx = 200000;
    f.decl_ny = 2;
    case_fixture("wide.x3p", &f, IBEX_ERR_LIMIT, "exceeds the limit");

    /* A few hundred bytes declaring 10^8 points: refused from the point data's own size,
     * before the surface is allocated. Inline, one Datum for 10^8 points. */
    fixture_init(&f);
    f.data_list = 1;
    f.nx = f.ny = 1;
    f.decl_nx = f.decl_ny = 10000;
    case_fixture("datalist-lies.x3p", &f, IBEX_ERR_FORMAT, "DataList holds 1 points");
    /* In data.bin, whose size in the archive is honest: */
    fixture_init(&f);
    f.decl_nx = f.decl_ny = 10000;
    case_fixture("datalink-lies.x3p", &f, IBEX_ERR_FORMAT, "Record3 declares 800000000");
    /* and whose size in the archive lies too, far beyond what its compressed bytes hold. */
    fixture_init(&f);
    f.decl_nx = f.decl_ny = 10000;
    snprintf(p, sizeof p, "%s/zipsize-lies.x3p", dir);
    CHECK(fixture_write(&f, p) == 0);
    CHECK(fixture_patch_size(p, "bindata/data.bin", 800000000u) == 0);
    check_read(p, &(expect){"zipsize-lies.x3p", IBEX_ERR_FORMAT, "compressed bytes can hold"}, 0);

    /* Extra members are kept whole: their number and total size are capped before any is
     * inflated. Too many small ones: */
    fixture_init(&f);
    snprintf(p, sizeof p, "%s/many-extras.x3p", dir);
    CHECK(fixture_write(&f, p) == 0);
    {
        int err = 0;
        zip_t *za = zip_open(p, 0, &err);
        CHECK(za != NULL);
        for (int i = 0; za && i < IBEX_X3P_MAX_EXTRAS; i++) {
            char nm[64];
            snprintf(nm, sizeof nm, "vendor/part%04d.dat", i);
            CHECK(fixture_add(za, "", nm, "x", 1));
        }
        CHECK(za && zip_close(za) == 0);
    }
    check_read(p, &(expect){"many-extras.x3p", IBEX_ERR_LIMIT, "extra members"}, 0);
    /* Two that compress to a few hundred KiB but together inflate past the size cap: */
    fixture_init(&f);
    snprintf(p, sizeof p, "%s/big-extras.x3p", dir);
    CHECK(fixture_write(&f, p) == 0);
    {
        size_t half = IBEX_X3P_MAX_EXTRAS_SIZE / 2 + 1;
        unsigned char *zeros = calloc(half, 1);
        int err = 0;
        zip_t *za = zip_open(p, 0, &err);
        CHECK(za != NULL && zeros != NULL);
        for (int i = 0; za && zeros && i < 2; i++) {
            char nm[64];
            snprintf(nm, sizeof nm, "vendor/zeros%d.bin", i);
            zip_source_t *src = zip_source_buffer(za, zeros, half, 0);
            CHECK(src && zip_file_add(za, nm, src, ZIP_FL_OVERWRITE) >= 0);
        }
        CHECK(za && zip_close(za) == 0); /* compresses here, while zeros is alive */
        free(zeros);
    }
    check_read(p, &(expect){"big-extras.x3p", IBEX_ERR_LIMIT, "extra members"}, 0);
    /* One whose declared size (under the cap) its 19 compressed bytes cannot back. */
    fixture_init(&f);
    snprintf(p, sizeof p, "%s/extra-size-lies.x3p", dir);
    CHECK(fixture_write(&f, p) == 0);
    CHECK(fixture_patch_size(p, "vendor/acme.dat", 32u << 20) == 0);
    check_read(p, &(expect){"extra-size-lies.x3p", IBEX_ERR_FORMAT, "vendor/acme.dat claims"}, 0);

    /* Checksums, and the explicit override. */
    fixture_init(&f);
    f.bad_data_md5 = 1;
    case_fixture("md5-data.x3p", &f, IBEX_ERR_INTEGRITY, "MD5 of bindata/data.bin");
    snprintf(p, sizeof p, "%s/md5-data.x3p", dir);
    ibex_surface *s = NULL;
    CHECK(ibex_surface_read_x3p(p, IBEX_READ_NO_VERIFY, &s, NULL) == IBEX_OK);
    ibex_surface_free(s);
    fixture_init(&f);
    f.bad_xml_md5 = 1;
    case_fixture("md5-xml.x3p", &f, IBEX_ERR_INTEGRITY, "MD5 of main.xml");
    fixture_init(&f);
    f.valid_bin = 1;
    f.bad_valid_md5 = 1;
    case_fixture("md5-valid.x3p", &f, IBEX_ERR_INTEGRITY, "valid.bin");

    /* Values. */
    fixture_init(&f);
    f.all_nan = 1;
    case_fixture("allnan.x3p", &f, IBEX_ERR_FORMAT, "no valid points");
    fixture_init(&f);
    f.inc_text = "-3.125e-6";
    case_fixture("negative-inc.x3p", &f, IBEX_ERR_FORMAT, "must be positive");
    f.inc_text = "0";
    case_fixture("zero-inc.x3p", &f, IBEX_ERR_FORMAT, "must be positive");
    f.inc_text = "NaN";
    case_fixture("nan-inc.x3p", &f, IBEX_ERR_FORMAT, "must be positive");
    f.inc_text = "abc";
    case_fixture("text-inc.x3p", &f, IBEX_ERR_FORMAT, "not a number");
    f.inc_text = "5000";
    case_fixture("absurd-inc.x3p", &f, IBEX_ERR_FORMAT, "implausible");
    fixture_init(&f);
    f.feature = "PRF";
    case_fixture("profile.x3p", &f, IBEX_ERR_UNSUPPORTED, "PRF");
    f.feature = "PCL";
    case_fixture("pointcloud.x3p", &f, IBEX_ERR_UNSUPPORTED, "PCL");
    fixture_init(&f);
    f.dtype = 'Q';
    case_fixture("dtype.x3p", &f, IBEX_ERR_FORMAT, "DataType");

    /* The in-memory reader refuses the same way. */
    CHECK(ibex_surface_read_x3p_mem("PK\3\4garbage", 11, "mem.x3p", 0, &s, NULL) == IBEX_ERR_FORMAT);

    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return check_exit();
}
