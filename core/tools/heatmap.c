/* heatmap.c - see heatmap.h. */
#include "heatmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Five shades from empty to full, each drawn twice to make a square-ish cell. */
static const char *const shades[] = {" ", "\u2591", "\u2592", "\u2593", "\u2588"};
#define N_SHADES 5

/* One code point of s (advancing *s); malformed bytes count as themselves. */
static uint32_t next_cp(const char **s)
{
	const unsigned char *p = (const unsigned char *)*s;
	int n = p[0] < 0x80 ? 1 : p[0] >= 0xf0 ? 4 : p[0] >= 0xe0 ? 3 : p[0] >= 0xc0 ? 2 : 1;
	uint32_t c = n == 1 ? p[0] : p[0] & (0x3f >> (n - 1));
	for (int i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80) { /* cut short: take the lead byte alone */
			*s += 1;
			return p[0];
		}
		c = (c << 6) | (p[i] & 0x3f);
	}
	*s += n;
	return c;
}

/*
 * Columns a code point takes: 2 for the wide East Asian blocks, 0 for
 * combining marks, else 1. A table of ranges rather than wcwidth(), which
 * would need a UTF-8 locale that the tool does not otherwise set.
 */
static int cp_width(uint32_t c)
{
	if ((c >= 0x300 && c <= 0x36f) || c == 0x200b)
		return 0;
	if ((c >= 0x1100 && c <= 0x115f) || (c >= 0x2e80 && c <= 0xa4cf) ||
	    (c >= 0xac00 && c <= 0xd7a3) || (c >= 0xf900 && c <= 0xfaff) ||
	    (c >= 0xfe30 && c <= 0xfe4f) || (c >= 0xff00 && c <= 0xff60) ||
	    (c >= 0xffe0 && c <= 0xffe6) || (c >= 0x20000 && c <= 0x3fffd))
		return 2;
	return 1;
}

/* A label's code points, the word mark made visible, cut to S2ST_LABEL_MAX. */
typedef struct {
	uint32_t cp[S2ST_LABEL_MAX];
	int n;
} label;

static void make_label(const char *s, label *l)
{
	l->n = 0;
	while (*s && l->n < S2ST_LABEL_MAX) {
		uint32_t c = next_cp(&s);
		l->cp[l->n++] = c == 0x2581 ? 0x2423 : c;
	}
	if (*s)
		l->cp[S2ST_LABEL_MAX - 1] = 0x2026;
	if (l->n == 0)
		l->cp[l->n++] = 0x2423; /* an empty token is drawn as a space mark */
}

static void put_cp(uint32_t c, FILE *out)
{
	char b[4];
	int n = c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
	if (n == 1)
		b[0] = (char)c;
	else {
		for (int i = n - 1; i > 0; i--, c >>= 6)
			b[i] = (char)(0x80 | (c & 0x3f));
		b[0] = (char)((0xf0 << (4 - n)) | c);
	}
	fwrite(b, 1, (size_t)n, out);
}

static int label_width(const label *l)
{
	int w = 0;
	for (int i = 0; i < l->n; i++)
		w += cp_width(l->cp[i]);
	return w;
}

static void put_label(const label *l, int pad_to, FILE *out)
{
	for (int i = label_width(l); i < pad_to; i++)
		fputc(' ', out);
	for (int i = 0; i < l->n; i++)
		put_cp(l->cp[i], out);
}

static void put_cell(float v, bool color, FILE *out)
{
	v = v < 0 ? 0 : v > 1 ? 1 : v;
	if (color) { /* grey ramp 232 (black) .. 255 (white) of the 256-colour palette */
		fprintf(out, "\x1b[48;5;%dm  \x1b[0m", 232 + (int)(v * 23 + 0.5f));
		return;
	}
	int k = (int)(v * N_SHADES);
	const char *s = shades[k < N_SHADES ? k : N_SHADES - 1];
	fputs(s, out);
	fputs(s, out);
}

/* The source labels, one character per line, each in its two-column slot. */
static void write_header(const label *cols, int n_cols, int indent, FILE *out)
{
	int depth = 0;
	for (int j = 0; j < n_cols; j++)
		depth = cols[j].n > depth ? cols[j].n : depth;
	for (int i = 0; i < depth; i++) {
		int last = -1; /* trailing blanks are not written */
		for (int j = 0; j < n_cols; j++)
			if (i < cols[j].n)
				last = j;
		fprintf(out, "%*s", indent + 1, "");
		for (int j = 0; j <= last; j++) {
			uint32_t c = i < cols[j].n ? cols[j].cp[i] : ' ';
			put_cp(c, out);
			for (int w = cp_width(c); j < last && w < 2; w++)
				fputc(' ', out);
		}
		fputc('\n', out);
	}
}

static void write_legend(bool color, FILE *out)
{
	fputs("legend: ", out);
	if (color) {
		fputs("0 ", out);
		for (int i = 0; i <= 4; i++)
			put_cell(i / 4.0f, true, out);
		fputs(" 1\n", out);
		return;
	}
	for (int i = 0; i < N_SHADES; i++) {
		fprintf(out, "%s[%s%s]", i ? " " : "", shades[i], shades[i]);
		if (i < N_SHADES - 1)
			fprintf(out, "<%.1f", (i + 1) / (double)N_SHADES);
		else
			fprintf(out, ">=%.1f", i / (double)N_SHADES);
	}
	fputc('\n', out);
}

int s2st_heatmap_write(const s2st_heatmap *h, FILE *out)
{
	if (!h->weights) {
		fputs("  (this model has no attention)\n", out);
		return 0;
	}
	label *cols = calloc((size_t)h->n_cols + 1, sizeof *cols);
	label *rows = calloc((size_t)h->n_rows + 1, sizeof *rows);
	if (!cols || !rows) {
		free(cols);
		free(rows);
		return -1;
	}
	int lw = 1;
	for (int j = 0; j < h->n_cols; j++)
		make_label(h->cols[j], &cols[j]);
	for (int i = 0; i < h->n_rows; i++) {
		make_label(h->rows[i], &rows[i]);
		lw = label_width(&rows[i]) > lw ? label_width(&rows[i]) : lw;
	}
	write_header(cols, h->n_cols, lw, out);
	for (int i = 0; i < h->n_rows; i++) {
		put_label(&rows[i], lw, out);
		fputc(' ', out);
		for (int j = 0; j < h->n_cols; j++)
			put_cell(h->weights[(size_t)i * (size_t)h->n_cols + (size_t)j], h->color, out);
		fputc('\n', out);
	}
	write_legend(h->color, out);
	fputs("source tokens across, target tokens down; rows sum to 1\n", out);
	free(cols);
	free(rows);
	return 0;
}

int s2st_heatmap_color(const char *when, FILE *out)
{
	if (!strcmp(when, "always"))
		return 1;
	if (!strcmp(when, "never"))
		return 0;
	if (strcmp(when, "auto"))
		return -1;
	const char *nc = getenv("NO_COLOR");
	return isatty(fileno(out)) && !(nc && *nc);
}
