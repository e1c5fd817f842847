/*
 * NAME
 *	pm_server_priv - internals shared by pm_server.c and
 *	pm_server_reload.c
 * DESCRIPTION
 *	pm__server_reload_init() takes the snapshot of every parameter's
 *	effective value after the start-up bind; pm__server_reload() is
 *	SIGHUP (see pm_server.h). Not for use outside pm_server*.c.
 */
#ifndef PM_SERVER_PRIV_H
#define PM_SERVER_PRIV_H

#include "pm_server.h"

void pm__server_reload_init(void);
void pm__server_reload(const pm_service *svc, const char *cfpath);

#endif
