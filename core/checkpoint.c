/*
 * checkpoint.c - the safetensors container: map, validate, look up.
 *
 * The file is read into anonymous memory (see read_file for why it is not
 * mapped). Everything in it is hostile until checked. The header length, each
 * tensor's dtype, shape and offsets are validated with overflow-safe
 * arithmetic before any pointer into the data section is formed, so no later
 * code can read outside the buffer.
 */
#include "s2s_checkpoint.h"

#include "anon.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_HEADER (100u << 20)
#define MAX_NUMEL  ((int64_t)INT32_MAX)

typedef struct {
	char *key;
	char *value;
} meta_entry;

struct s2s_checkpoint {
	const unsigned char *bytes; /* whole file: our anonymous copy or the caller's buffer */
	size_t len;
	int owned; /* bytes come from s2s__anon_alloc */
	int ntensors;
	s2s_tensor_info *tensors; /* in header order */
	char **names;             /* owned copies backing tensors[i].name */
	int nmeta;
	meta_entry *meta;
};

static int dtype_parse(const char *s, s2s_dtype *out)
{
	if (strcmp(s, "F32") == 0)
		*out = S2S_DTYPE_F32;
	else if (strcmp(s, "F16") == 0)
		*out = S2S_DTYPE_F16;
	else if (strcmp(s, "BF16") == 0)
		*out = S2S_DTYPE_BF16;
	else
		return -1;
	return 0;
}

static size_t dtype_size(s2s_dtype d)
{
	return d == S2S_DTYPE_F32 ? 4 : 2;
}

static int parse_shape(const char *name, json_t *shape, s2s_tensor_info *t, s2s_error *err)
{
	if (!json_is_array(shape) || json_array_size(shape) < 1 ||
	    json_array_size(shape) > S2S_MAX_RANK)
		return s2s__error_set(err, S2S_EFORMAT,
		                      "tensor '%s': shape must be an array of 1 to %d dimensions",
		                      name, S2S_MAX_RANK);
	t->rank = (int)json_array_size(shape);
	t->numel = 1;
	for (int i = 0; i < t->rank; i++) {
		json_t *d = json_array_get(shape, (size_t)i);
		if (!json_is_integer(d) || json_integer_value(d) < 1 ||
		    json_integer_value(d) > INT32_MAX)
			return s2s__error_set(
			    err, S2S_EFORMAT,
			    "tensor '%s': dimension %d must be an integer in 1..2^31-1", name, i);
		t->shape[i] = json_integer_value(d);
		if (t->numel > MAX_NUMEL / t->shape[i])
			return s2s__error_set(err, S2S_EFORMAT,
			                      "tensor '%s': element count exceeds 2^31-1", name);
		t->numel *= t->shape[i];
	}
	return 0;
}

static int parse_offsets(const char *name, json_t *offs, size_t data_len, s2s_tensor_info *t,
                         int64_t *begin, s2s_error *err)
{
	json_t *b = json_array_get(offs, 0), *e = json_array_get(offs, 1);
	if (!json_is_array(offs) || json_array_size(offs) != 2 || !json_is_integer(b) ||
	    !json_is_integer(e))
		return s2s__error_set(err, S2S_EFORMAT,
		                      "tensor '%s': data_offsets must be [begin, end] integers",
		                      name);
	json_int_t lo = json_integer_value(b), hi = json_integer_value(e);
	if (lo < 0 || hi < lo)
		return s2s__error_set(
		    err, S2S_EBOUNDS,
		    "tensor '%s': data_offsets [%lld, %lld] must satisfy 0 <= begin <= end", name,
		    (long long)lo, (long long)hi);
	if ((uint64_t)hi > data_len)
		return s2s__error_set(err, S2S_EBOUNDS,
		                      "tensor '%s': data_offsets [%lld, %lld] exceed data size %zu",
		                      name, (long long)lo, (long long)hi, data_len);
	size_t es = dtype_size(t->dtype);
	if ((uint64_t)(hi - lo) != (uint64_t)t->numel * es)
		return s2s__error_set(
		    err, S2S_EFORMAT, "tensor '%s': %lld bytes in data_offsets, shape needs %lld",
		    name, (long long)(hi - lo), (long long)(t->numel * (int64_t)es));
	if (lo % (json_int_t)es != 0)
		return s2s__error_set(err, S2S_EFORMAT,
		                      "tensor '%s': offset %lld is not aligned to %zu bytes", name,
		                      (long long)lo, es);
	*begin = lo;
	t->nbytes = (size_t)(hi - lo);
	return 0;
}

