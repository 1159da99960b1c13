/* api_sync.c - see api_sync.h. */
#include "api/api_sync.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/api_hosts.h"
#include "log.h"
#include "util.h"

#define MOD "api"

static bool nb_same(const struct next_boot_record *x, const struct next_boot_record *y)
{
	return x->mode == y->mode && x->once == y->once &&
	       strncmp(x->profile, y->profile, sizeof(x->profile)) == 0 &&
	       strncmp(x->token, y->token, sizeof(x->token)) == 0;
}

static const char *mode_name(uint8_t mode)
{
	return mode == NEXT_BOOT_LOCAL ? "local" : mode == NEXT_BOOT_PROFILE ? "profile" :
	       "default";
}

static void apply_next_boot(const struct api_sync_target *t, const struct lease_remote *r,
			    bool quiet, struct lease_remote_set *n)
{
	const struct next_boot_record *cur = next_boot_get(t->next_boot, r->nb.mac);
	char mac[MAC_STRLEN];
	int e;

	if (api_write_pending(t->api, r->nb.mac, NULL)) {
		n->skipped++;
		return;
	}
	format_mac(r->nb.mac, mac);
	if (!r->present) {
		if (!cur)
			return;
		next_boot_del(t->next_boot, r->nb.mac);
		n->removed++;
		if (!quiet)
			log_info(MOD, "next-boot-synced", "mac=%s mode=default source=database", mac);
		return;
	}
	if (cur && nb_same(cur, &r->nb))
		return;
	e = next_boot_put(t->next_boot, &r->nb);
	if (e < 0) {
		n->refused++;
		log_warn(MOD, "next-boot-sync-skipped", "mac=%s error=\"%s\"", mac, strerror(-e));
		return;
	}
	n->changed++;
	if (!quiet)
		log_info(MOD, "next-boot-synced", "mac=%s mode=%s profile=%s once=%s "
			 "source=database", mac, mode_name(r->nb.mode),
			 r->nb.profile[0] ? r->nb.profile : "-", r->nb.once ? "yes" : "no");
}

/* Another API host (by another name) that has one of h's keys. */
static const char *clash(const struct host_table *t, const struct host_config *h)
{
	const struct host_config *o;

	if (h->has_mac && (o = host_table_by_mac(t, h->mac)) && strcmp(o->name, h->name) != 0)
		return "mac";
	if (h->has_uuid && (o = host_table_by_uuid(t, h->uuid)) && strcmp(o->name, h->name) != 0)
		return "uuid";
	if (h->ip && (o = host_table_by_ip(t, h->ip)) && strcmp(o->name, h->name) != 0)
		return "ip";
	return NULL;
}

static void apply_host(const struct api_sync_target *t, const struct lease_remote *r,
		       bool quiet, struct lease_remote_set *n)
{
	struct host_config *cur = host_table_by_name(t->hosts, r->host_name), *h = NULL, *old = NULL;
	char field[API_HOST_FIELD_MAX + 1], msg[256], q[300], *canonical = NULL;
	const char *why;
	int e;

	if (api_write_pending(t->api, NULL, r->host_name)) {
		n->skipped++;
		return;
	}
	if (!r->present) {
		if (!cur)
			return;
		api_hosts_moved(t->api);
		config_host_free(host_table_take(t->hosts, r->host_name));
		n->removed++;
		if (!quiet)
			log_info(MOD, "host-synced", "host=%s action=delete source=database",
				 r->host_name);
		return;
	}
	if (cur && cur->api_body && strcmp(cur->api_body, r->host_json) == 0)
		return;
	/* As a restart loads it: parsed without the write-time checks,
	 * then refreshed against the config (the file's hosts win). */
	e = api_host_parse(r->host_json, strlen(r->host_json), t->config, r->host_name, false, &h,
			   &canonical, field, sizeof(field), msg, sizeof(msg));
	if (e == 0 && (why = clash(t->hosts, h))) {
		snprintf(msg, sizeof(msg), "%s: another API host here has it", why);
		e = -EEXIST;
	}
	if (e == 0) {
		h->api_body = canonical;
		canonical = NULL;
		e = host_table_put(t->hosts, h, &old);
	}
	if (e < 0) {
		free(canonical);
		config_host_free(h);
		n->refused++;
		log_warn(MOD, "host-sync-skipped", "host=%s error=%s", r->host_name,
			 log_quote(q, sizeof(q), e == -EINVAL || e == -EEXIST ? msg : strerror(-e),
				   sizeof(msg)));
		return;
	}
	h->api_gen = api_hosts_moved(t->api);
	config_refresh_api_host(t->config, h, true);
	config_host_free(old);
	n->changed++;
	if (!quiet)
		log_info(MOD, "host-synced", "host=%s action=put source=database", r->host_name);
}

