/* test_tftp_session.c - the read-transfer state machine, driven event by
 * event without sockets or clocks. */
#include "unit.h"

#include "tftp/tftp_session.h"
#include "util.h"

#define assert_action(a, k, f, c, rt)                          \
	do {                                                   \
		struct tftp_action act_ = (a);                 \
		assert_int_equal(act_.kind, (k));              \
		assert_int_equal(act_.first, (f));             \
		assert_int_equal(act_.count, (c));             \
		assert_int_equal(act_.retransmit, (rt));       \
	} while (0)

#define assert_data(a, f, c) assert_action(a, TFTP_ACTION_SEND_DATA, f, c, false)
#define assert_resend(a, f, c) assert_action(a, TFTP_ACTION_SEND_DATA, f, c, true)
#define assert_none(a) assert_int_equal((a).kind, TFTP_ACTION_NONE)

static void test_init(void **state)
{
	struct tftp_session s;

	tftp_session_init(&s, 1000, 512, 0, 5);
	assert_int_equal(s.size, 1000);
	assert_int_equal(s.blksize, 512);
	assert_int_equal(s.windowsize, 1);  /* 0 means 1 */
	assert_int_equal(s.retries, 5);
	assert_int_equal(s.n_blocks, 2);
	assert_int_equal(s.acked, 0);
	assert_int_equal(s.sent, 0);
	assert_int_equal(s.tries, 0);
	assert_int_equal(s.retransmits, 0);
}

static void test_block_geometry(void **state)
{
	struct tftp_session s;

	tftp_session_init(&s, 1000, 512, 1, 5);
	assert_int_equal(tftp_session_block_offset(&s, 1), 0);
	assert_int_equal(tftp_session_block_len(&s, 1), 512);
	assert_int_equal(tftp_session_block_offset(&s, 2), 512);
	assert_int_equal(tftp_session_block_len(&s, 2), 488);

	/* 100 bytes: one short block */
	tftp_session_init(&s, 100, 512, 1, 5);
	assert_int_equal(s.n_blocks, 1);
	assert_int_equal(tftp_session_block_len(&s, 1), 100);

	/* large offsets stay exact in 64 bits */
	tftp_session_init(&s, UINT64_C(3) << 32, 65464, 1, 5);
	assert_int_equal(s.n_blocks, (UINT64_C(3) << 32) / 65464 + 1);
	assert_int_equal(tftp_session_block_offset(&s, s.n_blocks),
			 (s.n_blocks - 1) * UINT64_C(65464));
	assert_int_equal(tftp_session_block_len(&s, s.n_blocks),
			 (UINT64_C(3) << 32) % 65464);
}

static void test_start_without_oack(void **state)
{
	struct tftp_session s;

	tftp_session_init(&s, 2000, 512, 1, 5);
	assert_data(tftp_session_start(&s, false), 1, 1);
	assert_int_equal(s.state, TFTP_SESSION_SENDING);
	assert_int_equal(s.sent, 1);
	assert_int_equal(s.acked, 0);
	/* an ACK 0 now (no OACK was sent) acknowledges nothing */
	assert_none(tftp_session_on_ack(&s, 0));
	assert_int_equal(s.sent, 1);
}

static void test_start_window_without_oack(void **state)
{
	struct tftp_session s;

	tftp_session_init(&s, 10 * 512, 512, 4, 5);
	assert_data(tftp_session_start(&s, false), 1, 4);
	assert_int_equal(s.sent, 4);
}

static void test_oack_then_ack0(void **state)
{
	struct tftp_session s;

	tftp_session_init(&s, 3000, 1024, 1, 5);
	assert_action(tftp_session_start(&s, true), TFTP_ACTION_SEND_OACK, 0, 0, false);
	assert_int_equal(s.state, TFTP_SESSION_OACK_SENT);
	assert_int_equal(s.sent, 0);
	/* only ACK 0 answers an OACK */
	assert_none(tftp_session_on_ack(&s, 1));
	assert_none(tftp_session_on_ack(&s, 0xffff));
	assert_int_equal(s.state, TFTP_SESSION_OACK_SENT);
	assert_data(tftp_session_on_ack(&s, 0), 1, 1);
	assert_int_equal(s.state, TFTP_SESSION_SENDING);
	/* a duplicate ACK 0 (the client resent it) sends nothing */
	assert_none(tftp_session_on_ack(&s, 0));
	assert_data(tftp_session_on_ack(&s, 1), 2, 1);
	assert_data(tftp_session_on_ack(&s, 2), 3, 1);
	assert_int_equal(tftp_session_block_len(&s, 3), 3000 - 2048);
	assert_action(tftp_session_on_ack(&s, 3), TFTP_ACTION_DONE, 0, 0, false);
	assert_int_equal(s.state, TFTP_SESSION_DONE);
}

