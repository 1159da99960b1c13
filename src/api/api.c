/* api.c - see api.h. Routing and auth policy are in api_route.c, the JSON
 * documents in api_json.c, the event stream in api_events.c; this file
 * reads the daemon's state and answers. */
#include "api/api.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api_events.h"
#include "api/api_json.h"
#include "api/api_route.h"
#include "dhcp/dhcp_io.h"
#include "dhcp/dhcp_server.h"
#include "log.h"
#include "net.h"
#include "util.h"

#define MOD "api"
#define JSON_TYPE "application/json"
/* A comment line to every stream this often: a client that went away is
 * found out (a suspended connection sees nothing until it writes). */
#define HEARTBEAT_USEC (15 * 1000000ull)

struct api {
	struct loop *loop;
	struct api_sources src;
	struct api_events *events;
	struct loop_timer heartbeat;
	uint64_t seq;
};

static void api_clock_now(struct api_clock *c)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	c->wall_usec = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
	c->mono_usec = now_usec();
}

static const struct config *cfg_of(const struct api *a)
{
	return *a->src.config;
}

/* --- answers --- */

static int answer_json(struct http_api_answer *ans, unsigned status, json_t *doc)
{
	if (!doc)
		return -ENOMEM;
	ans->body = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	if (!ans->body)
		return -ENOMEM;
	ans->len = strlen(ans->body);
	ans->status = status;
	ans->content_type = JSON_TYPE;
	return 0;
}

static int answer_error(struct http_api_answer *ans, unsigned status, const char *msg,
			const char *field)
{
	ans->body = api_json_error(msg, field, &ans->len);
	if (!ans->body)
		return -ENOMEM;
	ans->status = status;
	ans->content_type = JSON_TYPE;
	return 0;
}

/* --- machines: every MAC kidou knows, merged --- */

enum part_kind { PART_HOST, PART_LEASE, PART_TIMELINE };

/* One thing known about a MAC; sorted by MAC, then merged in one pass. */
struct part {
	uint8_t mac[6];
	uint8_t kind;
	const struct host_config *host;
	uint32_t ip;
	const char *state;
	int64_t expires;
};

struct parts {
	struct part *v;
	size_t n, cap;
	bool oom;
	const uint8_t *only;  /* one MAC only (GET /machines/{mac}), or NULL */
};

static struct part *parts_add(struct parts *p, const uint8_t mac[6], enum part_kind kind)
{
	if (p->only && memcmp(p->only, mac, 6) != 0)
		return NULL;
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 256;
		struct part *v = realloc(p->v, cap * sizeof(*v));
		if (!v) {
			p->oom = true;
			return NULL;
		}
		p->v = v;
		p->cap = cap;
	}
	p->v[p->n] = (struct part){ .kind = (uint8_t)kind };
	memcpy(p->v[p->n].mac, mac, 6);
	return &p->v[p->n++];
}

static void add_lease(void *ctx, const struct dhcp_lease_info *l)
{
	struct part *pt;

	if (!l->has_mac)
		return;  /* a client id that is no MAC: only in /leases */
	pt = parts_add(ctx, l->mac, PART_LEASE);
	if (pt) {
		pt->ip = l->ip;
		pt->state = l->state;
		pt->expires = l->expires;
	}
}

static void add_timeline(void *ctx, const struct boot_timeline_info *t)
{
	parts_add(ctx, t->mac, PART_TIMELINE);
}

static int cmp_part(const void *x, const void *y)
{
	const struct part *a = x, *b = y;
	int c = memcmp(a->mac, b->mac, 6);

	return c ? c : (int)a->kind - (int)b->kind;
}

static int collect_parts(struct api *a, struct parts *p)
{
	const struct config *c = cfg_of(a);

	for (size_t i = 0; i < c->n_by_mac; i++) {
		struct part *pt = parts_add(p, c->hosts_by_mac[i]->mac, PART_HOST);
		if (pt)
			pt->host = c->hosts_by_mac[i];
	}
	if (*a->src.dhcp)
		dhcp_io_foreach_lease(*a->src.dhcp, add_lease, p);
	boot_events_foreach(a->src.events, add_timeline, p);
	if (p->oom)
		return -ENOMEM;
	if (p->n)
		qsort(p->v, p->n, sizeof(*p->v), cmp_part);
	return 0;
}

/* A JSON array written one element at a time: each machine is built,
 * dumped by jansson and freed, so 10,000 machines never make one tree
 * of 100,000 objects (time and peak memory both scale with one). */
