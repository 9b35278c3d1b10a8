// kaddons web UI: the add-on list (live), an add-on's overview, resource map, values and events.
// One more face on the REST API: no logic of its own, no external assets. The token is kept for the tab only
// (sessionStorage) and sent as a bearer header, never in a URL.
"use strict";

const state = { token: sessionStorage.getItem("kaddons-token"), cluster: null, addons: new Map(),
  sort: { key: "name", dir: 1 }, filter: "", details: null, stream: null };

const $ = (selector) => document.querySelector(selector);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}

function badge(kind, value) {
  const missing = kind === "health" ? "no health rule" : "not read";
  return el("span", { class: `badge ${kind}-${value || "Unknown"}`, text: value || missing });
}

class Unauthorized extends Error {}

async function api(path, method = "GET", body = undefined) {
  const headers = { Authorization: `Bearer ${state.token}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const answer = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (answer.status === 401) throw new Unauthorized();
  const data = await answer.json();
  if (!answer.ok) throw new Error(data.error || `HTTP ${answer.status}`);
  return data;
}

function show(section) {
  for (const id of ["login", "list", "details", "stacks", "apidocs"]) $(`#${id}`).hidden = id !== section;
}

function login(message) {
  show("login");
  $("#login-error").textContent = message || "";
  $("#token").focus();
}

$("#login-form").addEventListener("submit", (event) => {
  event.preventDefault();
  state.token = $("#token").value.trim();
  sessionStorage.setItem("kaddons-token", state.token);
  $("#token").value = "";
  start();
});

// ---- the list ----

async function loadAddons() {
  const found = new Map();
  for (let page = 1; ; page += 1) {
    const body = await api(`/api/v1/clusters/${state.cluster}/addons?page=${page}&page_size=500`);
    for (const row of body.result) found.set(row.name, row);
    if (page >= body.pagination.total_pages) break;
  }
  state.addons = found;
  const kept = await api(`/api/v1/clusters/${state.cluster}/uninstalled?page_size=500`).catch(() => ({ result: [] }));
  state.kept = kept.result;
}

function renderKept() {
  $("#kept").hidden = !state.kept || !state.kept.length;
  $("#kept-list").replaceChildren(...(state.kept || []).map((row) => el("li", { "data-kept": row.name },
    `${row.name} (${row.chart_name} ${row.chart_version}, stack ${row.stack_name}) `,
    el("button", { type: "button", text: `Preview restore of ${row.name}`, onclick: () => previewWith("restore",
      (dryRun) => api(`${addonPath(row.name)}/restore`, "POST", { dry_run: dryRun }),
      `Restore ${row.name} into stack ${row.stack_name}`, $("#kept-status"), async () => { renderList(); }) }))));
}

function renderList() {
  const words = state.filter.toLowerCase();
  const rows = [...state.addons.values()].filter((row) => !words || [row.name, row.stack_name, row.chart_name,
    row.namespace, row.state || ""].some((field) => field.toLowerCase().includes(words)));
  const { key, dir } = state.sort;
  rows.sort((a, b) => dir * String(a[key] ?? "").localeCompare(String(b[key] ?? ""), undefined, { numeric: true }));
  const body = $("#addons tbody");
  body.replaceChildren(...rows.map((row) => el("tr", { "data-addon": row.name, "data-state": row.state || "" },
    el("td", {}, el("a", { href: `#/addons/${encodeURIComponent(row.name)}`, text: row.name })),
    el("td", { text: row.stack_name }),
    el("td", {}, row.chart_name, row.kind === "catalog" ? el("span", { class: "catalog-mark", text: " (catalog addon)" }) : null),
    el("td", {}, row.chart_version, row.latest_chart_version && row.latest_chart_version !== row.chart_version
      ? el("span", { class: "upgrade", text: ` → ${row.latest_chart_version} available` }) : null,
      row.rolled_back_to ? el("span", { class: "rolled-back", text: ` rolled back to ${row.rolled_back_to}` }) : null),
    el("td", {}, badge("state", row.state)),
    el("td", { text: row.namespace }),
    el("td", {}, row.last_updated  // the commit that last changed the add-on, in UTC
      ? el("time", { datetime: row.last_updated, text: row.last_updated.replace("T", " ").replace(/:\d\d(\.\d+)?Z$/, " UTC") })
      : "-"),
    el("td", { class: "reason", text: row.reason || "" }))));
  renderKept();
  for (const button of document.querySelectorAll("th button[data-sort]")) {
    button.setAttribute("aria-sort", button.dataset.sort === key ? (dir > 0 ? "ascending" : "descending") : "none");
  }
}

for (const button of document.querySelectorAll("th button[data-sort]")) {
  button.addEventListener("click", () => {
    const key = button.dataset.sort;
    state.sort = { key, dir: state.sort.key === key ? -state.sort.dir : 1 };
    renderList();
  });
}
$("#filter").addEventListener("input", (event) => { state.filter = event.target.value; renderList(); });

// ---- live updates: the server-sent events of /stream, read with fetch so the token stays in a header ----

async function follow() {
  if (state.stream) return;
  state.stream = new AbortController();
  while (true) {
    try {
      const answer = await fetch(`/api/v1/clusters/${state.cluster}/stream`, {
        headers: { Authorization: `Bearer ${state.token}` }, signal: state.stream.signal });
      if (!answer.ok) throw new Error(`HTTP ${answer.status}`);
      $("#live").textContent = "live";
      const reader = answer.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      while (true) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const message = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const lines = message.split("\n");
          const event = (lines.find((line) => line.startsWith("event: ")) || "event: message").slice(7);
          const data = lines.filter((line) => line.startsWith("data: ")).map((line) => line.slice(6)).join("\n");
          // "states": changed rows; "operation": an operation's new status (the page that queued one waits for it)
          if (data && event === "states") changed(JSON.parse(data));
        }
      }
    } catch (error) {
      if (state.stream.signal.aborted) return;
    }
    $("#live").textContent = "reconnecting…";
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
}