static void test_duplicate_ack_ignored(void **state)
{
	struct tftp_session s;

	/* Sorcerer's Apprentice (RFC 1123 4.2.3.1): answering every copy of an
	 * ACK with data doubles the traffic each round. */
	tftp_session_init(&s, 10 * 512, 512, 1, 5);
	tftp_session_start(&s, false);
	assert_data(tftp_session_on_ack(&s, 1), 2, 1);
	assert_none(tftp_session_on_ack(&s, 1));
	assert_none(tftp_session_on_ack(&s, 1));
	assert_int_equal(s.acked, 1);
	assert_int_equal(s.sent, 2);
	assert_data(tftp_session_on_ack(&s, 2), 3, 1);
}

static void test_stale_and_future_acks(void **state)
{
	struct tftp_session s;

	tftp_session_init(&s, 100 * 512, 512, 4, 5);
	tftp_session_start(&s, false);              /* 1..4 */
	assert_data(tftp_session_on_ack(&s, 4), 5, 4);  /* 5..8 */
	assert_int_equal(s.acked, 4);
	assert_int_equal(s.sent, 8);
	/* older than acked: stale */
	assert_none(tftp_session_on_ack(&s, 2));
	assert_none(tftp_session_on_ack(&s, 3));
	assert_none(tftp_session_on_ack(&s, 0));
	/* beyond what was sent: never answered */
	assert_none(tftp_session_on_ack(&s, 9));
	assert_none(tftp_session_on_ack(&s, 100));
	assert_none(tftp_session_on_ack(&s, 0xffff));
	assert_int_equal(s.acked, 4);
	assert_int_equal(s.sent, 8);
	assert_int_equal(s.state, TFTP_SESSION_SENDING);
}

static void test_partial_window(void **state)
{
	struct tftp_session s;

	/* RFC 7440: an ACK inside the window means the client lost the
	 * block after it; restart the window there. */
	tftp_session_init(&s, 20 * 512, 512, 4, 5);
	assert_data(tftp_session_start(&s, false), 1, 4);
	assert_data(tftp_session_on_ack(&s, 2), 3, 4);  /* 3..6 */
	assert_int_equal(s.acked, 2);
	assert_int_equal(s.sent, 6);
	/* the late ACK 4 from the first window now acknowledges 3..4 */
	assert_data(tftp_session_on_ack(&s, 4), 5, 4);  /* 5..8 */
	assert_int_equal(s.sent, 8);
	assert_data(tftp_session_on_ack(&s, 5), 6, 4);  /* 6..9 */
	assert_int_equal(s.acked, 5);
	assert_int_equal(s.sent, 9);
}

static void test_windowsize_16(void **state)
{
	struct tftp_session s;

	tftp_session_init(&s, 40 * 512 + 100, 512, 16, 5);
	assert_int_equal(s.n_blocks, 41);
	assert_data(tftp_session_start(&s, false), 1, 16);
	assert_data(tftp_session_on_ack(&s, 16), 17, 16);
	assert_data(tftp_session_on_ack(&s, 32), 33, 9);  /* the last, short window */
	assert_int_equal(s.sent, 41);
	assert_int_equal(tftp_session_block_len(&s, 41), 100);
	assert_data(tftp_session_on_ack(&s, 40), 41, 1);   /* lost the last */
	assert_action(tftp_session_on_ack(&s, 41), TFTP_ACTION_DONE, 0, 0, false);
}

static void test_rollover_window_1(void **state)
{
	const uint64_t n = 70000;
	struct tftp_session s;
	struct tftp_action a;

	/* 70000 full blocks, then the empty block that ends the transfer */
	tftp_session_init(&s, n * 512, 512, 1, 5);
	assert_int_equal(s.n_blocks, n + 1);
	assert_int_equal(tftp_session_block_len(&s, n + 1), 0);
	assert_data(tftp_session_start(&s, false), 1, 1);
	for (uint64_t b = 1; b <= n; b++) {
		a = tftp_session_on_ack(&s, (uint16_t)b);
		if (a.kind != TFTP_ACTION_SEND_DATA || a.first != b + 1)
			print_error("stuck after ACK of block %llu (wire %u)\n",
				    (unsigned long long)b, (unsigned)(uint16_t)b);
		assert_data(a, b + 1, 1);
		/* a duplicate of the same wire number is ignored, even right
		 * after the wrap to 0 */
		assert_none(tftp_session_on_ack(&s, (uint16_t)b));
	}
	assert_int_equal(s.acked, n);
	a = tftp_session_on_ack(&s, (uint16_t)(n + 1));
	assert_action(a, TFTP_ACTION_DONE, 0, 0, false);
	assert_int_equal(s.state, TFTP_SESSION_DONE);
	assert_int_equal(s.acked, n + 1);
}

