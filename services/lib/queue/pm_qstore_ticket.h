/*
 * NAME
 *	pm_qstore_ticket - TLS session ticket keys shared through Redis
 * SUMMARY
 *	#include "pm_qstore_ticket.h"
 * DESCRIPTION
 *	The "tlsmgr" role of Postfix for replicas: every smtpd process
 *	encrypts and decrypts TLS session tickets with the same keys, so a
 *	client resumes on whichever replica it reaches. The keys live in
 *	one Redis hash, PM_TICKET_KEY, with fields "cur" (the key that
 *	encrypts new tickets), "prev" (the one before, still accepted for
 *	decryption), "at" (when "cur" was made, Redis server time, s).
 *
 *	pm_qstore_ticket_keys() runs one Lua script (EVAL, atomic): if
 *	there is no current key, or it is lifetime seconds old (or from
 *	the future), the caller's candidate becomes "cur" and the old one
 *	"prev"; the hash expires after two lifetimes unless rotated again.
 *	Whichever process sees the key expired rotates it, and every other
 *	one reads the result: all agree, without a leader. The time is
 *	Redis's (TIME), so clock skew between replicas does not matter.
 * LIMITS
 *	Keys are PM_TICKET_KEY_LEN octets, hex encoded in Redis; a value
 *	of any other shape is refused (PM_EPROTO), never used.
 * SECURITY
 *	Whoever can read Redis can decrypt session tickets (and so the
 *	resumption secrets of sessions): Redis is trusted as configured
 *	(docs/architecture.md). Keys are never logged.
 */
#ifndef PM_QSTORE_TICKET_H
#define PM_QSTORE_TICKET_H

#include <stdint.h>

#include "pm_qstore.h"

#define PM_TICKET_KEY "pm:tls:ticket"
/* 16 octets key name, 32 HMAC-SHA256 key, 32 AES-256 key. */
#define PM_TICKET_NAME_LEN 16
#define PM_TICKET_KEY_LEN 80

typedef struct pm_ticket_keys {
	unsigned char cur[PM_TICKET_KEY_LEN];
	unsigned char prev[PM_TICKET_KEY_LEN];
	int have_prev;
	int64_t at;  /* when cur was made (Redis time, s) */
	int64_t now; /* Redis time of this answer (s) */
} pm_ticket_keys;

/*
 * Read (and rotate when due, with candidate) the shared keys. 0 with
 * *out filled; PM_EREDIS (Redis away: out untouched), PM_EPROTO (a
 * value of the wrong shape).
 */
int pm_qstore_ticket_keys(pm_qstore *qs, long lifetime,
    const unsigned char candidate[PM_TICKET_KEY_LEN], pm_ticket_keys *out);

/* Hex (2 * PM_TICKET_KEY_LEN digits) to octets: 0 or PM_EINVAL. */
int pm_ticket_key_parse(const char *hex, size_t len,
    unsigned char out[PM_TICKET_KEY_LEN]);

#endif