function changed(rows) {
  for (const row of rows) state.addons.set(row.name, row);
  renderList();
  if (state.details && rows.some((row) => row.name === state.details.name)) openDetails(state.details.name, true);
}

// ---- details ----

function selectTab(id) {
  for (const tab of document.querySelectorAll('[role="tab"]')) {
    const selected = tab.id === id;
    tab.setAttribute("aria-selected", String(selected));
    tab.tabIndex = selected ? 0 : -1;
    $(`#${tab.getAttribute("aria-controls")}`).hidden = !selected;
  }
}

for (const tab of document.querySelectorAll('[role="tab"]')) {
  tab.addEventListener("click", () => selectTab(tab.id));
  tab.addEventListener("keydown", (event) => {
    const tabs = [...document.querySelectorAll('[role="tab"]')];
    const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
    if (!step) return;
    const next = tabs[(tabs.indexOf(tab) + step + tabs.length) % tabs.length];
    selectTab(next.id);
    next.focus();
  });
}

function overview(data) {
  const engine = data.engine;
  const rows = data.kind === "catalog"
    ? [["Artifact", `${data.registry_url}/addons/${data.name}:${data.tag}`], ["Digest", data.digest],
      ["Addon", `${data.addon}, implementation ${data.implementation}`], ["Folders", data.paths.join(", ")],
      ["Namespace", data.namespace], ["Stack", data.stack_name]]
    : [["Chart", `${data.chart_name} ${data.chart_version}`], ["Source", data.registry_url],
      ["Namespace", data.namespace], ["Stack", data.stack_name]];
  if (data.settings) {
    const sync = data.settings.sync_policy || {};
    rows.push(["Settings", `profile ${data.settings.profile}`
      + (sync.automated !== undefined ? `; automated sync ${sync.automated ? "on" : "off"}` : "")]);
  }
  const list = el("dl");
  for (const [term, value] of rows) list.append(el("dt", { text: term }), el("dd", { text: value }));
  list.append(el("dt", { text: "State" }), el("dd", {}, badge("state", data.state), " ", data.reason || ""));
  if (engine) {
    const said = engine.kind === "Application"
      ? `sync ${engine.sync || "?"}, health ${engine.health || "?"}${engine.revision ? `, revision ${engine.revision}` : ""}`
        + (engine.operation && engine.operation.phase ? `; last operation ${engine.operation.phase}` : "")
      : `Ready ${engine.ready.status || "?"}${engine.ready.reason ? ` (${engine.ready.reason})` : ""}`;
    list.append(el("dt", { text: engine.kind }), el("dd", { text: `${engine.namespace}/${engine.name}: ${said}` }));
  } else if (data.state) {
    list.append(el("dt", { text: "Engine" }), el("dd", { text: "no engine object in the cluster" }));
  }
  return list;
}

