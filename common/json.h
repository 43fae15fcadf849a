/*  =========================================================================
    mw_json - the few json-c helpers every JSON producer and reader shares.

    All JSON meshwatch writes (control replies, events, the usage POST,
    the CLIs' --json output) is built as json-c objects and serialised by
    json-c: no document is ever pasted together with printf.  What json-c
    leaves to us is done here, once:

      * strings from outside (peer names from the wire, camera ids, file
        paths) are made valid UTF-8 (an invalid byte becomes U+FFFD), so a
        hostile byte can never make a document unparsable;
      * numbers keep the precision each field is documented with (a
        latency in 0.1 ms, a share in 0.001...) instead of json-c's 17
        significant digits, and a non-finite double becomes null (JSON has
        no NaN or Infinity);
      * unsigned 64-bit counters stay unsigned on json-c 0.13 too;
      * serialisation never escapes '/' (addresses are tcp://...);
      * parsing is strict, bounded in depth, and refuses trailing bytes.

    Values are created with a refcount of one; mw_json_add () hands the
    value to the object (json-c's usual ownership rule).
    ========================================================================= */
#ifndef MW_JSON_H_INCLUDED
#define MW_JSON_H_INCLUDED

#include <json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  A string value; NULL gives JSON null.  Invalid UTF-8 becomes U+FFFD.
json_object *mw_json_str (const char *s);
//  A number printed with `decimals` digits after the point (0..9), or in
//  the shortest form ("%g") with decimals -1; a non-finite value gives null.
json_object *mw_json_num (double v, int decimals);
json_object *mw_json_u64 (uint64_t v);
json_object *mw_json_i64 (int64_t v);
json_object *mw_json_bool (bool v);

//  obj[key] = val (val may be NULL: JSON null).  Takes val's reference.
void mw_json_add (json_object *obj, const char *key, json_object *val);

//  The document's text, owned by `o` (valid until `o` changes or is freed).
//  pretty: indented over several lines; else one compact line.
const char *mw_json_text (json_object *o, bool pretty);

//  Parse exactly one JSON document of `len` bytes (surrounding white space
//  allowed).  NULL on any error, with the reason in err.
json_object *mw_json_parse (const char *text, size_t len, char *err, size_t errlen);

//  Readers that never fail: the default when the key is missing or of
//  another type.  Numbers of either kind (int or double) satisfy get_num.
json_object *mw_json_get (json_object *obj, const char *key);
const char *mw_json_get_str (json_object *obj, const char *key, const char *dflt);
double mw_json_get_num (json_object *obj, const char *key, double dflt);
int64_t mw_json_get_int (json_object *obj, const char *key, int64_t dflt);
uint64_t mw_json_get_u64 (json_object *obj, const char *key, uint64_t dflt);
bool mw_json_get_bool (json_object *obj, const char *key, bool dflt);
//  True if obj[key] exists and is null.
bool mw_json_is_null (json_object *obj, const char *key);

//  Length (1..4) of the valid UTF-8 character at s (*s != 0), 0 if the
//  bytes there are not one.
size_t mw_json_utf8_seq (const char *s);
//  True if s is valid UTF-8 (no overlong forms, surrogates or stray bytes).
bool mw_json_utf8_valid (const char *s);
//  Copy `s` into out (cap >= 4) as valid UTF-8: every invalid byte becomes
//  U+FFFD; truncated at a character boundary.  Returns out.
char *mw_json_utf8 (const char *s, char *out, size_t cap);

int mw_json_test (bool verbose);

#endif
