// trove-lite web console: plain JS over the public v1.0 API (no library, no CDN).
// The tenant (and, with Keystone, a token) is kept in sessionStorage; every call
// goes to /v1.0/<tenant>/... with X-Auth-Token when a token is given, so the
// console sees exactly what that tenant's API calls see.
"use strict";

const RUNNING_BACKUP = ["NEW", "BUILDING", "SAVING"];
const FINAL_MIGRATION = ["COMPLETED", "FAILED", "ABORTED"];
const state = { timer: null, samples: {} };

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (v !== null && v !== undefined) node.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c !== null && c !== undefined) node.append(c instanceof Node ? c : String(c));
  }
  return node;
}

function svg(tag, attrs, ...children) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  for (const c of children) node.append(c);
  return node;
}

function auth() {
  return { tenant: sessionStorage.getItem("tenant"), token: sessionStorage.getItem("token") };
}

async function api(method, path, body) {
  const { tenant, token } = auth();
  const headers = { "Accept": "application/json" };
  if (token) headers["X-Auth-Token"] = token;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const resp = await fetch("/v1.0/" + encodeURIComponent(tenant) + path, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await resp.text();
  let data = {};
  try { data = text ? JSON.parse(text) : {}; } catch (e) { data = {}; }  // e.g. a proxy's HTML
  if (!resp.ok) {
    const fault = Object.values(data)[0] || {};
    throw new Error(fault.message || resp.status + " " + resp.statusText);
  }
  return data;
}

async function listAll(path, key, onPage) {
  let items = [], url = path;
  for (;;) {
    const page = await api("GET", url);
    items = items.concat(page[key]);
    const next = (page.links || []).find((l) => l.rel === "next");
    if (!next) return items;
    if (onPage) onPage(items);
    url = path + "?" + next.href.split("?")[1];
  }
}

function status(s) { return el("span", { class: "st-" + s }, s); }
function main(...nodes) { const m = document.getElementById("main"); m.replaceChildren(...nodes); }
function failure(e) { return el("p", { class: "err" }, String(e.message || e)); }

function login() {
  const tenant = el("input", { name: "tenant", placeholder: "project / tenant id", required: "" });
  const token = el("input", { name: "token", placeholder: "Keystone token (optional)", type: "password" });
  main(el("form", { id: "login", onsubmit: (ev) => {
    ev.preventDefault();
    sessionStorage.setItem("tenant", tenant.value.trim());
    sessionStorage.setItem("token", token.value.trim());
    route();
  } }, el("h2", {}, "Sign in"), tenant, " ", token, " ", el("button", {}, "Open")));
}

// -- instance list --------------------------------------------------------------
function instanceList() {
  // the form is built once (a refresh must not wipe what the user is typing); the
  // table is redrawn as each page of /instances/detail arrives, then every 5 s
  main(el("section", { id: "list" }, el("h2", {}, "Instances"), el("p", {}, "Loading…")), createForm());
  return refreshList();
}

async function refreshList() {
  const draw = (instances, done) => {
    const byId = Object.fromEntries(instances.map((i) => [i.id, i]));
    const rows = instances.map((i) => el("tr", { "data-id": i.id },
      el("td", {}, el("a", { href: "#/instances/" + i.id }, i.name)),
      el("td", {}, status(i.status)), el("td", {}, status(i.operating_status || "")),
      el("td", {}, i.datastore.type + " " + i.datastore.version),
      el("td", {}, i.replica_of ? "replica of " + ((byId[i.replica_of.id] || {}).name || i.replica_of.id)
        : (i.replicas ? "source (" + i.replicas.length + " replicas)" : "")),
      el("td", {}, (i.ip || []).join(", "))));
    const list = document.getElementById("list");
    if (!list) return;
    list.replaceChildren(el("h2", {}, "Instances (" + instances.length + (done ? "" : "…") + ")"),
      el("table", { id: "instances" }, el("tr", {}, ["Name", "Status", "Operating status",
        "Datastore", "Replication", "Address"].map((h) => el("th", {}, h))), rows));
  };
  const instances = await listAll("/instances/detail", "instances", (sofar) => draw(sofar, false));
  draw(instances, true);
  if (!performance.getEntriesByName("instances-rendered").length) performance.mark("instances-rendered");
  schedule(refreshList, 5000);
}

function createForm() {
  const name = el("input", { name: "name", placeholder: "name", required: "" });
  const flavor = el("input", { name: "flavor", placeholder: "flavor id", value: "tiny" });
  const size = el("input", { name: "size", type: "number", value: "1", min: "1" });
  const version = el("input", { name: "version", placeholder: "version", value: "10.11" });
  const out = el("span");
  return el("section", {}, el("h2", {}, "Create instance"),
    el("form", { id: "create", onsubmit: (ev) => {
      ev.preventDefault();
      api("POST", "/instances", { instance: { name: name.value, flavorRef: flavor.value,
        volume: { size: Number(size.value) }, datastore: { type: "mariadb", version: version.value } } })
        .then((r) => { location.hash = "#/instances/" + r.instance.id; })
        .catch((e) => out.replaceChildren(failure(e)));
    } }, name, " flavor ", flavor, " GB ", size, " version ", version, " ",
    el("button", {}, "Create"), out));
}

// -- instance page ----------------------------------------------------------------
function instancePage(id) {
  // the frame first; the parts that ask the guest (configuration, logs) load on their
  // own so a slow guest never holds the page, and the rest refreshes on a timer
  const part = (name, title) => el("section", { id: name }, el("h2", {}, title), el("div", { class: "body" }, "Loading…"));
  // forms are built once, outside the parts a refresh redraws (typing survives it)
  const withForm = (name, title, form) => { const p = part(name, title); p.append(form); return p; };
  main(el("h2", { id: "title" }, "Loading…"), el("p", { id: "actions" }), el("div", { id: "details" }),
    part("topology", "Replication"), part("backups", "Backups"),
    withForm("schedules", "Backup schedules", scheduleForm(id)),
    withForm("restore", "Restorable window", el("div", { class: "form" })),
    part("migrations", "Schema migrations"), part("configuration", "Configuration"),
    part("logs", "Logs"), part("events", "Events"));
  return refreshInstance(id, true);
}

function fill(name, node) {
  const target = document.querySelector("#" + name + " > .body");
  if (target) target.replaceChildren(node);
}

async function refreshInstance(id, first) {
  const inst = (await api("GET", "/instances/" + id)).instance;
  if (first) {
    document.getElementById("actions").replaceWith(actions(inst));
    document.querySelector("#restore > .form").replaceWith(restoreForm(inst));
    api("GET", "/instances/" + id + "/configuration").catch(() => null)
      .then((config) => fill("configuration", configTable(inst, config)));
    api("GET", "/instances/" + id + "/log").then((r) => fill("logs", logList(id, r.logs)))
      .catch((e) => fill("logs", failure(e)));
  }
  const [backups, eventsDoc, topology, schedules, migrations] = await Promise.all([
    api("GET", "/instances/" + id + "/backups"),
    api("GET", "/instances/" + id + "/events?limit=50"),
    topologyOf(inst),
    api("GET", "/backup_schedules?instance_id=" + encodeURIComponent(id)),
    api("GET", "/instances/" + id + "/schema_migrations")]);
  document.getElementById("title").replaceChildren(inst.name, " ", status(inst.status), " / ",
    status(inst.operating_status || ""));
  document.getElementById("details").replaceChildren(connection(inst),
    inst.fault ? el("p", { class: "err" }, "Fault: " + inst.fault.message) : "");
  fill("topology", drawTopology(topology, id));
  fill("backups", backupTable(backups.backups));
  fill("events", eventTable(eventsDoc.events));
  fill("schedules", scheduleTable(schedules.backup_schedules));
  fill("restore", windowView(inst.restorable_window));
  fill("migrations", migrationTable(id, migrations.schema_migrations));
  const busy = backups.backups.some((b) => RUNNING_BACKUP.includes(b.status)) ||
    migrations.schema_migrations.some((m) => !FINAL_MIGRATION.includes(m.status));
  schedule(() => refreshInstance(id, false), busy ? 1000 : 3000);
}

function connection(inst) {
  const ep = inst.replication_endpoints;
  return el("table", { id: "connection" },
    el("tr", {}, el("th", {}, "Address"), el("td", {}, (inst.ip || []).map((a) => a + ":3306").join(", ") || "—")),
    ep ? el("tr", {}, el("th", {}, "Read/write"), el("td", {}, ep.rw)) : null,
    ep ? el("tr", {}, el("th", {}, "Read-only"), el("td", {}, ep.ro)) : null,
    el("tr", {}, el("th", {}, "Datastore"), el("td", {}, inst.datastore.type + " " + inst.datastore.version_number)),
    el("tr", {}, el("th", {}, "Flavor / volume"), el("td", {}, inst.flavor.id + " / " +
      ((inst.volume || {}).size || "?") + " GB" + ((inst.volume || {}).used != null ? " (" + inst.volume.used + " GB used)" : ""))),
    el("tr", {}, el("th", {}, "Id"), el("td", {}, inst.id)));
}

function actions(inst) {
  const out = el("span");
  const run = (fn) => () => fn().then(() => route()).catch((e) => out.replaceChildren(failure(e)));
  const base = "/instances/" + inst.id;
  const cfg = el("select", { name: "configuration" }, el("option", { value: "" }, "configuration…"));
  api("GET", "/configurations").then((r) => r.configurations.forEach((c) =>
    cfg.append(el("option", { value: c.id }, c.name)))).catch(() => {});
  return el("p", { id: "actions" },
    el("button", { id: "restart", onclick: run(() => api("POST", base + "/action", { restart: {} })) }, "Restart"),
    el("button", { id: "backup", onclick: run(() => api("POST", "/backups", { backup: {
      name: inst.name + "-" + new Date().toISOString().replace(/[:.]/g, "-"), instance: inst.id } })) }, "Back up"),
    cfg, el("button", { id: "attach", onclick: run(() => api("PUT", base, { instance: { configuration: cfg.value } })) }, "Attach"),
    el("button", { id: "delete", onclick: () => { if (confirm("Delete " + inst.name + "?"))
      run(() => api("DELETE", base).then(() => { location.hash = "#/"; }))(); } }, "Delete"), out);
}

async function topologyOf(inst) {
  const sourceId = inst.replica_of ? inst.replica_of.id : inst.id;
  const source = sourceId === inst.id ? inst : (await api("GET", "/instances/" + sourceId)).instance;
  const replicas = await Promise.all((source.replicas || []).map((r) =>
    r.id === inst.id ? inst : api("GET", "/instances/" + r.id).then((d) => d.instance).catch(() => null)));
  return { source, replicas: replicas.filter(Boolean) };
}

function drawTopology(t, current) {
  if (!t.replicas.length) return el("p", {}, "Standalone (no replicas).");
  const w = Math.max(360, 180 * t.replicas.length), h = 170;
  const g = svg("svg", { width: w, height: h, id: "topology-graph", role: "img" });
  const node = (inst, x, y) => {
    g.append(svg("rect", { x: x - 70, y: y - 16, width: 140, height: 32, rx: 6,
      fill: inst.id === current ? "#dbe7ff" : "#fff", stroke: "#23395d", class: "node", "data-id": inst.id }));
    const label = svg("text", { x, y: y + 4, "text-anchor": "middle" });
    label.textContent = inst.name + " (" + (inst.operating_status || inst.status) + ")";
    g.append(label);
  };
  const sx = w / 2, sy = 26;
  t.replicas.forEach((r, i) => {
    const x = (w / t.replicas.length) * (i + 0.5), y = h - 26;
    g.append(svg("line", { x1: sx, y1: sy + 16, x2: x, y2: y - 16, stroke: "#666", class: "edge" }));
    const lag = (r.replication || {}).lag_seconds;
    const label = svg("text", { x: (sx + x) / 2 + 6, y: (sy + y) / 2, class: "lag" });
    label.textContent = "lag " + (lag == null ? "?" : lag + " s");
    g.append(label);
    node(r, x, y);
  });
  node(t.source, sx, sy);
  return g;
}

function backupTable(backups) {
  if (!backups.length) return el("p", {}, "No backups.");
  return el("table", { id: "backup-table" }, el("tr", {}, ["Name", "Status", "Progress", "Throughput", "Created"].map((h) => el("th", {}, h))),
    backups.map((b) => {
      const pct = Math.max(0, Math.min(100, Number(b.progress) || (b.status === "COMPLETED" ? 100 : 0)));
      return el("tr", { "data-id": b.id },
        el("td", {}, b.name), el("td", {}, status(b.status)),
        el("td", {}, el("div", { class: "bar", title: pct.toFixed(1) + "%" }, fillTo(pct)),
          " " + pct.toFixed(1) + "%"),
        el("td", { class: "throughput" }, throughput(b, pct)), el("td", {}, b.created));
    }));
}

function fillTo(pct) {
  const fill = el("div", { class: "fill" });
  fill.style.width = pct.toFixed(1) + "%";  // CSSOM: the CSP forbids style attributes
  return fill;
}

function throughput(b, pct) {
  if (b.status === "COMPLETED" && b.size_bytes) {
    const secs = (Date.parse(b.updated + "Z") - Date.parse(b.created + "Z")) / 1000;
    return (b.size_bytes / 1048576 / Math.max(secs, 1)).toFixed(1) + " MB/s";
  }
  if (!RUNNING_BACKUP.includes(b.status)) return "";
  const now = Date.now() / 1000, prev = state.samples[b.id];
  state.samples[b.id] = prev && prev.pct === pct ? prev : { pct, t: now, rate: prev ? (pct - prev.pct) / (now - prev.t) : 0 };
  const rate = state.samples[b.id].rate;
  return rate > 0 ? rate.toFixed(1) + " %/s, ETA " + Math.round((100 - pct) / rate) + " s" : "…";
}

// -- backup schedules, restorable window, schema migrations -------------------------
function scheduleTable(schedules) {
  if (!schedules.length) return el("p", {}, "No backup schedules.");
  const out = el("span");
  return el("div", {}, el("table", { id: "schedule-table" }, el("tr", {}, ["Name", "Pattern (UTC)",
    "Retention", "Next run", "Last run", "Last result", ""].map((h) => el("th", {}, h))),
  schedules.map((sc) => el("tr", { "data-id": sc.id },
    el("td", {}, sc.name + (sc.incremental ? " (incremental)" : "")), el("td", {}, sc.pattern),
    el("td", {}, sc.retention.count != null ? "last " + sc.retention.count : sc.retention.days + " days"),
    el("td", { class: "next-run" }, sc.next_run || "—"), el("td", {}, sc.last_run || "never"),
    el("td", { class: "last-result" }, [sc.last_result, sc.last_backup_status ? "backup " +
      sc.last_backup_status : null].filter(Boolean).join("; ") || "—"),
    el("td", {}, el("button", { class: "delete-schedule", onclick: () => {
      if (confirm("Delete schedule " + sc.name + "?")) api("DELETE", "/backup_schedules/" + sc.id)
        .then(() => { out.replaceChildren(); refreshNow(); }).catch((e) => out.replaceChildren(failure(e)));
    } }, "Delete"))))), out);
}

function scheduleForm(id) {
  const name = el("input", { name: "schedule-name", placeholder: "name", required: "" });
  const pattern = el("input", { name: "pattern", placeholder: "cron, e.g. 0 3 * * *", value: "0 3 * * *", required: "" });
  const keep = el("input", { name: "keep", type: "number", value: "7", min: "1", max: "1000" });
  const incremental = el("input", { name: "incremental", type: "checkbox" });
  const out = el("span");
  return el("form", { id: "schedule-create", onsubmit: (ev) => {
    ev.preventDefault();
    api("POST", "/backup_schedules", { backup_schedule: { instance_id: id, name: name.value,
      pattern: pattern.value, incremental: incremental.checked, retention: { count: Number(keep.value) } } })
      .then(() => { name.value = ""; out.replaceChildren(); refreshNow(); })
      .catch((e) => out.replaceChildren(failure(e)));
  } }, name, " cron ", pattern, " keep ", keep, " ", el("label", {}, incremental, " incremental"), " ",
  el("button", {}, "Add schedule"), out);
}

function windowView(w) {
  if (!w) return el("p", { id: "window" }, "Nothing restorable yet: it needs a completed backup and its archived binlogs.");
  return el("div", { id: "window" }, el("table", {},
    el("tr", {}, el("th", {}, "Earliest"), el("td", { class: "earliest" }, w.earliest)),
    el("tr", {}, el("th", {}, "Latest"), el("td", { class: "latest" }, w.latest)),
    el("tr", {}, el("th", {}, "Gaps"), el("td", { class: "gaps" }, (w.gaps || []).length ?
      w.gaps.map((g) => g.from + " → " + g.to + (g.reason ? " (" + g.reason + ")" : "")).join("; ") : "none")),
    w.archive_gap ? el("tr", {}, el("th", {}, "Archive"), el("td", { class: "err" }, w.archive_gap)) : null));
}

function restoreForm(inst) {
  const latest = (inst.restorable_window || {}).latest || "";
  const when = el("input", { name: "restore-time", placeholder: "YYYY-MM-DDTHH:MM:SSZ", value: latest, size: "24" });
  const name = el("input", { name: "restore-name", placeholder: "new instance name", value: inst.name + "-restored" });
  const out = el("span");
  return el("form", { id: "restore-create", onsubmit: (ev) => {
    ev.preventDefault();
    api("POST", "/instances", { instance: { name: name.value, flavorRef: inst.flavor.id,
      volume: { size: (inst.volume || {}).size || 1 },
      datastore: { type: inst.datastore.type, version: inst.datastore.version },
      restorePoint: { instanceRef: inst.id, restoreTime: when.value.trim() } } })
      .then((r) => { location.hash = "#/instances/" + r.instance.id; })
      .catch((e) => out.replaceChildren(failure(e)));
  } }, "Restore to ", when, " as ", name, " ", el("button", {}, "Restore"), out);
}

function migrationTable(id, migrations) {
  if (!migrations.length) return el("p", {}, "No schema migrations.");
  const out = el("span");
  const act = (m, what) => () => api("POST", "/instances/" + id + "/schema_migrations/" + m.id + "/action",
    { [what]: {} }).then(() => { out.replaceChildren(); refreshNow(); }).catch((e) => out.replaceChildren(failure(e)));
  return el("div", {}, el("table", { id: "migration-table" }, el("tr", {}, ["Table", "Change", "Status",
    "Progress", "Rows", "ETA", "Lag", ""].map((h) => el("th", {}, h))),
  migrations.map((m) => {
    const p = m.progress || {}, live = !FINAL_MIGRATION.includes(m.status);
    const pct = Math.max(0, Math.min(100, Number(p.percent) || (m.status === "COMPLETED" ? 100 : 0)));
    return el("tr", { "data-id": m.id },
      el("td", {}, m.database + "." + m.table), el("td", { class: "alter" }, m.alter),
      el("td", {}, status(m.status), p.throttle_reason ? " (throttled: " + p.throttle_reason + ")" : "",
        m.fail_reason ? el("div", { class: "err" }, m.fail_reason) : null),
      el("td", {}, el("div", { class: "bar", title: pct.toFixed(1) + "%" }, fillTo(pct)), " " + pct.toFixed(1) + "%"),
      el("td", {}, p.rows_copied != null ? p.rows_copied + " / " + (p.rows_estimated ?? "?") : "—"),
      el("td", { class: "eta" }, live && p.eta_seconds != null ? Math.round(p.eta_seconds) + " s" : "—"),
      el("td", { class: "lag" }, p.lag_seconds != null ? p.lag_seconds + " s" : "—"),
      el("td", {}, live ? [
        m.status === "POSTPONED" ? el("button", { class: "cut-over", onclick: act(m, "cut_over") }, "Cut over") : null,
        el("button", { class: "abort", onclick: () => { if (confirm("Abort the migration of " + m.table + "?")) act(m, "abort")(); } }, "Abort")] : null));
  })), out);
}

function refreshNow() {
  const m = location.hash.match(/^#\/instances\/([\w-]+)$/);
  if (m) schedule(() => refreshInstance(m[1], false), 0);
}

function configTable(inst, config) {
  const values = config && config.instance ? config.instance.configuration : {};
  const apply = inst.configuration && inst.configuration.apply;
  return el("div", {}, inst.configuration ? el("p", {}, "Group " + (inst.configuration.name || inst.configuration.id) +
    (apply ? " — " + apply.state + (apply.reason ? " (" + apply.reason + ")" : "") : "")) : null,
    el("table", {}, Object.entries(values || {}).sort().map(([k, v]) => el("tr", {}, el("th", {}, k), el("td", {}, v)))));
}

function logList(id, logs) {
  const pre = el("pre", { id: "log-tail" });
  return el("div", {}, el("table", {}, logs.map((l) => el("tr", {}, el("td", {}, l.name), el("td", {}, l.type),
    el("td", {}, l.status), el("td", {}, el("button", { onclick: () => tail(id, l.name, pre) }, "Tail"))))), pre);
}

async function tail(id, name, pre) {
  pre.textContent = "publishing…";
  try {
    await api("POST", "/instances/" + id + "/log", { name, publish: 1 });
    const objs = (await api("GET", "/instances/" + id + "/log/" + name + "/objects")).objects || [];
    if (!objs.length) { pre.textContent = "(empty)"; return; }
    const last = objs[objs.length - 1];
    const doc = await api("GET", "/instances/" + id + "/log/" + name + "/objects/" + (last.number ?? last));
    pre.textContent = atob(doc.object.data).split("\n").slice(-40).join("\n");
  } catch (e) { pre.textContent = String(e.message || e); }
}

function eventTable(events) {
  if (!events.length) return el("p", {}, "No events yet.");
  return el("table", { id: "event-table" }, el("tr", {}, ["Time", "Kind", "Detail", "Request"].map((h) => el("th", {}, h))),
    events.map((e) => el("tr", {}, el("td", {}, e.time), el("td", {}, e.kind), el("td", {}, e.detail), el("td", {}, e.request_id || ""))));
}

// -- routing ----------------------------------------------------------------------
function schedule(fn, ms) {
  clearTimeout(state.timer);
  state.timer = setTimeout(() => fn().catch((e) => main(failure(e))), ms);
}

function route() {
  clearTimeout(state.timer);
  const { tenant } = auth();
  document.getElementById("who").textContent = tenant ? "project " + tenant : "";
  document.getElementById("logout").hidden = !tenant;
  if (!tenant) return login();
  const m = location.hash.match(/^#\/instances\/([\w-]+)$/);
  (m ? instancePage(m[1]) : instanceList()).catch((e) => main(failure(e)));
}

document.getElementById("logout").addEventListener("click", () => { sessionStorage.clear(); route(); });
window.addEventListener("hashchange", route);
// a link may carry the tenant: /console/#/?tenant=demo (noauth deployments)
const given = new URLSearchParams(location.search).get("tenant");
if (given) sessionStorage.setItem("tenant", given);
route();
