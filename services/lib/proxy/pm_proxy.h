/*
 * NAME
 *	pm_proxy - HAProxy PROXY protocol v1 and v2: parse and build
 * SUMMARY
 *	#include "pm_proxy.h"
 * DESCRIPTION
 *	A server behind a load balancer or behind postscreen sees the
 *	proxy's address as its peer; the proxy sends a PROXY header first
 *	that names the real client. Both versions of HAProxy's protocol
 *	(doc/proxy-protocol.txt) are read:
 *
 *	v1, one text line:  "PROXY TCP4 src dst sport dport\r\n",
 *	"PROXY TCP6 ...\r\n", or "PROXY UNKNOWN[ anything]\r\n";
 *	v2, binary: the 12-byte signature, version/command, family,
 *	a 16-bit length, then the addresses and TLVs (TLVs are skipped).
 *
 *	pm_proxy_parse() looks at the bytes received so far, from the
 *	first byte of the connection: PM_PROXY_MORE (need more bytes),
 *	PM_PROXY_DONE (res filled, res->len bytes are the header; bytes
 *	after them belong to the application protocol), or PM_PROXY_BAD
 *	(*why says what, for the log). It is pure and may be called again
 *	with a longer prefix of the same stream; it says BAD as soon as
 *	the prefix can no longer become a valid header (garbage is caught
 *	at its first byte, not at the timeout).
 *
 *	pm_proxy_feed() does the same for a caller that reads in chunks
 *	and does not keep them: it copies into the pm_proxy state at most
 *	what the header needs and tells, in *used, how many bytes of this
 *	chunk were header (the rest of the chunk is application data).
 *	pm_proxy_init() clears the state.
 *
 *	A LOCAL command (v2: health checks from the proxy itself), a v2
 *	UNSPEC family, and v1 UNKNOWN give res->local = 1: keep the socket
 *	addresses.
 *
 *	pm_proxy_v2_build() writes a v2 PROXY header (command PROXY, TCP
 *	over IPv4 or IPv6, no TLVs) for numeric addresses of one family
 *	and returns its length, or PM_EINVAL (not numeric addresses, mixed
 *	families, port over 65535) or PM_ETOOBIG (size too small).
 * LIMITS
 *	v1: at most PM_PROXY_V1_MAX (107) bytes with the CRLF, as the
 *	specification says. v2: at most PM_PROXY_MAX_LEN (536, Postfix's
 *	limit) bytes including the 16-byte fixed part; a longer announced
 *	length is refused at once.
 * SECURITY
 *	The bytes are the peer's: every length is checked before use,
 *	addresses must be numeric (inet_pton) and are returned in
 *	canonical text form (inet_ntop), ports are decimal 0..65535.
 *	Whether the peer may send a header at all is the caller's policy.
 */
#ifndef PM_PROXY_H
#define PM_PROXY_H

#include <stddef.h>

#define PM_PROXY_V1_MAX 107  /* v1 line, CRLF included (specification) */
#define PM_PROXY_V2_FIXED 16 /* v2 signature + ver/cmd + fam + length */
#define PM_PROXY_MAX_LEN 536 /* whole header, either version (Postfix) */
#define PM_PROXY_ADDR_LEN 46 /* INET6_ADDRSTRLEN */

/* pm_proxy_parse() and pm_proxy_feed() results. */
#define PM_PROXY_DONE 0
#define PM_PROXY_MORE 1
#define PM_PROXY_BAD (-1)

typedef struct pm_proxy_result {
	size_t len;  /* header bytes, from the first byte of the stream */
	int version; /* 1 or 2 */
	int local;   /* LOCAL / UNSPEC / UNKNOWN: keep the socket addresses */
	int family;  /* AF_INET or AF_INET6; 0 when local */
	char src_addr[PM_PROXY_ADDR_LEN]; /* "" when local */
	char dst_addr[PM_PROXY_ADDR_LEN];
	unsigned src_port; /* 0 when local */
	unsigned dst_port;
} pm_proxy_result;

/* Incremental state for pm_proxy_feed(). */
typedef struct pm_proxy {
	unsigned char buf[PM_PROXY_MAX_LEN];
	size_t len;
} pm_proxy;

int pm_proxy_parse(const void *data, size_t len, pm_proxy_result *res,
    const char **why);

void pm_proxy_init(pm_proxy *p);
int pm_proxy_feed(pm_proxy *p, const void *data, size_t len, size_t *used,
    pm_proxy_result *res, const char **why);

int pm_proxy_v2_build(void *buf, size_t size, const char *src_addr,
    unsigned src_port, const char *dst_addr, unsigned dst_port);

#endif
