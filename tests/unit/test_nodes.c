/* Unit tests for daemon/nodes.c: insert, read, update, delete, list with filters and pages. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nodes.h"
#include "tap.h"

static char dir[] = "/tmp/mf-test-nodes-XXXXXX";

struct collected {
	uint16_t addresses[64];
	size_t n;
	int stop_after;
};

static int collect(const struct node *node, void *userdata)
{
	struct collected *c = userdata;

	if (c->n < 64)
		c->addresses[c->n++] = node->address;
	if (c->stop_after && (int)c->n == c->stop_after)
		return -ECANCELED;
	return 0;
}

static void make_node(struct node *n, uint16_t address, int product, const char *tag)
{
	node_init(n, address);
	snprintf(n->name, sizeof(n->name), "node-%u", address);
	n->company_id = 0x0059;
	n->product_id = product;
	n->firmware_id_len = 4;
	memcpy(n->firmware_id, (const uint8_t[]){ 0x59, 0x00, 0x01, (uint8_t)product }, 4);
	if (tag)
		node_tag_add(n, tag);
}

static void test_tags(void)
{
	struct node n;
	char tag[8];

	node_init(&n, 1);
	is_int(node_tag_add(&n, "zeta"), 0, "add tag");
	is_int(node_tag_add(&n, "alpha"), 0, "add another");
	is_int(node_tag_add(&n, "zeta"), 0, "a repeat is a no-op");
	is_int(n.n_tags, 2, "two distinct tags");
	is_str(n.tags[0], "alpha", "sorted");
	is_int(node_tag_add(&n, "bad tag"), -EINVAL, "space refused");
	is_int(node_tag_add(&n, ""), -EINVAL, "empty refused");
	is_int(node_tag_add(&n, "123456789012345678901234567890123"), -EINVAL, "33 characters refused");
	ok(node_tag_valid("floor-1:east_wing.A"), "allowed punctuation");
	for (int i = 0; n.n_tags < NODE_TAGS_MAX; i++) {
		snprintf(tag, sizeof(tag), "t%d", i);
		node_tag_add(&n, tag);
	}
	is_int(node_tag_add(&n, "onemore"), -E2BIG, "at most NODE_TAGS_MAX tags");
}

static void test_crud(struct db *db)
{
	struct node batch[3], got, dup;
	size_t conflict = 99;
	uint64_t count = 0;

	make_node(&batch[0], 0x0010, 1, "floor1");
	make_node(&batch[1], 0x0011, 2, "floor2");
	make_node(&batch[2], 0x0012, 1, NULL);
	batch[0].has_uuid = true;
	memset(batch[0].uuid, 0xab, 16);
	is_int(nodes_insert(db, batch, 3, &conflict), 0, "insert a batch");
	ok(batch[0].created_at > 0 && batch[0].updated_at == batch[0].created_at, "times set");
	is_int(nodes_count(db, &count), 0, "count");
	is_int(count, 3, "three nodes");

	is_int(nodes_get(db, 0x0010, &got), 0, "get");
	is_str(got.name, "node-16", "name read back");
	ok(got.has_uuid && got.uuid[15] == 0xab, "uuid read back");
	is_int(got.product_id, 1, "product id read back");
	is_int(got.version_id, NODE_ID_UNKNOWN, "unknown version id stays unknown");
	is_int(got.firmware_id_len, 4, "firmware id length");
	is_int(got.n_tags, 1, "tags read back");
	is_str(got.tags[0], "floor1", "tag value");
	is_int(nodes_get(db, 0x0099, &got), -ENOENT, "get of an unknown node");

	/* A batch with one collision stores nothing. */
	make_node(&dup, 0x0020, 1, NULL);
	{
		struct node two[2] = { dup, batch[1] };

		is_int(nodes_insert(db, two, 2, &conflict), -EEXIST, "existing address refused");
		is_int(conflict, 1, "the second node collides");
	}
	is_int(nodes_get(db, 0x0020, &got), -ENOENT, "the first node of that batch was rolled back");
	make_node(&dup, 0x0021, 1, NULL);
	dup.has_uuid = true;
	memset(dup.uuid, 0xab, 16);
	is_int(nodes_insert(db, &dup, 1, &conflict), -EEXIST, "existing uuid refused");

	is_int(nodes_get(db, 0x0011, &got), 0, "get for update");
	got.n_tags = 0;
	node_tag_add(&got, "moved");
	node_tag_add(&got, "east");
	got.version_id = 7;
	got.firmware_id_len = 0;
	is_int(nodes_update(db, &got), 0, "update");
	is_int(nodes_get(db, 0x0011, &got), 0, "get after update");
	is_int(got.version_id, 7, "version id updated");
	is_int(got.firmware_id_len, 0, "firmware id cleared");
	is_int(got.n_tags, 2, "tags replaced");
	is_str(got.tags[0], "east", "tags come back sorted");
	got.has_uuid = true;
	memset(got.uuid, 0xab, 16);
	is_int(nodes_update(db, &got), -EEXIST, "update to a taken uuid refused");
	got.address = 0x0099;
	got.has_uuid = false;
	is_int(nodes_update(db, &got), -ENOENT, "update of an unknown node");

	is_int(nodes_delete(db, 0x0012), 0, "delete");
	is_int(nodes_delete(db, 0x0012), -ENOENT, "delete twice");
	is_int(nodes_count(db, &count), 0, "count after delete");
	is_int(count, 2, "two left");
}

