/* bench: the in-process host of `meshfleet-sim --bench` (docs/simulator.md, "Benchmark runs"). It plays meshfleetd
 * over the serial protocol, in frames through core_input(): MESH_CONFIG, the scenario's image into the slot with
 * SLOT_BEGIN / SLOT_WRITE / SLOT_COMMIT, DIST_START in batches, then it follows the DIST_* events until the
 * distribution ends, and reads every target's result with DIST_TARGETS_GET. With "sequential" it runs one unicast
 * distribution per target, one after the other (what the legacy tools do).
 *
 * It also keeps the books the report needs: the air time of the dongle's chunk messages (bench_note_tx()), so that
 * the time splits into the data phase and the rest (the control rounds), and the lower bound of radio_bound().
 *
 * Driven by calls from sim.c's virtual-time loop, never by a clock of its own: bench_step() sends what is due,
 * bench_from_dongle() takes the dongle's wire bytes, bench_next() says when it wants to be called again.
 *
 * Glossary: *run* = one distribution (one DIST_START id); the sequential baseline has one run per target;
 * *data phase* = the union of the intervals during which a chunk message of the dongle was on the air.
 */
#ifndef MESHFLEET_SIM_BENCH_H
#define MESHFLEET_SIM_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "radio.h"
#include "scenario.h"

#define BENCH_NEVER UINT64_MAX
#define BENCH_GET_EVERY_MS 60000        /* DIST_GET at least this often, in case a state event was coalesced */
#define BENCH_VIRTUAL_MAX_MS (30ull * 24 * 3600 * 1000)        /* a run that takes a month of virtual time is stuck */

struct bench;

/* Where the virtual time goes, by the kind of the dongle's message: a phase runs from one of its messages to the
 * dongle's next message of another kind (so a round's waiting for answers counts to the round). Chunks sent after a
 * Block Get of the same block are repairs. */
enum bench_phase {
	BENCH_PHASE_INITIATE,           /* Firmware Update Start */
	BENCH_PHASE_CAPS,               /* BLOB Information Get */
	BENCH_PHASE_XFER_START,         /* BLOB Transfer Start */
	BENCH_PHASE_BLOCK_START,        /* BLOB Block Start rounds */
	BENCH_PHASE_CHUNKS,             /* a block's chunks, first pass */
	BENCH_PHASE_BLOCK_GET,          /* BLOB Block Get rounds */
	BENCH_PHASE_REPAIRS,            /* chunks resent after a Block Get */
	BENCH_PHASE_XFER_GET,           /* BLOB Transfer Get */
	BENCH_PHASE_VERIFY,             /* Firmware Update Get */
	BENCH_PHASE_APPLY,              /* Firmware Update Apply */
	BENCH_PHASE_CONFIRM,            /* Firmware Update Information Get */
	BENCH_PHASE_OTHER,              /* cancel, anything else */
	BENCH_PHASE_COUNT
};

/* Sends one wire frame (COBS, delimiters included) to the dongle. */
typedef void (*bench_send_fn)(void *ctx, const uint8_t *wire, size_t len);

/* A bench for @s's "bench" object (borrowed: it must outlive the bench); @seed makes the image. Returns NULL when out
 * of memory or when the scenario has no target (the message is in @err). */
struct bench *bench_new(const struct scenario *s, uint64_t seed, bench_send_fn send, void *ctx, char *err,
			size_t err_len);
void bench_free(struct bench *b);

/* Wire bytes from the dongle (any chunking). */
void bench_from_dongle(struct bench *b, const uint8_t *wire, size_t len);

/* Sends the requests due at @now_ms. */
void bench_step(struct bench *b, uint64_t now_ms);

/* When bench_step() has something to do next (BENCH_NEVER: only on the dongle's frames). */
uint64_t bench_next(const struct bench *b);

/* True once every run ended and its results were read; bench_failed() says whether the bench itself went wrong
 * (a refused request, a stuck distribution), with the reason. */
bool bench_done(const struct bench *b);
const char *bench_failed(const struct bench *b);

/* The dongle put the access message @payload (opcode and parameters, @len bytes) on the air; what the radio did. */
void bench_note_tx(struct bench *b, const uint8_t *payload, size_t len, const struct radio_tx *tx);

/* The phase's name in the report ("block_start"). */
const char *bench_phase_name(enum bench_phase phase);

/* The radio's counters, for the report. */
void bench_note_radio(struct bench *b, const struct radio *r);

/* Writes the report: text to @out (the same bytes for the same scenario and seed), and with @json_path the same as
 * JSON (with the wall time: not deterministic). The wall time and speed go to @wall_out. Returns 0 or -errno (the
 * JSON file). */
int bench_report(const struct bench *b, FILE *out, FILE *wall_out, const char *json_path, double wall_s);

#endif
