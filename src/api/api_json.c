/* api_json.c - see api_json.h. */
#include "api/api_json.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util.h"

json_t *api_json_text(const char *s)
{
	char buf[512];
	size_t i;

	if (!s)
		return json_null();
	for (i = 0; s[i] && i < sizeof(buf) - 1; i++) {
		unsigned char c = (unsigned char)s[i];
		buf[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	buf[i] = '\0';
	return json_string(buf);
}

json_t *api_json_time(int64_t wall_usec)
{
	time_t sec = (time_t)(wall_usec / 1000000);
	struct tm tm;
	char buf[64];

	if (!gmtime_r(&sec, &tm))
		return json_null();
	snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		 (int)((wall_usec % 1000000) / 1000));
	return json_string(buf);
}

static json_t *json_ip(uint32_t ip)
{
	char buf[INET_ADDRSTRLEN];
	struct in_addr a = { htonl(ip) };

	if (!ip)
		return json_null();
	inet_ntop(AF_INET, &a, buf, sizeof(buf));
	return json_string(buf);
}

static json_t *json_mac(const uint8_t mac[6])
{
	char buf[MAC_STRLEN];

	return json_string(format_mac(mac, buf));
}

/* A monotonic time as wall-clock time, through the clocks' offset now. */
static json_t *json_mono(uint64_t mono, const struct api_clock *clk)
{
	return api_json_time(clk->wall_usec - (int64_t)(clk->mono_usec - mono));
}

static json_t *json_str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

json_t *api_json_timeline(const struct boot_timeline_info *t, const struct api_clock *clk)
{
	json_t *steps, *o;

	if (!t)
		return json_null();
	steps = json_array();
	for (unsigned i = 0; i < t->n_steps; i++) {
		const struct boot_step_info *s = &t->steps[i];
		json_t *st = json_pack("{s:o, s:s, s:I, s:I}", "name", api_json_text(s->name),
				       "state", s->state,
				       "start_ms", (json_int_t)((s->start_usec - t->first_usec) / 1000),
				       "end_ms", (json_int_t)((s->end_usec - t->first_usec) / 1000));
		if (st && s->reason)
			json_object_set_new(st, "reason", api_json_text(s->reason));
		json_array_append_new(steps, st);
	}
	o = json_pack("{s:b, s:o, s:o, s:o, s:o, s:I, s:o, s:I}",
		      "open", t->open,
		      "outcome", t->open ? json_string("in-progress") : json_str_or_null(t->outcome),
		      "reason", t->reason ? api_json_text(t->reason) : json_null(),
		      "started_at", json_mono(t->first_usec, clk),
		      "last_at", json_mono(t->last_usec, clk),
		      "duration_ms", (json_int_t)((t->last_usec - t->first_usec) / 1000),
		      "steps", steps,
		      "dropped_steps", (json_int_t)t->dropped_steps);
	return o;
}

json_t *api_json_next_boot(const struct next_boot_record *r)
{
	if (r && r->mode == NEXT_BOOT_LOCAL)
		return json_pack("{s:s}", "mode", "local");
	if (r && r->mode == NEXT_BOOT_PROFILE)
		return json_pack("{s:s, s:o, s:b}", "mode", "profile", "profile",
				 api_json_text(r->profile), "once", r->once != 0);
	return json_pack("{s:s}", "mode", "default");
}

json_t *api_json_machine(const struct api_machine *m, const struct api_clock *clk)
{
	const struct next_boot_record *nb = m->next_boot;
	const struct host_config *h = m->host;
	const struct profile_config *p = h && h->profile ? h->profile : m->default_profile;
	uint32_t ip = m->lease_ip ? m->lease_ip : h && h->ip ? h->ip :
		      m->timeline ? m->timeline->ip : 0;
	json_t *lease = json_null();

	if (m->lease_ip)
		lease = json_pack("{s:o, s:s, s:o}", "ip", json_ip(m->lease_ip),
				  "state", m->lease_state ? m->lease_state : "bound",
				  "expires", api_json_time(m->lease_expires * 1000000));
	return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:b, s:o, s:o}",
			 "mac", json_mac(m->mac),
			 "ip", json_ip(ip),
			 "hostname", json_str_or_null(h ? h->hostname : NULL),
			 "host", json_str_or_null(h ? h->name : NULL),
			 "profile", json_str_or_null(p ? p->name : NULL),
			 "next_boot", api_json_next_boot(nb),
			 "install_pending", nb && nb->mode == NEXT_BOOT_PROFILE && nb->once && nb->token[0],
			 "lease", lease,
			 "timeline", api_json_timeline(m->timeline, clk));
}

json_t *api_json_host(const struct host_config *h)
{
	char uuid[40];
	json_t *boot = json_object(), *o;

	for (int i = 0; i < BOOT_TARGET_COUNT; i++)
		if (h->boot.target[i])
			json_object_set_new(boot, boot_target_key((enum boot_target)i),
					    json_string(h->boot.target[i]));
	if (h->has_uuid) {
		const uint8_t *u = h->uuid;
		snprintf(uuid, sizeof(uuid),
			 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
			 u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11],
			 u[12], u[13], u[14], u[15]);
	}
	o = json_pack("{s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:s}",
		      "name", h->name,
		      "mac", h->has_mac ? json_mac(h->mac) : json_null(),
		      "uuid", h->has_uuid ? json_string(uuid) : json_null(),
		      "ip", json_ip(h->ip),
		      "hostname", json_str_or_null(h->hostname),
		      "profile", json_str_or_null(h->profile_name),
		      "boot", boot,
		      "source", h->from_api ? "api" : "config");
	/* An API host the config file overrides is kept, not used: why. */
	if (o)
		json_object_set_new(o, "active", json_boolean(!h->inactive));
	if (o && h->inactive)
		json_object_set_new(o, "inactive_reason", json_string(h->inactive));
	return o;
}