static void test_list(struct db *db)
{
	struct node_filter filter;
	struct collected c;
	struct node batch[40];
	size_t conflict;
	bool more = false;

	for (int i = 0; i < 40; i++)
		make_node(&batch[i], (uint16_t)(0x0100 + i * 3), i % 4, i % 5 == 0 ? "five" : NULL);
	is_int(nodes_insert(db, batch, 40, &conflict), 0, "insert 40");

	node_filter_init(&filter);
	memset(&c, 0, sizeof(c));
	is_int(nodes_list(db, &filter, 0, 10, collect, &c, &more), 0, "first page");
	is_int(c.n, 10, "ten nodes");
	ok(more, "more follow");
	is_int(c.addresses[0], 0x0010, "ordered by address");
	is_int(c.addresses[2], 0x0100, "then the batch");

	memset(&c, 0, sizeof(c));
	is_int(nodes_list(db, &filter, 0x0100 + 36 * 3, 10, collect, &c, &more), 0, "last page");
	is_int(c.n, 3, "three nodes");
	ok(!more, "nothing more");

	memset(&c, 0, sizeof(c));
	is_int(nodes_list(db, &filter, 0x0100 + 33 * 3, 3, collect, &c, &more), 0, "page that ends exactly");
	is_int(c.n, 3, "three nodes");
	ok(more, "one more node is there");

	node_filter_init(&filter);
	filter.tag = "five";
	memset(&c, 0, sizeof(c));
	nodes_list(db, &filter, 0, 100, collect, &c, &more);
	is_int(c.n, 8, "tag filter");

	node_filter_init(&filter);
	filter.product_id = 3;
	filter.company_id = 0x59;
	memset(&c, 0, sizeof(c));
	nodes_list(db, &filter, 0, 100, collect, &c, &more);
	is_int(c.n, 10, "company + product filter");

	node_filter_init(&filter);
	filter.firmware_id_len = 4;
	memcpy(filter.firmware_id, (const uint8_t[]){ 0x59, 0x00, 0x01, 0x02 }, 4);
	filter.tag = "five";
	memset(&c, 0, sizeof(c));
	nodes_list(db, &filter, 0, 100, collect, &c, &more);
	is_int(c.n, 2, "firmware id + tag filter");

	node_filter_init(&filter);
	memset(&c, 0, sizeof(c));
	c.stop_after = 2;
	is_int(nodes_list(db, &filter, 0, 100, collect, &c, &more), -ECANCELED, "callback stops the walk");
	is_int(c.n, 2, "after two nodes");
	memset(&c, 0, sizeof(c));
	is_int(nodes_list(db, &filter, 0, 1, collect, &c, &more), 0, "the statement is reusable after a stop");
	is_int(c.n, 1, "one node");
}

int main(void)
{
	struct db *db = NULL;
	char path[512], err[512];

	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(path, sizeof(path), "%s/nodes.db", dir);
	if (db_open(path, &db, err, sizeof(err)) < 0) {
		printf("Bail out! %s\n", err);
		return 1;
	}
	test_tags();
	test_crud(db);
	test_list(db);
	db_free(db);
	for (const char *suffix = ""; suffix; suffix = *suffix ? (suffix[1] == 'w' ? "-shm" : NULL) : "-wal") {
		char p[600];

		snprintf(p, sizeof(p), "%s%s", path, suffix);
		unlink(p);
	}
	rmdir(dir);
	return done_testing();
}
