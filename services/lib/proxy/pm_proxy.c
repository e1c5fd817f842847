/*
 * NAME
 *	pm_proxy - HAProxy PROXY protocol v1 and v2: parse and build
 * DESCRIPTION
 *	See pm_proxy.h. The parser is a pure function of the bytes seen so
 *	far; pm_proxy_feed() only keeps those bytes in a fixed buffer.
 * LIMITS
 *	PM_PROXY_V1_MAX, PM_PROXY_MAX_LEN (pm_proxy.h).
 * SECURITY
 *	Input is the peer's; nothing is read past len, nothing is trusted
 *	before its length is checked.
 */
#include "pm_proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "pm_util.h"

static const unsigned char v2_sig[12] = { 0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
	0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a };
static const char v1_sig[] = "PROXY ";

#define V2_CMD_LOCAL 0x0
#define V2_CMD_PROXY 0x1
#define V2_FAM_UNSPEC 0x00
#define V2_FAM_TCP4 0x11
#define V2_FAM_TCP6 0x21
#define V2_ADDR_TCP4 12 /* 4 + 4 + 2 + 2 */
#define V2_ADDR_TCP6 36 /* 16 + 16 + 2 + 2 */

static void
result_init(pm_proxy_result *r, int version, size_t len)
{
	memset(r, 0, sizeof(*r));
	r->version = version;
	r->len = len;
}

/* A numeric address of family af, copied in canonical form. */
static int
v1_addr(const char *s, size_t n, int af, char *out)
{
	char tmp[PM_PROXY_ADDR_LEN];
	unsigned char bin[16];

	if (n == 0 || n >= sizeof(tmp)) {
		return (-1);
	}
	memcpy(tmp, s, n);
	tmp[n] = 0;
	if (inet_pton(af, tmp, bin) != 1 ||
	    inet_ntop(af, bin, out, PM_PROXY_ADDR_LEN) == NULL) {
		return (-1);
	}
	return (0);
}

static int
v1_port(const char *s, size_t n, unsigned *out)
{
	unsigned v = 0;

	if (n == 0 || n > 5) {
		return (-1);
	}
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9') {
			return (-1);
		}
		v = v * 10 + (unsigned) (s[i] - '0');
	}
	if (v > 65535) {
		return (-1);
	}
	*out = v;
	return (0);
}

/* "TCP4 a b p q" (line without "PROXY " and CRLF). */
static int
v1_fields(const char *line, size_t n, pm_proxy_result *r, const char **why)
{
	const char *tok[5];
	size_t tlen[5];
	size_t nt = 0, start = 0;
	int af = AF_UNSPEC;

	for (size_t i = 0; i <= n; i++) {
		if (i < n && line[i] != ' ') {
			continue;
		}
		if (nt == 5) {
			*why = "v1 header has too many fields";
			return (PM_PROXY_BAD);
		}
		tok[nt] = line + start;
		tlen[nt] = i - start;
		if (tlen[nt] == 0) {
			*why = "v1 header has an empty field";
			return (PM_PROXY_BAD);
		}
		nt++;
		start = i + 1;
		/* UNKNOWN: whatever follows is ignored (specification). */
		if (nt == 1 && tlen[0] == 7 &&
		    memcmp(tok[0], "UNKNOWN", 7) == 0) {
			r->local = 1;
			return (PM_PROXY_DONE);
		}
	}
	if (tlen[0] == 4 && memcmp(tok[0], "TCP4", 4) == 0) {
		af = AF_INET;
	} else if (tlen[0] == 4 && memcmp(tok[0], "TCP6", 4) == 0) {
		af = AF_INET6;
	} else {
		*why = "v1 header has an unknown protocol";
		return (PM_PROXY_BAD);
	}
	if (nt != 5) {
		*why = "v1 header has too few fields";
		return (PM_PROXY_BAD);
	}
	if (v1_addr(tok[1], tlen[1], af, r->src_addr) < 0 ||
	    v1_addr(tok[2], tlen[2], af, r->dst_addr) < 0) {
		*why = "v1 header has a bad address";
		return (PM_PROXY_BAD);
	}
	if (v1_port(tok[3], tlen[3], &r->src_port) < 0 ||
	    v1_port(tok[4], tlen[4], &r->dst_port) < 0) {
		*why = "v1 header has a bad port";
		return (PM_PROXY_BAD);
	}
	r->family = af;
	return (PM_PROXY_DONE);
}

