/* nodes: see nodes.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nodes.h"
#include "util.h"

#define NODE_BASE_COLUMNS \
	"address, uuid, name, company_id, product_id, version_id, firmware_id, last_seen, created_at, updated_at, " \
	"elements, device_key IS NOT NULL, dfu_capable, reachable, hops"
#define NODE_COLUMNS NODE_BASE_COLUMNS ", " \
	"(SELECT group_concat(tag, ' ') FROM (SELECT tag FROM node_tags t WHERE t.address = n.address ORDER BY tag))"

void node_init(struct node *node, uint16_t address)
{
	memset(node, 0, sizeof(*node));
	node->address = address;
	node->company_id = NODE_ID_UNKNOWN;
	node->product_id = NODE_ID_UNKNOWN;
	node->version_id = NODE_ID_UNKNOWN;
	node->dfu_capable = -1;
	node->reachable = -1;
}

void node_filter_init(struct node_filter *filter)
{
	memset(filter, 0, sizeof(*filter));
	filter->company_id = NODE_ID_UNKNOWN;
	filter->product_id = NODE_ID_UNKNOWN;
}

bool node_tag_valid(const char *tag)
{
	size_t n = strlen(tag);

	if (n == 0 || n > NODE_TAG_MAX)
		return false;
	return strspn(tag, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:-") == n;
}

int node_tag_add(struct node *node, const char *tag)
{
	size_t i;
	int cmp = 1;

	if (!node_tag_valid(tag))
		return -EINVAL;
	for (i = 0; i < node->n_tags; i++) {
		cmp = strcmp(node->tags[i], tag);
		if (cmp >= 0)
			break;
	}
	if (i < node->n_tags && cmp == 0)
		return 0;
	if (node->n_tags == NODE_TAGS_MAX)
		return -E2BIG;
	memmove(node->tags[i + 1], node->tags[i], (node->n_tags - i) * sizeof(node->tags[0]));
	snprintf(node->tags[i], sizeof(node->tags[i]), "%s", tag);
	node->n_tags++;
	return 0;
}

static void bind_optional_id(sqlite3_stmt *stmt, int index, int32_t value)
{
	if (value == NODE_ID_UNKNOWN)
		sqlite3_bind_null(stmt, index);
	else
		sqlite3_bind_int(stmt, index, value);
}

/* Binds ?1..?9 as used by the insert and update statements. */
static void bind_node(sqlite3_stmt *stmt, const struct node *node)
{
	sqlite3_bind_int(stmt, 1, node->address);
	if (node->has_uuid)
		sqlite3_bind_blob(stmt, 2, node->uuid, sizeof(node->uuid), SQLITE_STATIC);
	else
		sqlite3_bind_null(stmt, 2);
	sqlite3_bind_text(stmt, 3, node->name, -1, SQLITE_STATIC);
	bind_optional_id(stmt, 4, node->company_id);
	bind_optional_id(stmt, 5, node->product_id);
	bind_optional_id(stmt, 6, node->version_id);
	if (node->firmware_id_len)
		sqlite3_bind_blob(stmt, 7, node->firmware_id, (int)node->firmware_id_len, SQLITE_STATIC);
	else
		sqlite3_bind_null(stmt, 7);
	if (node->last_seen)
		sqlite3_bind_int64(stmt, 8, node->last_seen);
	else
		sqlite3_bind_null(stmt, 8);
	sqlite3_bind_int64(stmt, 9, node->updated_at);
}

static int write_tags(struct db *db, const struct node *node)
{
	sqlite3_stmt *del = db_stmt(db, "DELETE FROM node_tags WHERE address = ?1");
	int r;

	if (!del)
		return -EIO;
	sqlite3_bind_int(del, 1, node->address);
	r = db_result(db, sqlite3_step(del), "delete tags");
	for (size_t i = 0; r == 0 && i < node->n_tags; i++) {
		sqlite3_stmt *ins = db_stmt(db, "INSERT INTO node_tags(address, tag) VALUES (?1, ?2)");

		if (!ins)
			return -EIO;
		sqlite3_bind_int(ins, 1, node->address);
		sqlite3_bind_text(ins, 2, node->tags[i], -1, SQLITE_STATIC);
		r = db_result(db, sqlite3_step(ins), "insert tag");
	}
	return r;
}

