/* replay: runs a fuzz target over every file of its corpus (CORPUS_DIR, or the directories given as arguments),
 * one TAP point per file. A crash, a sanitizer report or a trap fails the test. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "tap.h"

#define REPLAY_MAX_INPUT (1 << 20)

static void replay_file(const char *path)
{
	static uint8_t buf[REPLAY_MAX_INPUT];
	size_t n;
	FILE *f = fopen(path, "rb");

	if (!f) {
		ok(0, "open %s", path);
		return;
	}
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	LLVMFuzzerTestOneInput(buf, n);
	ok(1, "%s (%zu bytes)", strrchr(path, '/') ? strrchr(path, '/') + 1 : path, n);
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static void replay_dir(const char *dir)
{
	struct dirent **entries;
	int n = scandir(dir, &entries, NULL, by_name);

	if (n < 0) {
		ok(0, "read corpus directory %s", dir);
		return;
	}
	for (int i = 0; i < n; i++) {
		char path[4096];

		if (entries[i]->d_name[0] != '.') {
			snprintf(path, sizeof(path), "%s/%s", dir, entries[i]->d_name);
			replay_file(path);
		}
		free(entries[i]);
	}
	free(entries);
}

int main(int argc, char **argv)
{
	if (argc > 1)
		for (int i = 1; i < argc; i++)
			replay_dir(argv[i]);
	else
		replay_dir(CORPUS_DIR);
	return done_testing();
}
