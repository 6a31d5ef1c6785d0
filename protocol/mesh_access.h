/* mesh_access: Bluetooth Mesh access-layer messages for fleet inventory (issue 4): access opcodes, the Configuration
 * messages meshfleet sends with a node's device key (Composition Data, AppKey Add, Model App Bind, Model Subscription
 * Add/Delete) and Firmware Update Information Get/Status (Mesh DFU). Byte layouts: docs/mesh-messages.md.
 *
 * Freestanding like the rest of protocol/: no allocation, no libc, no state. Every decoder takes a whole access
 * payload (opcode + parameters, as carried by MESH_SEND / MESH_RECV), checks the opcode and every length as
 * Zephyr's models do (a message of the wrong length is dropped, never half-read), and reads nothing outside the
 * payload. What a decoder accepts, the encoder accepts, and encode(decode(p)) gives back the bytes of p. Decoded
 * byte strings (composition data, firmware IDs, URIs) point into the payload (borrowed): copy them before that
 * buffer is reused. Output parameters are ret_* and untouched on failure.
 *
 * Glossary: *opcode* = 1, 2 or 3 bytes at the start of an access payload (Mesh Protocol 3.7.3.1), held here in a
 * uint32_t as Zephyr's BT_MESH_MODEL_OP_* macros do; *parameters* = the bytes after it; *element address* = the
 * unicast address of one element of a node (primary address + element index); *SIG model* = 16-bit model id,
 * *vendor model* = 16-bit company id + 16-bit model id; *key index* = 12-bit global index of a NetKey or AppKey;
 * *CRPL* = replay protection list size; *FWID* = Firmware ID (company id + vendor version bytes).
 */
#ifndef MESHFLEET_PROTOCOL_MESH_ACCESS_H
#define MESHFLEET_PROTOCOL_MESH_ACCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Largest access payload, opcode included: 32 segments x 12 bytes - 4-byte TransMIC (= MSG_ACCESS_MAX). */
#define MA_PAYLOAD_MAX 380

/* --- opcodes ---------------------------------------------------------------------------------------------------
 * 1 byte  0x00..0x7E              first byte 0b0xxxxxxx (0x7F is RFU)          value: the byte
 * 2 bytes 0x8000..0xBFFF          first byte 0b10xxxxxx                        value: (b0 << 8) | b1
 * 3 bytes 0xC00000..0xFFFFFF      first byte 0b11xxxxxx, then a company id LE  value: (b0 << 16) | company
 * e.g. MA_OP_3(0xC1, 0x0059) = 0xC10059 is sent as c1 59 00. */
#define MA_OP_1(b0)             ((uint32_t)(b0))
#define MA_OP_2(b0, b1)         (((uint32_t)(b0) << 8) | (uint32_t)(b1))
#define MA_OP_3(b0, company)    (((uint32_t)(b0) << 16) | 0xC00000u | (uint32_t)(company))

/* Configuration messages (Mesh Protocol 4.3.4; Zephyr subsys/bluetooth/mesh/foundation.h). */
#define MA_OP_APPKEY_ADD        MA_OP_1(0x00)
#define MA_OP_COMP_STATUS       MA_OP_1(0x02)           /* Config Composition Data Status */
#define MA_OP_APPKEY_STATUS     MA_OP_2(0x80, 0x03)
#define MA_OP_COMP_GET          MA_OP_2(0x80, 0x08)     /* Config Composition Data Get */
#define MA_OP_MODEL_SUB_ADD     MA_OP_2(0x80, 0x1B)
#define MA_OP_MODEL_SUB_DEL     MA_OP_2(0x80, 0x1C)
#define MA_OP_MODEL_SUB_STATUS  MA_OP_2(0x80, 0x1F)
#define MA_OP_MODEL_APP_BIND    MA_OP_2(0x80, 0x3D)
#define MA_OP_MODEL_APP_STATUS  MA_OP_2(0x80, 0x3E)
/* Firmware Update models (MshDFUv1.0; Zephyr subsys/bluetooth/mesh/dfu.h; ../shared/reference/mesh-dfu-protocol.md
 * section 3.2). The other Firmware Update messages are in mesh_dfu.h, whose md_decode() / md_encode() hand these two
 * to this codec, so it stays their only one. */
