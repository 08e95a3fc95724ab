/*
 * fuzz_watch_key.c - libFuzzer target for the watch's sender keys
 * (ip:ADDRESS, ip:ADDRESS/SENDER), which an admin names over the
 * control socket.
 *
 * For any input: a key that parses as an ip: key has a non-empty
 * address of hex digits, dots and colons only, fitting its buffer; a
 * sender key built again from its parts is the input with the sender
 * folded to lowercase (<> for the null sender). A violated invariant
 * aborts (a crash for libFuzzer).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "policy/watch.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char key[WATCH_KEY_MAX * 2], ip[64], snd[WATCH_KEY_MAX];
	char again[WATCH_KEY_MAX * 2], folded[WATCH_KEY_MAX * 2];
	enum watch_key_kind kind;

	if (size >= sizeof(key))
		return 0;
	memcpy(key, data, size);
	key[size] = '\0';
	if (watch_key_parse(key, &kind, ip, sizeof(ip), snd, sizeof(snd)) == -1)
		return 0;
	if (kind == WATCH_KEY_USER) {
		CHECK(strncmp(key, "ip:", 3) != 0);
		return 0;
	}
	CHECK(ip[0] != '\0' && strlen(ip) < sizeof(ip));
	CHECK(strspn(ip, "0123456789abcdefABCDEF.:") == strlen(ip));
	if (kind == WATCH_KEY_CLIENT) {
		CHECK(watch_key_client(again, sizeof(again), ip) == 0);
		CHECK(strcmp(again, key) == 0);
		return 0;
	}
	CHECK(watch_key_sender(again, sizeof(again), ip, snd) == 0);
	CHECK(watch_sender_fold(folded, sizeof(folded), key) == 0);
	/* the address is not folded: only what follows its '/' */
	memcpy(folded, key, 3 + strlen(ip));
	CHECK(strcmp(again, folded) == 0 ||
	    (snd[0] == '\0' && strcmp(strchr(key, '/'), "/<>") == 0));
	return 0;
}