int nodes_insert(struct db *db, struct node *nodes, size_t n, size_t *ret_conflict)
{
	int64_t now = time_now_ms();
	int r;

	r = db_begin(db);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		sqlite3_stmt *stmt = db_stmt(db,
			"INSERT INTO nodes(address, uuid, name, company_id, product_id, version_id, firmware_id, "
			"last_seen, updated_at, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)");

		if (!stmt) {
			r = -EIO;
			goto fail;
		}
		nodes[i].created_at = nodes[i].updated_at = now;
		bind_node(stmt, &nodes[i]);
		r = db_result(db, sqlite3_step(stmt), "insert node");
		if (r == -EEXIST) {
			*ret_conflict = i;
			goto fail;
		}
		if (r == 0)
			r = write_tags(db, &nodes[i]);
		if (r < 0)
			goto fail;
	}
	r = db_commit(db);
	if (r < 0)
		goto fail;
	return 0;
fail:
	db_rollback(db);
	return r;
}

static void read_node(sqlite3_stmt *stmt, struct node *node)
{
	const void *blob;
	const unsigned char *text;
	int len;

	node_init(node, (uint16_t)sqlite3_column_int(stmt, 0));
	blob = sqlite3_column_blob(stmt, 1);
	if (blob && sqlite3_column_bytes(stmt, 1) == (int)sizeof(node->uuid)) {
		memcpy(node->uuid, blob, sizeof(node->uuid));
		node->has_uuid = true;
	}
	text = sqlite3_column_text(stmt, 2);
	snprintf(node->name, sizeof(node->name), "%s", text ? (const char *)text : "");
	for (int col = 3; col <= 5; col++) {
		int32_t v = sqlite3_column_type(stmt, col) == SQLITE_NULL ? NODE_ID_UNKNOWN :
			    sqlite3_column_int(stmt, col);

		if (col == 3)
			node->company_id = v;
		else if (col == 4)
			node->product_id = v;
		else
			node->version_id = v;
	}
	blob = sqlite3_column_blob(stmt, 6);
	len = sqlite3_column_bytes(stmt, 6);
	if (blob && len >= NODE_FWID_MIN && len <= NODE_FWID_MAX) {
		memcpy(node->firmware_id, blob, (size_t)len);
		node->firmware_id_len = (size_t)len;
	}
	node->last_seen = sqlite3_column_int64(stmt, 7);
	node->created_at = sqlite3_column_int64(stmt, 8);
	node->updated_at = sqlite3_column_int64(stmt, 9);
	node->elements = (uint8_t)sqlite3_column_int(stmt, 10);
	node->provisioned = sqlite3_column_int(stmt, 11) != 0;
	node->dfu_capable = sqlite3_column_type(stmt, 12) == SQLITE_NULL ? -1 : sqlite3_column_int(stmt, 12);
	node->reachable = sqlite3_column_type(stmt, 13) == SQLITE_NULL ? -1 : sqlite3_column_int(stmt, 13);
	node->hops = (uint8_t)sqlite3_column_int(stmt, 14);    /* NULL (unknown) reads 0 */
	text = sqlite3_column_count(stmt) > 15 ? sqlite3_column_text(stmt, 15) : NULL;
	if (text) {
		/* Tags are stored validated, so they hold no space; the list comes sorted. */
		const char *p = (const char *)text;

		while (*p && node->n_tags < NODE_TAGS_MAX) {
			size_t n = strcspn(p, " ");

			if (n > 0 && n <= NODE_TAG_MAX) {
				memcpy(node->tags[node->n_tags], p, n);
				node->tags[node->n_tags][n] = '\0';
				node->n_tags++;
			}
			p += n + (p[n] == ' ');
		}
	}
}

int nodes_get(struct db *db, uint16_t address, struct node *ret_node)
{
	sqlite3_stmt *stmt = db_stmt(db, "SELECT " NODE_COLUMNS " FROM nodes n WHERE address = ?1");
	int rc;

	if (!stmt)
		return -EIO;
	sqlite3_bind_int(stmt, 1, address);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_DONE)
		return -ENOENT;
	if (rc != SQLITE_ROW)
		return db_result(db, rc, "read node");
	read_node(stmt, ret_node);
	sqlite3_reset(stmt);
	return 0;
}