struct json_out {
	char *buf;
	size_t len, cap;
	size_t n;
};

static int out_reserve(struct json_out *o, size_t more)
{
	char *b;
	size_t cap = o->cap ? o->cap : 4096;

	if (o->len + more <= o->cap)
		return 0;
	while (cap < o->len + more)
		cap *= 2;
	b = realloc(o->buf, cap);
	if (!b)
		return -ENOMEM;
	o->buf = b;
	o->cap = cap;
	return 0;
}

/* Append el (taken over) as the next element: the separator, then what
 * jansson dumps. */
static int out_element(struct json_out *o, json_t *el)
{
	size_t n;

	if (!el || out_reserve(o, 1024) < 0)
		goto fail;
	o->buf[o->len] = o->n ? ',' : '[';
	/* Dump into the room there is; only an element larger than that is
	 * dumped twice (json_dumpb returns the size it needs). */
	n = json_dumpb(el, o->buf + o->len + 1, o->cap - o->len - 1, JSON_COMPACT);
	if (n == 0)
		goto fail;
	if (n > o->cap - o->len - 1) {
		if (out_reserve(o, n + 1) < 0)
			goto fail;
		json_dumpb(el, o->buf + o->len + 1, n, JSON_COMPACT);
	}
	o->len += n + 1;
	o->n++;
	json_decref(el);
	return 0;
fail:
	json_decref(el);
	return -ENOMEM;
}

static int out_end(struct json_out *o)
{
	if (out_reserve(o, 3) < 0)
		return -ENOMEM;
	if (o->n == 0)
		o->buf[o->len++] = '[';
	o->buf[o->len++] = ']';
	o->buf[o->len] = '\0';
	return 0;
}

/* The machines of the sorted parts, one per MAC, each handed to emit. */
static int render_machines(struct api *a, const struct parts *p,
			   int (*emit)(void *ctx, json_t *m), void *ctx)
{
	const struct config *c = cfg_of(a);
	struct boot_timeline_info *tl = malloc(sizeof(*tl));
	struct api_clock clk;

	if (!tl)
		return -ENOMEM;
	api_clock_now(&clk);
	for (size_t i = 0; i < p->n;) {
		struct api_machine m = { .default_profile = c->default_profile };

		memcpy(m.mac, p->v[i].mac, 6);
		for (; i < p->n && memcmp(p->v[i].mac, m.mac, 6) == 0; i++) {
			const struct part *pt = &p->v[i];
			if (pt->kind == PART_HOST) {
				m.host = pt->host;
			} else if (pt->kind == PART_LEASE && !m.lease_ip) {
				m.lease_ip = pt->ip;
				m.lease_state = pt->state;
				m.lease_expires = pt->expires;
			} else if (pt->kind == PART_TIMELINE &&
				   boot_events_find(a->src.events, m.mac, tl) == 0) {
				m.timeline = tl;
			}
		}
		if (emit(ctx, api_json_machine(&m, &clk)) < 0) {
			free(tl);
			return -ENOMEM;
		}
	}
	free(tl);
	return 0;
}

static int keep_one(void *ctx, json_t *m)
{
	json_t **one = ctx;

	json_decref(*one);
	*one = m;
	return m ? 0 : -ENOMEM;
}

static int get_machine(struct api *a, const struct api_route *r, struct http_api_answer *ans)
{
	struct parts p = { .only = r->mac };
	json_t *one = NULL;
	int ret = collect_parts(a, &p);

	if (ret == 0)
		ret = render_machines(a, &p, keep_one, &one);
	free(p.v);
	if (ret < 0) {
		json_decref(one);
		return ret;
	}
	if (!one)
		return answer_error(ans, MHD_HTTP_NOT_FOUND, "no such machine", "mac");
	return answer_json(ans, MHD_HTTP_OK, one);
}

static int append_machine(void *ctx, json_t *m)
{
	return out_element(ctx, m);
}

/* Every machine: one pass over the sorted parts. The time it takes on
 * the loop is logged at debug (10,000 hosts: see README). */
