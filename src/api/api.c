/* api.c - see api.h. Routing and auth policy are in api_route.c, the JSON
 * documents in api_json.c, the event stream in api_events.c; this file
 * reads the daemon's state and answers. */
#include "api/api.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "api/api_chunked.h"
#include "api/api_events.h"
#include "api/api_hosts.h"
#include "api/api_json.h"
#include "api/api_route.h"
#include "dhcp/dhcp_io.h"
#include "dhcp/dhcp_server.h"
#include "host_table.h"
#include "log.h"
#include "net.h"
#include "store/lease_store.h"
#include "util.h"

#define MOD "api"
#define JSON_TYPE "application/json"
/* A comment line to every stream this often: a client that went away is
 * found out (a suspended connection sees nothing until it writes). */
#define HEARTBEAT_USEC (15 * 1000000ull)

/* A next-boot write waiting for its commit. Owned by the api (on its
 * list) from submit until both the store is done with it and the HTTP
 * server has taken its answer (or the api is freed). */
struct api_write {
	struct api *api;
	struct api_write *next;
	struct lease_batch batch;
	/* For the undo when the store fails: the record before, and ours. */
	bool had_old;
	struct next_boot_record old, new;
	const char *action;           /* "next-boot", "done" (for the log) */
	struct MHD_Connection *conn;
	void (*wake)(void *);
	void *wake_data;
	bool store_done, answered, taken;
	unsigned status;
	char *body;                   /* the answer, once answered */
	size_t len;
	/* A hosts write: the host it replaced or deleted (ours until done,
	 * to put back if the commit fails), the new one's generation, the
	 * stored JSON text and the answer on success. */
	bool is_host, deleting;
	char host_name[HOST_NAME_MAX_LEN + 1];
	struct host_config *host_old;
	uint64_t gen;
	char *json;
	json_t *ok_doc;
	unsigned ok_status;
};

struct api {
	struct loop *loop;
	struct api_sources src;
	struct api_events *events;
	struct loop_timer heartbeat;
	uint64_t seq;
	struct api_write *writes;     /* waiting for their commit or their answer */
	unsigned writes_in_store;     /* of LEASE_STORE_QUEUE_API */
	uint64_t host_gen;            /* the last hosts write's */
	struct api_chunked *reads;    /* big reads answered a slice per turn */
	uint64_t config_gen;          /* counts reloads and API host changes: a
				       * read's host pointers are stale when it moved */
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

enum part_kind { PART_HOST, PART_LEASE, PART_TIMELINE, PART_NEXT_BOOT };

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
	/* The API's hosts, as if in the file; one the file overrides is not
	 * this machine's host (GET /hosts shows it, inactive). */
	for (size_t i = 0; i < host_table_count(a->src.hosts); i++) {
		const struct host_config *h = host_table_at(a->src.hosts, i);
		struct part *pt;
		if (!h->has_mac || h->inactive)
			continue;
		pt = parts_add(p, h->mac, PART_HOST);
		if (pt)
			pt->host = h;
	}
	if (*a->src.dhcp)
		dhcp_io_foreach_lease(*a->src.dhcp, add_lease, p);
	boot_events_foreach(a->src.events, add_timeline, p);
	for (size_t i = 0; i < next_boot_count(a->src.next_boot); i++)
		parts_add(p, next_boot_at(a->src.next_boot, i)->mac, PART_NEXT_BOOT);
	if (p->oom)
		return -ENOMEM;
	if (p->n)
		qsort(p->v, p->n, sizeof(*p->v), cmp_part);
	return 0;
}

/* The machine of the sorted parts from *i on (its parts consumed).
 * rehost: the config was replaced since the parts were taken, so their
 * host pointers are gone; each host is looked up again by MAC. */
static json_t *next_machine(struct api *a, const struct parts *p, size_t *i, bool rehost,
			    struct boot_timeline_info *tl)
{
	const struct config *c = cfg_of(a);
	struct api_machine m = { .default_profile = c->default_profile };
	struct api_clock clk;

	memcpy(m.mac, p->v[*i].mac, 6);
	m.next_boot = next_boot_get(a->src.next_boot, m.mac);
	for (; *i < p->n && memcmp(p->v[*i].mac, m.mac, 6) == 0; (*i)++) {
		const struct part *pt = &p->v[*i];
		if (pt->kind == PART_HOST) {
			m.host = rehost ? config_host_by_mac(c, m.mac) : pt->host;
		} else if (pt->kind == PART_LEASE && !m.lease_ip) {
			m.lease_ip = pt->ip;
			m.lease_state = pt->state;
			m.lease_expires = pt->expires;
		} else if (pt->kind == PART_TIMELINE &&
			   boot_events_find(a->src.events, m.mac, tl) == 0) {
			m.timeline = tl;
		}
	}
	api_clock_now(&clk);
	return api_json_machine(&m, &clk);
}