int nodes_update(struct db *db, struct node *node)
{
	sqlite3_stmt *stmt;
	int r;

	r = db_begin(db);
	if (r < 0)
		return r;
	stmt = db_stmt(db, "UPDATE nodes SET uuid = ?2, name = ?3, company_id = ?4, product_id = ?5, "
		       "version_id = ?6, firmware_id = ?7, last_seen = ?8, updated_at = ?9 WHERE address = ?1");
	if (!stmt) {
		r = -EIO;
		goto fail;
	}
	node->updated_at = time_now_ms();
	bind_node(stmt, node);
	r = db_result(db, sqlite3_step(stmt), "update node");
	if (r == 0 && sqlite3_changes(db_handle(db)) == 0)
		r = -ENOENT;
	if (r == 0)
		r = write_tags(db, node);
	if (r == 0)
		r = db_commit(db);
	if (r < 0)
		goto fail;
	return 0;
fail:
	db_rollback(db);
	return r;
}

int nodes_delete(struct db *db, uint16_t address)
{
	sqlite3_stmt *stmt = db_stmt(db, "DELETE FROM nodes WHERE address = ?1");
	int r;

	if (!stmt)
		return -EIO;
	sqlite3_bind_int(stmt, 1, address);
	r = db_result(db, sqlite3_step(stmt), "delete node");
	if (r == 0 && sqlite3_changes(db_handle(db)) == 0)
		return -ENOENT;
	return r;
}

int nodes_count(struct db *db, uint64_t *ret_count)
{
	sqlite3_stmt *stmt = db_stmt(db, "SELECT count(*) FROM nodes");
	int rc;

	if (!stmt)
		return -EIO;
	rc = sqlite3_step(stmt);
	if (rc != SQLITE_ROW)
		return db_result(db, rc, "count nodes");
	*ret_count = (uint64_t)sqlite3_column_int64(stmt, 0);
	sqlite3_reset(stmt);
	return 0;
}

/* Tags come from a second cursor over node_tags in (address, tag) order, walked in step with the nodes: a
 * correlated group_concat() subquery per row costs more than the rest of the row. */
static int tags_merge(struct db *db, sqlite3_stmt *tags, int *tags_rc, struct node *node)
{
	while (*tags_rc == SQLITE_ROW) {
		int address = sqlite3_column_int(tags, 0);

		if (address > node->address)
			break;
		if (address == node->address && node->n_tags < NODE_TAGS_MAX) {
			const unsigned char *tag = sqlite3_column_text(tags, 1);
			int n = sqlite3_column_bytes(tags, 1);

			if (tag && n > 0 && n <= NODE_TAG_MAX) {
				memcpy(node->tags[node->n_tags], tag, (size_t)n);
				node->tags[node->n_tags][n] = '\0';
				node->n_tags++;
			}
		}
		*tags_rc = sqlite3_step(tags);
	}
	if (*tags_rc != SQLITE_ROW && *tags_rc != SQLITE_DONE)
		return db_result(db, *tags_rc, "list tags");
	return 0;
}

int nodes_list(struct db *db, const struct node_filter *filter, uint16_t after, unsigned limit,
	       nodes_list_fn fn, void *userdata, bool *ret_more)
{
	/* The address is the rowid: the walk is a range scan in order, and the filters are checked per row. */
	sqlite3_stmt *stmt = db_stmt(db,
		"SELECT " NODE_BASE_COLUMNS " FROM nodes n WHERE address > ?1"
		" AND (?2 IS NULL OR firmware_id = ?2)"
		" AND (?3 IS NULL OR company_id = ?3)"
		" AND (?4 IS NULL OR product_id = ?4)"
		" AND (?5 IS NULL OR EXISTS (SELECT 1 FROM node_tags t WHERE t.address = n.address AND t.tag = ?5))"
		" ORDER BY address LIMIT ?6");
	sqlite3_stmt *tags = db_stmt(db, "SELECT address, tag FROM node_tags WHERE address > ?1 ORDER BY address, tag");
	struct node node;
	unsigned seen = 0;
	int rc, tags_rc, r = 0;

	if (!stmt || !tags)
		return -EIO;
	sqlite3_bind_int(stmt, 1, after);
	if (filter->firmware_id_len)
		sqlite3_bind_blob(stmt, 2, filter->firmware_id, (int)filter->firmware_id_len, SQLITE_STATIC);
	bind_optional_id(stmt, 3, filter->company_id);
	bind_optional_id(stmt, 4, filter->product_id);
	if (filter->tag)
		sqlite3_bind_text(stmt, 5, filter->tag, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 6, (sqlite3_int64)limit + 1);
	sqlite3_bind_int(tags, 1, after);
	tags_rc = sqlite3_step(tags);
	*ret_more = false;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		if (seen == limit) {
			*ret_more = true;
			break;
		}
		seen++;
		read_node(stmt, &node);
		r = tags_merge(db, tags, &tags_rc, &node);
		if (r == 0)
			r = fn(&node, userdata);
		if (r != 0)
			break;
	}
	if (r == 0 && rc != SQLITE_ROW && rc != SQLITE_DONE)
		r = db_result(db, rc, "list nodes");
	sqlite3_reset(stmt);
	sqlite3_reset(tags);
	return r;
}

