/* config_check.c - checks of a whole config, after the file and the
 * flags, and the sorted indexes that host lookups use (see config.h). */
#include "config_internal.h"

#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host_table.h"

/* --- whole-config checks, after file and flags --- */

static bool in_subnet(uint32_t ip, uint32_t network, uint32_t mask)
{
	return (ip & mask) == network;
}

/* --- sorted indexes: ties keep file order, so the first of equals is the
 * earlier section --- */

static int cmp_line(unsigned a, unsigned b)
{
	return a < b ? -1 : a > b;
}

static int cmp_by_mac(const void *a, const void *b)
{
	const struct host_config *x = *(const struct host_config *const *)a;
	const struct host_config *y = *(const struct host_config *const *)b;
	int r = memcmp(x->mac, y->mac, 6);

	return r ? r : cmp_line(x->line, y->line);
}

static int cmp_by_uuid(const void *a, const void *b)
{
	const struct host_config *x = *(const struct host_config *const *)a;
	const struct host_config *y = *(const struct host_config *const *)b;
	int r = memcmp(x->uuid, y->uuid, 16);

	return r ? r : cmp_line(x->line, y->line);
}

static int cmp_by_ip(const void *a, const void *b)
{
	const struct host_config *x = *(const struct host_config *const *)a;
	const struct host_config *y = *(const struct host_config *const *)b;

	return x->ip != y->ip ? (x->ip < y->ip ? -1 : 1) : cmp_line(x->line, y->line);
}

static int cmp_by_name(const void *a, const void *b)
{
	const struct profile_config *x = *(const struct profile_config *const *)a;
	const struct profile_config *y = *(const struct profile_config *const *)b;

	return strcmp(x->name, y->name);
}

static int cmp_host_by_name(const void *a, const void *b)
{
	const struct host_config *x = *(const struct host_config *const *)a;
	const struct host_config *y = *(const struct host_config *const *)b;

	return strcmp(x->name, y->name);
}

static int build_indexes(struct config *c)
{
	size_t n = 0, np = 0, n_names = 0;

	for (const struct host_config *h = c->hosts; h; h = h->next)
		n++;
	for (const struct profile_config *p = c->profiles; p; p = p->next)
		np++;
	c->hosts_by_mac = calloc(n ? n : 1, sizeof(*c->hosts_by_mac));
	c->hosts_by_uuid = calloc(n ? n : 1, sizeof(*c->hosts_by_uuid));
	c->hosts_by_ip = calloc(n ? n : 1, sizeof(*c->hosts_by_ip));
	c->profiles_by_name = calloc(np ? np : 1, sizeof(*c->profiles_by_name));
	c->hosts_by_name = calloc(n ? n : 1, sizeof(*c->hosts_by_name));
	if (!c->hosts_by_mac || !c->hosts_by_uuid || !c->hosts_by_ip || !c->profiles_by_name ||
	    !c->hosts_by_name)
		return -ENOMEM;
	for (const struct host_config *h = c->hosts; h; h = h->next) {
		c->hosts_by_name[n_names++] = h;
		if (h->has_mac)
			c->hosts_by_mac[c->n_by_mac++] = h;
		if (h->has_uuid)
			c->hosts_by_uuid[c->n_by_uuid++] = h;
		if (h->ip)
			c->hosts_by_ip[c->n_by_ip++] = h;
	}
	for (const struct profile_config *p = c->profiles; p; p = p->next)
		c->profiles_by_name[c->n_profiles++] = p;
	qsort(c->hosts_by_mac, c->n_by_mac, sizeof(*c->hosts_by_mac), cmp_by_mac);
	qsort(c->hosts_by_uuid, c->n_by_uuid, sizeof(*c->hosts_by_uuid), cmp_by_uuid);
	qsort(c->hosts_by_ip, c->n_by_ip, sizeof(*c->hosts_by_ip), cmp_by_ip);
	qsort(c->profiles_by_name, c->n_profiles, sizeof(*c->profiles_by_name), cmp_by_name);
	/* Section names are unique (a repeated [host] is refused). */
	c->n_by_name = n_names;
	qsort(c->hosts_by_name, n_names, sizeof(*c->hosts_by_name), cmp_host_by_name);
	return 0;
}

/* Of equal neighbours in a sorted index, the pair whose later host comes
 * first in the file: the one the operator meets first. */
