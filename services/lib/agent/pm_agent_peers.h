/*
 * NAME
 *	pm_agent_peers - the qmgr instances a delivery agent fetches from
 * SUMMARY
 *	#include "pm_agent_peers.h"
 * DESCRIPTION
 *	Internal to the agent (pm_agent.c, pm_agent_job.c). qmgr_service
 *	is a list of URLs whose host names may resolve to several
 *	addresses (one per qmgr instance); pm_rpc_disco follows them. Each
 *	address is a peer, kept in a slot of a fixed table: its own
 *	pm_rpc client (one dialer, to that address only) and its own
 *	fetcher thread, started with fetch((void *) (intptr_t) slot).
 *
 *	When an address goes away the peer is marked gone and the fetchers
 *	are woken (wake()): its fetcher ends after its outstanding fetch.
 *	Jobs it gave keep it (pm__agent_peer_hold at job creation,
 *	pm__agent_peer_release when the job is freed, after its done
 *	report): their reports still go to the qmgr that gave them. Its
 *	client is closed when the fetcher has ended and no job holds it;
 *	the slot is reused once its thread is joined.
 *
 *	pm__agent_peers_stop() (agent stopping, after ag.stopping is set)
 *	stops following, marks every peer gone and joins every fetcher;
 *	pm__agent_peers_free() closes the clients still open, after which
 *	pm__agent_peer_client() returns NULL.
 * LIMITS
 *	AGENT_QMGR_MAX peers at once (more addresses are ignored, with a
 *	warning); service_resolve_interval (pm_rpc_disco.h).
 * SECURITY
 *	Addresses come from the configuration and DNS: see pm_rpc_disco.h.
 */
#ifndef PM_AGENT_PEERS_H
#define PM_AGENT_PEERS_H

#include "pm_rpc.h"

#define AGENT_QMGR_MAX 64

/* Start following urls; pm_msg_fatal on a bad list. */
void pm__agent_peers_start(const char *param, const char *urls, size_t recvmax,
    void *(*fetch)(void *), void (*wake)(void));
void pm__agent_peers_stop(void);
void pm__agent_peers_free(void);

/* Peers held now (gone ones not counted). */
int pm__agent_peer_count(void);
/* The slot's client (NULL once freed) and address URL ("" if none). */
pm_rpc_client *pm__agent_peer_client(int slot);
const char *pm__agent_peer_url(int slot);
/* 1 when the slot's fetcher should end (address gone, or stopping). */
int pm__agent_peer_gone(int slot);
/* A job from the slot exists / no longer exists. */
void pm__agent_peer_hold(int slot);
void pm__agent_peer_release(int slot);
/* The slot's fetcher ends (called last by the fetcher thread). */
void pm__agent_peer_exited(int slot);

#endif