static int parse_tensor(const char *name, json_t *v, const unsigned char *data, size_t data_len,
                        s2s_tensor_info *t, s2s_error *err)
{
	if (!json_is_object(v))
		return s2s__error_set(err, S2S_EFORMAT, "tensor '%s': entry is not an object",
		                      name);
	json_t *dt = json_object_get(v, "dtype");
	if (!json_is_string(dt))
		return s2s__error_set(err, S2S_EFORMAT, "tensor '%s': dtype missing", name);
	if (dtype_parse(json_string_value(dt), &t->dtype) < 0)
		return s2s__error_set(err, S2S_EDTYPE,
		                      "tensor '%s' has dtype %s; supported: F32, F16, BF16", name,
		                      json_string_value(dt));
	int rc = parse_shape(name, json_object_get(v, "shape"), t, err);
	int64_t begin = 0;
	if (rc == 0)
		rc = parse_offsets(name, json_object_get(v, "data_offsets"), data_len, t, &begin,
		                   err);
	if (rc == 0)
		t->data = data + begin;
	return rc;
}

static int parse_metadata(s2s_checkpoint *ck, json_t *m, s2s_error *err)
{
	if (!json_is_object(m))
		return s2s__error_set(err, S2S_EFORMAT, "__metadata__ is not an object");
	ck->meta = calloc(json_object_size(m) + 1, sizeof *ck->meta);
	if (!ck->meta)
		return s2s__error_set(err, S2S_ENOMEM, "out of memory reading metadata");
	const char *k;
	json_t *v;
	json_object_foreach(m, k, v)
	{
		if (!json_is_string(v))
			return s2s__error_set(err, S2S_EFORMAT, "metadata key '%s' is not a string",
			                      k);
		meta_entry *e = &ck->meta[ck->nmeta++];
		e->key = strdup(k);
		e->value = strdup(json_string_value(v));
		if (!e->key || !e->value)
			return s2s__error_set(err, S2S_ENOMEM, "out of memory reading metadata");
	}
	return 0;
}

static int cmp_offset(const void *a, const void *b)
{
	const s2s_tensor_info *x = *(const s2s_tensor_info *const *)a;
	const s2s_tensor_info *y = *(const s2s_tensor_info *const *)b;
	return x->data < y->data ? -1 : x->data > y->data ? 1 : 0;
}

/*
 * The tensors must tile the data section exactly, as the safetensors
 * reference implementation requires: sorted by start, the first begins at 0,
 * each begins where the previous ends (earlier: an overlap; later: a hole of
 * bytes nobody owns) and the last ends at the end of the file (else trailing
 * bytes). Holes and trailing bytes hide data a checksum covers but no tensor
 * does, and usually mean a writer and its offsets disagree. A sorted copy of
 * pointers keeps s2s_checkpoint_tensor_at in header order.
 */