function showNode(node, events) {
  const mine = events.filter((event) => event.object === `${node.kind}/${node.name}`);
  const list = el("dl", {}, el("dt", { text: "Object" }), el("dd", { text: `${node.kind}/${node.name}` }),
    el("dt", { text: "Namespace" }), el("dd", { text: node.namespace || "—" }),
    el("dt", { text: "Health" }), el("dd", {}, badge("health", node.health), " ", node.message || ""));
  $("#node").replaceChildren(el("h3", { text: "Selected" }), list, el("h4", { text: "Events" }),
    mine.length ? el("ul", {}, ...mine.map((event) => el("li", { text: `${event.time} ${event.type} ${event.reason}: ${event.message}` })))
      : el("p", { text: "none" }));
}

function tree(nodes, events, name) {
  return el("ul", { role: "group" }, ...nodes.map((node) => {
    const label = node.group || `${node.kind}/${node.name}`;
    const item = el("li", { "data-node": label, "data-health": node.health || "" },
      el("button", { type: "button", class: "node", onclick: () => showNode(node, events) },
        label, " ", badge("health", node.health), node.health && node.health !== "Healthy" && node.message
          ? el("span", { class: "message", text: ` ${node.message}` }) : null));
    if (node.group && !node.members) {
      item.append(" ", el("button", { type: "button", text: `show all ${node.count}`,
        onclick: () => openDetails(name, true, true) }));
    }
    const children = [...(node.children || []), ...(node.members || [])];
    if (children.length) item.append(tree(children, events, name));
    return item;
  }));
}

async function openDetails(name, refresh = false, expand = false) {
  let data;
  try {
    data = await api(`/api/v1/clusters/${state.cluster}/addons/${encodeURIComponent(name)}${expand ? "?expand=true" : ""}`);
  } catch (error) {
    if (error instanceof Unauthorized) return login("The token was refused: give another.");
    $("#details-title").textContent = `${name}: ${error.message}`;
    show("details");
    return;
  }
  state.details = data;
  const catalog = data.kind === "catalog";
  $("#details-title").replaceChildren(`${catalog ? "Catalog addon" : "Add-on"} ${data.name} `, badge("state", data.state));
  for (const form of document.querySelectorAll(".chart-only")) form.hidden = catalog;
  for (const form of document.querySelectorAll(".catalog-only")) form.hidden = !catalog;
  $("#overview").replaceChildren(overview(data));
  if (!refresh && data.settings && [...$("#settings-profile").options].some((o) => o.value === data.settings.profile)) {
    $("#settings-profile").value = data.settings.profile;  // the profile the add-on has now (custom: left as is)
  }
  if (!refresh) loadActions(name);
  $("#map").replaceChildren(data.resources.length ? tree(data.resources, data.events, name)
    : el("p", { text: data.state ? "no objects found" : "the server reads no cluster" }));
  if (!refresh) $("#node").replaceChildren();
  $("#values").textContent = catalog ? "A catalog addon's values come with its artifact (catalog/<name>/ in the repository)."
    : JSON.stringify(data.values, null, 2);
  renderEvents();
  if (!refresh) selectTab("tab-overview");
  show("details");
}

// ---- actions: a dry run shows the diff; confirming runs the same operation for real ----

async function loadActions(name, keepStatus = false) {
  $("#confirm").hidden = true;
  if (!keepStatus) $("#action-status").textContent = "";
  const base = `/api/v1/clusters/${state.cluster}/addons/${encodeURIComponent(name)}`;
  try {
    if (state.details && state.details.kind === "catalog") throw new Error("a catalog addon has no chart versions");
    const versions = await api(`${base}/versions`);
    $("#upgrade-version").replaceChildren(...versions.result.map((v) => el("option", {
      value: v.version, selected: v.current, text: `${v.version}${v.current ? " (current)" : ""}${v.deprecated ? " (deprecated)" : ""}` })));
  } catch (error) {
    $("#upgrade-version").replaceChildren(el("option", { value: "", text: `versions not read: ${error.message}` }));
  }
  const history = await api(`${base}/history`).catch(() => ({ result: [] }));
  $("#rollback-to").replaceChildren(...history.result.map((c) => el("option", {
    value: c.revision, text: `${c.revision.slice(0, 12)} ${c.time} ${c.subject}` })));
}

