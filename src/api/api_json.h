/* api_json.h - the API's JSON documents, built from plain inputs with
 * jansson: pure (the caller passes both clocks), so unit tests build a
 * machine from given parts and read the result back. */
#ifndef KIDOU_API_JSON_H
#define KIDOU_API_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "boot/boot_events.h"
#include "store/lease_store.h"
#include "config.h"

/* The clocks a document is rendered at: timelines keep monotonic times,
 * people and tools read wall-clock ones. */
struct api_clock {
	uint64_t mono_usec;
	int64_t wall_usec;  /* Unix time */
};

/* A machine as the merge of what kidou knows of one MAC; any part may be
 * missing (NULL / 0). */
struct api_machine {
	uint8_t mac[6];
	const struct host_config *host;           /* its [host] */
	const struct profile_config *default_profile;
	uint32_t lease_ip;                        /* host order, 0: no lease */
	const char *lease_state;
	int64_t lease_expires;                    /* wall-clock seconds */
	const struct boot_timeline_info *timeline;
	const struct next_boot_record *next_boot; /* NULL: mode default */
};

/* {"mode": "default"|"profile"|"local", "profile": NAME, "once": bool}
 * (profile and once only in profile mode). The done token is never in
 * it: reads may be open. */
json_t *api_json_next_boot(const struct next_boot_record *r);

json_t *api_json_machine(const struct api_machine *m, const struct api_clock *clk);
json_t *api_json_timeline(const struct boot_timeline_info *t, const struct api_clock *clk);
json_t *api_json_host(const struct host_config *h);
json_t *api_json_profile(const struct profile_config *p);
/* One boot event for the event stream; mac may be NULL. */
json_t *api_json_event(const struct boot_event *ev, const uint8_t *mac, uint64_t seq,
		       const struct api_clock *clk);
/* The body of PUT /machines/{mac}/next-boot (body may be NULL: none) into
 * r (mode, once, profile; the caller sets mac and makes the token).
 * Exactly one of "profile" (a [profile] of cfg), "local": true,
 * "default": true; "once" (boolean) only with "profile"; no other key.
 * 0, or -EINVAL with the offending key in field ("" when no one key is
 * to blame) and the reason in msg. Pure: the fuzz target's entry. */
/* A key longer than this is named cut short in the error. */
#define API_JSON_KEY_MAX 63
int api_json_next_boot_parse(const char *body, size_t len, const struct config *cfg,
			     struct next_boot_record *r, char *field, size_t fieldsize,
			     char *msg, size_t msgsize);

/* {"error": msg, "field": field} (field omitted when NULL), dumped. */
char *api_json_error(const char *msg, const char *field, size_t *len);

/* A string for JSON from client-chosen bytes: jansson refuses invalid
 * UTF-8, so anything but printable ASCII becomes '?'. */
json_t *api_json_text(const char *s);
/* "2026-12-07T03:22:51.123Z" */
json_t *api_json_time(int64_t wall_usec);

#endif