static int check_layout(s2s_checkpoint *ck, const unsigned char *data, size_t data_len,
                        s2s_error *err)
{
	if (ck->ntensors == 0)
		return data_len == 0
		           ? 0
		           : s2s__error_set(err, S2S_EFORMAT,
		                            "data section holds %zu bytes but no tensor", data_len);
	const s2s_tensor_info **by = malloc((size_t)ck->ntensors * sizeof *by);
	if (!by)
		return s2s__error_set(err, S2S_ENOMEM, "out of memory checking offsets");
	for (int i = 0; i < ck->ntensors; i++)
		by[i] = &ck->tensors[i];
	qsort(by, (size_t)ck->ntensors, sizeof *by, cmp_offset);
	int rc = 0;
	size_t end = 0; /* end of the previous tensor, relative to data */
	const char *prev = NULL;
	for (int i = 0; i < ck->ntensors && rc == 0; i++) {
		const s2s_tensor_info *t = by[i];
		size_t begin = (size_t)((const unsigned char *)t->data - data);
		if (begin < end)
			rc = s2s__error_set(err, S2S_EFORMAT, "tensor '%s' overlaps tensor '%s'",
			                    t->name, prev);
		else if (begin > end)
			rc = s2s__error_set(err, S2S_EFORMAT,
			                    "data section has a hole of %zu bytes at offset %zu, "
			                    "before tensor '%s'",
			                    begin - end, end, t->name);
		end = begin + t->nbytes;
		prev = t->name;
	}
	if (rc == 0 && end != data_len)
		rc = s2s__error_set(err, S2S_EFORMAT,
		                    "data section has %zu trailing bytes after the last tensor "
		                    "'%s' (ends at %zu of %zu)",
		                    data_len - end, prev, end, data_len);
	free(by);
	return rc;
}

static int parse_header(s2s_checkpoint *ck, json_t *root, size_t data_off, s2s_error *err)
{
	size_t n = json_object_size(root);
	ck->tensors = calloc(n + 1, sizeof *ck->tensors);
	ck->names = calloc(n + 1, sizeof *ck->names);
	if (!ck->tensors || !ck->names)
		return s2s__error_set(err, S2S_ENOMEM, "out of memory reading header");
	const char *k;
	json_t *v;
	json_object_foreach(root, k, v)
	{
		int rc;
		if (strcmp(k, "__metadata__") == 0) {
			rc = parse_metadata(ck, v, err);
		} else {
			s2s_tensor_info *t = &ck->tensors[ck->ntensors];
			if (!(ck->names[ck->ntensors] = strdup(k)))
				return s2s__error_set(err, S2S_ENOMEM, "out of memory");
			t->name = ck->names[ck->ntensors++];
			rc = parse_tensor(k, v, ck->bytes + data_off, ck->len - data_off, t, err);
		}
		if (rc < 0)
			return rc;
	}
	return check_layout(ck, ck->bytes + data_off, ck->len - data_off, err);
}

/* What a file that is not a checkpoint probably is, for the message (or ""). */
static const char *s2s__file_kind(const unsigned char *b, size_t n)
{
	if (n >= 4 && !memcmp(b, "PK\3\4", 4))
		return " (a ZIP archive: a PyTorch .pt/.pth checkpoint? seq2seq-import converts those)";
	if (n >= 2 && b[0] == 0x80 && b[1] >= 2 && b[1] <= 5)
		return " (a Python pickle: an old PyTorch checkpoint? seq2seq-import converts those)";
	if (n >= 2 && b[0] == 0x1f && b[1] == 0x8b)
		return " (gzip data)";
	return "";
}

/*
 * A safetensors file is an 8-byte header length, then the JSON header. When
 * the length does not fit and byte 8 on (spaces skipped) is not '{', the
 * file is something else: say so, rather than report its first 8 bytes as
 * a header length in the exabytes.
 */
static int s2s__not_safetensors(const s2s_checkpoint *ck, s2s_error *err)
{
	size_t i = 8;
	while (i < ck->len && i < 4096 && ck->bytes[i] && strchr(" \t\r\n", ck->bytes[i]))
		i++;
	if (i >= ck->len || i >= 4096 || ck->bytes[i] == '{')
		return 0;
	return s2s__error_set(err, S2S_EFORMAT,
	                      "not a safetensors file%s: one starts with an 8-byte header "
	                      "length and a JSON header",
	                      s2s__file_kind(ck->bytes, ck->len));
}

