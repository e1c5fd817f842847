/*
 * NAME
 *	smtpd_proxy - smtpd behind a proxy: the PROXY protocol header
 * SUMMARY
 *	#include "smtpd_proxy.h"
 * DESCRIPTION
 *	With smtpd_upstream_proxy_protocol = haproxy, smtpd listens behind
 *	postscreen or a load balancer (HAProxy, a cloud TCP balancer)
 *	that sends a PROXY protocol header (v1 or v2, pm_proxy.h) first.
 *	smtpd_proxy_start() installs a pre-session stage on the
 *	connection (smtpd_conn.h) and arms the session timer for
 *	smtpd_upstream_proxy_timeout; the stage reads the header before
 *	anything else (before the greeting, before the implicit TLS
 *	handshake of smtpd_tls_wrappermode), replaces the socket's peer
 *	address with the real client's, and starts the session
 *	(smtpd_session_start): "connect from", the connect check, every
 *	restriction, mynetworks, the Received: header, client= and the
 *	AUTH rate counters all see the real client. A LOCAL command (the
 *	proxy's own health check; v1 UNKNOWN) keeps the socket address.
 *
 *	A malformed header, EOF before it, or the timeout: "warning:
 *	haproxy read: <why>", then "connect from unknown[unknown]" and
 *	"lost connection after CONNECT from unknown[unknown]" as
 *	Postfix logs, and the connection is closed without a reply.
 *
 *	smtpd_proxy_timer() and smtpd_proxy_closed() are the session's
 *	timer and closed callbacks while phase is PH_PROXY.
 * LIMITS
 *	PM_PROXY_MAX_LEN header bytes; smtpd_upstream_proxy_timeout
 *	(default 5s, Postfix) for the whole header.
 * SECURITY
 *	Whoever can connect can claim any address: only turn it on for a
 *	port that only the proxy can reach.
 */
#ifndef SMTPD_PROXY_H
#define SMTPD_PROXY_H

#include "smtpd_session.h"

#define VAR_SMTPD_UPROXY_PROTO "smtpd_upstream_proxy_protocol"
#define DEF_SMTPD_UPROXY_PROTO "" /* "" (off) | haproxy */
#define VAR_SMTPD_UPROXY_TMOUT "smtpd_upstream_proxy_timeout"
#define DEF_SMTPD_UPROXY_TMOUT "5s"

extern char *var_smtpd_uproxy_proto;
extern long var_smtpd_uproxy_tmout;

/* clang-format off */
#define SMTPD_PROXY_CFG_STRS \
	{ VAR_SMTPD_UPROXY_PROTO, DEF_SMTPD_UPROXY_PROTO, \
	    &var_smtpd_uproxy_proto, 0, 16 }
#define SMTPD_PROXY_CFG_TIMES \
	{ VAR_SMTPD_UPROXY_TMOUT, DEF_SMTPD_UPROXY_TMOUT, \
	    &var_smtpd_uproxy_tmout, 's', 1, 3600 }
/* clang-format on */

/* At start: pm_fatal() on a value other than "" or "haproxy". */
void smtpd_proxy_init(void);
/* 1 if connections begin with a PROXY header. */
int smtpd_proxy_enabled(void);
void smtpd_proxy_start(smtpd_session *s);
void smtpd_proxy_timer(smtpd_session *s);
void smtpd_proxy_closed(smtpd_session *s);

#endif