static int cmp_mac(const void *x, const void *y)
{
	return memcmp(x, y, 6);
}

static int cmp_name(const void *x, const void *y)
{
	return strcmp(*(const char *const *)x, *(const char *const *)y);
}

/* A full set: what it does not list is gone. */
static int sweep(const struct api_sync_target *t, const struct lease_remote_set *set,
		 struct lease_remote_set *n)
{
	uint8_t(*macs)[6] = calloc(set->n ? set->n : 1, sizeof(*macs));
	const char **names = calloc(set->n ? set->n : 1, sizeof(*names));
	size_t nm = 0, nn = 0;

	if (!macs || !names) {
		free(macs);
		free(names);
		return -ENOMEM;
	}
	for (size_t i = 0; i < set->n; i++) {
		const struct lease_remote *r = &set->items[i];
		if (r->kind == LEASE_REMOTE_NEXT_BOOT && r->present)
			memcpy(macs[nm++], r->nb.mac, 6);
		else if (r->kind == LEASE_REMOTE_HOST && r->present)
			names[nn++] = r->host_name;
	}
	qsort(macs, nm, sizeof(*macs), cmp_mac);
	qsort(names, nn, sizeof(*names), cmp_name);
	for (size_t i = next_boot_count(t->next_boot); i-- > 0;) {
		uint8_t mac[6];
		memcpy(mac, next_boot_at(t->next_boot, i)->mac, 6);
		if (bsearch(mac, macs, nm, sizeof(*macs), cmp_mac))
			continue;
		if (api_write_pending(t->api, mac, NULL)) {
			n->skipped++;
			continue;
		}
		next_boot_del(t->next_boot, mac);
		n->removed++;
	}
	for (size_t i = host_table_count(t->hosts); i-- > 0;) {
		const char *name = host_table_at(t->hosts, i)->name;
		if (bsearch(&name, names, nn, sizeof(*names), cmp_name))
			continue;
		if (api_write_pending(t->api, NULL, name)) {
			n->skipped++;
			continue;
		}
		api_hosts_moved(t->api);
		config_host_free(host_table_take(t->hosts, name));
		n->removed++;
	}
	free(macs);
	free(names);
	return 0;
}

void api_sync_apply(const struct api_sync_target *t, struct lease_remote_set *set)
{
	uint64_t t0 = now_usec();
	size_t end = set->next + MIN((size_t)API_SYNC_SLICE, set->n - set->next);

	for (; set->next < end; set->next++) {
		const struct lease_remote *r = &set->items[set->next];
		if (r->kind == LEASE_REMOTE_NEXT_BOOT)
			apply_next_boot(t, r, set->full, set);
		else if (r->kind == LEASE_REMOTE_HOST)
			apply_host(t, r, set->full, set);
	}
	if (set->next < set->n) {
		set->apply_usec += now_usec() - t0;
		return;  /* the rest on a later turn */
	}
	if (set->full && sweep(t, set, set) < 0) {
		log_error(MOD, "sync-full", "error=\"out of memory\" note=\"records another "
			  "instance deleted stay here until the next full read\"");
		set->skipped++;  /* have the store read everything again */
	}
	set->apply_usec += now_usec() - t0;
	set->done = true;
	if (set->full)
		log_info(MOD, "sync-full", "records=%zu changed=%zu removed=%zu refused=%zu "
			 "deferred=%zu apply_ms=%.1f", set->n, set->changed, set->removed,
			 set->refused, set->skipped, (double)set->apply_usec / 1000.0);
}
