/*  =========================================================================
    mw_sanitize - make strings from the wire safe for a log line or a
    terminal.

    A peer's name, a camera id, a refusal reason: whatever a peer (or
    anyone holding the cluster key) puts in a string field reaches our logs
    and the CLI's tables.  Raw, a newline forges a log line, a space or a
    quote forges a key=value pair, an escape sequence rewrites the
    operator's terminal, and a bidi override makes a name read backwards.
    Every string that came from the wire goes through here before it is
    printed:

      * log values (logfmt): bare when every byte is "safe" (letters,
        digits and . _ - : / @ + , [ ] % ~), else in double quotes with
        \" \\ \n \r \t escaped; other control bytes, DEL and bytes that
        are not valid UTF-8 become \xHH; C1 controls and the invisible or
        direction-changing code points (U+200B-U+200F, U+2028-U+202E,
        U+2060-U+2069, U+FEFF) become \uHHHH.  The empty string is "".
      * terminal text: the same escapes, without quoting (a table cell,
        node/cli_render's node_cli_safe); cut silently when it does not fit
        (the renderer marks a cut cell).

    Valid UTF-8 otherwise passes unchanged, so names in any script still
    read as they were written.  Output is always terminated and truncated
    to the buffer, never inside an escape or a character (a cut log value
    is marked with "...").
    ========================================================================= */
#ifndef MW_SANITIZE_H_INCLUDED
#define MW_SANITIZE_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

typedef enum {
    MW_SANITIZE_LOG = 0,      //  a logfmt value: bare if safe, else quoted
    MW_SANITIZE_LOG_QUOTED,   //  a logfmt value, always quoted (reason="...")
    MW_SANITIZE_TERM,         //  terminal text: escapes, no quotes
} mw_sanitize_mode_t;

//  Write the safe form of `in` (at most in_max bytes; a NUL ends it earlier;
//  NULL reads as "") into out[cap].  Returns out.  cap >= 8 (>= 1 for TERM).
char *mw_sanitize (char *out, size_t cap, const char *in, size_t in_max, mw_sanitize_mode_t mode);

//  For log calls: the safe form in one of 8 per-thread buffers of 512 bytes
//  (so up to 8 of them in one mw_log call), e.g.
//      mw_info ("member_join", "name=%s addr=%s", mw_logv (m->name), mw_logv (m->addr));
//  mw_logv: bare if safe, else quoted; mw_logq: always quoted (for
//  fields written as reason="..." before, which log readers expect quoted).
const char *mw_logv (const char *in);
const char *mw_logq (const char *in);
//  For terminal output (the CLI's tables): same buffers, no quotes.
const char *mw_termv (const char *in);

//  Length of the valid UTF-8 sequence at p (n bytes left), 0 if p does not
//  start one (stray byte, overlong, surrogate, cut short).  For encoders
//  that must not emit invalid UTF-8 (JSON).
size_t mw_utf8_len (const char *p, size_t n);

int mw_sanitize_test (bool verbose);

#endif
