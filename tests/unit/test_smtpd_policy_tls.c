/*
 * NAME
 *	test_smtpd_policy_tls - check_policy_service's encryption_*
 *	attributes from smtpd's TLS summary
 * DESCRIPTION
 *	pm__policy_tls() (smtpd_policy.c) splits "TLSv1.3 with cipher
 *	NAME (256/256 bits)" into protocol, cipher and key size; each
 *	part is cut to its own buffer's size (a key size or cipher longer
 *	than its buffer does not write past it: guard bytes stay intact),
 *	and a missing summary gives three empty strings.
 */
#include "smtpd_access_priv.h"

#include <criterion/criterion.h>
#include <string.h>

struct bufs {
	char proto[8];
	char g1[8];
	char cipher[12];
	char g2[8];
	char bits[4];
	char g3[8];
};

static void
split(const char *sum, struct bufs *b)
{
	memset(b, 'G', sizeof(*b));
	pm__policy_tls(sum, b->proto, sizeof(b->proto), b->cipher,
	    sizeof(b->cipher), b->bits, sizeof(b->bits));
}

static void
guards(const struct bufs *b)
{
	static const char g[8] = "GGGGGGGG";

	cr_assert(memcmp(b->g1, g, 8) == 0);
	cr_assert(memcmp(b->g2, g, 8) == 0);
	cr_assert(memcmp(b->g3, g, 8) == 0);
}

Test(smtpd_policy_tls, split)
{
	struct bufs b;

	split("TLSv1.3 with cipher AES256 (256/256 bits)", &b);
	cr_assert_str_eq(b.proto, "TLSv1.3");
	cr_assert_str_eq(b.cipher, "AES256");
	cr_assert_str_eq(b.bits, "256");
	guards(&b);
}

Test(smtpd_policy_tls, each_buffer_its_own_size)
{
	struct bufs b;

	split("TLSv1.3-long-name with cipher "
	      "TLS_AES_256_GCM_SHA384_AND_MORE (1234567890123/256 bits)",
	    &b);
	cr_assert_str_eq(b.proto, "TLSv1.3");
	cr_assert_str_eq(b.cipher, "TLS_AES_256");
	cr_assert_str_eq(b.bits, "123");
	guards(&b);
}

Test(smtpd_policy_tls, no_summary)
{
	struct bufs b;

	split(NULL, &b);
	cr_assert_str_eq(b.proto, "");
	cr_assert_str_eq(b.cipher, "");
	cr_assert_str_eq(b.bits, "");
	guards(&b);
}
