// The operator console: views over the admin API (/admin/v1), routed by the URL's fragment.
// The operator token lives in sessionStorage (this tab only) and goes out as the Authorization
// header, never in a URL. Every text from the server is set as text (textContent), never parsed
// as HTML.

const TOKEN_KEY = "scimledger.operatorToken";
const TENANT_KEY = "scimledger.tenant";
const POLL_MS = 2000;
const LAG_SAMPLES = 150;

const main = document.getElementById("main");
const status = document.getElementById("status");
const signInSection = document.getElementById("sign-in");

/** Builds an element: attributes (on* as listeners), then children (strings become text). */
function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (value === true) element.setAttribute(name, "");
    else element.setAttribute(name, String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

function svg(tag, attributes = {}, ...children) {
  const element = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
  element.append(...children);
  return element;
}

function say(text, isError = false) {
  status.replaceChildren(h("p", isError ? { class: "error", role: "alert" } : {}, text));
}

class ApiError extends Error {
  constructor(statusCode, detail) {
    super(detail);
    this.status = statusCode;
  }
}

/** Calls the admin API (or another path of this server) as the signed-in operator. */
async function api(method, path, body) {
  const headers = { Authorization: `Bearer ${sessionStorage.getItem(TOKEN_KEY)}`, Accept: "application/json" };
  const init = { method, headers, cache: "no-store", referrerPolicy: "no-referrer" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  const text = await response.text();
  const json = text ? JSON.parse(text) : null;
  if (response.status === 401) {
    signOut("The server did not accept the operator token; sign in again.");
    throw new ApiError(401, "unauthorized");
  }
  if (!response.ok) throw new ApiError(response.status, json?.detail ?? `${response.status} ${response.statusText}`);
  return json;
}

const admin = (path) => `/admin/v1${path}`;
const tenantPath = (tenant, path = "") => admin(`/tenants/${encodeURIComponent(tenant)}${path}`);
const quoted = (text) => `"${text.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`;

// ---- session -------------------------------------------------------------------------------

let pollers = [];
function stopPolling() {
  pollers.forEach(clearInterval);
  pollers = [];
}
function poll(fn) {
  pollers.push(setInterval(fn, POLL_MS));
}

function signedIn() {
  return sessionStorage.getItem(TOKEN_KEY) !== null;
}

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(TENANT_KEY);
  stopPolling();
  lag.stop();
  document.getElementById("session").hidden = true;
  document.getElementById("nav").hidden = true;
  main.replaceChildren(signInSection);
  if (message) say(message, true);
  else status.replaceChildren();
  history.replaceState(null, "", location.pathname);
  document.getElementById("token").focus();
}

async function signIn(event) {
  event.preventDefault();
  const input = document.getElementById("token");
  sessionStorage.setItem(TOKEN_KEY, input.value.trim());
  input.value = "";
  try {
    await api("GET", admin("/tenants"));
  } catch (error) {
    if (error.status !== 401) signOut(`Signing in failed: ${error.message}`);
    return;
  }
  status.replaceChildren();
  await enter();
}

async function enter() {
  document.getElementById("session").hidden = false;
  document.getElementById("nav").hidden = false;
  lag.start();
  await refreshTenants();
  if (!location.hash) location.hash = "#/tenants";
  else await route();
}

function currentTenant() {
  return sessionStorage.getItem(TENANT_KEY);
}

function chooseTenant(slug) {
  if (slug) sessionStorage.setItem(TENANT_KEY, slug);
  for (const link of document.querySelectorAll("[data-tenant-link]")) {
    if (slug) link.setAttribute("href", `#/t/${encodeURIComponent(slug)}/${link.dataset.tenantLink}`);
    else link.removeAttribute("href");
  }
  document.getElementById("tenant-picker").value = slug ?? "";
}

async function refreshTenants() {
  const tenants = await api("GET", admin("/tenants"));
  const picker = document.getElementById("tenant-picker");
  picker.replaceChildren(h("option", { value: "" }, "(choose)"), ...tenants.map((t) => h("option", { value: t.slug }, t.slug)));
  const current = currentTenant();
  chooseTenant(tenants.some((t) => t.slug === current) ? current : null);
  return tenants;
}

// ---- routing -------------------------------------------------------------------------------

const routes = [
  [/^#\/tenants$/, tenantsView],
  [/^#\/lag$/, lagView],
  [/^#\/t\/([^/]+)\/connections$/, connectionsView],
  [/^#\/t\/([^/]+)\/connections\/([^/]+)$/, connectionView],
  [/^#\/t\/([^/]+)\/roles$/, rolesView],
  [/^#\/t\/([^/]+)\/users$/, (t) => resourcesView(t, USERS)],
  [/^#\/t\/([^/]+)\/users\/([^/]+)$/, (t, id) => resourceView(t, USERS, id)],
  [/^#\/t\/([^/]+)\/groups$/, (t) => resourcesView(t, GROUPS)],
  [/^#\/t\/([^/]+)\/groups\/([^/]+)$/, (t, id) => resourceView(t, GROUPS, id)],
  [/^#\/t\/([^/]+)\/devices$/, devicesView],
  [/^#\/t\/([^/]+)\/activity$/, activityView],
  [/^#\/t\/([^/]+)\/test$/, testView],
];

async function route() {
  if (!signedIn()) return;
  stopPolling();
  for (const [pattern, view] of routes) {
    const match = location.hash.match(pattern);
    if (!match) continue;
    const args = match.slice(1).map(decodeURIComponent);
    if (args.length) chooseTenant(args[0]);
    for (const link of document.querySelectorAll("nav a")) {
      if (link.getAttribute("href") === location.hash) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    try {
      const content = await view(...args);
      main.replaceChildren(...[content].flat());
      status.replaceChildren();
    } catch (error) {
      if (error.status !== 401) main.replaceChildren(h("p", { class: "error", role: "alert" }, error.message));
    }
    main.focus();
    return;
  }
  location.hash = "#/tenants";
}

/** A form whose submission runs `action` with its fields, then re-renders the current view. */
function form(label, fields, submitText, action, extra = {}) {
  const element = h("form", { "aria-label": label, ...extra }, fields, h("button", { type: "submit" }, submitText));
  element.addEventListener("submit", async (event) => {
    event.preventDefault();
    const values = Object.fromEntries(new FormData(element).entries());
    for (const box of element.querySelectorAll("input[type=checkbox]")) values[box.name] = box.checked;
    try {
      const outcome = await action(values);
      if (outcome !== "stay") await route();
    } catch (error) {
      if (error.status !== 401) say(error.message, true);
    }
  });
  return element;
}

const field = (label, attributes) => h("label", {}, label, h("input", attributes));
const checkbox = (label, attributes) => h("label", { class: "inline" }, h("input", { type: "checkbox", ...attributes }), label);
const select = (label, attributes, options, chosen) =>
  h("label", {}, label, h("select", attributes, options.map(([value, text]) => h("option", { value, selected: value === chosen }, text))));
const table = (headings, rows) => h("table", {}, h("thead", {}, h("tr", {}, headings.map((x) => h("th", { scope: "col" }, x)))), h("tbody", {}, rows));
const link = (href, text) => h("a", { href }, text);

// ---- tenants -------------------------------------------------------------------------------

async function tenantsView() {
  const tenants = await refreshTenants();
  return [
    h("h2", {}, "Tenants"),
    form("New tenant", field("Slug", { id: "tenant-slug", name: "slug", required: true, pattern: "[a-z0-9][a-z0-9-]*" }), "Create tenant", async ({ slug }) => {
      await api("POST", admin("/tenants"), { slug });
      say(`Tenant ${slug} created.`);
      await refreshTenants();
      chooseTenant(slug);
    }),
    table(
      ["Tenant", "Created", ""],
      tenants.map((t) =>
        h("tr", {}, h("td", {}, t.slug), h("td", {}, t.created), h("td", {}, link(`#/t/${encodeURIComponent(t.slug)}/connections`, `Connections of ${t.slug}`))),
      ),
    ),
  ];
}

// ---- connections ---------------------------------------------------------------------------

/** Shows a connection's new credentials once: they are nowhere else, and gone on leaving. */
function secretOnce(issued) {
  const rows = [
    ["SCIM base URL", issued.base_url],
    ["Bearer token", issued.token, "issued-token"],
    ["Username", issued.username],
    ["Password", issued.password, "issued-password"],
    ["Client id", issued.client_id],
    ["Client secret", issued.client_secret, "issued-client-secret"],
    ["Token URL", issued.token_url],
  ].filter(([, value]) => value);
  const section = h(
    "section",
    { class: "secret-once", id: "secret-once", "aria-labelledby": "secret-once-title", tabindex: "-1" },
    h("h3", { id: "secret-once-title" }, `Credentials of ${issued.name}: shown this once`),
    h("p", {}, "Copy them into the IdP now. The server keeps only a hash: they cannot be shown again."),
    rows.map(([label, value, id]) => h("div", {}, h("span", {}, label), h("output", { class: "secret", id: id ?? null, "aria-label": label }, value))),
  );
  section.append(h("button", { type: "button", onclick: () => section.remove() }, "Done: hide them"));
  return section;
}

async function connectionsView(tenant) {
  const connections = await api("GET", tenantPath(tenant, "/connections"));
  const slot = h("div", { id: "issued" });
  return [
    h("h2", {}, `Connections of ${tenant}`),
    form(
      "New connection",
      [
        field("Name", { id: "connection-name", name: "name", required: true }),
        select("Authentication", { id: "connection-auth", name: "auth" }, [["bearer", "Bearer token"], ["header", "Raw header token"], ["basic", "Basic"], ["oauth", "OAuth client credentials"]], "bearer"),
      ],
      "Create connection",
      async ({ name, auth }) => {
        const issued = await api("POST", tenantPath(tenant, "/connections"), { name, auth });
        main.replaceChildren(...(await connectionsView(tenant)));
        main.querySelector("#issued").replaceWith(secretOnce(issued));
        document.getElementById("secret-once").focus();
        return "stay";
      },
    ),
    slot,
    table(
      ["Name", "Authentication", "State", "Live credentials", ""],
      connections.map((c) =>
        h(
          "tr",
          {},
          h("td", {}, link(`#/t/${encodeURIComponent(tenant)}/connections/${encodeURIComponent(c.connection_id)}`, c.name)),
          h("td", {}, c.auth),
          h("td", {}, c.disabled ? `disabled ${c.disabled}` : "enabled"),
          h("td", {}, String(c.credentials.filter((k) => k.live).length)),
          h("td", {}, h("code", {}, c.base_url)),
        ),
      ),
    ),
  ];
}

const ON_DEACTIVATE = ["nothing", "unassign_devices", "reassign_devices_to_manager", "change_device_policy", "remove_user", "remove_user_and_devices"];

async function connectionView(tenant, id) {
  const c = await api("GET", tenantPath(tenant, `/connections/${encodeURIComponent(id)}`));
  const path = tenantPath(tenant, `/connections/${encodeURIComponent(id)}`);
  const s = c.settings;
  const content = [
    h("h2", {}, `Connection ${c.name}`),
    h("p", {}, `${c.auth} · ${c.disabled ? `disabled ${c.disabled}` : "enabled"} · created ${c.created} · `, h("code", {}, c.base_url)),
    h("h3", {}, "Settings"),
    form(
      "Settings",
      [
        checkbox("Send the enrollment email", { name: "send_enrollment_email", checked: s.send_enrollment_email }),
        field("Role on create", { name: "on_create_role", value: s.on_create_role ?? "" }),
        select("On deactivate", { name: "on_deactivate" }, ON_DEACTIVATE.map((x) => [x, x.replaceAll("_", " ")]), s.on_deactivate),
        field("Device policy", { name: "device_policy", value: s.device_policy ?? "" }),
        checkbox("Claim manual resources", { name: "claim_manual", checked: s.claim_manual }),
        select("Read scope", { name: "read_scope" }, [["own", "own"], ["all", "all"]], s.read_scope),
      ],
      "Save settings",
      async (v) => {
        await api("PATCH", path, {
          send_enrollment_email: v.send_enrollment_email,
          on_create_role: v.on_create_role || null,
          on_deactivate: v.on_deactivate,
          device_policy: v.device_policy || null,
          claim_manual: v.claim_manual,
          read_scope: v.read_scope,
        });
        say("Settings saved.");
      },
    ),
    h("h3", {}, "Credentials"),
    table(
      ["Credential", "Created", "Expires", "Live"],
      c.credentials.map((k) => h("tr", {}, h("td", {}, h("code", {}, k.credential_id)), h("td", {}, k.created), h("td", {}, k.expires ?? "never"), h("td", {}, k.live ? "yes" : "no"))),
    ),
    h("div", { id: "issued" }),
    form("Rotate", field("Grace for the old secret", { name: "grace", value: "24h" }), "Rotate the secret", async ({ grace }) => {
      const issued = await api("POST", `${path}/rotate`, { grace });
      main.replaceChildren(...(await connectionView(tenant, id)));
      main.querySelector("#issued").replaceWith(secretOnce(issued));
      document.getElementById("secret-once").focus();
      return "stay";
    }),
    form("Revoke", [], "Revoke the older secrets (end the grace)", async () => {
      await api("POST", `${path}/revoke`);
      say(`The secrets of ${c.name} older than the last one are revoked.`);
    }),
    h("h3", {}, "Disable"),
    form(
      "Disable",
      [
        field(`Type ${c.name} to confirm`, { name: "confirm", required: true, autocomplete: "off" }),
        checkbox("Also purge what it owns", { name: "purge" }),
      ],
      "Disable the connection",
      async ({ confirm, purge }) => {
        if (confirm !== c.name) throw new ApiError(400, `Type the connection's name (${c.name}) to disable it.`);
        await api("POST", `${path}/disable`, { purge });
        say(`${c.name} is disabled${purge ? "; its users and groups are being purged" : ""}.`);
      },
    ),
    h("p", {}, link(`#/t/${encodeURIComponent(tenant)}/activity`, "Live activity"), " · ", link(`#/t/${encodeURIComponent(tenant)}/test`, "Test a connection")),
  ];
  return content;
}

// ---- roles ---------------------------------------------------------------------------------

async function rolesView(tenant) {
  const view = await api("GET", tenantPath(tenant, "/roles"));
  const roleOptions = view.roles.map((r) => [r.name, r.name]);
  return [
    h("h2", {}, `Roles of ${tenant}`),
    form(
      "New role",
      [field("Role", { id: "role-name", name: "name", required: true }), field("Description", { name: "description" })],
      "Create role",
      async ({ name, description }) => {
        await api("POST", tenantPath(tenant, "/roles"), { name, description: description || null });
        say(`Role ${name} created.`);
      },
    ),
    table(["Role", "Description"], view.roles.map((r) => h("tr", {}, h("td", {}, r.name), h("td", {}, r.description ?? "")))),
    h("h3", {}, "Group mappings"),
    form(
      "Map a group to a role",
      [
        field("Group displayName", { id: "map-group", name: "group", required: true }),
        select("Role", { id: "map-role", name: "role", required: true }, roleOptions, roleOptions[0]?.[0]),
        field("Precedence", { name: "precedence", type: "number", min: 0 }),
      ],
      "Map role",
      async ({ group, role, precedence }) => {
        await api("POST", tenantPath(tenant, "/role-mappings"), { group, role, precedence: precedence === "" ? null : Number(precedence) });
        say(`${group} maps to ${role}.`);
      },
    ),
    table(
      ["Group", "Role", "Precedence", ""],
      view.mappings.map((m) =>
        h(
          "tr",
          {},
          h("td", {}, m.group ?? m.group_id),
          h("td", {}, m.role),
          h("td", {}, String(m.precedence)),
          h("td", {}, form(`Unmap ${m.group ?? m.group_id}`, [], "Unmap", async () => {
            const selector = new URLSearchParams(m.group ? { group: m.group } : { group_id: m.group_id });
            await api("DELETE", tenantPath(tenant, `/role-mappings?${selector}`));
          })),
        ),
      ),
    ),
    h("h3", {}, "Default role"),
    form(
      "Default role",
      select("Default role", { id: "default-role", name: "default_role" }, [["", "(none)"], ...roleOptions], view.default_role ?? ""),
      "Set the default role",
      async ({ default_role }) => {
        await api("PATCH", tenantPath(tenant, "/settings"), { default_role: default_role || null });
        say("Default role saved.");
      },
    ),
  ];
}

// ---- users and groups ----------------------------------------------------------------------

const USERS = { name: "users", title: "Users", endpoint: "Users", attribute: "userName", label: (r) => r.userName };
const GROUPS = { name: "groups", title: "Groups", endpoint: "Groups", attribute: "displayName", label: (r) => r.displayName };

async function resourcesView(tenant, kind) {
  const results = h("div", { id: "results" });
  const search = async (text) => {
    const filter = text ? `&filter=${encodeURIComponent(`${kind.attribute} co ${quoted(text)}`)}` : "";
    const page = await api("GET", tenantPath(tenant, `/${kind.endpoint}?count=50&sortBy=${kind.attribute}${filter}`));
    results.replaceChildren(
      h("p", {}, `${page.totalResults} found${page.totalResults > page.Resources.length ? `, the first ${page.Resources.length} shown` : ""}.`),
      table(
        [kind.attribute, "Active", "Owner", "Modified"],
        page.Resources.map((r) =>
          h(
            "tr",
            {},
            h("td", {}, link(`#/t/${encodeURIComponent(tenant)}/${kind.name}/${encodeURIComponent(r.id)}`, kind.label(r))),
            h("td", {}, r.active === undefined ? "" : r.active ? "yes" : "no"),
            h("td", {}, r.meta?.owner ?? ""),
            h("td", {}, r.meta?.lastModified ?? ""),
          ),
        ),
      ),
    );
  };
  await search("");
  return [
    h("h2", {}, `${kind.title} of ${tenant}`),
    form("Search", field(`${kind.attribute} contains`, { id: "search", name: "text", type: "search" }), "Search", async ({ text }) => {
      await search(text);
      return "stay";
    }),
    results,
  ];
}

async function resourceView(tenant, kind, id) {
  const resource = await api("GET", tenantPath(tenant, `/${kind.endpoint}/${encodeURIComponent(id)}`));
  const history = await api("GET", tenantPath(tenant, `/audit/history/${encodeURIComponent(id)}`));
  const content = [h("h2", {}, `${kind.title.slice(0, -1)} ${kind.label(resource)}`)];
  if (kind === USERS) {
    const roles = h("p", { id: "user-roles" }, "…");
    content.push(h("h3", {}, "Effective roles"), roles);
    try {
      const access = await api("GET", `/access/v1/${encodeURIComponent(tenant)}/logins/${encodeURIComponent(resource.userName)}`);
      roles.textContent = access.roles.length ? access.roles.join(", ") : "(none)";
    } catch (error) {
      roles.textContent = `unknown: ${error.message}`;
    }
  }
  content.push(
    h("button", { type: "button", onclick: () => route() }, "Refresh"),
    h("details", {}, h("summary", {}, "The resource (SCIM)"), h("pre", {}, JSON.stringify(resource, null, 2))),
    h("h3", {}, "History"),
    h(
      "ol",
      { class: "timeline", id: "history" },
      history.map((entry) =>
        h(
          "li",
          {},
          h("strong", {}, entry.type),
          ` at ${entry.time} by ${entry.actor ?? "the system"}`,
          entry.changes.length
            ? h("ul", {}, entry.changes.map((c) => h("li", {}, h("code", {}, c.attribute), `: ${JSON.stringify(c.from)} → ${JSON.stringify(c.to)}`)))
            : null,
        ),
      ),
    ),
  );
  return content;
}

// ---- devices -------------------------------------------------------------------------------

async function devicesView(tenant) {
  const devices = await api("GET", tenantPath(tenant, "/devices"));
  return [
    h("h2", {}, `Devices of ${tenant}`),
    form(
      "Register a device",
      [field("Serial", { name: "serial", required: true }), field("Name", { name: "name" }), field("Kind", { name: "kind" }), field("Assign to (user id or login)", { name: "assign" })],
      "Register device",
      async ({ serial, name, kind, assign }) => {
        await api("POST", tenantPath(tenant, "/devices"), { serial, name: name || null, kind: kind || null, assign: assign || null });
        say(`Device ${serial} registered.`);
      },
    ),
    table(
      ["Serial", "Name", "Kind", "Policy", "Assigned user"],
      devices.map((d) => h("tr", {}, h("td", {}, d.serial), h("td", {}, d.name ?? ""), h("td", {}, d.kind ?? ""), h("td", {}, d.policy ?? ""), h("td", {}, d.assigned_user_id ?? ""))),
    ),
  ];
}

// ---- live activity -------------------------------------------------------------------------

async function activityView(tenant) {
  const connections = await api("GET", tenantPath(tenant, "/connections"));
  const rows = h("tbody", { id: "activity" });
  let after = null;
  let actor = connections[0]?.connection_id ?? "";
  const fetchMore = async () => {
    if (!actor) return;
    const query = new URLSearchParams({ actor: `connection:${actor}`, limit: "100" });
    if (after !== null) query.set("after", String(after));
    const page = await api("GET", tenantPath(tenant, `/audit/log?${query}`));
    for (const e of page.events) {
      rows.prepend(h("tr", {}, h("td", {}, e.time), h("td", {}, e.type), h("td", {}, e.resource_kind), h("td", {}, h("code", {}, e.resource_id)), h("td", {}, e.request_id ?? "")));
      after = e.position;
    }
  };
  const picker = select("Connection", { id: "activity-connection" }, connections.map((c) => [c.connection_id, c.name]), actor);
  picker.querySelector("select").addEventListener("change", async (event) => {
    actor = event.target.value;
    after = null;
    rows.replaceChildren();
    await fetchMore();
  });
  await fetchMore();
  poll(() => fetchMore().catch((error) => say(error.message, true)));
  return [
    h("h2", {}, `Live provisioning activity in ${tenant}`),
    h("p", {}, `What the connection did, newest first; checked every ${POLL_MS / 1000} s.`),
    picker,
    h("table", {}, h("thead", {}, h("tr", {}, ["Time", "Event", "Kind", "Resource", "Request"].map((x) => h("th", { scope: "col" }, x)))), rows),
  ];
}

// ---- test a connection ---------------------------------------------------------------------

async function testView(tenant) {
  const connections = await api("GET", tenantPath(tenant, "/connections"));
  const report = h("div", { id: "test-report", "aria-live": "polite" });
  return [
    h("h2", {}, "Test a connection"),
    h("p", {}, "Sends what Okta's and Entra ID's Test Connection buttons send, as the connection, and shows each answer."),
    form(
      "Test a connection",
      select("Connection", { id: "test-connection", name: "connection" }, connections.map((c) => [c.connection_id, c.name]), connections[0]?.connection_id),
      "Run the test",
      async ({ connection }) => {
        const outcome = await api("POST", tenantPath(tenant, `/connections/${encodeURIComponent(connection)}/test`));
        report.replaceChildren(
          h("p", { class: outcome.passed ? "passed" : "failed" }, outcome.passed ? "Every check passed." : "Some checks failed."),
          table(
            ["IdP", "Request", "Expected", "Answer", ""],
            outcome.checks.map((c) =>
              h("tr", {}, h("td", {}, c.idp), h("td", {}, h("code", {}, `${c.method} ${decodeURIComponent(c.path)}`)), h("td", {}, c.expected), h("td", {}, `${c.status}: ${c.detail}`), h("td", { class: c.passed ? "passed" : "failed" }, c.passed ? "passed" : "failed")),
            ),
          ),
        );
        return "stay";
      },
    ),
    report,
  ];
}

// ---- relay and subscriber lag --------------------------------------------------------------

/** Samples /admin/v1/lag while signed in, so the plot covers the time since sign-in. */
const lag = {
  samples: [],
  timer: null,
  listeners: new Set(),
  start() {
    if (this.timer) return;
    const sample = async () => {
      try {
        const now = await api("GET", admin("/lag"));
        this.samples.push({ at: Date.now(), now });
        if (this.samples.length > LAG_SAMPLES) this.samples.shift();
        this.listeners.forEach((listener) => listener());
      } catch (error) {
        if (error.status !== 401) say(`Lag: ${error.message}`, true);
      }
    };
    sample();
    this.timer = setInterval(sample, POLL_MS);
  },
  stop() {
    clearInterval(this.timer);
    this.timer = null;
    this.samples = [];
  },
};

function lagSeries() {
  const series = new Map();
  for (const { at, now } of lag.samples) {
    const followers = [...(now.relay ? [{ ...now.relay, name: `relay ${now.relay.name}` }] : []), ...now.subscribers];
    for (const f of followers) {
      if (!series.has(f.name)) series.set(f.name, []);
      series.get(f.name).push([at, f.behind]);
    }
  }
  return series;
}

function lagPlot() {
  if (!lag.samples.length) return [h("p", {}, "No sample yet.")];
  const series = lagSeries();
  const width = 600;
  const height = 200;
  const all = [...series.values()].flat();
  const first = Math.min(...all.map(([at]) => at));
  const last = Math.max(...all.map(([at]) => at));
  const top = Math.max(1, ...all.map(([, behind]) => behind));
  const x = (at) => (last === first ? width : ((at - first) / (last - first)) * width);
  const y = (behind) => height - (behind / top) * (height - 10);
  const names = [...series.keys()];
  const plot = svg(
    "svg",
    { class: "plot", viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: "none", role: "img", "aria-label": `Events behind the log's head over time, at most ${top}` },
    ...names.map((name, i) => svg("polyline", { class: `series-${i % 5}`, points: series.get(name).map(([at, b]) => `${x(at).toFixed(1)},${y(b).toFixed(1)}`).join(" ") })),
  );
  const latest = lag.samples.at(-1).now;
  return [
    h("p", {}, `Scale: 0 to ${top} events behind, over the last ${Math.round((last - first) / 1000) || 0} s.`),
    plot,
    h("ul", { class: "legend" }, names.map((name, i) => h("li", {}, h("span", { class: `swatch series-${i % 5}` }), name))),
    table(
      ["Follower", "Checkpoint", "Head", "Behind", "State"],
      [...(latest.relay ? [{ ...latest.relay, name: `relay ${latest.relay.name}` }] : []), ...latest.subscribers].map((f) =>
        h("tr", {}, h("td", {}, f.name), h("td", {}, String(f.checkpoint)), h("td", {}, String(latest.head)), h("td", {}, String(f.behind)), h("td", {}, f.state)),
      ),
    ),
  ];
}

async function lagView() {
  const body = h("div", { id: "lag" }, lagPlot());
  const redraw = () => {
    if (document.getElementById("lag")) body.replaceChildren(...lagPlot());
    else lag.listeners.delete(redraw);
  };
  lag.listeners.add(redraw);
  return [h("h2", {}, "Relay and subscriber lag"), h("p", {}, `Events each follower has yet to handle, sampled every ${POLL_MS / 1000} s since sign-in.`), body];
}

// ---- start ---------------------------------------------------------------------------------

document.getElementById("sign-in-form").addEventListener("submit", signIn);
document.getElementById("sign-out").addEventListener("click", () => signOut());
document.getElementById("tenant-picker").addEventListener("change", (event) => {
  if (event.target.value) location.hash = `#/t/${encodeURIComponent(event.target.value)}/connections`;
});
window.addEventListener("hashchange", route);
if (signedIn()) enter().catch((error) => say(error.message, true));
else document.getElementById("token").focus();