static void test_rollover_windowed(void **state)
{
	struct tftp_session s;
	struct tftp_action a;
	unsigned rounds = 0;

	tftp_session_init(&s, UINT64_C(200000) * 512 + 7, 512, 16, 5);
	a = tftp_session_start(&s, true);
	a = tftp_session_on_ack(&s, 0);
	while (a.kind == TFTP_ACTION_SEND_DATA) {
		uint64_t last = a.first + a.count - 1;

		assert_int_equal(a.first, s.acked + 1);
		assert_true(last <= s.n_blocks);
		a = tftp_session_on_ack(&s, (uint16_t)last);
		rounds++;
		assert_true(rounds < 20000);
	}
	assert_int_equal(a.kind, TFTP_ACTION_DONE);
	assert_int_equal(s.acked, 200001);
	assert_int_equal(rounds, (200001 + 15) / 16);
}

static void test_rollover_partial_ack_across_wrap(void **state)
{
	struct tftp_session s;

	tftp_session_init(&s, UINT64_C(70000) * 512, 512, 10, 5);
	tftp_session_start(&s, false);
	/* walk to acked = 65530 in whole windows */
	while (s.acked < 65530) {
		uint64_t to = MIN(s.acked + 10, (uint64_t)65530);
		tftp_session_on_ack(&s, (uint16_t)to);
	}
	assert_int_equal(s.acked, 65530);
	assert_int_equal(s.sent, 65540);
	/* wire 65535 acknowledges up to 65535 */
	assert_data(tftp_session_on_ack(&s, 65535), 65536, 10);
	assert_int_equal(s.sent, 65545);
	/* wire 3 is absolute 65539 (after the wrap) */
	assert_data(tftp_session_on_ack(&s, 3), 65540, 10);
	assert_int_equal(s.acked, 65539);
	/* wire 65535 again is stale now */
	assert_none(tftp_session_on_ack(&s, 65535));
}

static void test_exact_multiple_ends_with_empty_block(void **state)
{
	struct tftp_session s;

	tftp_session_init(&s, 1024, 512, 1, 5);
	assert_int_equal(s.n_blocks, 3);
	assert_int_equal(tftp_session_block_len(&s, 1), 512);
	assert_int_equal(tftp_session_block_len(&s, 2), 512);
	assert_int_equal(tftp_session_block_len(&s, 3), 0);
	tftp_session_start(&s, false);
	assert_data(tftp_session_on_ack(&s, 1), 2, 1);
	/* ACK of the last full block is not the end */
	assert_data(tftp_session_on_ack(&s, 2), 3, 1);
	assert_int_equal(s.state, TFTP_SESSION_SENDING);
	assert_action(tftp_session_on_ack(&s, 3), TFTP_ACTION_DONE, 0, 0, false);
}

static void test_empty_file(void **state)
{
	struct tftp_session s;

	tftp_session_init(&s, 0, 512, 8, 5);
	assert_int_equal(s.n_blocks, 1);
	assert_int_equal(tftp_session_block_len(&s, 1), 0);
	assert_data(tftp_session_start(&s, false), 1, 1);  /* window capped */
	assert_action(tftp_session_on_ack(&s, 1), TFTP_ACTION_DONE, 0, 0, false);
	assert_int_equal(s.state, TFTP_SESSION_DONE);
}

static void test_timeouts_resend_then_fail(void **state)
{
	struct tftp_session s;

	tftp_session_init(&s, 10 * 512, 512, 2, 3);
	tftp_session_start(&s, false);
	assert_data(tftp_session_on_ack(&s, 1), 2, 2);  /* 2..3 */
	for (unsigned i = 1; i <= 3; i++) {
		assert_resend(tftp_session_on_timeout(&s), 2, 2);
		assert_int_equal(s.tries, i);
		assert_int_equal(s.retransmits, i);
	}
	assert_action(tftp_session_on_timeout(&s), TFTP_ACTION_FAIL, 0, 0, false);
	assert_int_equal(s.state, TFTP_SESSION_FAILED);
	assert_int_equal(s.retransmits, 3);
	/* dead: nothing moves it any more */
	assert_none(tftp_session_on_ack(&s, 3));
	assert_none(tftp_session_on_timeout(&s));
	assert_int_equal(s.state, TFTP_SESSION_FAILED);
}

static void test_ack_resets_tries(void **state)
{
	struct tftp_session s;

	tftp_session_init(&s, 10 * 512, 512, 1, 2);
	tftp_session_start(&s, false);
	assert_resend(tftp_session_on_timeout(&s), 1, 1);
	assert_resend(tftp_session_on_timeout(&s), 1, 1);
	assert_data(tftp_session_on_ack(&s, 1), 2, 1);
	assert_int_equal(s.tries, 0);
	assert_resend(tftp_session_on_timeout(&s), 2, 1);
	assert_resend(tftp_session_on_timeout(&s), 2, 1);
	/* a duplicate ACK is not progress: it does not buy more tries */
	assert_none(tftp_session_on_ack(&s, 1));
	assert_int_equal(s.tries, 2);
	assert_action(tftp_session_on_timeout(&s), TFTP_ACTION_FAIL, 0, 0, false);
	assert_int_equal(s.retransmits, 4);
}

