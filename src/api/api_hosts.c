/* api_hosts.c - see api_hosts.h. */
#include "api/api_hosts.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A body key's value: a string, or for the repeatable option a list of
 * them (the file gives option once per line). Returns the reason or NULL. */
static const char *set_key(const struct config *c, struct host_config *h, const char *key,
			   json_t *v, char *why, size_t whysize)
{
	bool list = strcmp(key, "option") == 0 && json_is_array(v);
	size_t n = list ? json_array_size(v) : 1;
	int r;

	if (list && n == 0)
		return "an empty list";
	for (size_t i = 0; i < n; i++) {
		json_t *item = list ? json_array_get(v, i) : v;
		if (!json_is_string(item))
			return list ? "a list of strings" : "must be a string, as in the config file";
		r = config_host_set(c, h, key, json_string_value(item), why, whysize);
		if (r == -ENOMEM)
			return "out of memory";
		if (r < 0)
			return why;
	}
	return NULL;
}

int api_host_parse(const char *body, size_t len, const struct config *c, const char *name,
		   bool check, struct host_config **ret, char **canonical, char *field,
		   size_t fieldsize, char *msg, size_t msgsize)
{
	json_error_t jerr;
	json_t *doc, *v;
	struct host_config *h = NULL;
	const char *key, *why = NULL, *f;
	char reason[200];

	field[0] = '\0';
	if (!config_host_name_valid(name)) {
		snprintf(field, fieldsize, "name");
		snprintf(msg, msgsize, "name: 1 to 63 letters, digits, '-' and '.', as in [host NAME]");
		return -EINVAL;
	}
	doc = body ? json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr) : NULL;
	if (!doc || !json_is_object(doc)) {
		if (doc || !body)
			snprintf(msg, msgsize, "the body must be a JSON object");
		else
			snprintf(msg, msgsize, "the body must be a JSON object (%s)", jerr.text);
		json_decref(doc);
		return -EINVAL;
	}
	h = config_host_new(name);
	if (!h) {
		json_decref(doc);
		return -ENOMEM;
	}
	h->from_api = true;
	json_object_foreach(doc, key, v) {
		why = set_key(c, h, key, v, reason, sizeof(reason));
		if (why) {
			/* jansson has checked the key is UTF-8 without NUL. */
			snprintf(field, fieldsize, "%s", key);
			break;
		}
	}
	if (!why && check && config_host_check(c, h, &f, reason, sizeof(reason)) < 0) {
		snprintf(field, fieldsize, "%s", f);
		why = reason;
	}
	/* The file's fixed addresses are taken out of the pools when the
	 * config is built; an address of a range may be leased to another
	 * machine by the time the API names it, so the API's stay outside. */
	if (!why && check && h->ip && config_ip_in_range(c, h->ip)) {
		snprintf(field, fieldsize, "ip");
		why = "inside a dynamic range ([dhcp] or [subnet] range); an API host's fixed "
		      "address must lie outside them";
	}
	if (why) {
		snprintf(msg, msgsize, "%s%s%s", field, field[0] ? ": " : "", why);
		goto fail;
	}
	if (canonical) {
		*canonical = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
		if (!*canonical) {
			json_decref(doc);
			config_host_free(h);
			return -ENOMEM;
		}
	}
	json_decref(doc);
	*ret = h;
	return 0;
fail:
	json_decref(doc);
	config_host_free(h);
	return -EINVAL;
}

static const char *same_what(const struct host_config *a, const struct host_config *b)
{
	if (a->has_mac && b->has_mac && memcmp(a->mac, b->mac, 6) == 0)
		return "mac";
	if (a->has_uuid && b->has_uuid && memcmp(a->uuid, b->uuid, 16) == 0)
		return "uuid";
	return "ip";
}

unsigned api_host_conflict(const struct config *c, const struct host_table *t,
			   const struct host_config *h, const char **field, char *msg,
			   size_t msgsize)
{
	const struct host_config *o = NULL;

	if ((o = config_file_host_by_name(c, h->name))) {
		*field = "name";
		snprintf(msg, msgsize, "[host %s] is in the config file, read-only through the API",
			 h->name);
		return 409;
	}
	if ((h->has_mac && (o = config_file_host_by_mac(c, h->mac))) ||
	    (h->has_uuid && (o = config_file_host_by_uuid(c, h->uuid))) ||
	    (h->ip && (o = config_file_host_by_ip(c, h->ip)))) {
		*field = same_what(h, o);
		snprintf(msg, msgsize, "%s: the config file's [host %s] has it (the config file wins)",
			 *field, o->name);
		return 409;
	}
	/* Another API host (not the one this write replaces). */
	o = h->has_mac ? host_table_by_mac(t, h->mac) : NULL;
	if (!o || strcmp(o->name, h->name) == 0)
		o = h->has_uuid ? host_table_by_uuid(t, h->uuid) : NULL;
	if (!o || strcmp(o->name, h->name) == 0)
		o = h->ip ? host_table_by_ip(t, h->ip) : NULL;
	if (o && strcmp(o->name, h->name) != 0) {
		*field = same_what(h, o);
		snprintf(msg, msgsize, "%s: host %s (written through the API) has it", *field,
			 o->name);
		return 400;
	}
	return 0;
}