static int
parse_v1(const unsigned char *p, size_t len, pm_proxy_result *res,
    const char **why)
{
	size_t n = len < PM_PROXY_V1_MAX ? len : PM_PROXY_V1_MAX;
	size_t pre = len < sizeof(v1_sig) - 1 ? len : sizeof(v1_sig) - 1;
	pm_proxy_result r;
	size_t i;
	int rc;

	if (memcmp(p, v1_sig, pre) != 0) {
		*why = "not a PROXY protocol header";
		return (PM_PROXY_BAD);
	}
	/* Printable ASCII only, CR only right before LF. */
	for (i = 0; i < n; i++) {
		if (p[i] == '\n') {
			break;
		}
		if (p[i] == '\r') {
			if (i + 1 < len && p[i + 1] != '\n') {
				*why = "v1 header has a bare CR";
				return (PM_PROXY_BAD);
			}
			continue;
		}
		if (p[i] < 0x20 || p[i] > 0x7e) {
			*why = "v1 header has a non-printable byte";
			return (PM_PROXY_BAD);
		}
	}
	if (i == n) {
		if (n == PM_PROXY_V1_MAX) {
			*why = "v1 header too long";
			return (PM_PROXY_BAD);
		}
		return (PM_PROXY_MORE);
	}
	if (i == 0 || p[i - 1] != '\r') {
		*why = "v1 header not ended by CRLF";
		return (PM_PROXY_BAD);
	}
	if (i - 1 < sizeof(v1_sig) - 1) {
		*why = "v1 header too short";
		return (PM_PROXY_BAD);
	}
	result_init(&r, 1, i + 1);
	rc = v1_fields((const char *) p + sizeof(v1_sig) - 1,
	    i - 1 - (sizeof(v1_sig) - 1), &r, why);
	if (rc == PM_PROXY_DONE) {
		*res = r;
	}
	return (rc);
}

static unsigned
be16(const unsigned char *p)
{
	return ((unsigned) p[0] << 8 | p[1]);
}

static int
parse_v2(const unsigned char *p, size_t len, pm_proxy_result *res,
    const char **why)
{
	size_t pre = len < sizeof(v2_sig) ? len : sizeof(v2_sig);
	pm_proxy_result r;
	unsigned cmd = 0, fam = 0;
	size_t plen;

	if (memcmp(p, v2_sig, pre) != 0) {
		*why = "not a PROXY protocol header";
		return (PM_PROXY_BAD);
	}
	if (len > 12) {
		if ((p[12] >> 4) != 2) {
			*why = "v2 header has an unsupported version";
			return (PM_PROXY_BAD);
		}
		cmd = p[12] & 0x0f;
		if (cmd != V2_CMD_LOCAL && cmd != V2_CMD_PROXY) {
			*why = "v2 header has an unknown command";
			return (PM_PROXY_BAD);
		}
	}
	if (len > 13) {
		fam = p[13];
		if (cmd == V2_CMD_PROXY && fam != V2_FAM_UNSPEC &&
		    fam != V2_FAM_TCP4 && fam != V2_FAM_TCP6) {
			*why = "v2 header has an unsupported address family";
			return (PM_PROXY_BAD);
		}
	}
	if (len < PM_PROXY_V2_FIXED) {
		return (PM_PROXY_MORE);
	}
	plen = be16(p + 14);
	if (plen > PM_PROXY_MAX_LEN - PM_PROXY_V2_FIXED) {
		*why = "v2 header too long";
		return (PM_PROXY_BAD);
	}
	if (cmd == V2_CMD_PROXY &&
	    ((fam == V2_FAM_TCP4 && plen < V2_ADDR_TCP4) ||
	        (fam == V2_FAM_TCP6 && plen < V2_ADDR_TCP6))) {
		*why = "v2 header address block too short";
		return (PM_PROXY_BAD);
	}
	if (len < PM_PROXY_V2_FIXED + plen) {
		return (PM_PROXY_MORE);
	}
	result_init(&r, 2, PM_PROXY_V2_FIXED + plen);
	p += PM_PROXY_V2_FIXED;
	if (cmd == V2_CMD_LOCAL || fam == V2_FAM_UNSPEC) {
		r.local = 1;
	} else if (fam == V2_FAM_TCP4) {
		r.family = AF_INET;
		inet_ntop(AF_INET, p, r.src_addr, sizeof(r.src_addr));
		inet_ntop(AF_INET, p + 4, r.dst_addr, sizeof(r.dst_addr));
		r.src_port = be16(p + 8);
		r.dst_port = be16(p + 10);
	} else {
		r.family = AF_INET6;
		inet_ntop(AF_INET6, p, r.src_addr, sizeof(r.src_addr));
		inet_ntop(AF_INET6, p + 16, r.dst_addr, sizeof(r.dst_addr));
		r.src_port = be16(p + 32);
		r.dst_port = be16(p + 34);
	}
	/* TLVs (if any) follow the addresses within plen: skipped. */
	*res = r;
	return (PM_PROXY_DONE);
}