static bool same_mac(const struct host_config *a, const struct host_config *b)
{
	return memcmp(a->mac, b->mac, 6) == 0;
}

static bool same_uuid(const struct host_config *a, const struct host_config *b)
{
	return memcmp(a->uuid, b->uuid, 16) == 0;
}

static bool same_ip(const struct host_config *a, const struct host_config *b)
{
	return a->ip == b->ip;
}

static bool first_duplicate(const struct host_config **index, size_t n,
			    bool (*same)(const struct host_config *, const struct host_config *),
			    const struct host_config **first, const struct host_config **dup)
{
	*dup = NULL;
	for (size_t i = 1; i < n; i++) {
		const struct host_config *a = index[i - 1], *b = index[i];
		if (!same(a, b))
			continue;
		if (!*dup || b->line < (*dup)->line) {
			*first = a;
			*dup = b;
		}
	}
	return *dup != NULL;
}

static const struct profile_config *config_profile_by_name(const struct config *c,
							  const char *name)
{
	size_t lo = 0, hi = c->n_profiles;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int r = strcmp(c->profiles_by_name[mid]->name, name);
		if (r == 0)
			return c->profiles_by_name[mid];
		if (r < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

const struct host_config *config_file_host_by_mac(const struct config *c, const uint8_t mac[6])
{
	size_t lo = 0, hi = c->n_by_mac;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int r = memcmp(c->hosts_by_mac[mid]->mac, mac, 6);
		if (r == 0)
			return c->hosts_by_mac[mid];
		if (r < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

const struct host_config *config_file_host_by_uuid(const struct config *c, const uint8_t uuid[16])
{
	size_t lo = 0, hi = c->n_by_uuid;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int r = memcmp(c->hosts_by_uuid[mid]->uuid, uuid, 16);
		if (r == 0)
			return c->hosts_by_uuid[mid];
		if (r < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

const struct host_config *config_file_host_by_ip(const struct config *c, uint32_t ip)
{
	size_t lo = 0, hi = c->n_by_ip;

	while (ip && lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		uint32_t x = c->hosts_by_ip[mid]->ip;
		if (x == ip)
			return c->hosts_by_ip[mid];
		if (x < ip)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

const struct host_config *config_file_host_by_name(const struct config *c, const char *name)
{
	size_t lo = 0, hi = c->n_by_name;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int r = strcmp(c->hosts_by_name[mid]->name, name);
		if (r == 0)
			return c->hosts_by_name[mid];
		if (r < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* An API host is seen only when active: one the file overrides is kept
 * but never answers (see config_attach_api_hosts). The file's index
 * comes first, so a DHCP packet of a file host costs what it did. */
static const struct host_config *active(const struct host_config *h)
{
	return h && !h->inactive ? h : NULL;
}

const struct host_config *config_host_by_mac(const struct config *c, const uint8_t mac[6])
{
	const struct host_config *h = config_file_host_by_mac(c, mac);

	return h ? h : active(host_table_by_mac(c->api_hosts, mac));
}

const struct host_config *config_host_by_uuid(const struct config *c, const uint8_t uuid[16])
{
	const struct host_config *h = config_file_host_by_uuid(c, uuid);

	return h ? h : active(host_table_by_uuid(c->api_hosts, uuid));
}

const struct host_config *config_host_by_ip(const struct config *c, uint32_t ip)
{
	const struct host_config *h = config_file_host_by_ip(c, ip);

	return h ? h : active(host_table_by_ip(c->api_hosts, ip));
}

int config_host_check(const struct config *c, struct host_config *h, const char **field,
		      char *err, size_t errsize)
{
	if (!h->has_mac && !h->has_uuid) {
		*field = "mac";
		return set_error(err, errsize, "mac (or uuid) is required");
	}
	if (h->ip && c->dhcp.mode == DHCP_MODE_PROXY) {
		*field = "ip";
		return set_error(err, errsize, "a proxy hands out no addresses (give the fixed "
				 "address in the other DHCP server)");
	}
	h->profile = NULL;
	if (h->profile_name) {
		h->profile = config_profile_by_name(c, h->profile_name);
		if (!h->profile) {
			*field = "profile";
			return set_error(err, errsize, "no [profile %s]", h->profile_name);
		}
	}
	return 0;
}

static bool span_has(uint32_t first, uint32_t last, uint32_t ip)
{
	return first && ip >= first && ip <= last;
}

bool config_ip_in_range(const struct config *c, uint32_t ip)
{
	if (span_has(c->dhcp.local.range_first, c->dhcp.local.range_last, ip))
		return true;
	for (const struct dhcp_subnet_config *s = c->dhcp.subnets; s; s = s->next)
		if (span_has(s->range_first, s->range_last, ip))
			return true;
	return false;
}

/* Why c overrides the API host h, into why; false when it does not. */
static bool api_host_overridden(const struct config *c, struct host_config *h, char *why,
				size_t size)
{
	const struct host_config *f = config_file_host_by_name(c, h->name);
	const char *field;
	char msg[160];

	if (f || (h->has_mac && (f = config_file_host_by_mac(c, h->mac))) ||
	    (h->has_uuid && (f = config_file_host_by_uuid(c, h->uuid))) ||
	    (h->ip && (f = config_file_host_by_ip(c, h->ip)))) {
		const char *what = strcmp(f->name, h->name) == 0 ? "name" :
				   h->has_mac && f->has_mac && memcmp(f->mac, h->mac, 6) == 0 ? "mac" :
				   h->has_uuid && f->has_uuid && memcmp(f->uuid, h->uuid, 16) == 0 ?
				   "uuid" : "ip";
		snprintf(why, size, "the config file's [host %s] has the same %s", f->name, what);
		return true;
	}
	if (config_host_check(c, h, &field, msg, sizeof(msg)) < 0) {
		snprintf(why, size, "%s: %s", field, msg);
		return true;
	}
	if (h->ip && config_ip_in_range(c, h->ip)) {
		snprintf(why, size, "ip: inside a dynamic range");
		return true;
	}
	return false;
}

void config_refresh_api_host(const struct config *c, struct host_config *h, bool log)
{
	char why[200];

	free(h->inactive);
	h->inactive = NULL;
	if (!api_host_overridden(c, h, why, sizeof(why)))
		return;
	h->profile = NULL;
	h->inactive = strdup(why);
	if (!h->inactive)
		h->inactive = strdup("out of memory");  /* still marked, if at all possible */
	if (log) {
		char q[256];
		log_warn("config", "api-host-inactive", "host=%s reason=%s note=\"kept in the "
			 "database, not used; change or delete it through the API\"", h->name,
			 log_quote(q, sizeof(q), why, sizeof(why)));
	}
}

size_t config_attach_api_hosts(struct config *c, struct host_table *t)
{
	size_t n = host_table_count(t), inactive = 0;

	c->api_hosts = t;
	for (size_t i = 0; i < n; i++) {
		struct host_config *h = host_table_at(t, i);
		config_refresh_api_host(c, h, true);
		inactive += h->inactive != NULL;
	}
	return inactive;
}

/* The subnet setting a proxy cannot honour, or NULL. */
static const char *proxy_refuses(const struct dhcp_subnet_config *s)
{
	return s->range_first ? "range" : s->router ? "router" : s->n_dns ? "dns" :
	       s->domain ? "domain" : NULL;
}

/* An address span of a subnet: its network, or its range. */
struct span {
	uint32_t first, last;
	unsigned line;  /* where it was set; 0: a flag, applied after the file */
	const struct dhcp_subnet_config *s;
};

static int cmp_span(const void *a, const void *b)
{
	const struct span *x = a, *y = b;

	return x->first != y->first ? (x->first < y->first ? -1 : 1) : cmp_line(x->line, y->line);
}

static unsigned span_order(const struct span *s)
{
	return s->line ? s->line : UINT_MAX;
}

/* Two subnets whose networks or ranges overlap would hand the same address
 * to two clients: refuse, blaming the later of the two. Sorted by start,
 * a span overlaps an earlier one exactly when it starts before the
 * furthest end seen so far. */
static int check_overlaps(const struct config *c, struct span *v, size_t n, const char *key,
			  char *err, size_t errsize)
{
	const char *file = c->path ? c->path : "(flags)";
	const struct span *reach = NULL;

	qsort(v, n, sizeof(*v), cmp_span);
	for (size_t i = 0; i < n; i++) {
		const struct span *a, *b;
		char where[64];

		if (!reach || v[i].first > reach->last) {
			reach = &v[i];
			continue;
		}
		a = span_order(reach) < span_order(&v[i]) ? reach : &v[i];
		b = a == reach ? &v[i] : reach;
		if (a->line)
			snprintf(where, sizeof(where), "line %u", a->line);
		else
			snprintf(where, sizeof(where), "--dhcp-%s", key);
		if (!b->line)
			snprintf(err, errsize, "--dhcp-%s: overlaps the %s of [subnet %s] (%s:%u); "
				 "two clients could get one address", key, key, a->s->name, file,
				 a->line);
		else
			snprintf(err, errsize, "%s:%u: [%s%s] %s: overlaps the %s of [%s%s] (%s); "
				 "two clients could get one address", file, b->line,
				 b->s->name[0] ? "subnet " : "dhcp", b->s->name, key, key,
				 a->s->name[0] ? "subnet " : "dhcp", a->s->name, where);
		return -EINVAL;
	}
	return 0;
}

static int check_subnets(const struct config *c, char *err, size_t errsize)
{
	const char *file = c->path ? c->path : "(flags)";
	size_t n = 1, nn = 0, nr = 0;
	struct span *nets, *ranges;
	int r = 0;

	for (const struct dhcp_subnet_config *s = c->dhcp.subnets; s; s = s->next) {
		if (!s->netmask) {
			snprintf(err, errsize, "%s:%u: [subnet %s]: network is required", file,
				 s->line, s->name);
			return -EINVAL;
		}
		if (s->range_first && (!in_subnet(s->range_first, s->network, s->netmask) ||
				       !in_subnet(s->range_last, s->network, s->netmask))) {
			snprintf(err, errsize, "%s:%u: [subnet %s] range: outside its network",
				 file, s->range_line, s->name);
			return -EINVAL;
		}
		n++;
	}
	nets = calloc(n, sizeof(*nets));
	ranges = calloc(n, sizeof(*ranges));
	if (!nets || !ranges) {
		r = -ENOMEM;
		snprintf(err, errsize, "out of memory");
		goto out;
	}
	if (c->dhcp.local.range_first)
		ranges[nr++] = (struct span){ c->dhcp.local.range_first, c->dhcp.local.range_last,
					      c->dhcp.local.range_line, &c->dhcp.local };
	for (const struct dhcp_subnet_config *s = c->dhcp.subnets; s; s = s->next) {
		nets[nn++] = (struct span){ s->network, s->network | ~s->netmask,
					    s->network_line, s };
		if (s->range_first)
			ranges[nr++] = (struct span){ s->range_first, s->range_last,
						      s->range_line, s };
	}
	r = check_overlaps(c, nets, nn, "network", err, errsize);
	if (r == 0)
		r = check_overlaps(c, ranges, nr, "range", err, errsize);
out:
	free(nets);
	free(ranges);
	return r;
}

/* [api] token-file: read now, so a bad one fails the start or the reload
 * (which keeps the old token) rather than a request later. One line of
 * printable characters; the trailing newline an editor adds is not part
 * of it. A token others can read is no secret: warn. */
static int read_api_token(struct config *c, const char *file, char *err, size_t errsize)
{
	const char *path = c->api.token_file;
	char buf[API_TOKEN_MAX + 3];
	struct stat st;
	ssize_t n;
	int r, fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

	if (fd < 0) {
		r = -errno;
		snprintf(err, errsize, "%s: [api] token-file \"%s\": %s", file, path, strerror(errno));
		return r;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		snprintf(err, errsize, "%s: [api] token-file \"%s\": not a regular file", file, path);
		return -EINVAL;
	}
	if (st.st_mode & S_IROTH)
		log_warn("config", "token-file-readable", "path=\"%s\" mode=%04o note=\"others can read the API token; chmod o-r\"",
			 path, (unsigned)(st.st_mode & 07777));
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0) {
		snprintf(err, errsize, "%s: [api] token-file \"%s\": %s", file, path, strerror(errno));
		return -EIO;
	}
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	buf[n] = '\0';
	for (ssize_t i = 0; i < n; i++) {
		if (buf[i] <= ' ' || buf[i] >= 0x7f) {
			explicit_bzero(buf, sizeof(buf));
			snprintf(err, errsize, "%s: [api] token-file \"%s\": the token must be one line "
				 "of printable characters without spaces", file, path);
			return -EINVAL;
		}
	}
	if (n < API_TOKEN_MIN || n > API_TOKEN_MAX) {
		explicit_bzero(buf, sizeof(buf));
		snprintf(err, errsize, "%s: [api] token-file \"%s\": the token must be %d..%d characters",
			 file, path, API_TOKEN_MIN, API_TOKEN_MAX);
		return -EINVAL;
	}
	c->api.token = strdup(buf);
	explicit_bzero(buf, sizeof(buf));
	return c->api.token ? 0 : -ENOMEM;
}

static int check_api(struct config *c, const char *file, char *err, size_t errsize)
{
	if (c->api.read_token && !c->api.token_file) {
		snprintf(err, errsize, "%s: [api] read-token = yes needs [api] token-file", file);
		return -EINVAL;
	}
	return c->api.token_file ? read_api_token(c, file, err, errsize) : 0;
}

int config_validate(struct config *c, char *err, size_t errsize)
{
	const char *file = c->path ? c->path : "(flags)";
	struct dhcp_subnet_config *local = &c->dhcp.local;
	const struct host_config *first, *dup;
	int r;

	c->dhcp.enabled = c->dhcp.n_interfaces > 0;
	if (!c->dhcp.enabled && (local->range_first || c->dhcp.subnets)) {
		snprintf(err, errsize, "%s: [dhcp] range and [subnet] need [dhcp] interface "
			 "(kidou serves DHCP only on interfaces it is told)", file);
		return -EINVAL;
	}
	if (c->dhcp.mode == DHCP_MODE_PROXY) {
		const char *bad = proxy_refuses(local);
		if (bad) {
			snprintf(err, errsize, "%s: [dhcp] %s: no meaning in proxy mode (the other "
				 "DHCP server hands out addresses and network settings)", file, bad);
			return -EINVAL;
		}
		/* A [subnet] only names a network whose relays may ask. */
		for (struct dhcp_subnet_config *s = c->dhcp.subnets; s; s = s->next) {
			bad = proxy_refuses(s);
			if (bad) {
				snprintf(err, errsize, "%s:%u: [subnet %s] %s: no meaning in proxy "
					 "mode (only network is)", file, s->line, s->name, bad);
				return -EINVAL;
			}
		}
	}
	r = check_subnets(c, err, errsize);
	if (r < 0)
		return r;
	r = build_indexes(c);
	if (r < 0) {
		snprintf(err, errsize, "out of memory");
		return r;
	}
	for (struct profile_config *p = c->profiles; p; p = p->next) {
		if (!p->kernel) {
			snprintf(err, errsize, "%s:%u: [profile %s]: kernel is required", file,
				 p->line, p->name);
			return -EINVAL;
		}
	}
	if (c->default_profile_name) {
		c->default_profile = config_profile_by_name(c, c->default_profile_name);
		if (!c->default_profile) {
			snprintf(err, errsize, "%s: [boot] profile: no [profile %s]", file,
				 c->default_profile_name);
			return -EINVAL;
		}
	}
	for (struct host_config *h = c->hosts; h; h = h->next) {
		const char *field;
		char msg[200];

		if (config_host_check(c, h, &field, msg, sizeof(msg)) < 0) {
			bool prof = strcmp(field, "profile") == 0;
			snprintf(err, errsize, "%s:%u: [host %s]%s%s: %s", file,
				 prof && h->profile_line ? h->profile_line : h->line, h->name,
				 strcmp(field, "mac") == 0 ? "" : prof ? " " : ": ",
				 strcmp(field, "mac") == 0 ? "" : field, msg);
			return -EINVAL;
		}
	}
	if (first_duplicate(c->hosts_by_mac, c->n_by_mac, same_mac, &first, &dup)) {
		snprintf(err, errsize, "%s:%u: [host %s]: same mac as [host %s]",
			 file, dup->line, dup->name, first->name);
		return -EINVAL;
	}
	if (first_duplicate(c->hosts_by_uuid, c->n_by_uuid, same_uuid, &first, &dup)) {
		snprintf(err, errsize, "%s:%u: [host %s]: same uuid as [host %s]",
			 file, dup->line, dup->name, first->name);
		return -EINVAL;
	}
	if (first_duplicate(c->hosts_by_ip, c->n_by_ip, same_ip, &first, &dup)) {
		snprintf(err, errsize, "%s:%u: [host %s]: same ip as [host %s]",
			 file, dup->line, dup->name, first->name);
		return -EINVAL;
	}
	return check_api(c, file, err, errsize);
}