json_t *api_json_profile(const struct profile_config *p)
{
	json_t *initrds = json_array();

	for (unsigned i = 0; i < p->n_initrd; i++)
		json_array_append_new(initrds, json_string(p->initrd[i]));
	return json_pack("{s:s, s:s, s:o, s:s}", "name", p->name, "kernel", p->kernel,
			 "initrds", initrds, "cmdline", p->cmdline ? p->cmdline : "");
}

static const char *const event_kinds[] = {
	[BOOT_EV_DHCP] = "dhcp", [BOOT_EV_ROUTER_SOLICIT] = "router-solicit",
	[BOOT_EV_FILE_START] = "file-start", [BOOT_EV_FILE_END] = "file-end",
	[BOOT_EV_FILE_MISS] = "file-miss", [BOOT_EV_FILE_PROBE] = "file-probe",
};

json_t *api_json_event(const struct boot_event *ev, const uint8_t *mac, uint64_t seq,
		       const struct api_clock *clk)
{
	json_t *o = json_pack("{s:I, s:s, s:o, s:o, s:o}", "seq", (json_int_t)seq,
			      "kind", (unsigned)ev->kind < ARRAY_SIZE(event_kinds) ?
				      event_kinds[ev->kind] : "unknown",
			      "time", json_mono(ev->at_usec, clk),
			      "mac", mac ? json_mac(mac) : json_null(),
			      "ip", json_ip(ev->ip));

	if (!o)
		return NULL;
	if (ev->kind == BOOT_EV_DHCP) {
		json_object_set_new(o, "dhcp", api_json_text(ev->dhcp_event));
		json_object_set_new(o, "firmware", json_boolean(ev->dhcp_firmware));
	} else if (ev->kind == BOOT_EV_ROUTER_SOLICIT) {
		json_object_set_new(o, "ok", json_boolean(ev->ok));
	} else {
		json_object_set_new(o, "proto", api_json_text(ev->proto));
		json_object_set_new(o, "file", api_json_text(ev->name));
		if (ev->kind == BOOT_EV_FILE_END || ev->kind == BOOT_EV_FILE_PROBE)
			json_object_set_new(o, "bytes", json_integer((json_int_t)ev->bytes));
		if (ev->kind == BOOT_EV_FILE_END) {
			json_object_set_new(o, "ok", json_boolean(ev->ok));
			json_object_set_new(o, "reason", api_json_text(ev->reason));
		}
	}
	return o;
}

char *api_json_error(const char *msg, const char *field, size_t *len)
{
	json_t *o = json_pack("{s:s}", "error", msg);
	char *s;

	if (!o)
		return NULL;
	if (field)
		json_object_set_new(o, "field", api_json_text(field));
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (s && len)
		*len = strlen(s);
	return s;
}

static const struct profile_config *profile_named(const struct config *c, const char *name)
{
	for (const struct profile_config *p = c->profiles; p; p = p->next)
		if (strcmp(p->name, name) == 0)
			return p;
	return NULL;
}

/* One key of the body into r; NULL, or why it is refused. */
static const char *next_boot_key(const char *key, json_t *v, const struct config *cfg,
				 struct next_boot_record *r, int *sel)
{
	if (strcmp(key, "profile") == 0) {
		if (!json_is_string(v) || !json_string_length(v) ||
		    json_string_length(v) >= sizeof(r->profile) ||
		    strlen(json_string_value(v)) != json_string_length(v))
			return "must be a profile name";
		if (!profile_named(cfg, json_string_value(v)))
			return "no such profile in the configuration";
		r->mode = NEXT_BOOT_PROFILE;
		snprintf(r->profile, sizeof(r->profile), "%s", json_string_value(v));
		(*sel)++;
	} else if (strcmp(key, "once") == 0) {
		if (!json_is_boolean(v))
			return "must be true or false";
		r->once = json_is_true(v);
	} else if (strcmp(key, "local") == 0 || strcmp(key, "default") == 0) {
		if (!json_is_true(v))
			return "must be true";
		r->mode = key[0] == 'l' ? NEXT_BOOT_LOCAL : NEXT_BOOT_DEFAULT;
		(*sel)++;
	} else {
		return "unknown key";
	}
	return NULL;
}

int api_json_next_boot_parse(const char *body, size_t len, const struct config *cfg,
			     struct next_boot_record *r, char *field, size_t fieldsize,
			     char *msg, size_t msgsize)
{
	json_error_t jerr;
	json_t *doc = body ? json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr) : NULL;
	const char *key, *why = NULL;
	json_t *v;
	int sel = 0;

	field[0] = '\0';
	if (!doc || !json_is_object(doc)) {
		json_decref(doc);
		snprintf(msg, msgsize, "the body must be a JSON object");
		return -EINVAL;
	}
	json_object_foreach(doc, key, v) {
		why = next_boot_key(key, v, cfg, r, &sel);
		if (why) {
			/* jansson has checked the key is UTF-8; a NUL in it
			 * (\u0000) only cuts it short here. */
			snprintf(field, fieldsize, "%s", key);
			break;
		}
	}
	json_decref(doc);
	if (!why && sel != 1)
		why = "give exactly one of profile, local, default";
	else if (!why && r->once && r->mode != NEXT_BOOT_PROFILE) {
		snprintf(field, fieldsize, "once");
		why = "once goes with a profile";
	}
	if (!why)
		return 0;
	snprintf(msg, msgsize, "%s%s%s", field, field[0] ? ": " : "", why);
	return -EINVAL;
}
