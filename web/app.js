/* meshfleet dashboard: daemon health (refreshed every 5 s) and the node table, paginated with next_cursor.
 *
 * No dependencies and no build step. Every value from the API reaches the page through textContent or an
 * attribute, never through innerHTML, so node names and tags cannot inject markup.
 */
(function () {
  "use strict";

  var HEALTH_INTERVAL_MS = 5000;
  /* The API token (docs/api.md, "Authentication") is kept in this browser's localStorage under this key. */
  var TOKEN_KEY = "meshfleet.token";

  function storedToken() {
    try {
      return window.localStorage.getItem(TOKEN_KEY) || "";
    } catch (e) {
      return "";
    }
  }
  var TAG_PATTERN = /^[A-Za-z0-9_.:-]{1,32}$/;

  function $(id) {
    return document.getElementById(id);
  }

  /* An API failure, with the daemon's error code and message when it sent one. */
  function ApiError(status, code, message) {
    this.status = status;
    this.code = code;
    this.message = message;
  }
  ApiError.prototype.toString = function () {
    var parts = [];
    if (this.status) parts.push(String(this.status));
    if (this.code) parts.push(this.code);
    return (parts.length ? parts.join(" ") + ": " : "") + this.message;
  };

  /* GETs @path (relative to the page, so a reverse proxy prefix keeps working) and returns the parsed JSON. */
  async function getJson(path) {
    var response;
    try {
      var headers = { Accept: "application/json" };
      var token = storedToken();
      if (token) headers.Authorization = "Bearer " + token;
      response = await fetch(path, { headers: headers, cache: "no-store" });
    } catch (e) {
      throw new ApiError(0, "", "cannot reach meshfleetd (" + e.message + ")");
    }
    var text = await response.text();
    var body = null;
    try {
      body = text ? JSON.parse(text) : null;
    } catch (e) {
      body = null;
    }
    if (!response.ok) {
      if (response.status === 401) $("token").focus();
      if (body && body.error && typeof body.error.message === "string")
        throw new ApiError(response.status, String(body.error.code || ""), body.error.message);
      throw new ApiError(response.status, "", response.statusText || "request failed");
    }
    if (body === null)
      throw new ApiError(response.status, "", "the answer to " + path + " is not JSON");
    return body;
  }

  function showError(element, what, error) {
    element.textContent = what + ": " + String(error);
    element.hidden = false;
  }

  function clearError(element) {
    element.textContent = "";
    element.hidden = true;
  }

  function hex16(n) {
    return "0x" + n.toString(16).toUpperCase().padStart(4, "0");
  }

  function formatUptime(seconds) {
    var d = Math.floor(seconds / 86400);
    var h = Math.floor((seconds % 86400) / 3600);
    var m = Math.floor((seconds % 3600) / 60);
    var s = seconds % 60;
    if (d > 0) return d + " d " + h + " h " + m + " min";
    if (h > 0) return h + " h " + m + " min";
    if (m > 0) return m + " min " + s + " s";
    return s + " s";
  }

  function formatTime(iso) {
    var t = new Date(iso);
    return isNaN(t.getTime()) ? iso : t.toLocaleString();
  }

  /* --- health --- */

  var healthTimer = null;

  function setBadge(state, text) {
    var badge = $("health-status");
    badge.className = "badge badge-" + state;
    badge.textContent = text;
  }

  function renderHealth(h) {
    $("health-version").textContent = String(h.version);
    $("health-uptime").textContent = formatUptime(Number(h.uptime_s) || 0);

    var db = h.database || {};
    var dbText = String(db.state) + ", schema " + String(db.schema_version);
    if (typeof db.errors === "number" && db.errors > 0) dbText += ", " + db.errors + " errors since start";
    var dbCell = $("health-database");
    dbCell.textContent = dbText;
    dbCell.className = db.state === "ok" ? "" : "warn";

    var dongle = h.dongle || {};
    var dongleText = dongle.state === "not_configured" ? "not configured" : String(dongle.state);
    if (dongle.spec && dongle.spec !== "none") dongleText += " (" + dongle.spec + ")";
    $("health-dongle").textContent = dongleText;

    $("health-checked").textContent = new Date().toLocaleTimeString();
    if (h.status === "ok") setBadge("ok", "ok");
    else setBadge("warn", String(h.status));
  }

  async function refreshHealth() {
    clearTimeout(healthTimer);
    try {
      renderHealth(await getJson("api/v1/health"));
      clearError($("health-error"));
    } catch (e) {
      showError($("health-error"), "GET /api/v1/health", e);
      setBadge("down", e.status ? "error" : "unreachable");
    }
    /* The next check is planned after this one ends, so a slow daemon never gets overlapping requests;
     * a hidden tab plans none and checks again when it is shown. */
    clearTimeout(healthTimer);
    if (!document.hidden) healthTimer = setTimeout(refreshHealth, HEALTH_INTERVAL_MS);
  }

  /* --- nodes --- */

  var view = {
    tag: "",
    limit: 100,
    cursor: null,      /* cursor of the page shown; null = first page */
    nextCursor: null,
    page: 1,
    loading: false,
  };

  function nodesUrl() {
    var q = new URLSearchParams();
    q.set("limit", String(view.limit));
    if (view.tag) q.set("tag", view.tag);
    if (view.cursor) q.set("cursor", view.cursor);
    return "api/v1/nodes?" + q.toString();
  }

  function cell(row, text, className, title) {
    var td = document.createElement("td");
    td.textContent = text;
    if (className) td.className = className;
    if (title) td.title = title;
    row.appendChild(td);
    return td;
  }

  function idCell(row, value) {
    if (value === null || value === undefined) cell(row, "–", "muted");
    else cell(row, hex16(value), "mono", String(value));
  }

  function nodeRow(node) {
    var row = document.createElement("tr");
    cell(row, hex16(node.address), "mono", String(node.address));
    if (node.name) cell(row, node.name);
    else cell(row, "–", "muted");
    if (node.uuid) cell(row, node.uuid, "mono uuid");
    else cell(row, "–", "muted");
    idCell(row, node.company_id);
    idCell(row, node.product_id);
    idCell(row, node.version_id);
    if (node.firmware_id) cell(row, node.firmware_id, "mono fwid", node.firmware_id);
    else cell(row, "–", "muted");

    var tags = cell(row, "");
    (node.tags || []).forEach(function (tag) {
      var chip = document.createElement("button");
      chip.type = "button";
      chip.className = "tag";
      chip.textContent = tag;
      chip.title = "Show only nodes tagged " + tag;
      chip.addEventListener("click", function () {
        $("tag-filter").value = tag;
        applyFilter();
      });
      tags.appendChild(chip);
    });

    if (node.last_seen) cell(row, formatTime(node.last_seen), "", node.last_seen);
    else cell(row, "never", "muted");
    return row;
  }

  function renderNodes(list) {
    var body = $("nodes-body");
    var rows = document.createDocumentFragment();
    var nodes = Array.isArray(list.nodes) ? list.nodes : [];
    nodes.forEach(function (node) {
      rows.appendChild(nodeRow(node));
    });
    if (nodes.length === 0) {
      var row = document.createElement("tr");
      var td = cell(row, view.tag ? "No node has the tag " + view.tag + "." :
        view.page > 1 ? "No more nodes." : "No nodes yet. Add some with POST /api/v1/nodes (see docs/api.md).", "empty");
      td.colSpan = 9;
      rows.appendChild(row);
    }
    body.replaceChildren(rows);

    view.nextCursor = typeof list.next_cursor === "string" ? list.next_cursor : null;
    var first = (view.page - 1) * view.limit + 1;
    $("page-info").textContent = nodes.length === 0 ? "page " + view.page :
      "page " + view.page + " · nodes " + first + "–" + (first + nodes.length - 1) +
      (view.nextCursor ? "" : " (last page)");
  }

  function updatePager() {
    $("page-next").disabled = view.loading || !view.nextCursor;
    $("page-first").disabled = view.loading || view.page === 1;
  }

  async function loadNodes() {
    view.loading = true;
    updatePager();
    try {
      renderNodes(await getJson(nodesUrl()));
      clearError($("nodes-error"));
    } catch (e) {
      showError($("nodes-error"), "GET /api/v1/nodes", e);
      view.nextCursor = null;
    } finally {
      view.loading = false;
      updatePager();
    }
  }

  function applyFilter() {
    var tag = $("tag-filter").value.trim();
    if (tag && !TAG_PATTERN.test(tag)) {
      showError($("nodes-error"), "Tag filter", "'" + tag + "' is not a tag: use 1 to 32 of A-Z a-z 0-9 _ . : -");
      return;
    }
    view.tag = tag;
    view.limit = Number($("page-size").value) || 100;
    view.cursor = null;
    view.page = 1;
    loadNodes();
  }

  function start() {
    $("token").value = storedToken();
    $("token-form").addEventListener("submit", function (event) {
      event.preventDefault();
      try {
        window.localStorage.setItem(TOKEN_KEY, $("token").value.trim());
      } catch (e) {
        /* storage disabled: the token lasts until the page is left */
      }
      refreshHealth();
      applyFilter();
    });
    $("nodes-filter").addEventListener("submit", function (event) {
      event.preventDefault();
      applyFilter();
    });
    $("filter-clear").addEventListener("click", function () {
      $("tag-filter").value = "";
      applyFilter();
    });
    $("page-size").addEventListener("change", applyFilter);
    $("page-next").addEventListener("click", function () {
      if (!view.nextCursor) return;
      view.cursor = view.nextCursor;
      view.page += 1;
      loadNodes();
    });
    $("page-first").addEventListener("click", function () {
      view.cursor = null;
      view.page = 1;
      loadNodes();
    });
    /* A hidden tab does not poll; it checks at once when shown again. */
    document.addEventListener("visibilitychange", function () {
      if (document.hidden) clearTimeout(healthTimer);
      else refreshHealth();
    });

    refreshHealth();
    applyFilter();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