#define MA_OP_FW_INFO_GET       MA_OP_2(0x83, 0x08)     /* Firmware Update Information Get */
#define MA_OP_FW_INFO_STATUS    MA_OP_2(0x83, 0x09)     /* Firmware Update Information Status */

/* --- SIG model ids (Zephyr include/zephyr/bluetooth/mesh/access.h) --- */
#define MA_MODEL_CFG_SRV        0x0000
#define MA_MODEL_CFG_CLI        0x0001
#define MA_MODEL_HEALTH_SRV     0x0002
#define MA_MODEL_HEALTH_CLI     0x0003
#define MA_MODEL_BLOB_SRV       0x1400  /* BLOB Transfer Server */
#define MA_MODEL_BLOB_CLI       0x1401
#define MA_MODEL_DFU_SRV        0x1402  /* Firmware Update Server */
#define MA_MODEL_DFU_CLI        0x1403
#define MA_MODEL_DFD_SRV        0x1404  /* Firmware Distribution Server */
#define MA_MODEL_DFD_CLI        0x1405

/* Composition Data page 0 Features bits; bits 4..15 are RFU and kept as received. */
#define MA_FEAT_RELAY           (1u << 0)
#define MA_FEAT_PROXY           (1u << 1)
#define MA_FEAT_FRIEND          (1u << 2)
#define MA_FEAT_LOW_POWER       (1u << 3)

#define MA_KEY_SIZE             16
#define MA_KEY_INDEX_MAX        0x0FFF

/* The codec's verdicts. */
enum ma_status {
	MA_OK = 0,
	MA_BAD_OPCODE = 1,      /* empty payload, RFU opcode 0x7F, a 2- or 3-byte opcode cut short; an encoder's
				 * opcode value that has no wire form */
	MA_UNKNOWN_OPCODE = 2,  /* a well-formed opcode this codec does not handle, or not the one a decoder expects */
	MA_TRUNCATED = 3,       /* the payload ends before its layout does */
	MA_TOO_LONG = 4,        /* bytes after the layout's end, or more than MA_PAYLOAD_MAX in all */
	MA_BAD_VALUE = 5,       /* a field holds a prohibited value (element address not unicast, key index > 0xFFF) */
	MA_BAD_COUNT = 6,       /* a count disagrees with the data: composition data without elements, more firmware
				 * entries than List Count - First Index, more than 255 models of one kind */
	MA_NO_SPACE = 7,        /* encoder: the output buffer is too small */
};

/* Foundation model status codes (Mesh Protocol 4.3.5; Zephyr foundation.h), carried by the Config *Status messages.
 * Kept raw in the structs: a newer node may send codes this build does not know. */
enum ma_cfg_status {
	MA_CFG_SUCCESS = 0x00,
	MA_CFG_INVALID_ADDRESS = 0x01,
	MA_CFG_INVALID_MODEL = 0x02,
	MA_CFG_INVALID_APPKEY_INDEX = 0x03,
	MA_CFG_INVALID_NETKEY_INDEX = 0x04,
	MA_CFG_INSUFFICIENT_RESOURCES = 0x05,
	MA_CFG_KEY_INDEX_ALREADY_STORED = 0x06,
	MA_CFG_INVALID_PUBLISH_PARAMETERS = 0x07,
	MA_CFG_NOT_A_SUBSCRIBE_MODEL = 0x08,
	MA_CFG_STORAGE_FAILURE = 0x09,
	MA_CFG_FEATURE_NOT_SUPPORTED = 0x0A,
	MA_CFG_CANNOT_UPDATE = 0x0B,
	MA_CFG_CANNOT_REMOVE = 0x0C,
	MA_CFG_CANNOT_BIND = 0x0D,
	MA_CFG_TEMPORARILY_UNABLE_TO_CHANGE_STATE = 0x0E,
	MA_CFG_CANNOT_SET = 0x0F,
	MA_CFG_UNSPECIFIED_ERROR = 0x10,
	MA_CFG_INVALID_BINDING = 0x11,
};

