/*
 * heatmap.h - an attention matrix drawn as text for a terminal, the way
 * the `seq2seq` client's --heatmap draws it: one two-column cell per
 * source token (labels written vertically above), one line per target
 * token, and a legend.
 *
 * Used by seq2seq-translate --attention. No state; everything it is given
 * is borrowed for the call.
 */
#ifndef S2ST_HEATMAP_H
#define S2ST_HEATMAP_H

#include <stdbool.h>
#include <stdio.h>

typedef struct {
	const char *const *cols; /* (n_cols) source token strings, UTF-8 */
	int n_cols;
	const char *const *rows; /* (n_rows) target token strings, UTF-8 */
	int n_rows;
	const float *weights;    /* (n_rows x n_cols) row-major; NULL: the model has no attention */
	bool color;              /* 256-colour background cells instead of shade characters */
} s2st_heatmap;

/*
 * Writes the matrix to `out`: labels, rows, legend. A SentencePiece word
 * mark (U+2581) is drawn as a visible space (U+2423); labels longer than
 * S2ST_LABEL_MAX characters are cut with an ellipsis. Returns 0, or -1 on
 * allocation failure (nothing or part written).
 */
#define S2ST_LABEL_MAX 12
int s2st_heatmap_write(const s2st_heatmap *h, FILE *out);

/* Whether to draw in colour for --color=WHEN: "always", "never" or "auto"
 * (a terminal and no NO_COLOR). -1 for any other WHEN. */
int s2st_heatmap_color(const char *when, FILE *out);

#endif