async function finished(operation) {
  const path = `/api/v1/clusters/${state.cluster}/operations/${operation.id}?wait=60`;
  let current = operation;
  while (current.status === "pending" || current.status === "running") current = await api(path);
  return current;
}

// `send(dryRun)` starts the operation; its dry run's diff is shown to confirm, and confirming runs it for real.
async function previewWith(kind, send, title, status, after) {
  status.textContent = `${kind}: computing the change…`;
  $("#confirm").hidden = true;
  state.confirmStatus = status;
  try {
    const dry = await finished(await send(true));
    if (dry.status !== "success") { status.textContent = `${kind} failed: ${dry.error}`; return; }
    if (!dry.result.changed.length) { status.textContent = `${kind}: nothing would change`; return; }
    status.textContent = "";
    status.before($("#confirm"));  // next to the action it confirms
    $("#confirm-title").textContent = title;
    $("#diff").textContent = dry.result.diff;
    $("#confirm").hidden = false;
    $("#confirm-yes").onclick = async () => {
      $("#confirm").hidden = true;
      status.textContent = `${kind}: committing…`;
      const done = await finished(await send(false));
      const said = done.status === "success"
        ? `${kind}: pushed ${done.result.commit ? done.result.commit.slice(0, 12) : "nothing"} to ${done.result.upstream}`
        : `${kind} failed: ${done.error}`;
      await loadAddons();
      if (done.status === "success" && after) await after();
      status.textContent = said;
    };
    $("#confirm-yes").focus();
  } catch (error) {
    status.textContent = `${kind}: ${error.message}`;
  }
}

async function refreshDetails() {
  await openDetails(state.details.name, true);  // a refresh: the status line stays
  await loadActions(state.details.name, true);  // the new version and revision in the pickers
}

function preview(kind, path, body, title, method = "POST") {
  return previewWith(kind, (dryRun) => api(path, method, { ...body, dry_run: dryRun }), title, $("#action-status"),
    refreshDetails);
}

function addonPath(name) {
  return `/api/v1/clusters/${state.cluster}/addons/${encodeURIComponent(name)}`;
}

$("#sync-now").addEventListener("click", () => {
  const name = state.details.name;
  const engine = state.details.engine ? state.details.engine.kind : "its engine object";
  state.confirmStatus = $("#action-status");
  $("#action-status").before($("#confirm"));
  $("#confirm-title").textContent = `Ask the engine to reconcile ${name} now?`;
  $("#diff").textContent = `No commit: ${engine} is asked to sync (the one action that writes to the cluster API).`;
  $("#confirm").hidden = false;
  $("#confirm-yes").onclick = async () => {
    $("#confirm").hidden = true;
    const status = $("#action-status");
    status.textContent = "sync: asking…";
    try {
      const done = await finished(await api(`/api/v1/clusters/${state.cluster}/addons/${encodeURIComponent(name)}/sync`, "POST", {}));
      status.textContent = done.status === "success" ? `sync: asked of ${done.result.object}` : `sync failed: ${done.error}`;
    } catch (error) {
      status.textContent = `sync: ${error.message}`;
    }
  };
  $("#confirm-yes").focus();
});

$("#confirm-no").addEventListener("click", () => {
  $("#confirm").hidden = true;
  (state.confirmStatus || $("#action-status")).textContent = "cancelled";
});

$("#upgrade-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const name = state.details.name;
  const version = $("#upgrade-version").value;
  preview("upgrade", `/api/v1/clusters/${state.cluster}/addons/${encodeURIComponent(name)}/upgrade`,
    { chart_version: version }, `Upgrade ${name} from ${state.details.chart_version} to ${version}`);
});

$("#values-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const name = state.details.name;
  const path = $("#value-path").value.trim();
  const raw = $("#value-value").value;
  const value = raw === "true" ? true : raw === "false" ? false : raw !== "" && !Number.isNaN(Number(raw)) ? Number(raw) : raw;
  selectTab("tab-overview");
  preview("values", `/api/v1/clusters/${state.cluster}/addons/${encodeURIComponent(name)}/upgrade`,
    { values: [{ path, value }] }, `Set ${path} of ${name} to ${JSON.stringify(value)}`);
});