static int get_machine(struct api *a, const struct api_route *r, struct http_api_answer *ans)
{
	struct parts p = { .only = r->mac };
	struct boot_timeline_info *tl = malloc(sizeof(*tl));
	json_t *one = NULL;
	size_t i = 0;
	int ret = tl ? collect_parts(a, &p) : -ENOMEM;

	if (ret == 0 && p.n > 0) {
		one = next_machine(a, &p, &i, false, tl);
		if (!one)
			ret = -ENOMEM;
	}
	free(p.v);
	free(tl);
	if (ret < 0)
		return ret;
	if (!one)
		return answer_error(ans, MHD_HTTP_NOT_FOUND, "no such machine", "mac");
	return answer_json(ans, MHD_HTTP_OK, one);
}

static void conn_peer(struct MHD_Connection *conn, char peer[NET_ENDPOINT_STRLEN])
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

	strcpy(peer, "-");
	if (ci && ci->client_addr && ci->client_addr->sa_family == AF_INET)
		net_format_endpoint((const struct sockaddr_in *)ci->client_addr, peer);
}

/* A big read's array, answered a slice per loop turn (api_chunked.h):
 * src is taken over. */
static int answer_array(struct api *a, const struct http_api_request *rq,
			const struct api_chunked_src *src, struct http_api_answer *ans)
{
	struct api_chunked_answer ca = { 0 };
	char peer[NET_ENDPOINT_STRLEN];
	int e;

	conn_peer(rq->conn, peer);
	e = api_chunked_answer(a->reads, src, rq->conn, rq->wake, rq->wake_data, peer, &ca);
	if (e == -EBUSY) {
		log_warn(MOD, "read-refused", "what=%s peer=%s reason=max-reads limit=%d", src->what,
			 peer, API_READS_MAX);
		return answer_error(ans, MHD_HTTP_SERVICE_UNAVAILABLE,
				    "too many large reads in progress, retry", NULL);
	}
	if (e < 0)
		return e;
	ans->body = ca.body;
	ans->len = ca.len;
	ans->stream = ca.resp;
	ans->status = MHD_HTTP_OK;
	ans->content_type = JSON_TYPE;
	return 0;
}

/* GET /machines: the parts are taken now (small copies: MAC, lease
 * address, state and expiry; a host pointer, good while the config
 * generation holds), the machines built from them slice by slice; their
 * timeline and next-boot are read as each slice is built. */
struct machines_read {
	struct api *a;
	struct parts p;
	size_t i;
	uint64_t config_gen;
	struct boot_timeline_info tl;
};

static int machines_next(void *ctx, json_t **el)
{
	struct machines_read *mr = ctx;

	if (mr->i >= mr->p.n)
		return 0;
	*el = next_machine(mr->a, &mr->p, &mr->i, mr->config_gen != mr->a->config_gen, &mr->tl);
	return *el ? 1 : -ENOMEM;
}

static void machines_free(void *ctx)
{
	struct machines_read *mr = ctx;

	free(mr->p.v);
	free(mr);
}

static int get_machines(struct api *a, const struct http_api_request *rq,
			struct http_api_answer *ans)
{
	struct machines_read *mr = calloc(1, sizeof(*mr));
	struct api_chunked_src src = { machines_next, machines_free, mr, "machines" };
	uint64_t start;
	int e;

	if (!mr)
		return -ENOMEM;
	mr->a = a;
	mr->config_gen = a->config_gen;
	start = now_usec();
	e = collect_parts(a, &mr->p);
	if (e < 0) {
		machines_free(mr);
		return e;
	}
	/* The one step done whole on the loop (10,000 machines: see docs/api.md, "Cost"). */
	log_debug(MOD, "machines-snapshot", "parts=%zu us=%llu", mr->p.n,
		  (unsigned long long)(now_usec() - start));
	return answer_array(a, rq, &src, ans);
}

/* --- leases, hosts, profiles --- */

/* A lease as the snapshot keeps it: its strings (client id in hex, the
 * subnet's name, which a reload frees) are in the read's arena. */
struct lease_snap {
	uint32_t ip;
	bool has_mac;
	uint8_t mac[6];
	const char *state;    /* a literal of dhcp_server.c */
	int64_t expires;
	size_t id_off, subnet_off;
};

struct leases_read {
	struct api *a;
	struct lease_snap *v;
	size_t n, cap, i;
	char *arena;
	size_t arena_len, arena_cap;
	bool oom;
};

static size_t arena_add(struct leases_read *lr, const char *s, size_t len)
{
	size_t off = lr->arena_len;

	if (lr->arena_len + len + 1 > lr->arena_cap) {
		size_t cap = lr->arena_cap ? lr->arena_cap : 4096;
		char *b;
		while (cap < lr->arena_len + len + 1)
			cap *= 2;
		b = realloc(lr->arena, cap);
		if (!b) {
			lr->oom = true;
			return 0;
		}
		lr->arena = b;
		lr->arena_cap = cap;
	}
	memcpy(lr->arena + off, s, len);
	lr->arena[off + len] = '\0';
	lr->arena_len += len + 1;
	return off;
}

