/*
 * url.h - normalising event URLs, so that "one score per URL per leader"
 * recognises the same post written differently.
 *
 * A pure function of its input: no allocation, no locale, no I/O. The rules,
 * in the order they apply:
 *
 * - Leading and trailing ASCII whitespace (space, tab, CR, LF, VT, FF) is
 *   trimmed. The input, whitespace included, may be at most URL_MAX (2048)
 *   bytes.
 * - The scheme must be http or https, in any case, followed by "://". Both
 *   are written as https, so a post shared as http:// and https:// counts
 *   once.
 * - Userinfo (user:password@) is dropped.
 * - The host is lowercased (ASCII letters only); one trailing dot is removed,
 *   then leading "www." labels ("www.www.example.com" becomes "example.com",
 *   but a host that is just "www" stays). A host is letters, digits, '-',
 *   '.', '_', '~' and bytes above 0x7F (UTF-8 names are kept as written, not
 *   converted to punycode), with no empty label, at most 253 bytes once the
 *   trailing dot is gone. An IPv6 literal in brackets ("[2001:DB8::1]") is
 *   kept as written, lowercased, without compressing zeros; it may hold only
 *   hex digits, ':' and '.'.
 * - The port: the default ports 80 and 443 (whatever the scheme) and an empty
 *   port ("example.com:") are removed; other ports are kept, written without
 *   leading zeros. A port must be decimal and at most 65535.
 * - The fragment (#...) is dropped.
 * - The path: an empty path becomes "/"; trailing slashes are removed, except
 *   for the root "/"; percent-encodings of unreserved characters (letters,
 *   digits, '-', '.', '_', '~') are decoded ("%7E" becomes '~'), the others
 *   have their hex digits uppercased ("%2f" becomes "%2F"). Dot segments
 *   ("/a/../b") are NOT resolved, and case is preserved: "/Post" and "/post"
 *   are different URLs.
 * - The query: parameters whose name starts with "utm_", and the tracking
 *   parameters fbclid, gclid, dclid, msclkid, mc_cid, mc_eid, igshid, si, trk,
 *   trackingId, ref_src, ref_url, _hsenc, _hsmi, mkt_tok, yclid, twclid,
 *   li_fat_id and rcm are removed (names compared ignoring ASCII case, as
 *   written, without percent-decoding). Empty parameters ("a=1&&b=2") are
 *   removed. The others keep their order and their exact text. When nothing
 *   is left, the '?' goes too.
 * - Bytes above 0x7F are kept as they are everywhere (no IRI-to-URI
 *   percent-encoding), and so are characters such as '|' or '"' that a strict
 *   URI would percent-encode.
 *
 * Refused: anything but http(s)://; control characters (below 0x20, and
 * 0x7F) or spaces inside the URL; a missing or invalid host; a host longer
 * than 253 bytes; a bad port; an input longer than URL_MAX bytes; a '%'
 * anywhere not followed by two hex digits.
 *
 * Normalising is idempotent: normalising a result gives it back unchanged.
 * The one exception is length: "http://" becoming "https://" and an empty
 * path becoming "/" can make a result up to 2 bytes longer than its input, so
 * a result longer than URL_MAX is itself refused as an input.
 */
#ifndef PODIUM_URL_H
#define PODIUM_URL_H

#include <stdbool.h>
#include <stddef.h>

#define URL_MAX     2048          /* longest input accepted, whitespace included */
#define URL_OUT_MAX (URL_MAX + 3) /* an output buffer this big always fits a result */

/* Normalises url into out (NUL-terminated, at most outlen bytes incl. NUL).
 * Returns the length written, or -1 when url is not an absolute http(s) URL
 * or the result does not fit; out is then "" (when outlen > 0). */
int url_normalize(const char *url, char *out, size_t outlen) __attribute__((warn_unused_result));
/* SHA-256 of the normalised URL as 64 lowercase hex chars + NUL (out[65]);
 * returns false when url_normalize fails, and out is then "". */
bool url_key(const char *url, char out[65]) __attribute__((warn_unused_result));

#endif