/* A model identifier: SIG (2 bytes on the wire) or vendor (company id then model id, 4 bytes, both LE). For a SIG
 * model @company is ignored by the encoders and set to 0 by the decoders. */
struct ma_model_id {
	uint16_t company;
	uint16_t id;
	bool vendor;
};

#define MA_SIG_MODEL(model_id) ((struct ma_model_id){ .company = 0, .id = (model_id), .vendor = false })
#define MA_VND_MODEL(company_id, model_id) \
	((struct ma_model_id){ .company = (company_id), .id = (model_id), .vendor = true })

/* --- Composition Data page 0 ---------------------------------------------------------------------------------- */

/* Composition Data Status, page 0, after a successful ma_comp0_parse(). Walk its elements with struct ma_comp0_iter. */
struct ma_comp0 {
	uint16_t cid;                   /* company id */
	uint16_t pid;                   /* product id */
	uint16_t vid;                   /* version id */
	uint16_t crpl;
	uint16_t features;              /* MA_FEAT_* */
	uint8_t element_count;          /* >= 1 */
	const uint8_t *elements;        /* borrowed: the element records, elements_len bytes, already checked */
	size_t elements_len;
};

/* One element of page 0. The model ids stay in the payload; read them with ma_comp0_model(). */
struct ma_comp0_element {
	uint8_t index;                  /* 0 = primary; element address = node's primary address + index */
	uint16_t loc;                   /* GATT Bluetooth Namespace Descriptor location */
	uint8_t sig_count;              /* NumS */
	uint8_t vnd_count;              /* NumV */
	const uint8_t *sig;             /* borrowed: sig_count x 2 bytes */
	const uint8_t *vnd;             /* borrowed: vnd_count x 4 bytes */
};

struct ma_comp0_iter {
	const struct ma_comp0 *comp;
	size_t pos;
	uint8_t index;
};

/* An element for ma_comp0_status_encode(): its models in any order; the encoder writes the SIG ones first, then the
 * vendor ones, each group in the given order (so a list with SIG models first decodes back to the same order). */
struct ma_element_desc {
	uint16_t loc;
	const struct ma_model_id *models;       /* borrowed */
	size_t model_count;                     /* at most 255 SIG and 255 vendor models */
};

/* --- Firmware Update Information ------------------------------------------------------------------------------ */

/* One entry of the Firmware Information List. */
struct ma_fw_entry {
	uint8_t index;                  /* decoded: First Index + position in the message; ignored by the encoder.
					 * Zephyr's server skips images without a FWID, so this is the image index only
					 * when every image has one. */
	const uint8_t *fwid;            /* borrowed; fwid_len bytes */
	uint8_t fwid_len;
	const char *uri;                /* borrowed; uri_len bytes, not NUL-terminated (0 = no Update URI) */
	uint8_t uri_len;
};

/* Firmware Update Information Status as decoded: the entries stay in the payload, already checked; walk them with
 * struct ma_fw_iter. A server answers a Get whose First Index is past its list with no entries. */
struct ma_fw_info {
	uint8_t list_count;             /* Firmware Information List Count: images on the node */
	uint8_t first_index;
	uint8_t entry_count;            /* entries in this message; if > 0, first_index + entry_count <= list_count.
					 * Counted by the decoder; ma_encode() counts @entries itself. */
	const uint8_t *entries;         /* borrowed: the entry records, entries_len bytes */
	size_t entries_len;
};

struct ma_fw_iter {
	const struct ma_fw_info *info;
	size_t pos;
	uint8_t n;
};

/* --- messages ------------------------------------------------------------------------------------------------- */

/* Config AppKey Add (key used) and Config AppKey Status (status used). */
struct ma_appkey {
	uint8_t status;                 /* STATUS: enum ma_cfg_status, raw */
	uint16_t net_key_index;         /* <= MA_KEY_INDEX_MAX */
	uint16_t app_key_index;         /* <= MA_KEY_INDEX_MAX */
	uint8_t key[MA_KEY_SIZE];       /* ADD */
};