static void lease_snap_add(void *ctx, const struct dhcp_lease_info *l)
{
	struct leases_read *lr = ctx;
	char id[2 * LEASE_CLIENT_ID_MAX + 1];
	struct lease_snap *ls;

	if (lr->oom)
		return;
	if (lr->n == lr->cap) {
		size_t cap = lr->cap ? lr->cap * 2 : 256;
		struct lease_snap *v = realloc(lr->v, cap * sizeof(*v));
		if (!v) {
			lr->oom = true;
			return;
		}
		lr->v = v;
		lr->cap = cap;
	}
	for (unsigned i = 0; i < l->id->len; i++)
		snprintf(id + 2 * i, 3, "%02x", l->id->bytes[i]);
	id[2 * l->id->len] = '\0';
	ls = &lr->v[lr->n++];
	*ls = (struct lease_snap){ .ip = l->ip, .has_mac = l->has_mac, .state = l->state,
				   .expires = l->expires };
	memcpy(ls->mac, l->mac, 6);
	ls->id_off = arena_add(lr, id, 2 * l->id->len);
	ls->subnet_off = arena_add(lr, l->subnet, strlen(l->subnet));
}

/* The hostname is the current config's (looked up as each slice is
 * built). */
static int leases_next(void *ctx, json_t **el)
{
	struct leases_read *lr = ctx;
	const struct lease_snap *l;
	const struct host_config *h;
	char mac[MAC_STRLEN], ip[INET_ADDRSTRLEN];
	struct in_addr in;

	if (lr->i >= lr->n)
		return 0;
	l = &lr->v[lr->i++];
	h = l->has_mac ? config_host_by_mac(cfg_of(lr->a), l->mac) : NULL;
	in.s_addr = htonl(l->ip);
	inet_ntop(AF_INET, &in, ip, sizeof(ip));
	*el = json_pack("{s:s, s:o, s:s, s:s, s:o, s:o, s:s}",
		"ip", ip, "mac", l->has_mac ? json_string(format_mac(l->mac, mac)) : json_null(),
		"client_id", lr->arena + l->id_off, "state", l->state,
		"expires", api_json_time(l->expires * 1000000),
		"hostname", h && h->hostname ? json_string(h->hostname) : json_null(),
		"subnet", lr->arena + l->subnet_off);
	return *el ? 1 : -ENOMEM;
}

static void leases_free(void *ctx)
{
	struct leases_read *lr = ctx;

	free(lr->v);
	free(lr->arena);
	free(lr);
}

static int get_leases(struct api *a, const struct http_api_request *rq,
		      struct http_api_answer *ans)
{
	struct leases_read *lr = calloc(1, sizeof(*lr));
	struct api_chunked_src src = { leases_next, leases_free, lr, "leases" };

	if (!lr)
		return -ENOMEM;
	lr->a = a;
	if (*a->src.dhcp)
		dhcp_io_foreach_lease(*a->src.dhcp, lease_snap_add, lr);
	if (lr->oom) {
		leases_free(lr);
		return -ENOMEM;
	}
	return answer_array(a, rq, &src, ans);
}

/* GET /hosts walks the config's list, then the API's hosts, as it is
 * sent: a reload frees the one, a hosts write changes the other, so a read
 * that either overtakes is cut short (-ESTALE, logged). */
struct hosts_read {
	struct api *a;
	const struct host_config *h;
	size_t api_i;                 /* next index in the API's host table */
	uint64_t config_gen;
};

static int hosts_next(void *ctx, json_t **el)
{
	struct hosts_read *hr = ctx;

	if (hr->config_gen != hr->a->config_gen)
		return -ESTALE;
	if (hr->h) {
		*el = api_json_host(hr->h);
		hr->h = hr->h->next;
	} else if (hr->api_i < host_table_count(hr->a->src.hosts)) {
		*el = api_json_host(host_table_at(hr->a->src.hosts, hr->api_i++));
	} else {
		return 0;
	}
	return *el ? 1 : -ENOMEM;
}

static void hosts_free(void *ctx)
{
	free(ctx);
}

static int get_hosts(struct api *a, const struct http_api_request *rq,
		     struct http_api_answer *ans)
{
	struct hosts_read *hr = calloc(1, sizeof(*hr));
	struct api_chunked_src src = { hosts_next, hosts_free, hr, "hosts" };

	if (!hr)
		return -ENOMEM;
	*hr = (struct hosts_read){ .a = a, .h = cfg_of(a)->hosts, .config_gen = a->config_gen };
	return answer_array(a, rq, &src, ans);
}

static int get_profiles(struct api *a, struct http_api_answer *ans)
{
	json_t *arr = json_array();

	for (const struct profile_config *p = cfg_of(a)->profiles; arr && p; p = p->next)
		json_array_append_new(arr, api_json_profile(p));
	return answer_json(ans, MHD_HTTP_OK, arr);
}

