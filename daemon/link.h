/* link: the dongle link on the libuv loop: COBS framing, requests and their one response, numbered events, the HELLO
 * handshake, reconnection after an unplug, and the diagnosis of a port that does not answer (docs/protocol.md;
 * ARCHITECTURE.md, "Dongle link"). Below it: transport. Above it: dongle, the typed client.
 *
 * Glossary:
 *   attempt    - one open of the port and one HELLO handshake on it
 *   pending    - a request accepted by link_request(), waiting for the window or for room in the write buffer
 *   in flight  - a request sent and not yet answered; at most `window` of them, within `window` consecutive ids
 *   resync     - the receiver dropped bytes up to the next 00: broken COBS, an oversize frame, or a frame that
 *                failed its checks (CRC, magic, length, flags)
 *   diagnosis  - why the last attempt failed, as a code and a sentence that names the cause and the next step
 *
 * Every request completes exactly once: with the dongle's response (whatever its status), or with an error and
 * no response. Time comes from uv_now() only.
 */
#ifndef MESHFLEET_LINK_H
#define MESHFLEET_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "messages.h"
#include "transport.h"

/* Defaults (docs/protocol.md §4.2 "recommended"); every one can be set in struct link_options. */
#define LINK_REQUEST_TIMEOUT_MS 1000
#define LINK_SLOW_TIMEOUT_MS 10000      /* SLOT_BEGIN and SLOT_COMMIT erase or hash flash */
#define LINK_MAX_RETRANSMITS 3
#define LINK_HELLO_TIMEOUT_MS 1000
#define LINK_HELLO_ATTEMPTS 3           /* HELLOs per attempt before the attempt is diagnosed */
#define LINK_RECONNECT_MIN_MS 100
#define LINK_RECONNECT_MAX_MS 5000
#define LINK_MAX_REQUESTS 64            /* pending + in flight */
#define LINK_MAX_WINDOW 32              /* caps the dongle's request_window */
#define LINK_WRITE_BUFFER 16384         /* wire bytes waiting for the port */
#define LINK_BUSY_DELAY_MS 50           /* after BUSY, doubling ... */
#define LINK_BUSY_DELAY_MAX_MS 1000     /* ... up to this */
#define LINK_MAX_BUSY_RETRIES 8         /* then the BUSY response is the request's answer */
#define LINK_SNIFF_BYTES 512            /* raw bytes kept from each attempt, to recognise other firmware */
#define LINK_DIAG_MESSAGE_MAX 768

/* Transitions (link.c checks them):
 *   STOPPED   -> HANDSHAKE | BACKOFF          link_start(): the port opened, or did not
 *   HANDSHAKE -> UP | CLOSING                 HELLO answered with our major version, or the attempt failed
 *   UP        -> HANDSHAKE | CLOSING          a request ran out of retransmissions or the dongle rebooted (HELLO
 *                                             again on the same port); the port failed or hung up
 *   CLOSING   -> BACKOFF | FAILED             the port is closed; FAILED when max_attempts is used up
 *   BACKOFF   -> HANDSHAKE | BACKOFF | FAILED the next attempt
 *   FAILED    -> HANDSHAKE | BACKOFF          link_start() again
 *   any       -> STOPPING -> STOPPED          link_stop()
 */
enum link_state {
	LINK_STOPPED,
	LINK_HANDSHAKE,         /* the port is open, HELLO sent, no answer yet */
	LINK_UP,                /* requests flow */
	LINK_CLOSING,           /* the port is closing after a failure */
	LINK_BACKOFF,           /* the port is closed; the next attempt waits for the reconnect timer */
	LINK_FAILED,            /* max_attempts attempts failed; nothing runs until link_start() */
	LINK_STOPPING,          /* link_stop(): handles are closing */
};

