/*
 * console_assets.h - the console's HTML, JavaScript and CSS, built into
 * the binary (scripts/console_assets.sh makes the table at build time).
 */
#ifndef MOAT_CONSOLE_ASSETS_H
#define MOAT_CONSOLE_ASSETS_H

#include <stddef.h>

struct console_asset {
	const char		*path;		/* "/index.html", "/pages/x.js" */
	const unsigned char	*start, *end;	/* the file's bytes */
};

/* ends with a row whose path is NULL */
extern const struct console_asset console_assets[];

/*
 * console_asset_find - the asset served at path ("/" is /index.html),
 * or NULL; console_asset_type - its Content-Type, by the name's ending
 */
const struct console_asset *console_asset_find(const char *path);
const char *console_asset_type(const char *path);

#endif