int nodes_images(struct db *db, uint16_t address, struct node_image *out, size_t max, size_t *ret_n)
{
	sqlite3_stmt *stmt = db_stmt(db, "SELECT image_index, firmware_id, update_uri FROM node_images "
				     "WHERE address = ?1 ORDER BY image_index");
	size_t n = 0;
	int rc;

	if (!stmt)
		return -EIO;
	sqlite3_bind_int(stmt, 1, address);
	while (n < max && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		struct node_image *im = &out[n++];
		const unsigned char *uri = sqlite3_column_text(stmt, 2);
		int len = sqlite3_column_bytes(stmt, 1);

		im->index = (uint8_t)sqlite3_column_int(stmt, 0);
		im->firmware_id_len = len >= NODE_FWID_MIN && len <= NODE_FWID_MAX ? (size_t)len : 0;
		memcpy(im->firmware_id, sqlite3_column_blob(stmt, 1), im->firmware_id_len);
		snprintf(im->update_uri, sizeof(im->update_uri), "%s", uri ? (const char *)uri : "");
	}
	if (n < max && rc != SQLITE_DONE) {
		sqlite3_reset(stmt);
		return db_result(db, rc, "list images");
	}
	sqlite3_reset(stmt);
	*ret_n = n;
	return 0;
}

int node_composition_dfu_element(const uint8_t *data, size_t len, struct ma_comp0 *ret_comp, uint8_t *ret_element)
{
	static const uint16_t dfu_models[] = { MA_MODEL_DFU_SRV, MA_MODEL_BLOB_SRV };

	if (ma_comp0_parse(data, len, ret_comp) != MA_OK)
		return -EBADMSG;
	return ma_comp0_find_element(ret_comp, dfu_models, ARRAY_SIZE(dfu_models), ret_element) ? 0 : -ENODEV;
}

int nodes_get_composition(struct db *db, uint16_t address, uint8_t *out, size_t cap, size_t *ret_len)
{
	sqlite3_stmt *stmt = db_stmt(db, "SELECT composition FROM nodes WHERE address = ?1");
	int rc, r;

	if (!stmt)
		return -EIO;
	sqlite3_bind_int(stmt, 1, address);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		const void *blob = sqlite3_column_blob(stmt, 0);
		int n = sqlite3_column_bytes(stmt, 0);

		if (sqlite3_column_type(stmt, 0) == SQLITE_NULL || n <= 0) {
			r = -ENODATA;
		} else if ((size_t)n > cap) {
			r = -EOVERFLOW;
		} else {
			memcpy(out, blob, (size_t)n);
			*ret_len = (size_t)n;
			r = 0;
		}
	} else {
		r = db_result(db, rc, "get a node's composition");
		if (r == 0)
			r = -ENOENT;
	}
	sqlite3_reset(stmt);
	return r;
}

int nodes_set_composition(struct db *db, uint16_t address, const uint8_t *data, size_t len,
			  const struct ma_comp0 *comp, bool dfu_capable)
{
	sqlite3_stmt *stmt = db_stmt(db,
		"UPDATE nodes SET composition = ?2, company_id = ?3, product_id = ?4, version_id = ?5, crpl = ?6, "
		"  features = ?7, elements = ?8, dfu_capable = ?9, reachable = 1, last_seen = ?10, updated_at = ?10 "
		"WHERE address = ?1");

	if (!stmt)
		return -EIO;
	sqlite3_bind_int(stmt, 1, address);
	sqlite3_bind_blob(stmt, 2, data, (int)len, SQLITE_STATIC);
	sqlite3_bind_int(stmt, 3, comp->cid);
	sqlite3_bind_int(stmt, 4, comp->pid);
	sqlite3_bind_int(stmt, 5, comp->vid);
	sqlite3_bind_int(stmt, 6, comp->crpl);
	sqlite3_bind_int(stmt, 7, comp->features);
	sqlite3_bind_int(stmt, 8, comp->element_count);
	sqlite3_bind_int(stmt, 9, dfu_capable);
	sqlite3_bind_int64(stmt, 10, time_now_ms());
	return db_result(db, sqlite3_step(stmt), "record a node's composition");
}
