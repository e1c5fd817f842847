/*
 * NAME
 *	postscreen_smtp - the dialogue of a client refused with "enforce"
 * DESCRIPTION
 *	As Postfix's postscreen built-in SMTP engine: completes the
 *	greeting ("220 " after the "220-" of the pregreet test), accepts
 *	HELO, EHLO, MAIL, RSET and NOOP, refuses every RCPT with the
 *	reply of the failed test (e.g. "550 5.7.1 Service unavailable;
 *	client [addr] blocked using zone") and logs it as Postfix:
 *	"NOQUEUE: reject: RCPT from [addr]:port: 550 ...; from=<s>,
 *	to=<r>, proto=ESMTP, helo=<h>"; DATA and BDAT get "554 5.5.1
 *	Error: no valid recipients", QUIT "221 2.0.0 Bye" and the close.
 *	Nothing is ever accepted or relayed.
 * LIMITS
 *	line_length_limit bytes per command line (longer: 421 and close);
 *	postscreen_command_count_limit commands; postscreen_command_time_limit
 *	for each one, from the end of the previous line to the end of this
 *	one (a client trickling bytes does not restart it; 421 and close).
 * SECURITY
 *	Client text goes to the log through pm_printable_dup() only.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>

#include "pm_common_params.h"
#include "pm_log.h"
#include "pm_util.h"
#include "postscreen.h"

#define PSC_ARG_LOG_MAX 256

static void
psc_smtp_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	psc_conn *c = arg;

	(void) fd;
	(void) what;
	pm_msg_info("COMMAND TIME LIMIT from [%s]:%u", c->addr, c->port);
	psc_write_close(c, "421 4.4.2 %s Error: timeout exceeded\r\n",
	    var_myhostname);
}

/* "MAIL FROM:<a@b> SIZE=1" -> "a@b" (bounded, printable). */
static char *
psc_smtp_addr(const char *arg)
{
	const char *lt = strchr(arg, '<');
	const char *gt;

	if (lt == NULL || (gt = strchr(lt, '>')) == NULL) {
		return (pm_printable_dup(arg, strlen(arg), PSC_ARG_LOG_MAX));
	}
	return (pm_printable_dup(lt + 1, (size_t) (gt - lt - 1),
	    PSC_ARG_LOG_MAX));
}

static int
psc_smtp_cmd(psc_conn *c, char *line)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	char *arg = line;

	while (*arg != 0 && *arg != ' ') {
		arg++;
	}
	if (*arg == ' ') {
		*arg++ = 0;
	}
	if (strcasecmp(line, "HELO") == 0 || strcasecmp(line, "EHLO") == 0) {
		free(c->helo);
		c->helo = pm_printable_dup(arg, strlen(arg), PSC_ARG_LOG_MAX);
		c->esmtp = strcasecmp(line, "EHLO") == 0;
		evbuffer_add_printf(out, "250 %s\r\n", var_myhostname);
	} else if (strcasecmp(line, "MAIL") == 0) {
		free(c->sender);
		c->sender = psc_smtp_addr(arg);
		evbuffer_add_printf(out, "250 2.1.0 Ok\r\n");
	} else if (strcasecmp(line, "RCPT") == 0) {
		char *rcpt = psc_smtp_addr(arg);

		pm_msg_info("NOQUEUE: reject: RCPT from [%s]:%u: 550 %s; "
		            "from=<%s>, to=<%s>, proto=%s, helo=<%s>",
		    c->addr, c->port, c->reply,
		    c->sender != NULL ? c->sender : "", rcpt,
		    c->esmtp ? "ESMTP" : "SMTP",
		    c->helo != NULL ? c->helo : "");
		free(rcpt);
		evbuffer_add_printf(out, "550 %s\r\n", c->reply);
	} else if (strcasecmp(line, "DATA") == 0 ||
	    strcasecmp(line, "BDAT") == 0) {
		evbuffer_add_printf(out,
		    "554 5.5.1 Error: no valid recipients\r\n");
	} else if (strcasecmp(line, "RSET") == 0 ||
	    strcasecmp(line, "NOOP") == 0) {
		evbuffer_add_printf(out, "250 2.0.0 Ok\r\n");
	} else if (strcasecmp(line, "QUIT") == 0) {
		psc_write_close(c, "221 2.0.0 Bye\r\n");
		psc_log_disconnect(c);
		return (-1);
	} else {
		evbuffer_add_printf(out,
		    "502 5.5.2 Error: command not recognized\r\n");
	}
	return (0);
}

static void
psc_smtp_read_cb(struct bufferevent *bev, void *arg)
{
	psc_conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t len;
	char *line;
	int too_long = 0;
	int lines = 0;

	while ((line = evbuffer_readln(in, &len, EVBUFFER_EOL_CRLF)) != NULL) {
		lines++;
		if (len > (size_t) var_line_limit) {
			free(line);
			too_long = 1;
			break;
		}
		if (++c->ncmds > var_psc_cmd_count) {
			free(line);
			pm_msg_info("COMMAND COUNT LIMIT from [%s]:%u", c->addr,
			    c->port);
			psc_write_close(c,
			    "421 4.7.0 %s Error: too many "
			    "commands\r\n",
			    var_myhostname);
			return;
		}
		if (memchr(line, 0, len) != NULL) {
			evbuffer_add_printf(bufferevent_get_output(bev),
			    "500 5.5.2 Error: bad syntax\r\n");
			free(line);
			continue;
		}
		if (psc_smtp_cmd(c, line) != 0) {
			free(line);
			return;
		}
		free(line);
	}
	if (too_long || evbuffer_get_length(in) > (size_t) var_line_limit) {
		pm_msg_info("COMMAND LENGTH LIMIT from [%s]:%u", c->addr,
		    c->port);
		psc_write_close(c, "421 4.7.0 %s Error: line too long\r\n",
		    var_myhostname);
		return;
	}
	/* The clock of the next command starts after a whole line only. */
	if (lines > 0) {
		psc_timer_set(c, var_psc_cmd_time, 0, psc_smtp_timeout_cb);
	}
}

void
psc_smtp_start(psc_conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);

	c->state = PSC_ST_SMTP;
	/* Bytes sent before the greeting are not commands. */
	evbuffer_drain(in, evbuffer_get_length(in));
	evbuffer_add_printf(bufferevent_get_output(c->bev), "220 %s\r\n",
	    var_psc_greet_banner);
	c->banner_sent = 1;
	bufferevent_setwatermark(c->bev, EV_READ, 0,
	    (size_t) var_line_limit + 2);
	bufferevent_setcb(c->bev, psc_smtp_read_cb, NULL, psc_conn_event_cb, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	psc_timer_set(c, var_psc_cmd_time, 0, psc_smtp_timeout_cb);
}
