/*
 * settings.h - seq2seqd's configuration: one table row per option, read from
 * the config file, then command-line flags, then SEQ2SEQD_* variables.
 *
 * Loop-thread only (startup); the finished struct is read-only afterwards
 * and may be read by any thread.
 */
#ifndef S2SD_SETTINGS_H
#define S2SD_SETTINGS_H

#include <stdbool.h>
#include <stdio.h>

typedef struct {
	char *name; /* owned */
	char *path; /* owned */
	int id;     /* OpenNMT-py route's model id: model_id.NAME, else -1 (its index) */
} s2sd_model_decl;

/* A model_id.NAME = N line, kept apart because NAME may be declared later
 * (or found in data_dir/models). */
typedef struct {
	char *name; /* owned */
	int id;
} s2sd_model_id_decl;

typedef struct {
	char *bind;
	int port;
	int max_connections;
	int idle_timeout_s;
	int max_connections_per_ip; /* 0 = unlimited */
	int header_timeout_s;
	int body_timeout_s;
	bool cancel_on_eof;         /* a client's FIN cancels its request (else only a reset does) */
	char *data_dir;
	int workers;
	int blas_threads; /* OpenBLAS threads per call; 0 = OpenBLAS decides */
	int batching_step; /* 1 = step, 0 = request (an enum option) */
	int quantize;      /* an s2s_quantize: 0 none, 1 int8 (an enum option) */
	int max_rows;
	int admission_window_ms;
	int queue_length;
	int max_body_bytes;
	int max_sentences;
	int max_tokens;
	int max_beam;
	int default_deadline_ms;
	int max_deadline_ms;    /* 0 = no maximum */
	bool allow_no_deadline; /* deadline_ms 0 (none) is not clamped to max_deadline_ms */
	int max_request_cost;   /* decoder row-steps one request may take (s2s_api_request_cost) */
	int request_row_share;  /* % of a worker's max_rows one request may hold (step batching) */
	int drain_timeout_s;
	char *admin_key;
	int log_level; /* S2SD_LOG_* (an enum option) */
	bool access_log;
	int debug_step_delay_ms; /* tests only: sleep per decoder step */
	bool dashboard;          /* serve DATA_DIR/dashboard at / */
	int recent_translations; /* capacity of GET /v1/recent; 0 = off */

	s2sd_model_decl *models; /* (n_models), owned */
	int n_models;
	s2sd_model_id_decl *model_ids; /* (n_model_ids), owned */
	int n_model_ids;
	char *config_path;   /* file read, or NULL */
	bool check_only;     /* --check-config */
} s2sd_config;

enum { S2SD_CONFIG_RUN = 0, S2SD_CONFIG_EXIT_OK = 1 };

/*
 * Fills *c from defaults, the file, argv and the environment. Returns
 * S2SD_CONFIG_RUN, S2SD_CONFIG_EXIT_OK after --help/--version (printed to
 * `out`), or -1 after printing an error naming the key, value and what is
 * allowed to stderr. *c is owned by the caller (s2sd_config_deinit) in every
 * case.
 */
int s2sd_config_load(s2sd_config *c, int argc, char **argv, FILE *out);
void s2sd_config_deinit(s2sd_config *c);

/* Adds every DATA_DIR/models/NAME.safetensors when no model was declared. 0 or -1 (printed). */
int s2sd_config_default_models(s2sd_config *c);

/*
 * Gives each model its OpenNMT-py id (model_id.NAME, else its index among the
 * models) and checks that every model_id names a model and that no two
 * models share an id. 0, or -1 after printing the error. Call after
 * s2sd_config_default_models.
 */
int s2sd_config_resolve_ids(s2sd_config *c);

/* Prints the effective configuration (secrets masked) in config-file syntax. */
void s2sd_config_print(const s2sd_config *c, FILE *out);

#endif