$("#settings-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const name = state.details.name;
  const profile = $("#settings-profile").value;
  preview("settings", `${addonPath(name)}/settings`, { profile }, `Set the ${profile} settings profile on ${name}`, "PUT");
});

$("#uninstall-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const name = state.details.name;
  const forget = $("#uninstall-delete").checked;
  const title = forget ? `Uninstall ${name} and delete its definition` : `Uninstall ${name} (its definition kept for a restore)`;
  previewWith("uninstall", (dryRun) => api(`${addonPath(name)}?delete=${forget}&dry_run=${dryRun}`, "DELETE"), title,
    $("#action-status"), async () => { location.hash = "#/"; });
});

$("#install-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const field = (id) => $(`#install-${id}`).value.trim();
  const body = { chart: field("chart"), chart_version: field("version"), source: field("source"), stack: field("stack") };
  if (field("name")) body.name = field("name");
  if (field("namespace")) body.namespace = field("namespace");
  if ($("#install-values").value.trim()) body.values = $("#install-values").value;
  const name = body.name || body.chart;
  previewWith("install", (dryRun) => api(`/api/v1/clusters/${state.cluster}/addons`, "POST", { ...body, dry_run: dryRun }),
    `Install ${name} (chart ${body.chart} ${body.chart_version}) in stack ${body.stack}`, $("#install-status"),
    async () => { renderList(); });
});

$("#enable-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const field = (id) => $(`#enable-${id}`).value.trim();
  const body = { addon: field("addon"), stack: field("stack"), registry: field("registry"),
    insecure: $("#enable-insecure").checked };
  if (field("implementation")) body.implementation = field("implementation");
  if (field("tag")) body.tag = field("tag");
  const name = body.implementation && body.implementation !== body.addon ? `${body.addon}-${body.implementation}` : body.addon;
  previewWith("enable", (dryRun) => api(`/api/v1/clusters/${state.cluster}/catalog`, "POST", { ...body, dry_run: dryRun }),
    `Enable catalog addon ${name} from ${body.registry} in stack ${body.stack}`, $("#enable-status"),
    async () => { location.hash = `#/addons/${encodeURIComponent(name)}`; });
});

$("#disable-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const name = state.details.name;
  previewWith("disable", (dryRun) => api(`/api/v1/clusters/${state.cluster}/catalog/${encodeURIComponent(name)}?dry_run=${dryRun}`,
    "DELETE"), `Disable catalog addon ${name} (the engine deletes what it delivered)`, $("#action-status"),
    async () => { location.hash = "#/"; });
});

$("#rollback-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const name = state.details.name;
  const to = $("#rollback-to").value;
  preview("rollback", `/api/v1/clusters/${state.cluster}/addons/${encodeURIComponent(name)}/rollback`,
    { to }, `Roll ${name} back to ${to.slice(0, 12)}`);
});

function renderEvents() {
  const onlyWarnings = $("#warnings-only").checked;
  const events = (state.details ? state.details.events : []).filter((event) => !onlyWarnings || event.type === "Warning");
  $("#events tbody").replaceChildren(...events.map((event) => el("tr", {}, el("td", { text: event.time }),
    el("td", { text: event.type }), el("td", { text: event.reason }), el("td", { text: event.object }),
    el("td", { text: event.message }))));
}
$("#warnings-only").addEventListener("change", renderEvents);

// ---- stacks: members, waves and the dependency edges ----

