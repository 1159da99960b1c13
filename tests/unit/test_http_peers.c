/* test_http_peers.c - http_peers.h: connections per client address for the
 * HTTP per-address cap. The table must count exactly through any order of
 * adds and removals, including the backward shift on removal. */
#include "unit.h"

#include <errno.h>
#include <stdlib.h>

#include "http/http_peers.h"

static void test_count_add_del(void **state)
{
	struct http_peers *p = NULL;

	assert_rc(http_peers_new(4, &p), 0);
	assert_int_equal(http_peers_count(p, 0x0a000001), 0);
	assert_rc(http_peers_add(p, 0x0a000001), 1);
	assert_rc(http_peers_add(p, 0x0a000001), 2);
	assert_rc(http_peers_add(p, 0x0a000002), 1);
	assert_int_equal(http_peers_count(p, 0x0a000001), 2);
	http_peers_del(p, 0x0a000001);
	assert_int_equal(http_peers_count(p, 0x0a000001), 1);
	http_peers_del(p, 0x0a000001);
	assert_int_equal(http_peers_count(p, 0x0a000001), 0);
	http_peers_del(p, 0x0a000001);  /* not there: no-op */
	assert_int_equal(http_peers_count(p, 0x0a000002), 1);
	http_peers_free(p);
}

static void test_full_table(void **state)
{
	struct http_peers *p = NULL;

	assert_rc(http_peers_new(3, &p), 0);
	for (uint32_t ip = 1; ip <= 3; ip++)
		assert_rc(http_peers_add(p, ip), 1);
	assert_rc(http_peers_add(p, 4), -ENOSPC);
	assert_rc(http_peers_add(p, 2), 2);  /* a known address still counts */
	http_peers_del(p, 1);
	assert_rc(http_peers_add(p, 4), 1);
	assert_rc(http_peers_add(p, 0), 0);  /* not IPv4: never counted */
	assert_int_equal(http_peers_count(p, 0), 0);
	http_peers_free(p);
	assert_rc(http_peers_new(0, &p), -EINVAL);
	http_peers_free(NULL);
}

/* Random adds and removals against a plain array model: collisions and
 * wrap-around of the probe runs are certain with this many keys drawn from
 * a small range of a small table. */
static void test_random_against_model(void **state)
{
	enum { KEYS = 200, STEPS = 200000 };
	static unsigned model[KEYS];
	struct http_peers *p = NULL;
	unsigned distinct = 0;

	srand(12);
	assert_rc(http_peers_new(KEYS, &p), 0);
	for (int s = 0; s < STEPS; s++) {
		unsigned k = (unsigned)rand() % KEYS;
		/* keys spread like addresses of one subnet and of several */
		uint32_t ip = k < KEYS / 2 ? 0x0a000000u + k : (k << 24) | 7;

		if (rand() % 2) {
			if (!model[k])
				distinct++;
			model[k]++;
			assert_rc(http_peers_add(p, ip), model[k]);
		} else {
			if (model[k] && --model[k] == 0)
				distinct--;
			http_peers_del(p, ip);
		}
		if (s % 1000 == 0)
			for (unsigned j = 0; j < KEYS; j++)
				assert_int_equal(http_peers_count(p, j < KEYS / 2 ? 0x0a000000u + j
										  : (j << 24) | 7),
						 model[j]);
	}
	assert_true(distinct <= KEYS);
	http_peers_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_count_add_del),
		cmocka_unit_test(test_full_table),
		cmocka_unit_test(test_random_against_model),
	};

	return cmocka_run_group_tests_name("http_peers", tests, NULL, NULL);
}