static int get_machines(struct api *a, struct http_api_answer *ans)
{
	uint64_t start = now_usec();
	struct parts p = { 0 };
	struct json_out o = { 0 };
	int ret = collect_parts(a, &p);

	if (ret == 0)
		ret = render_machines(a, &p, append_machine, &o);
	if (ret == 0)
		ret = out_end(&o);
	if (ret < 0) {
		free(p.v);
		free(o.buf);
		return ret;
	}
	log_debug(MOD, "machines", "machines=%zu parts=%zu bytes=%zu build_us=%llu", o.n, p.n,
		  o.len, (unsigned long long)(now_usec() - start));
	free(p.v);
	ans->body = o.buf;
	ans->len = o.len;
	ans->status = MHD_HTTP_OK;
	ans->content_type = JSON_TYPE;
	return 0;
}

/* --- leases, hosts, profiles --- */

struct lease_ctx {
	const struct config *cfg;
	json_t *arr;
};

static void lease_json(void *ctx, const struct dhcp_lease_info *l)
{
	struct lease_ctx *lc = ctx;
	const struct host_config *h = l->has_mac ? config_host_by_mac(lc->cfg, l->mac) : NULL;
	char id[2 * LEASE_CLIENT_ID_MAX + 1], mac[MAC_STRLEN], ip[INET_ADDRSTRLEN];
	struct in_addr in = { htonl(l->ip) };

	for (unsigned i = 0; i < l->id->len; i++)
		snprintf(id + 2 * i, 3, "%02x", l->id->bytes[i]);
	id[2 * l->id->len] = '\0';
	inet_ntop(AF_INET, &in, ip, sizeof(ip));
	json_array_append_new(lc->arr, json_pack("{s:s, s:o, s:s, s:s, s:o, s:o, s:s}",
		"ip", ip, "mac", l->has_mac ? json_string(format_mac(l->mac, mac)) : json_null(),
		"client_id", id, "state", l->state,
		"expires", api_json_time(l->expires * 1000000),
		"hostname", h && h->hostname ? json_string(h->hostname) : json_null(),
		"subnet", l->subnet));
}

static int get_leases(struct api *a, struct http_api_answer *ans)
{
	struct lease_ctx lc = { .cfg = cfg_of(a), .arr = json_array() };

	if (lc.arr && *a->src.dhcp)
		dhcp_io_foreach_lease(*a->src.dhcp, lease_json, &lc);
	return answer_json(ans, MHD_HTTP_OK, lc.arr);
}

static int get_hosts(struct api *a, struct http_api_answer *ans)
{
	json_t *arr = json_array();

	for (const struct host_config *h = cfg_of(a)->hosts; arr && h; h = h->next)
		json_array_append_new(arr, api_json_host(h));
	return answer_json(ans, MHD_HTTP_OK, arr);
}

static int get_profiles(struct api *a, struct http_api_answer *ans)
{
	json_t *arr = json_array();

	for (const struct profile_config *p = cfg_of(a)->profiles; arr && p; p = p->next)
		json_array_append_new(arr, api_json_profile(p));
	return answer_json(ans, MHD_HTTP_OK, arr);
}

/* --- events --- */

static void on_boot_event(void *ctx, const struct boot_event *ev, const uint8_t *mac)
{
	struct api *a = ctx;
	struct api_clock clk;
	json_t *o;
	char *s;
	size_t len;

	a->seq++;
	if (api_events_count(a->events) == 0)
		return;  /* nobody listens: no JSON built on the fast path */
	api_clock_now(&clk);
	o = api_json_event(ev, mac, a->seq, &clk);
	s = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (!s)
		return;
	len = strlen(s);
	/* "id:" lets a client see what it missed; JSON has no raw newline. */
	char *msg = malloc(len + 48);
	if (msg) {
		int n = snprintf(msg, len + 48, "id: %llu\ndata: %s\n\n", (unsigned long long)a->seq, s);
		api_events_publish(a->events, msg, (size_t)n);
		free(msg);
	}
	free(s);
}

static void on_heartbeat(struct loop_timer *t)
{
	struct api *a = t->data;
	static const char ping[] = ": ping\n\n";

	api_events_publish(a->events, ping, sizeof(ping) - 1);
	loop_timer_arm(a->loop, t, HEARTBEAT_USEC);
}