int
pm_proxy_parse(const void *data, size_t len, pm_proxy_result *res,
    const char **why)
{
	const unsigned char *p = data;
	const char *dummy;

	if (why == NULL) {
		why = &dummy;
	}
	if (len == 0) {
		return (PM_PROXY_MORE);
	}
	if (p[0] == v2_sig[0]) {
		return (parse_v2(p, len, res, why));
	}
	return (parse_v1(p, len, res, why));
}

void
pm_proxy_init(pm_proxy *p)
{
	p->len = 0;
}

int
pm_proxy_feed(pm_proxy *p, const void *data, size_t len, size_t *used,
    pm_proxy_result *res, const char **why)
{
	size_t room = sizeof(p->buf) - p->len;
	size_t take = len < room ? len : room;
	size_t old = p->len;
	pm_proxy_result r;
	int rc;

	memcpy(p->buf + p->len, data, take);
	p->len += take;
	rc = pm_proxy_parse(p->buf, p->len, &r, why);
	if (rc == PM_PROXY_DONE) {
		/* Bytes past the header stay the caller's. */
		p->len = r.len;
		*used = r.len - old;
		*res = r;
	} else if (rc == PM_PROXY_MORE) {
		/* The parser refuses anything longer than the buffer first. */
		PM_ASSERT(p->len < sizeof(p->buf));
		*used = take;
	}
	return (rc);
}

int
pm_proxy_v2_build(void *buf, size_t size, const char *src_addr,
    unsigned src_port, const char *dst_addr, unsigned dst_port)
{
	unsigned char *b = buf;
	unsigned char s[16], d[16];
	size_t alen, total;
	int fam;

	if (src_addr == NULL || dst_addr == NULL || src_port > 65535 ||
	    dst_port > 65535) {
		return (PM_EINVAL);
	}
	if (inet_pton(AF_INET, src_addr, s) == 1 &&
	    inet_pton(AF_INET, dst_addr, d) == 1) {
		alen = 4;
		fam = V2_FAM_TCP4;
	} else if (inet_pton(AF_INET6, src_addr, s) == 1 &&
	    inet_pton(AF_INET6, dst_addr, d) == 1) {
		alen = 16;
		fam = V2_FAM_TCP6;
	} else {
		return (PM_EINVAL);
	}
	total = PM_PROXY_V2_FIXED + 2 * alen + 4;
	if (buf == NULL || size < total) {
		return (PM_ETOOBIG);
	}
	memcpy(b, v2_sig, sizeof(v2_sig));
	b[12] = 0x20 | V2_CMD_PROXY;
	b[13] = (unsigned char) fam;
	b[14] = (unsigned char) ((total - PM_PROXY_V2_FIXED) >> 8);
	b[15] = (unsigned char) (total - PM_PROXY_V2_FIXED);
	memcpy(b + 16, s, alen);
	memcpy(b + 16 + alen, d, alen);
	b[16 + 2 * alen] = (unsigned char) (src_port >> 8);
	b[17 + 2 * alen] = (unsigned char) src_port;
	b[18 + 2 * alen] = (unsigned char) (dst_port >> 8);
	b[19 + 2 * alen] = (unsigned char) dst_port;
	return ((int) total);
}