async function openStacks() {
  let stacks;
  try {
    stacks = (await api(`/api/v1/clusters/${state.cluster}/stacks?page_size=500`)).result;
  } catch (error) {
    if (error instanceof Unauthorized) return login("The token was refused: give another.");
    $("#stack-list").textContent = error.message;
    return show("stacks");
  }
  const wave = (stack) => (stack.deploy_wave === null ? Infinity : stack.deploy_wave);  // no wave: not ordered
  stacks.sort((a, b) => (wave(a) === wave(b) ? 0 : wave(a) < wave(b) ? -1 : 1) || a.name.localeCompare(b.name));
  $("#stack-list").replaceChildren(...stacks.map((stack) => {
    const members = [...stack.manifests.map((name) => ["manifest", name]), ...stack.addons.map((name) => ["addon", name]),
      ...(stack.catalog || []).map((name) => ["catalog", name])];
    const parentsOf = (key) => stack.edges.filter(([child]) => child === key).map(([, parent]) => parent);
    return el("article", { "data-stack": stack.name },
      el("h3", { text: `${stack.name} (${stack.deploy_wave === null ? "no wave" : `wave ${stack.deploy_wave}`})` }),
      stack.description ? el("p", { text: stack.description }) : null,
      el("table", {}, el("thead", {}, el("tr", {}, el("th", { scope: "col", text: "Member" }),
        el("th", { scope: "col", text: "Kind" }), el("th", { scope: "col", text: "State" }),
        el("th", { scope: "col", text: "Waits for" }))),
      el("tbody", {}, ...members.map(([kind, name]) => {
        const row = kind === "addon" ? state.addons.get(name) : null;
        return el("tr", { "data-member": `${kind}:${name}` },
          el("td", {}, kind !== "manifest" ? el("a", { href: `#/addons/${encodeURIComponent(name)}`, text: name }) : name),
          el("td", { text: kind }),
          el("td", {}, kind === "addon" ? badge("state", row && row.state) : "—"),
          el("td", { text: parentsOf(`${kind}:${name}`).join(", ") || "—" }));
      }))));
  }));
  show("stacks");
}

// ---- the API reference, from the OpenAPI document (no external viewer) ----

function schemaName(schema) {
  if (!schema) return "";
  if (schema.$ref) return schema.$ref.split("/").pop();
  if (schema.anyOf) return schema.anyOf.map(schemaName).join(" | ");
  if (schema.type === "array") return `${schemaName(schema.items)}[]`;
  return schema.pattern ? `${schema.type} matching ${schema.pattern}` : (schema.type || "object");
}

async function openApiDocs() {
  let doc;
  try {
    doc = await api("/openapi.json");
  } catch (error) {
    if (error instanceof Unauthorized) return login("The token was refused: give another.");
    $("#api-operations").textContent = error.message;
    return show("apidocs");
  }
  const blocks = [];
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, operation] of Object.entries(methods)) {
      const parameters = operation.parameters || [];
      const body = operation.requestBody && operation.requestBody.content["application/json"];
      blocks.push(el("article", { class: "operation", "data-operation": `${method.toUpperCase()} ${path}` },
        el("h3", {}, el("code", { text: `${method.toUpperCase()} ${path}` })),
        el("p", { text: operation.description || operation.summary || "" }),
        parameters.length ? el("table", {}, el("thead", {}, el("tr", {}, el("th", { scope: "col", text: "Parameter" }),
          el("th", { scope: "col", text: "In" }), el("th", { scope: "col", text: "Schema" }),
          el("th", { scope: "col", text: "About" }))),
        el("tbody", {}, ...parameters.map((p) => el("tr", {}, el("td", {}, el("code", { text: p.name })),
          el("td", { text: p.in + (p.required ? ", required" : "") }), el("td", { text: schemaName(p.schema) }),
          el("td", { text: p.description || (p.schema && p.schema.description) || "" }))))) : null,
        body ? el("p", {}, "Body: ", el("code", { text: schemaName(body.schema) })) : null,
        el("p", { text: `Answers: ${Object.keys(operation.responses || {}).join(", ")}` })));
    }
  }
  $("#api-operations").replaceChildren(el("p", { text: `${doc.info.title} ${doc.info.version}` }), ...blocks);
  show("apidocs");
}

// ---- routing ----

function route() {
  if (location.hash === "#/stacks") { state.details = null; return openStacks(); }
  if (location.hash === "#/api") { state.details = null; return openApiDocs(); }
  const match = location.hash.match(/^#\/addons\/([^/]+)$/);
  if (match) return openDetails(decodeURIComponent(match[1]));
  state.details = null;
  renderList();
  show("list");
}
window.addEventListener("hashchange", route);

async function start() {
  if (!state.token) return login();
  try {
    const clusters = await api("/api/v1/clusters");
    state.cluster = clusters.result[0].name;
    $("#cluster").textContent = `cluster ${state.cluster}${clusters.result[0].cluster_read ? "" : " (states not read)"}`;
    await loadAddons();
  } catch (error) {
    if (error instanceof Unauthorized) return login(state.token ? "The token was refused: give another." : "");
    $("#live").textContent = error.message;
    return;
  }
  route();
  follow();
}

start();