/* What an operator must see at a glance: whether leases can be
 * acknowledged. A database on the network (PostgreSQL) can be away; then
 * kidou withholds ACKs until it is back (docs/postgresql.md). */
static int get_status(struct api *a, struct http_api_answer *ans)
{
	struct lease_store *st = *a->src.dhcp ? dhcp_io_store(*a->src.dhcp) : NULL;
	struct lease_store_health h = { 0 };
	json_t *o;

	if (st && st->ops->health)
		st->ops->health(st, &h);
	o = json_pack("{s:o}", "lease_store", !st ? json_null() :
		      json_pack("{s:s,s:b,s:I,s:I}", "backend",
				lease_store_is_pg(cfg_of(a)->dhcp.database) ? "postgresql" : "sqlite",
				"up", !h.down, "outages", (json_int_t)h.outages,
				"claims_refused", (json_int_t)h.refused));
	return answer_json(ans, MHD_HTTP_OK, o);
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


/* --- next-boot writes --- */

static void write_unlink_free(struct api_write *w)
{
	for (struct api_write **pp = &w->api->writes; *pp; pp = &(*pp)->next) {
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	}
	free(w->body);
	free(w);
}

/* Make mac's record r, or none when !present; 0 or -errno. */
static int map_apply(struct next_boot *nb, const uint8_t mac[6], const struct next_boot_record *r,
		     bool present)
{
	if (!present) {
		next_boot_del(nb, mac);
		return 0;
	}
	return next_boot_put(nb, r);
}

/* The machine's next-boot document, as PUT and done answer it. */
static json_t *next_boot_doc(const struct next_boot_record *r, const uint8_t mac[6],
			     bool with_token)
{
	char m[MAC_STRLEN];
	json_t *o = json_pack("{s:s, s:o, s:b}", "mac", format_mac(mac, m),
			      "next_boot", api_json_next_boot(r),
			      "install_pending", next_boot_install_pending(r));

	/* The operator who set a once-install gets its token, for an
	 * installer that is not told ${done_url}; reads never show it. */
	if (o && with_token && next_boot_install_pending(r))
		json_object_set_new(o, "done_token", json_string(r->token));
	return o;
}

static void write_answer(struct api_write *w, unsigned status, json_t *doc)
{
	w->body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	w->len = w->body ? strlen(w->body) : 0;
	w->status = status;
	w->answered = true;
	MHD_resume_connection(w->conn);
	w->wake(w->wake_data);
}

/* In loop context: the store committed (or failed) w's batch. The
 * machine's change is answered only now; a failure undoes it in memory,
 * unless a later write has changed the record since. */
static void on_write_done(struct lease_batch *b, void *data)
{
	struct api_write *w = data;
	struct api *a = w->api;
	const struct next_boot_record *cur = next_boot_get(a->src.next_boot, w->new.mac);
	bool ours = w->new.mode == NEXT_BOOT_DEFAULT ? !cur :
		    cur && memcmp(cur, &w->new, sizeof(*cur)) == 0;
	char mac[MAC_STRLEN];

	a->writes_in_store--;
	w->store_done = true;
	format_mac(w->new.mac, mac);
	if (b->result < 0) {
		if (ours)
			map_apply(a->src.next_boot, w->new.mac, &w->old, w->had_old);
		log_error(MOD, "store-error", "action=%s mac=%s error=\"%s\" undone=%s", w->action, mac,
			  b->error[0] ? b->error : strerror(-b->result), ours ? "yes" : "no");
		if (!w->answered) {
			char msg[224];
			snprintf(msg, sizeof(msg), "the database refused the change: %s",
				 b->error[0] ? b->error : strerror(-b->result));
			write_answer(w, MHD_HTTP_SERVICE_UNAVAILABLE,
				     json_pack("{s:s}", "error", msg));
		}
	} else {
		log_info(MOD, w->action, "mac=%s mode=%s profile=%s once=%s", mac,
			 w->new.mode == NEXT_BOOT_LOCAL ? "local" :
			 w->new.mode == NEXT_BOOT_PROFILE ? "profile" : "default",
			 w->new.profile[0] ? w->new.profile : "-", w->new.once ? "yes" : "no");
		if (!w->answered)
			write_answer(w, MHD_HTTP_OK,
				     next_boot_doc(w->new.mode ? &w->new : NULL, w->new.mac,
						   strcmp(w->action, "next-boot") == 0));
	}
	if (w->taken)
		write_unlink_free(w);
}

/* The resumed request takes w's answer. */
static int write_take(struct api *a, struct api_write *w, struct http_api_answer *ans)
{
	ans->status = w->status;
	ans->body = w->body;
	ans->len = w->len;
	ans->content_type = JSON_TYPE;
	w->body = NULL;
	w->taken = true;
	if (w->store_done)
		write_unlink_free(w);
	if (!ans->body)
		return -ENOMEM;
	return 0;
}

/* Apply r to the map now (so the next read and boot see it), and have
 * the store commit it; the answer waits for that (ans->deferred). */
static int write_submit(struct api *a, const struct http_api_request *rq,
			const struct next_boot_record *r, const char *action,
			struct http_api_answer *ans)
{
	struct lease_store *st = *a->src.dhcp ? dhcp_io_store(*a->src.dhcp) : NULL;
	const struct next_boot_record *cur = next_boot_get(a->src.next_boot, r->mac);
	struct api_write *w;
	int e;

	if (!st)
		return answer_error(ans, MHD_HTTP_CONFLICT,
				    "next-boot needs the lease database ([dhcp] as a DHCP server)",
				    NULL);
	if (a->writes_in_store >= LEASE_STORE_QUEUE_API)
		return answer_error(ans, MHD_HTTP_SERVICE_UNAVAILABLE,
				    "the database is busy with earlier writes, retry", NULL);
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	*w = (struct api_write){ .api = a, .new = *r, .had_old = cur != NULL, .action = action,
				 .conn = rq->conn, .wake = rq->wake, .wake_data = rq->wake_data };
	if (cur)
		w->old = *cur;
	e = map_apply(a->src.next_boot, r->mac, r, r->mode != NEXT_BOOT_DEFAULT);
	if (e == -ENOSPC) {
		free(w);
		return answer_error(ans, MHD_HTTP_INSUFFICIENT_STORAGE,
				    "too many next-boot records (100000); set some back to default",
				    "mac");
	}
	if (e < 0) {
		free(w);
		return e;
	}
	w->batch.n = 1;
	w->batch.changes[0].op = r->mode == NEXT_BOOT_DEFAULT ? LEASE_OP_NEXT_BOOT_DEL :
				 LEASE_OP_NEXT_BOOT_PUT;
	w->batch.changes[0].nb = *r;
	e = st->ops->submit(st, &w->batch, on_write_done, w);
	if (e < 0) {
		map_apply(a->src.next_boot, w->new.mac, &w->old, w->had_old);
		free(w);
		return answer_error(ans, MHD_HTTP_SERVICE_UNAVAILABLE,
				    "the database is busy, retry", NULL);
	}
	a->writes_in_store++;
	w->next = a->writes;
	a->writes = w;
	ans->deferred = w;
	return 0;
}

/* 128 bits from the kernel's CSPRNG (getrandom(2), allowed by the
 * sandbox), in hex. */
static int make_token(char out[NEXT_BOOT_TOKEN_HEX + 1])
{
	uint8_t raw[NEXT_BOOT_TOKEN_HEX / 2];
	size_t got = 0;

	while (got < sizeof(raw)) {
		ssize_t n = getrandom(raw + got, sizeof(raw) - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		got += (size_t)n;
	}
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(out + 2 * i, 3, "%02x", raw[i]);
	return 0;
}

/* PUT /machines/{mac}/next-boot: the body into r (api_json.c), or an
 * answered 400 (> 0). */
static int parse_next_boot(struct api *a, const struct http_api_request *rq,
			   struct next_boot_record *r, struct http_api_answer *ans)
{
	char field[API_JSON_KEY_MAX + 1], msg[160];
	int e;

	if (api_json_next_boot_parse(rq->body, rq->body_len, cfg_of(a), r, field, sizeof(field),
				     msg, sizeof(msg)) == 0)
		return 0;
	e = answer_error(ans, MHD_HTTP_BAD_REQUEST, msg, field[0] ? field : NULL);
	return e < 0 ? e : 1;
}

static int put_next_boot(struct api *a, const struct http_api_request *rq,
			 const struct api_route *route, struct http_api_answer *ans)
{
	struct next_boot_record r = { 0 };
	int e = parse_next_boot(a, rq, &r, ans);

	if (e != 0)
		return e < 0 ? e : 0;
	memcpy(r.mac, route->mac, 6);
	if (r.once && (e = make_token(r.token)) < 0)
		return e;
	return write_submit(a, rq, &r, "next-boot", ans);
}

/* POST /machines/{mac}/done?token=T, or with the bearer token (an
 * operator). The token is spent in memory at once, so a replay racing
 * the commit is refused too. */
static int post_done(struct api *a, const struct http_api_request *rq,
		     const struct api_route *route, bool operator, struct http_api_answer *ans)
{
	const char *token = MHD_lookup_connection_value(rq->conn, MHD_GET_ARGUMENT_KIND, "token");
	const struct next_boot_record *cur = next_boot_get(a->src.next_boot, route->mac);
	struct next_boot_record r;
	const char *reason;
	char mac[MAC_STRLEN];

	if (next_boot_check_done(cur, token, operator && !token, &r, &reason) < 0) {
		const union MHD_ConnectionInfo *ci =
			MHD_get_connection_info(rq->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
		char peer[NET_ENDPOINT_STRLEN] = "-";

		if (ci && ci->client_addr && ci->client_addr->sa_family == AF_INET)
			net_format_endpoint((const struct sockaddr_in *)ci->client_addr, peer);
		log_warn(MOD, "done-refused", "mac=%s peer=%s reason=%s",
			 format_mac(route->mac, mac), peer, reason);
		return answer_error(ans, MHD_HTTP_FORBIDDEN,
				    strcmp(reason, "wrong-token") == 0 ?
				    "wrong done token" : "no install pending for this machine (or its token was used)",
				    "token");
	}
	return write_submit(a, rq, &r, "done", ans);
}

/* --- hosts writes: PUT and DELETE /hosts/{name} --- */

static void write_free_host_parts(struct api_write *w)
{
	config_host_free(w->host_old);
	w->host_old = NULL;
	free(w->json);
	w->json = NULL;
	json_decref(w->ok_doc);
	w->ok_doc = NULL;
}

/* In loop context: the store committed (or failed) a hosts write. On a
 * failure the table gets the old host back, unless a later write has
 * changed that name since (then the later write's outcome stands). */
static void on_host_write_done(struct lease_batch *b, void *data)
{
	struct api_write *w = data;
	struct api *a = w->api;
	struct host_table *t = a->src.hosts;
	struct host_config *cur = host_table_by_name(t, w->host_name);
	bool ours = w->deleting ? !cur : cur && cur->api_gen == w->gen;
	const char *action = w->deleting ? "host-delete" : "host-put";

	a->writes_in_store--;
	w->store_done = true;
	if (b->result < 0) {
		if (ours) {
			struct host_config *replaced = NULL;
			a->config_gen++;  /* the table changes back: reads look again */
			if (!w->deleting)
				config_host_free(host_table_take(t, w->host_name));
			if (w->host_old && host_table_put(t, w->host_old, &replaced) == 0) {
				config_refresh_api_host(cfg_of(a), w->host_old, false);
				w->host_old = NULL;
			}
			config_host_free(replaced);
		}
		log_error(MOD, "store-error", "action=%s host=%s error=\"%s\" undone=%s", action,
			  w->host_name, b->error[0] ? b->error : strerror(-b->result),
			  ours ? "yes" : "no");
		if (!w->answered) {
			char msg[224];
			snprintf(msg, sizeof(msg), "the database refused the change: %s",
				 b->error[0] ? b->error : strerror(-b->result));
			write_answer(w, MHD_HTTP_SERVICE_UNAVAILABLE,
				     json_pack("{s:s}", "error", msg));
		}
	} else {
		log_info(MOD, action, "host=%s", w->host_name);
		if (!w->answered) {
			write_answer(w, w->ok_status, w->ok_doc);
			w->ok_doc = NULL;
		}
	}
	write_free_host_parts(w);
	if (w->taken)
		write_unlink_free(w);
}

/* The common part of both hosts writes: the store is there and has room.
 * 0 to go on, or an answered refusal (> 0). */
static int host_store(struct api *a, struct lease_store **st, struct http_api_answer *ans)
{
	int e;

	*st = *a->src.dhcp ? dhcp_io_store(*a->src.dhcp) : NULL;
	if (!*st)
		e = answer_error(ans, MHD_HTTP_CONFLICT,
				 "hosts writes need the database ([dhcp] as a DHCP server)", NULL);
	else if (a->writes_in_store >= LEASE_STORE_QUEUE_API)
		e = answer_error(ans, MHD_HTTP_SERVICE_UNAVAILABLE,
				 "the database is busy with earlier writes, retry", NULL);
	else
		return 0;
	return e < 0 ? e : 1;
}

/* Queue w's one change; the answer waits for the commit. On failure w is
 * freed and the caller puts the table back. */
static int host_submit(struct api *a, struct lease_store *st, struct api_write *w,
		       struct http_api_answer *ans)
{
	int e = st->ops->submit(st, &w->batch, on_host_write_done, w);

	if (e < 0)
		return e;
	a->writes_in_store++;
	w->next = a->writes;
	a->writes = w;
	ans->deferred = w;
	return 0;
}

static struct api_write *host_write_new(struct api *a, const struct http_api_request *rq,
					const char *name, bool deleting)
{
	struct api_write *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	*w = (struct api_write){ .api = a, .action = deleting ? "host-delete" : "host-put",
				 .conn = rq->conn, .wake = rq->wake, .wake_data = rq->wake_data,
				 .is_host = true, .deleting = deleting };
	snprintf(w->host_name, sizeof(w->host_name), "%s", name);
	w->batch.n = 1;
	w->batch.changes[0].op = deleting ? LEASE_OP_HOST_DEL : LEASE_OP_HOST_PUT;
	snprintf(w->batch.changes[0].host.name, sizeof(w->batch.changes[0].host.name), "%s", name);
	return w;
}

/* PUT /hosts/{name}: the body checked as the file's [host name] would be
 * (api_hosts.c), then against the file's hosts (409: config wins) and the
 * API's other hosts (400); in the table at once (the next DHCP packet
 * sees it), answered once committed. */
static int put_host(struct api *a, const struct http_api_request *rq,
		    const struct api_route *route, struct http_api_answer *ans)
{
	const struct config *c = cfg_of(a);
	char field[API_HOST_FIELD_MAX + 1], msg[256];
	struct host_config *h = NULL, *old = NULL;
	struct lease_store *st;
	struct api_write *w;
	const char *f = NULL;
	char *json = NULL;
	unsigned status;
	int e;

	if (config_host_name_valid(route->name) && config_file_host_by_name(c, route->name)) {
		snprintf(msg, sizeof(msg), "[host %s] is in the config file, read-only through "
			 "the API (edit the file and reload)", route->name);
		return answer_error(ans, MHD_HTTP_CONFLICT, msg, "name");
	}
	e = api_host_parse(rq->has_body ? rq->body : NULL, rq->body_len, c, route->name, true, &h,
			   &json, field, sizeof(field), msg, sizeof(msg));
	if (e == -ENOMEM)
		return e;
	if (e < 0)
		return answer_error(ans, MHD_HTTP_BAD_REQUEST, msg, field[0] ? field : NULL);
	status = api_host_conflict(c, a->src.hosts, h, &f, msg, sizeof(msg));
	if (status) {
		config_host_free(h);
		free(json);
		return answer_error(ans, status, msg, f);
	}
	e = host_store(a, &st, ans);
	if (e != 0) {
		config_host_free(h);
		free(json);
		return e < 0 ? e : 0;
	}
	w = host_write_new(a, rq, route->name, false);
	if (!w) {
		config_host_free(h);
		free(json);
		return -ENOMEM;
	}
	w->json = json;
	w->batch.changes[0].host.json = json;
	h->api_gen = w->gen = ++a->host_gen;
	a->config_gen++;  /* reads in progress hold host pointers: look again */
	w->ok_doc = api_json_host(h);
	h->api_body = strdup(json);  /* to tell another instance's copy of it apart */
	e = host_table_put(a->src.hosts, h, &old);
	if (e < 0) {
		config_host_free(h);
		write_free_host_parts(w);
		free(w);
		if (e == -ENOSPC)
			return answer_error(ans, MHD_HTTP_INSUFFICIENT_STORAGE,
					    "too many API hosts (100000); delete some", "name");
		return e;
	}
	w->host_old = old;
	w->ok_status = old ? MHD_HTTP_OK : MHD_HTTP_CREATED;
	e = host_submit(a, st, w, ans);
	if (e < 0) {
		struct host_config *back = NULL;
		config_host_free(host_table_take(a->src.hosts, route->name));
		if (old && host_table_put(a->src.hosts, old, &back) == 0)
			w->host_old = NULL;
		write_free_host_parts(w);
		free(w);
		return answer_error(ans, MHD_HTTP_SERVICE_UNAVAILABLE, "the database is busy, retry",
				    NULL);
	}
	return 0;
}

/* DELETE /hosts/{name}: an API host only (a host the file overrides by
 * name included: that is how it is got rid of). */
static int delete_host(struct api *a, const struct http_api_request *rq,
		       const struct api_route *route, struct http_api_answer *ans)
{
	const struct config *c = cfg_of(a);
	struct host_config *old;
	struct lease_store *st;
	struct api_write *w;
	char msg[160];
	int e;

	if (rq->has_body)
		return answer_error(ans, MHD_HTTP_BAD_REQUEST, "a DELETE takes no body", NULL);
	if (!host_table_by_name(a->src.hosts, route->name)) {
		if (config_host_name_valid(route->name) && config_file_host_by_name(c, route->name)) {
			snprintf(msg, sizeof(msg), "[host %s] is in the config file, read-only "
				 "through the API (edit the file and reload)", route->name);
			return answer_error(ans, MHD_HTTP_CONFLICT, msg, "name");
		}
		return answer_error(ans, MHD_HTTP_NOT_FOUND, "no such API host", "name");
	}
	e = host_store(a, &st, ans);
	if (e != 0)
		return e < 0 ? e : 0;
	w = host_write_new(a, rq, route->name, true);
	if (!w)
		return -ENOMEM;
	w->ok_doc = json_pack("{s:s, s:b}", "name", route->name, "deleted", 1);
	w->ok_status = MHD_HTTP_OK;
	old = host_table_take(a->src.hosts, route->name);
	a->config_gen++;  /* reads in progress hold host pointers: look again */
	w->host_old = old;
	e = host_submit(a, st, w, ans);
	if (e < 0) {
		struct host_config *back = NULL;
		if (host_table_put(a->src.hosts, old, &back) == 0)
			w->host_old = NULL;
		write_free_host_parts(w);
		free(w);
		return answer_error(ans, MHD_HTTP_SERVICE_UNAVAILABLE, "the database is busy, retry",
				    NULL);
	}
	return 0;
}

/* --- the handler --- */

int api_handle(void *data, const struct http_api_request *rq, struct http_api_answer *ans)
{
	struct api *a = data;
	const struct config *c = cfg_of(a);
	enum api_method m = api_method_parse(rq->method);
	struct api_route r;
	int e;
	bool operator = false;

	if (rq->resumed)
		return write_take(a, rq->resumed, ans);
	if (rq->body_too_large)
		return answer_error(ans, MHD_HTTP_CONTENT_TOO_LARGE,
				    "body too large (4 KiB at most)", NULL);
	e = api_route_parse(rq->path, &r);

	if (e == -ENAMETOOLONG)
		return answer_error(ans, MHD_HTTP_URI_TOO_LONG, "path too long", NULL);
	if (e < 0)
		return answer_error(ans, MHD_HTTP_NOT_FOUND, "no such API path", NULL);
	if (!api_route_allows(&r, m)) {
		ans->allow = r.allow;
		return answer_error(ans, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed", NULL);
	}
	if (r.endpoint == API_MACHINE_DONE && m == API_POST &&
	    MHD_lookup_connection_value(rq->conn, MHD_GET_ARGUMENT_KIND, "token")) {
		/* The installer's callback: its one-time token stands in for
		 * the bearer token, which it does not have. */
		operator = c->api.token && api_token_check(c->api.token, rq->authorization);
	} else if (api_method_is_write(m)) {
		if (!c->api.token)
			return answer_error(ans, MHD_HTTP_FORBIDDEN,
					    "no token-file configured, writes are disabled", NULL);
		if (!api_token_check(c->api.token, rq->authorization)) {
			ans->www_authenticate = "Bearer realm=\"kidou\"";
			return answer_error(ans, MHD_HTTP_UNAUTHORIZED,
					    "missing or wrong bearer token", NULL);
		}
		operator = true;
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
		return get_machines(a, rq, ans);
	case API_MACHINE:
		return get_machine(a, &r, ans);
	case API_LEASES:
		return get_leases(a, rq, ans);
	case API_HOSTS:
		return get_hosts(a, rq, ans);
	case API_PROFILES:
		return get_profiles(a, ans);
	case API_EVENTS:
		return get_events(a, rq, m == API_HEAD, ans);
	case API_STATUS:
		return get_status(a, ans);
	case API_MACHINE_NEXT_BOOT:
		return put_next_boot(a, rq, &r, ans);
	case API_MACHINE_DONE:
		return post_done(a, rq, &r, operator, ans);
	case API_HOST:
		return m == API_PUT ? put_host(a, rq, &r, ans) : delete_host(a, rq, &r, ans);
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
	r = api_chunked_new(loop, &a->reads);
	if (r < 0) {
		api_events_free(a->events);
		free(a);
		return r;
	}
	boot_events_set_listener(src->events, on_boot_event, a);
	loop_timer_init(&a->heartbeat, on_heartbeat, a);
	loop_timer_arm(loop, &a->heartbeat, HEARTBEAT_USEC);
	*ret = a;
	return 0;
}

bool api_write_pending(const struct api *a, const uint8_t *mac, const char *host)
{
	if (!a)
		return false;
	for (const struct api_write *w = a->writes; w; w = w->next) {
		if (w->store_done)
			continue;
		if (mac && !w->is_host && memcmp(w->new.mac, mac, 6) == 0)
			return true;
		if (host && w->is_host && strcmp(w->host_name, host) == 0)
			return true;
	}
	return false;
}

uint64_t api_hosts_moved(struct api *a)
{
	if (!a)
		return 0;
	a->config_gen++;  /* reads in progress hold host pointers: look again */
	return ++a->host_gen;
}

void api_reconfigure(struct api *a)
{
	if (!a)
		return;
	a->config_gen++;  /* the old config is freed: reads in progress look again */
	api_events_set_max(a->events, cfg_of(a)->api.max_event_streams);
}

void api_close_streams(struct api *a)
{
	if (!a)
		return;
	api_events_close_all(a->events);
	api_chunked_close_all(a->reads);
	/* No connection stays suspended when the HTTP servers stop. Whether
	 * the commit happens is unknown now: the answer says so. */
	for (struct api_write *w = a->writes; w; w = w->next)
		if (!w->answered)
			write_answer(w, MHD_HTTP_SERVICE_UNAVAILABLE,
				     json_pack("{s:s}", "error", "kidou is stopping; the change may or may not be kept"));
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
	/* The store is closed by now: nothing calls on_write_done again. */
	while (a->writes) {
		struct api_write *w = a->writes;
		a->writes = w->next;
		write_free_host_parts(w);
		free(w->body);
		free(w);
	}
	api_events_free(a->events);
	api_chunked_free(a->reads);
	free(a);
}
