/*
 * ckpt_bytes.h - edits a real, valid fixture checkpoint for hostile-input tests.
 *
 * Where ckpt_builder.h builds checkpoints from a config, this starts from the
 * bytes the Python exporter wrote (tests/fixtures, *.safetensors) and changes
 * one thing: the header JSON (a tensor entry, a metadata key, a config key)
 * or raw bytes. Reassembly writes the 8-byte little-endian length and pads
 * the header with spaces so the data section starts at a multiple of 8, as
 * docs/checkpoint-format.md §1 asks; so every other part of the file stays
 * valid and a test fails for the one reason it meant.
 *
 * Test-only code: I/O and allocation failures abort with a message.
 */
#ifndef S2S_CKPT_BYTES_H
#define S2S_CKPT_BYTES_H

#include <jansson.h>
#include <stddef.h>

typedef struct {
	json_t *header;      /* owned: the parsed header object */
	unsigned char *data; /* owned: the data section */
	size_t data_len;
} ckpt_bytes;

/* "$S2S_SRCDIR/tests/fixtures/<name>" into buf (>= 4096 bytes); returns buf. */
char *cb_fixture_path(const char *name, char *buf, size_t cap);

/* Reads a whole file; caller frees. Aborts on error. */
unsigned char *cb_read_file(const char *path, size_t *len);

/* Loads fixture `name` (e.g. "lstm_dot_luong_tied.safetensors"). */
void cb_load(ckpt_bytes *cb, const char *name);
void cb_free(ckpt_bytes *cb);

/* Borrowed views into the header (NULL when absent). */
json_t *cb_tensor(ckpt_bytes *cb, const char *name);
json_t *cb_metadata(ckpt_bytes *cb);

/* Metadata string value (borrowed) or NULL; set replaces, value NULL deletes. */
const char *cb_meta_get(ckpt_bytes *cb, const char *key);
void cb_meta_set(ckpt_bytes *cb, const char *key, const char *value);

/*
 * Parses metadata `key` as JSON, sets member `field` of that object to `v`
 * (stolen; NULL deletes the member) and stores it back compactly.
 */
void cb_meta_json_set(ckpt_bytes *cb, const char *key, const char *field, json_t *v);

/* Sets tensor `name`'s "data_offsets" to [begin, end] (integers). */
void cb_set_offsets(ckpt_bytes *cb, const char *name, json_int_t begin, json_int_t end);
/* Reads tensor `name`'s data_offsets; aborts when absent. */
void cb_get_offsets(ckpt_bytes *cb, const char *name, json_int_t *begin, json_int_t *end);

/* Appends n zero bytes to the data section; returns the old data length. */
size_t cb_grow_data(ckpt_bytes *cb, size_t n);

/* Serialises header + data; caller frees. */
unsigned char *cb_assemble(const ckpt_bytes *cb, size_t *len);
/* Same with a caller-chosen header text (padded to keep 8-byte alignment). */
unsigned char *cb_assemble_text(const char *header, const unsigned char *data, size_t data_len,
                                size_t *len);

/* Writes bytes to dir/name; path receives the full name (cap >= 4096). */
void cb_write(const char *dir, const char *name, const void *bytes, size_t len, char *path,
              size_t cap);

#endif
