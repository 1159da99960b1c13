/* lease_migrate.c - kidou leases migrate FROM TO (see lease_migrate.h). */
#include "store/lease_migrate.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loop.h"
#include "store/lease_store.h"
#include "util.h"

/* Everything read from the source, as changes for the destination. */
struct collected {
	struct lease_change *c;
	size_t n, cap;
	char **json;             /* host bodies, owned here */
	size_t n_json;
};

static struct lease_change *grow(struct collected *col)
{
	if (col->n == col->cap) {
		size_t cap = col->cap ? col->cap * 2 : 256;
		struct lease_change *c = realloc(col->c, cap * sizeof(*c));
		if (!c)
			return NULL;
		col->c = c;
		col->cap = cap;
	}
	memset(&col->c[col->n], 0, sizeof(col->c[0]));
	return &col->c[col->n++];
}

static int add_lease(const struct lease_record *r, void *ctx)
{
	struct lease_change *c = grow(ctx);

	if (!c)
		return -ENOMEM;
	c->op = LEASE_OP_PUT;
	c->rec = *r;
	return 0;
}

static int add_next_boot(const struct next_boot_record *r, void *ctx)
{
	struct lease_change *c = grow(ctx);

	if (!c)
		return -ENOMEM;
	c->op = LEASE_OP_NEXT_BOOT_PUT;
	c->nb = *r;
	return 0;
}

static int add_host(const char *name, const char *json, void *ctx)
{
	struct collected *col = ctx;
	char **j = realloc(col->json, (col->n_json + 1) * sizeof(*j));
	struct lease_change *c;

	if (!j)
		return -ENOMEM;
	col->json = j;
	if (strlen(name) > HOST_NAME_MAX_LEN)
		return 0;  /* never written by kidou: skipped */
	j[col->n_json] = strdup(json);
	if (!j[col->n_json] || !(c = grow(col))) {
		free(j[col->n_json]);
		return -ENOMEM;
	}
	c->op = LEASE_OP_HOST_PUT;
	snprintf(c->host.name, sizeof(c->host.name), "%s", name);
	c->host.json = j[col->n_json++];
	return 0;
}

struct wait {
	struct loop *loop;
	bool done;
};

static void batch_done(struct lease_batch *b, void *data)
{
	struct wait *w = data;

	w->done = true;
	loop_quit(w->loop);
}

int lease_migrate(const char *from, const char *to, FILE *out, char *err, size_t errsize)
{
	struct loop *loop = NULL;
	struct lease_store *src = NULL, *dst = NULL;
	struct collected col = { 0 };
	struct lease_batch *b = calloc(1, sizeof(*b));
	size_t leases = 0, refused = 0, nb = 0, hosts = 0;
	int r;

	if (!b)
		return -ENOMEM;
	if (!lease_store_is_pg(from) && access(from, R_OK) < 0) {
		r = -errno;
		snprintf(err, errsize, "%s: %s", from, strerror(-r));
		goto out;
	}
	r = loop_new(&loop);
	if (r < 0) {
		snprintf(err, errsize, "cannot create the loop: %s", strerror(-r));
		goto out;
	}
	r = lease_store_open(from, loop, 5000, false, &src, err, errsize);
	if (r < 0)
		goto out;
	r = src->ops->load(src, add_lease, &col);
	if (r >= 0)
		r = src->ops->load_next_boot(src, add_next_boot, &col);
	if (r >= 0)
		r = src->ops->load_hosts(src, add_host, &col);
	if (r < 0) {
		snprintf(err, errsize, "%s: cannot read: %s", from, strerror(-r));
		goto out;
	}
	r = lease_store_open(to, loop, 5000, false, &dst, err, errsize);
	if (r < 0)
		goto out;
	/* One transaction per LEASE_BATCH_MAX rows, through the same path
	 * as the daemon's writes (a shared destination's claims included). */
	for (size_t i = 0; i < col.n; i += b->n) {
		struct wait w = { .loop = loop };

		b->n = (unsigned)MIN(col.n - i, (size_t)LEASE_BATCH_MAX);
		memcpy(b->changes, col.c + i, b->n * sizeof(b->changes[0]));
		r = dst->ops->submit(dst, b, batch_done, &w);
		while (r >= 0 && !w.done)
			r = loop_run(loop);
		if (r >= 0)
			r = b->result;
		if (r < 0) {
			snprintf(err, errsize, "%s: write failed: %s", to,
				 b->error[0] ? b->error : strerror(-r));
			goto out;
		}
		for (unsigned k = 0; k < b->n; k++) {
			switch (b->changes[k].op) {
			case LEASE_OP_PUT:
				leases++;
				refused += b->changes[k].refused;
				break;
			case LEASE_OP_NEXT_BOOT_PUT: nb++; break;
			default: hosts++; break;
			}
		}
	}
	fprintf(out, "migrated from=%s to=%s leases=%zu next_boot=%zu hosts=%zu "
		"kept_destination_leases=%zu\n", from, lease_store_is_pg(to) ? "postgresql" : to,
		leases - refused, nb, hosts, refused);
	r = 0;
out:
	lease_store_close(dst);
	lease_store_close(src);
	if (loop)
		loop_free(loop);
	for (size_t i = 0; i < col.n_json; i++)
		free(col.json[i]);
	free(col.json);
	free(col.c);
	free(b);
	return r;
}