enum link_diag_code {
	LINK_DIAG_NONE,
	LINK_DIAG_PORT_MISSING,         /* no such device (unplugged, wrong path, simulator not started) */
	LINK_DIAG_PORT_BUSY,            /* another process holds the port */
	LINK_DIAG_PERMISSION,           /* the daemon's user may not open it */
	LINK_DIAG_NOT_A_PORT,           /* opened, but not a serial port */
	LINK_DIAG_OPEN_FAILED,          /* any other reason the port would not open or configure */
	LINK_DIAG_NO_BYTES,             /* the port stayed silent through every HELLO */
	LINK_DIAG_NO_VALID_FRAMES,      /* bytes, but never a valid frame: wrong baud rate or other firmware */
	LINK_DIAG_NRF5_MESH,            /* the bytes are nRF5 SDK for Mesh serial packets */
	LINK_DIAG_FRAME_FORMAT,         /* intact meshfleet frames of another frame format (0xB? but not 0xB1) */
	LINK_DIAG_VERSION_MISMATCH,     /* HELLO answered with another major protocol version */
	LINK_DIAG_BAD_HELLO,            /* valid frames, but HELLO's answer was refused or malformed */
	LINK_DIAG_PORT_LOST,            /* the port failed or hung up while in use */
	LINK_DIAG_NO_RESPONSE,          /* the link was up, then a request went unanswered after every retransmission */
	LINK_DIAG_DONGLE_RESTARTED,     /* the event sequence went back: the dongle rebooted behind our back */
};

struct link_diagnosis {
	enum link_diag_code code;
	int error;                      /* the matching negative errno */
	uint64_t at_ms;                 /* uv_now() */
	/* The cause and the next step; when the failure ends an attempt, then " Retrying in 0.1 s." if the link
	 * will try again, " Gave up after N attempts." if max_attempts (> 1) is used up, and nothing after the one
	 * attempt of max_attempts = 1. */
	char message[LINK_DIAG_MESSAGE_MAX];
};

struct link_counters {
	uint64_t bytes_in, bytes_out;
	uint64_t frames_in, frames_out;         /* valid frames received; frames written (retransmissions too) */
	uint64_t crc_errors;                    /* frames dropped for a bad CRC */
	uint64_t bad_frames;                    /* frames dropped for another check (length, magic, format, flags) */
	uint64_t cobs_errors;                   /* malformed or oversize COBS */
	uint64_t resyncs;                       /* times the receiver dropped bytes to the next 00 (all of the above) */
	uint64_t retransmits;
	uint64_t timeouts;                      /* requests that ran out of retransmissions */
	uint64_t busy_retries;                  /* requests sent again with a new id after BUSY */
	uint64_t unmatched;                     /* responses with no request in flight (late duplicates) */
	uint64_t unexpected;                    /* requests, or responses of the wrong type, from the dongle */
	uint64_t events;
	uint64_t event_gaps;                    /* times the event sequence skipped ... */
	uint64_t events_missed;                 /* ... and the events skipped in total */
	uint64_t attempts;                      /* port opens tried */
	uint64_t handshakes;                    /* HELLOs answered */
	uint64_t reconnects;                    /* handshakes after the first: the link came back */
	uint32_t rtt_last_ms, rtt_min_ms, rtt_max_ms;   /* requests answered at their first transmission */
	uint64_t rtt_sum_ms, rtt_samples;
};

struct link_options {
	const char *path;                       /* borrowed, copied */
	enum transport_kind kind;
	uint32_t baud;
	enum transport_flow flow;
	/* 0 picks the default of each */
	uint32_t request_timeout_ms;
	uint32_t slow_timeout_ms;
	uint32_t max_retransmits;
	uint32_t hello_timeout_ms;
	uint32_t hello_attempts;
	uint32_t reconnect_min_ms;
	uint32_t reconnect_max_ms;
	uint32_t max_attempts;                  /* 0: retry forever (the daemon); 1: one try (probe) */
	uint32_t max_requests;
	uint32_t max_window;
	uint32_t write_buffer;
	bool no_nrf5_echo;                      /* skip the nRF5 Echo probe (docs/protocol.md §8) */
};