/* Config Model App Bind and Config Model App Status (status used). A server answers with the request's fields and a
 * status, so the reply can be built from the decoded request. */
struct ma_model_app {
	uint8_t status;                 /* STATUS: enum ma_cfg_status, raw */
	uint16_t elem_addr;             /* BIND: unicast */
	uint16_t app_key_index;         /* <= MA_KEY_INDEX_MAX */
	struct ma_model_id model;
};

/* Config Model Subscription Add / Delete, and Config Model Subscription Status (status used). @address is not
 * checked by the codec: a server answers a non-group address with MA_CFG_INVALID_ADDRESS (as Zephyr does). */
struct ma_model_sub {
	uint8_t status;                 /* STATUS: enum ma_cfg_status, raw */
	uint16_t elem_addr;             /* ADD/DEL: unicast */
	uint16_t address;               /* the group address */
	struct ma_model_id model;
};

/* Config Composition Data Status. @data is everything after the page byte. For page 0 the decoder checks the whole
 * layout and fills @page0; other pages (1, 2, 128..130 in Mesh Protocol 1.1) are passed through unparsed. */
struct ma_comp_status {
	uint8_t page;
	const uint8_t *data;            /* borrowed */
	size_t data_len;
	struct ma_comp0 page0;          /* decoded, page 0 only; ignored by ma_encode() (which writes @data) */
};

struct ma_fw_info_get {
	uint8_t first_index;
	uint8_t entries_limit;
};

/* One access message. @opcode selects the member of @u:
 *
 *	opcode                  member          parameters (bytes)
 *	COMP_GET                comp_page       page (1)
 *	COMP_STATUS             comp            page (1), data (>= 0; page 0: >= 14, see struct ma_comp0)
 *	APPKEY_ADD              appkey          net+app key index (3), key (16)
 *	APPKEY_STATUS           appkey          status (1), net+app key index (3)
 *	MODEL_APP_BIND          model_app       element (2), app key index (2), model (2 or 4)
 *	MODEL_APP_STATUS        model_app       status (1), element (2), app key index (2), model (2 or 4)
 *	MODEL_SUB_ADD / _DEL    model_sub       element (2), address (2), model (2 or 4)
 *	MODEL_SUB_STATUS        model_sub       status (1), element (2), address (2), model (2 or 4)
 *	FW_INFO_GET             fw_info_get     first index (1), entries limit (1)
 *	FW_INFO_STATUS          fw_info         list count (1), first index (1), entries (FWID len, FWID, URI len, URI)
 */
struct ma_msg {
	uint32_t opcode;
	union {
		uint8_t comp_page;
		struct ma_comp_status comp;
		struct ma_appkey appkey;
		struct ma_model_app model_app;
		struct ma_model_sub model_sub;
		struct ma_fw_info_get fw_info_get;
		struct ma_fw_info fw_info;
	} u;
};

/* --- functions ------------------------------------------------------------------------------------------------ */

/* Reads the opcode at the start of @payload. Returns its length (1, 2 or 3) and sets *ret_opcode, or returns 0 if
 * @len is 0, the first byte is the RFU value 0x7F, or a 2- or 3-byte opcode is cut short. */
size_t ma_opcode_decode(const uint8_t *payload, size_t len, uint32_t *ret_opcode);

/* Writes @opcode to @out. Returns its length (1, 2 or 3), or 0 if @opcode has no wire form (0x7F..0x7FFF,
 * 0xC000..0xBFFFFF, > 0xFFFFFF) or @cap is too small. */
size_t ma_opcode_encode(uint32_t opcode, uint8_t *out, size_t cap);

/* Decodes a whole access payload into *ret. Returns MA_OK, MA_BAD_OPCODE, MA_UNKNOWN_OPCODE (a valid opcode outside
 * the table above; ret untouched, so read the opcode with ma_opcode_decode() to log it), MA_TRUNCATED,
 * MA_TOO_LONG, MA_BAD_VALUE or MA_BAD_COUNT. */