static void test_oack_timeouts(void **state)
{
	struct tftp_session s;

	tftp_session_init(&s, 10, 512, 1, 2);
	tftp_session_start(&s, true);
	assert_action(tftp_session_on_timeout(&s), TFTP_ACTION_SEND_OACK, 0, 0, true);
	assert_action(tftp_session_on_timeout(&s), TFTP_ACTION_SEND_OACK, 0, 0, true);
	assert_action(tftp_session_on_timeout(&s), TFTP_ACTION_FAIL, 0, 0, false);
	assert_none(tftp_session_on_ack(&s, 0));

	/* ACK 0 after OACK retries resets the count */
	tftp_session_init(&s, 10, 512, 1, 1);
	tftp_session_start(&s, true);
	assert_action(tftp_session_on_timeout(&s), TFTP_ACTION_SEND_OACK, 0, 0, true);
	assert_data(tftp_session_on_ack(&s, 0), 1, 1);
	assert_resend(tftp_session_on_timeout(&s), 1, 1);
	assert_action(tftp_session_on_timeout(&s), TFTP_ACTION_FAIL, 0, 0, false);
}

static void test_zero_retries(void **state)
{
	struct tftp_session s;

	tftp_session_init(&s, 10, 512, 1, 0);
	tftp_session_start(&s, false);
	assert_action(tftp_session_on_timeout(&s), TFTP_ACTION_FAIL, 0, 0, false);
}

static void test_done_is_final(void **state)
{
	struct tftp_session s;

	tftp_session_init(&s, 10, 512, 1, 5);
	tftp_session_start(&s, false);
	assert_action(tftp_session_on_ack(&s, 1), TFTP_ACTION_DONE, 0, 0, false);
	assert_none(tftp_session_on_timeout(&s));
	assert_none(tftp_session_on_ack(&s, 1));
	assert_none(tftp_session_on_ack(&s, 2));
	assert_int_equal(s.state, TFTP_SESSION_DONE);
	assert_int_equal(s.retransmits, 0);
}

/* A netascii stream starts on an upper bound (twice the file) and learns
 * its size at the end: a window planned past the end is cut there, and
 * the ACK of the real last block ends the transfer. */
static void test_size_learned_at_end(void **state)
{
	struct tftp_session s;

	tftp_session_init(&s, 2 * 1000, 512, 8, 5);  /* bound: 4 blocks */
	assert_int_equal(s.n_blocks, 4);
	assert_data(tftp_session_start(&s, false), 1, 4);
	tftp_session_set_size(&s, 1100);              /* real: 3 blocks */
	assert_int_equal(s.n_blocks, 3);
	assert_int_equal(s.sent, 3);
	assert_int_equal(tftp_session_block_len(&s, 3), 76);
	assert_none(tftp_session_on_ack(&s, 4));      /* never sent */
	assert_int_equal(tftp_session_on_ack(&s, 3).kind, TFTP_ACTION_DONE);

	/* never grows past the bound */
	tftp_session_init(&s, 1000, 512, 1, 5);
	tftp_session_set_size(&s, 5000);
	assert_int_equal(s.size, 1000);
	assert_int_equal(s.n_blocks, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init),
		cmocka_unit_test(test_size_learned_at_end),
		cmocka_unit_test(test_block_geometry),
		cmocka_unit_test(test_start_without_oack),
		cmocka_unit_test(test_start_window_without_oack),
		cmocka_unit_test(test_oack_then_ack0),
		cmocka_unit_test(test_duplicate_ack_ignored),
		cmocka_unit_test(test_stale_and_future_acks),
		cmocka_unit_test(test_partial_window),
		cmocka_unit_test(test_windowsize_16),
		cmocka_unit_test(test_rollover_window_1),
		cmocka_unit_test(test_rollover_windowed),
		cmocka_unit_test(test_rollover_partial_ack_across_wrap),
		cmocka_unit_test(test_exact_multiple_ends_with_empty_block),
		cmocka_unit_test(test_empty_file),
		cmocka_unit_test(test_timeouts_resend_then_fail),
		cmocka_unit_test(test_ack_resets_tries),
		cmocka_unit_test(test_oack_timeouts),
		cmocka_unit_test(test_zero_retries),
		cmocka_unit_test(test_done_is_final),
	};

	return cmocka_run_group_tests_name("tftp_session", tests, NULL, NULL);
}