/* The answer to one request. */
struct link_reply {
	int error;              /* 0: the dongle answered (see @status); else -ETIMEDOUT (no answer after every
				 * retransmission), -ECONNRESET (the link went down first), -ECANCELED (link_stop),
				 * -EPROTO (the answer's payload was malformed) */
	uint8_t type;           /* enum msg_type of the request */
	uint8_t status;         /* enum msg_status, raw: a newer dongle may send codes this build does not know */
	const struct msg *msg;  /* borrowed for the call; the decoded response, NULL when @error */
	uint32_t rtt_ms;        /* from the first transmission */
	uint8_t transmissions;  /* 1 = answered without retransmission */
};

typedef void (*link_reply_fn)(void *userdata, const struct link_reply *reply);

struct link_callbacks {
	/* The state changed. @diag is the reason when the change is a failure, else NULL. */
	void (*state)(void *userdata, enum link_state state, const struct link_diagnosis *diag);
	/* An event, in order; @m is borrowed for the call. */
	void (*event)(void *userdata, uint32_t seq, const struct msg *m);
	/* Events @expected .. @got - 1 never arrived: re-read what depends on them (docs/protocol.md §4.4). */
	void (*gap)(void *userdata, uint32_t expected, uint32_t got);
	void *userdata;
};

struct link;

/* Creates a link for @o->path; nothing is opened until link_start(). Returns 0, -EINVAL, -ENAMETOOLONG or
 * -ENOMEM; *ret is untouched on failure. */
int link_new(uv_loop_t *loop, const struct link_options *o, const struct link_callbacks *cb, struct link **ret);

/* Starts (or after FAILED, restarts) connecting: opens the port and says HELLO, and keeps trying with backoff.
 * Returns 0 or -EALREADY. */
int link_start(struct link *l);

/* Fails every request with -ECANCELED, closes the port and the timers, then calls @closed_cb (at once when the link
 * never started, else from the loop). The link cannot be started again; free it in the callback or later. */
void link_stop(struct link *l, void (*closed_cb)(struct link *l, void *userdata), void *userdata);

/* Frees a link whose stop completed (or that never started). NULL is a no-op. Returns NULL. */
struct link *link_free(struct link *l);

/* Queues request @m (kind FRAME_REQUEST; its borrowed bytes are copied). @cb is called exactly once, never from
 * within this call. Returns 0, -ENOTCONN (the link is not up), -ENOBUFS (LINK_MAX_REQUESTS are queued),
 * -EMSGSIZE (larger than the dongle's max_frame) or -EINVAL (the codec refuses @m, or it is HELLO). */
int link_request(struct link *l, const struct msg *m, link_reply_fn cb, void *userdata);

/* From UP: fails the requests in flight with -ECONNRESET and says HELLO again on the same port, as after a RESET
 * the dongle answered. Returns 0 or -ENOTCONN. */
int link_rehandshake(struct link *l);

enum link_state link_state(const struct link *l);
const char *link_state_to_string(enum link_state state);
const char *link_diag_code_to_string(enum link_diag_code code);
/* The last failure, also after the link recovered; code LINK_DIAG_NONE when there was none. */
const struct link_diagnosis *link_diagnosis(const struct link *l);
/* The last HELLO answer; NULL until the first handshake. */
const struct msg_hello *link_hello(const struct link *l);
const struct link_counters *link_counters(const struct link *l);
/* Requests that may be in flight now (the dongle's window, capped by max_window); 0 while not up. */
uint32_t link_window(const struct link *l);
/* Requests link_request() would still accept. */
uint32_t link_free_slots(const struct link *l);
/* The largest SLOT_WRITE data for this dongle: min(1024, max_frame - 18) rounded down to a multiple of 4. */
uint32_t link_slot_chunk(const struct link *l);
const char *link_path(const struct link *l);
/* "termios" or "serialport": the implementation of the last open. */
const char *link_transport_name(const struct link *l);
/* uv_now() of the last state change. */
uint64_t link_state_since(const struct link *l);

/* Recognises nRF5 SDK for Mesh serial packets in raw bytes (docs/protocol.md §8): the Cmd Rsp that such a device
 * sends to our HELLO, its Device Started event, or the Echo Rsp to our nRF5 Echo. Returns a static description of
 * what was seen ("Cmd Rsp to our HELLO"), or NULL. */
const char *link_nrf5_signature(const uint8_t *data, size_t len);

#endif