static int validate(s2s_checkpoint *ck, s2s_error *err)
{
	if (ck->len < 8)
		return s2s__error_set(err, S2S_EFORMAT,
		                      "file is %zu bytes; a checkpoint has at least 8", ck->len);
	uint64_t hlen = 0;
	for (int i = 7; i >= 0; i--)
		hlen = (hlen << 8) | ck->bytes[i];
	int rc = hlen > ck->len - 8 || hlen > MAX_HEADER ? s2s__not_safetensors(ck, err) : 0;
	if (rc < 0)
		return rc;
	if (hlen > ck->len - 8)
		return s2s__error_set(err, S2S_EFORMAT, "header length %llu exceeds file size %zu",
		                      (unsigned long long)hlen, ck->len);
	if (hlen > MAX_HEADER)
		return s2s__error_set(err, S2S_EFORMAT,
		                      "header length %llu exceeds the limit of %u bytes",
		                      (unsigned long long)hlen, MAX_HEADER);
	if ((8 + hlen) % 8 != 0)
		return s2s__error_set(
		    err, S2S_EFORMAT,
		    "header length %llu: data section must start at a multiple of 8",
		    (unsigned long long)hlen);
	json_error_t jerr;
	json_t *root =
	    json_loadb((const char *)ck->bytes + 8, (size_t)hlen, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return s2s__error_set(err, S2S_EFORMAT, "header is not valid JSON: %s", jerr.text);
	rc = json_is_object(root)
	             ? parse_header(ck, root, 8 + (size_t)hlen, err)
	             : s2s__error_set(err, S2S_EFORMAT, "header is not a JSON object");
	json_decref(root);
	return rc;
}

static int finish_open(s2s_checkpoint *ck, s2s_checkpoint **out, s2s_error *err)
{
	int rc = validate(ck, err);
	if (rc < 0) {
		s2s_checkpoint_close(ck);
		return rc;
	}
	*out = ck;
	return 0;
}

int s2s_checkpoint_open_buffer(const void *buf, size_t len, s2s_checkpoint **out, s2s_error *err)
{
	*out = NULL;
	s2s_checkpoint *ck = calloc(1, sizeof *ck);
	if (!ck)
		return s2s__error_set(err, S2S_ENOMEM, "out of memory");
	ck->bytes = buf;
	ck->len = len;
	return finish_open(ck, out, err);
}

/*
 * Why the file is read, not mapped: STYLE.md holds up llama2.c's weights
 * carved out of one read-only mmap, and that is what we did first. But a
 * MAP_PRIVATE file mapping stays backed by the file until a page is written:
 * when an operator rewrites the file in place (`cp new.safetensors
 * served.safetensors`, then a reload) or truncates it, the served model's
 * pages change under it or vanish, and the next read raises SIGBUS and takes
 * the daemon down. Robustness wins over the saved copy: the file is read
 * once into anonymous memory (anon.h), so nothing served is ever backed by
 * the file, and a reload reads the new file whole.
 *
 * One open, one fstat, reads to the size fstat gave, then proof that the
 * file did not change meanwhile: end of file exactly there, and size, mtime
 * and ctime as before. A file rewritten while we read it is refused (the
 * caller retries or keeps its old model) instead of being half old, half new.
 */
static int read_fd(int fd, const char *path, unsigned char *buf, size_t len, s2s_error *err)
{
	size_t got = 0;
	while (got < len) {
		ssize_t r = read(fd, buf + got, len - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return s2s__error_set(err, S2S_EIO, "cannot read %s: %s", path,
			                      strerror(errno));
		if (r == 0)
			return s2s__error_set(err, S2S_EIO,
			                      "%s shrank from %zu to %zu bytes while being read",
			                      path, len, got);
		got += (size_t)r;
	}
	unsigned char extra;
	ssize_t r;
	while ((r = read(fd, &extra, 1)) < 0 && errno == EINTR)
		;
	if (r != 0)
		return s2s__error_set(err, S2S_EIO, "%s grew beyond %zu bytes while being read",
		                      path, len);
	return 0;
}

static int same_file_state(const struct stat *a, const struct stat *b)
{
	return a->st_size == b->st_size && a->st_ino == b->st_ino &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	       a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* Reads the whole regular file at path into ck (anonymous memory). */
static int read_file(s2s_checkpoint *ck, const char *path, s2s_error *err)
{
	/* O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer
	 * forever; with it the fstat below rejects the FIFO. No effect on files. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return s2s__error_set(err, S2S_EIO, "cannot open %s: %s", path, strerror(errno));
	struct stat before, after;
	int rc = 0;
	if (fstat(fd, &before) < 0 || !S_ISREG(before.st_mode))
		rc = s2s__error_set(err, S2S_EIO, "%s is not a regular file", path);
	else if ((uint64_t)before.st_size > (uint64_t)SIZE_MAX / 2)
		rc = s2s__error_set(err, S2S_EIO, "%s is too large", path);
	if (rc == 0 && before.st_size > 0) {
		ck->len = (size_t)before.st_size;
		unsigned char *p = s2s__anon_alloc(ck->len);
		if (!p)
			rc = s2s__error_set(err, S2S_ENOMEM, "out of memory reading %s (%zu bytes)",
			                    path, ck->len);
		else {
			ck->bytes = p;
			ck->owned = 1;
			rc = read_fd(fd, path, p, ck->len, err);
		}
	}
	if (rc == 0 && (fstat(fd, &after) < 0 || !same_file_state(&before, &after)))
		rc = s2s__error_set(err, S2S_EIO, "%s changed while being read; try again", path);
	close(fd);
	if (rc == 0 && ck->owned)
		s2s__anon_seal((void *)ck->bytes, ck->len);
	return rc;
}

int s2s_checkpoint_open(const char *path, s2s_checkpoint **out, s2s_error *err)
{
	*out = NULL;
	s2s_checkpoint *ck = calloc(1, sizeof *ck);
	if (!ck)
		return s2s__error_set(err, S2S_ENOMEM, "out of memory");
	int rc = read_file(ck, path, err);
	if (rc < 0) {
		s2s_checkpoint_close(ck);
		return rc;
	}
	return finish_open(ck, out, err);
}

void s2s_checkpoint_close(s2s_checkpoint *ck)
{
	if (!ck)
		return;
	for (int i = 0; i < ck->ntensors; i++)
		free(ck->names[i]);
	for (int i = 0; i < ck->nmeta; i++) {
		free(ck->meta[i].key);
		free(ck->meta[i].value);
	}
	free(ck->names);
	free(ck->tensors);
	free(ck->meta);
	if (ck->owned)
		s2s__anon_free((void *)ck->bytes, ck->len);
	free(ck);
}

int s2s_checkpoint_tensor_count(const s2s_checkpoint *ck)
{
	return ck->ntensors;
}

const s2s_tensor_info *s2s_checkpoint_tensor_at(const s2s_checkpoint *ck, int i)
{
	return i >= 0 && i < ck->ntensors ? &ck->tensors[i] : NULL;
}

const s2s_tensor_info *s2s_checkpoint_tensor(const s2s_checkpoint *ck, const char *name)
{
	for (int i = 0; i < ck->ntensors; i++)
		if (strcmp(ck->tensors[i].name, name) == 0)
			return &ck->tensors[i];
	return NULL;
}

const char *s2s_checkpoint_meta(const s2s_checkpoint *ck, const char *key)
{
	for (int i = 0; i < ck->nmeta; i++)
		if (strcmp(ck->meta[i].key, key) == 0)
			return ck->meta[i].value;
	return NULL;
}

const void *s2s_checkpoint_bytes(const s2s_checkpoint *ck, size_t *len)
{
	*len = ck->len;
	return ck->bytes;
}

void s2s_checkpoint_drop_data(s2s_checkpoint *ck)
{
	if (!ck->owned)
		return;
	s2s__anon_free((void *)ck->bytes, ck->len);
	ck->bytes = NULL;
	ck->len = 0;
	ck->owned = 0;
	for (int i = 0; i < ck->ntensors; i++)
		ck->tensors[i].data = NULL;
}
