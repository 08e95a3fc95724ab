/*
 * console_assets.c - the console's files, by URL path.
 *
 * Public: console_asset_find, console_asset_type.
 *
 * The table (console_assets[]) is generated at build time from console/
 * by scripts/console_assets.sh; the bytes are in the binary, so nothing
 * is read from disk and nothing loads from the Internet.
 *
 * SECURITY: a path is compared whole with the table's; nothing of it
 * reaches the file system.
 */
#include <string.h>

#include "console/console_assets.h"

/* console_asset_find - the file at path, "/" being /index.html */
const struct console_asset *
console_asset_find(const char *path)
{
	if (strcmp(path, "/") == 0)
		path = "/index.html";
	for (const struct console_asset *a = console_assets; a->path; a++)
		if (strcmp(a->path, path) == 0)
			return a;
	return NULL;
}

/* console_asset_type - the Content-Type of a file, by its name */
const char *
console_asset_type(const char *path)
{
	static const struct { const char *ext, *type; } types[] = {
		{ ".html", "text/html; charset=utf-8" },
		{ ".js", "text/javascript; charset=utf-8" },
		{ ".css", "text/css; charset=utf-8" },
		{ ".svg", "image/svg+xml" },
	};
	size_t n = strlen(path);

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		size_t e = strlen(types[i].ext);

		if (n > e && strcmp(path + n - e, types[i].ext) == 0)
			return types[i].type;
	}
	return "application/octet-stream";
}