static int get_events(struct api *a, const struct http_api_request *rq, bool head,
		      struct http_api_answer *ans)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(rq->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	char peer[NET_ENDPOINT_STRLEN] = "-";
	int r;

	if (head) {
		ans->body = strdup("");
		ans->status = MHD_HTTP_OK;
		ans->content_type = "text/event-stream";
		return ans->body ? 0 : -ENOMEM;
	}
	if (ci && ci->client_addr && ci->client_addr->sa_family == AF_INET)
		net_format_endpoint((const struct sockaddr_in *)ci->client_addr, peer);
	r = api_events_open(a->events, rq->conn, peer, rq->wake, rq->wake_data, &ans->stream);
	if (r == -EBUSY) {
		log_warn(MOD, "events-refused", "peer=%s reason=max-event-streams limit=%u", peer,
			 cfg_of(a)->api.max_event_streams);
		return answer_error(ans, MHD_HTTP_SERVICE_UNAVAILABLE,
				    "too many event streams ([api] max-event-streams)", NULL);
	}
	if (r < 0)
		return r;
	ans->status = MHD_HTTP_OK;
	ans->content_type = "text/event-stream";
	return 0;
}

/* --- the handler --- */

int api_handle(void *data, const struct http_api_request *rq, struct http_api_answer *ans)
{
	struct api *a = data;
	const struct config *c = cfg_of(a);
	enum api_method m = api_method_parse(rq->method);
	struct api_route r;
	int e = api_route_parse(rq->path, &r);

	if (e == -ENAMETOOLONG)
		return answer_error(ans, MHD_HTTP_URI_TOO_LONG, "path too long", NULL);
	if (e < 0)
		return answer_error(ans, MHD_HTTP_NOT_FOUND, "no such API path", NULL);
	if (!api_route_allows(&r, m)) {
		ans->allow = r.allow;
		return answer_error(ans, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed", NULL);
	}
	if (api_method_is_write(m)) {
		if (!c->api.token)
			return answer_error(ans, MHD_HTTP_FORBIDDEN,
					    "no token-file configured, writes are disabled", NULL);
		if (!api_token_check(c->api.token, rq->authorization)) {
			ans->www_authenticate = "Bearer realm=\"kidou\"";
			return answer_error(ans, MHD_HTTP_UNAUTHORIZED,
					    "missing or wrong bearer token", NULL);
		}
	} else {
		if (rq->has_body)
			return answer_error(ans, MHD_HTTP_BAD_REQUEST, "a read takes no body", NULL);
		if (c->api.read_token && !api_token_check(c->api.token, rq->authorization)) {
			ans->www_authenticate = "Bearer realm=\"kidou\"";
			return answer_error(ans, MHD_HTTP_UNAUTHORIZED,
					    "missing or wrong bearer token ([api] read-token = yes)", NULL);
		}
	}
	if ((r.endpoint == API_MACHINE || r.endpoint == API_MACHINE_NEXT_BOOT ||
	     r.endpoint == API_MACHINE_DONE) && !r.mac_ok)
		return answer_error(ans, MHD_HTTP_BAD_REQUEST, "malformed MAC address", "mac");
	switch (r.endpoint) {
	case API_MACHINES:
		return get_machines(a, ans);
	case API_MACHINE:
		return get_machine(a, &r, ans);
	case API_LEASES:
		return get_leases(a, ans);
	case API_HOSTS:
		return get_hosts(a, ans);
	case API_PROFILES:
		return get_profiles(a, ans);
	case API_EVENTS:
		return get_events(a, rq, m == API_HEAD, ans);
	default:
		return answer_error(ans, MHD_HTTP_NOT_IMPLEMENTED, "not implemented yet", NULL);
	}
}

int api_new(struct loop *loop, const struct api_sources *src, struct api **ret)
{
	struct api *a = calloc(1, sizeof(*a));
	int r;

	if (!a)
		return -ENOMEM;
	a->loop = loop;
	a->src = *src;
	r = api_events_new(cfg_of(a)->api.max_event_streams, &a->events);
	if (r < 0) {
		free(a);
		return r;
	}
	boot_events_set_listener(src->events, on_boot_event, a);
	loop_timer_init(&a->heartbeat, on_heartbeat, a);
	loop_timer_arm(loop, &a->heartbeat, HEARTBEAT_USEC);
	*ret = a;
	return 0;
}

void api_reconfigure(struct api *a)
{
	if (a)
		api_events_set_max(a->events, cfg_of(a)->api.max_event_streams);
}

void api_close_streams(struct api *a)
{
	if (a)
		api_events_close_all(a->events);
}

unsigned api_event_streams(const struct api *a)
{
	return a ? api_events_count(a->events) : 0;
}

void api_free(struct api *a)
{
	if (!a)
		return;
	boot_events_set_listener(a->src.events, NULL, NULL);
	loop_timer_disarm(a->loop, &a->heartbeat);
	api_events_free(a->events);
	free(a);
}
