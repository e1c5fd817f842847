/*
 * NAME
 *	pm_server_priv - internals shared by pm_server.c and
 *	pm_server_reload.c
 * DESCRIPTION
 *	pm__server_reload_init() takes the snapshot of every parameter's
 *	effective value after the start-up bind; pm__server_reload() is
 *	SIGHUP (see pm_server.h). pm__server_tls_init() configures internal
 *	TLS at start (fatal on a bad file); pm__server_tls_reload() reads
 *	the internal_tls_* parameters and files again on SIGHUP and returns
 *	0, or -1 after logging why the certificates in use were kept.
 *	pm__server_tls_describe() logs whether a listen URL is
 *	authenticated. Not for use outside pm_server*.c.
 */
#ifndef PM_SERVER_PRIV_H
#define PM_SERVER_PRIV_H

#include "pm_server.h"

void pm__server_reload_init(void);
void pm__server_reload(const pm_service *svc, const char *cfpath);
void pm__server_tls_init(void);
int pm__server_tls_reload(void);
void pm__server_tls_describe(const char *param, const char *url);

#endif
