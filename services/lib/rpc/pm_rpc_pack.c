/*
 * NAME
 *	pm_rpc_pack - the envelope of a request given in parts
 * SUMMARY
 *	#include "pm_rpc.h"
 * DESCRIPTION
 *	pm_rpc_call_asyncv() sends a request whose body is the
 *	concatenation of parts (cleanup_clnt: the packed envelope of a
 *	message, then its content as a bytes field). The Envelope
 *	(common.proto) is packed by protobuf-c without its body, and the
 *	body follows as field 3 written by hand; protobuf readers accept
 *	fields in any order, so the peer unpacks the same Envelope as if
 *	protobuf-c had packed it whole. Each part is copied once, straight
 *	into the nng message: a 10 MB message is in memory twice while it
 *	is handed over (the caller's buffer and the message), not three
 *	times. pm_rpc_call_async() is the one-part case.
 * LIMITS
 *	The body is at most SIZE_MAX / 2; the message at most the client's
 *	sendmax (PM_ETOOBIG).
 * SECURITY
 *	Builds outgoing messages only; parts are the caller's bytes.
 */
#include "pm_rpc.h"
#include "pm_rpc_priv.h"

#include "common.pb-c.h"

#include <string.h>

#define ENVELOPE_BODY_FIELD 3 /* Envelope.body in common.proto */

size_t
pm_rpc_field_head(uint32_t field, size_t len, uint8_t *out)
{
	uint64_t v = ((uint64_t) field << 3) | 2; /* wire type 2: bytes */
	size_t n = 0;
	int i;

	for (i = 0; i < 2; i++) {
		while (v >= 0x80) {
			out[n++] = (uint8_t) (v | 0x80);
			v >>= 7;
		}
		out[n++] = (uint8_t) v;
		v = (uint64_t) len;
	}
	return (n);
}

int
pm__rpc_pack_parts(uint32_t type, uint64_t id, const pm_rpc_part *parts,
    size_t nparts, size_t max, nng_msg **msgp)
{
	Pm__Envelope env = PM__ENVELOPE__INIT;
	uint8_t head[PM_RPC_FIELD_HEAD_MAX], *p;
	size_t body = 0, elen, hlen, len, i;
	nng_msg *msg;

	for (i = 0; i < nparts; i++) {
		if (parts[i].data == NULL && parts[i].len > 0) {
			return (PM_EINVAL);
		}
		if (parts[i].len > SIZE_MAX / 2 - body) {
			return (PM_ETOOBIG);
		}
		body += parts[i].len;
	}
	env.type = type;
	env.request_id = id;
	elen = pm__envelope__get_packed_size(&env);
	hlen = pm_rpc_field_head(ENVELOPE_BODY_FIELD, body, head);
	len = elen + hlen + body;
	if (max > 0 && len > max) {
		return (PM_ETOOBIG);
	}
	if (nng_msg_alloc(&msg, len) != 0) {
		return (PM_ENOMEM);
	}
	p = nng_msg_body(msg);
	p += pm__envelope__pack(&env, p);
	memcpy(p, head, hlen);
	p += hlen;
	for (i = 0; i < nparts; i++) {
		if (parts[i].len > 0) {
			memcpy(p, parts[i].data, parts[i].len);
			p += parts[i].len;
		}
	}
	*msgp = msg;
	return (0);
}

int
pm_rpc_call_async(pm_rpc_client *cl, uint32_t type, const void *req,
    size_t reqlen, int timeout_ms, pm_rpc_cb cb, void *arg)
{
	pm_rpc_part part;

	part.data = req;
	part.len = reqlen;
	return (pm_rpc_call_asyncv(cl, type, &part, 1, timeout_ms, cb, arg));
}