enum ma_status ma_decode(const uint8_t *payload, size_t len, struct ma_msg *ret);

/* Encodes @m (opcode and parameters) into @out. Returns MA_OK and sets *ret_len, MA_UNKNOWN_OPCODE / MA_BAD_OPCODE,
 * MA_BAD_VALUE, MA_BAD_COUNT or MA_TOO_LONG if ma_decode() would refuse the result, or MA_NO_SPACE if @cap is too
 * small. */
enum ma_status ma_encode(const struct ma_msg *m, uint8_t *out, size_t cap, size_t *ret_len);

/* Checks Composition Data page 0 (the bytes after the page byte: CID, PID, VID, CRPL, Features, then elements
 * Loc, NumS, NumV, NumS SIG ids, NumV vendor ids) and fills *ret. MA_TRUNCATED if the header or an element is cut
 * short, MA_BAD_COUNT if there is no element. */
enum ma_status ma_comp0_parse(const uint8_t *data, size_t len, struct ma_comp0 *ret);

void ma_comp0_iter_init(struct ma_comp0_iter *it, const struct ma_comp0 *comp);

/* The next element, or false after the last:
 *
 *	struct ma_comp0_iter it;
 *	struct ma_comp0_element e;
 *	struct ma_model_id m;
 *	for (ma_comp0_iter_init(&it, &comp); ma_comp0_next_element(&it, &e);)
 *		for (unsigned i = 0; ma_comp0_model(&e, i, &m); i++)
 *			...
 */
bool ma_comp0_next_element(struct ma_comp0_iter *it, struct ma_comp0_element *ret);

/* Model @i of @e, counting the SIG models first (0 .. sig_count-1), then the vendor ones. False past the end. */
bool ma_comp0_model(const struct ma_comp0_element *e, unsigned i, struct ma_model_id *ret);

/* True if @e holds the SIG model @id. */
bool ma_comp0_element_has_sig(const struct ma_comp0_element *e, uint16_t id);

/* The index of the first element holding every SIG model of @ids (e.g. MA_MODEL_DFU_SRV and MA_MODEL_BLOB_SRV, which
 * must share an element). False if none does, or @n is 0. */
bool ma_comp0_find_element(const struct ma_comp0 *comp, const uint16_t *ids, size_t n, uint8_t *ret_index);

/* Writes a whole Composition Data Status, page 0 (opcode included), from @hdr's cid, pid, vid, crpl and features
 * and @n >= 1 elements. MA_BAD_COUNT if @n is 0 or an element has more than 255 models of one kind, MA_TOO_LONG
 * past MA_PAYLOAD_MAX, MA_NO_SPACE if @cap is too small. */
enum ma_status ma_comp0_status_encode(const struct ma_comp0 *hdr, const struct ma_element_desc *elements, size_t n,
				      uint8_t *out, size_t cap, size_t *ret_len);

void ma_fw_iter_init(struct ma_fw_iter *it, const struct ma_fw_info *info);

/* The next firmware entry, or false after the last. */
bool ma_fw_next_entry(struct ma_fw_iter *it, struct ma_fw_entry *ret);

/* Writes a whole Firmware Update Information Status (opcode included) from @n entries. MA_BAD_COUNT if first_index +
 * n > list_count, MA_TOO_LONG past MA_PAYLOAD_MAX, MA_NO_SPACE if @cap is too small. A server fills what fits:
 * each entry takes 2 + fwid_len + uri_len bytes after the 4 bytes of opcode, count and index. */
enum ma_status ma_fw_info_status_encode(uint8_t list_count, uint8_t first_index, const struct ma_fw_entry *entries,
					size_t n, uint8_t *out, size_t cap, size_t *ret_len);

/* Names: "BAD_OPCODE", ...; the specification's names ("Insufficient Resources", "Config Model App Bind",
 * "Firmware Update Server"); values this build does not know give "unknown". */
const char *ma_status_to_string(unsigned status);
const char *ma_cfg_status_to_string(unsigned status);
const char *ma_opcode_to_string(uint32_t opcode);
const char *ma_model_to_string(uint16_t sig_model_id);

#endif
