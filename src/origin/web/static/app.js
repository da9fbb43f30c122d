// The web app's pages: one document, a page per #/route, each drawn from the public APIs
// through this app's server (which holds the access token). Text from the APIs is always set
// as text, never as markup.

const TZ = "Europe/Copenhagen";
const STATES = ["available", "reserved", "transferred", "split", "retired", "expired"];
const DAY_S = 86400;
let session = null;
const labels = {};

// -- small helpers ---------------------------------------------------------------------------

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "text") el.textContent = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) el.append(c instanceof Node ? c : String(c));
  return el;
}

export function wh(v) {
  const a = Math.abs(v);
  for (const [d, unit] of [[1e9, "GWh"], [1e6, "MWh"], [1e3, "kWh"]]) {
    if (a >= d) return `${(v / d).toLocaleString("en-GB", { maximumFractionDigits: 2 })} ${unit}`;
  }
  return `${Math.round(v).toLocaleString("en-GB")} Wh`;
}

const timeFormat = new Intl.DateTimeFormat("en-GB", { timeZone: TZ, dateStyle: "medium", timeStyle: "short" });
export function when(t) {
  const d = typeof t === "number" ? new Date(t * 1000) : new Date(t);
  return Number.isNaN(d.getTime()) ? String(t) : timeFormat.format(d);
}

function iso(seconds) {
  return new Date(seconds * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
}

function nowHour() {
  const s = Math.floor(Date.now() / 1000);
  return s - (s % 3600);
}

function say(text) {
  document.getElementById("status").textContent = text;
}

function problem(err) {
  return h("p", { class: "error", role: "alert" }, err.message || String(err));
}

async function api(service, path, { method = "GET", body, query } = {}) {
  const q = query ? "?" + new URLSearchParams(Object.entries(query).filter(([, v]) => v !== "" && v != null)) : "";
  const r = await fetch(`api/${service}/${path}${q}`, {
    method,
    headers: { "Content-Type": "application/json", "X-CSRF-Token": session ? session.csrf : "" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (r.status === 401) {
    session = null;
    signedOut();
    throw new Error("You are signed out: sign in again.");
  }
  const kind = r.headers.get("content-type") || "";
  const data = kind.includes("json") ? await r.json() : await r.text();
  if (!r.ok) throw new Error((data && data.error && data.error.message) || `The service answered HTTP ${r.status}.`);
  return data;
}

async function label(codes) {
  const missing = [...new Set(codes)].filter((c) => c && !(c in labels));
  if (missing.length) Object.assign(labels, await (await fetch(`eecs?codes=${missing.slice(0, 50).join(",")}`)).json());
  return (c) => (labels[c] ? `${labels[c]} (${c})` : c);
}

function table(caption, columns, rows, empty) {
  if (!rows.length) return h("p", { class: "empty" }, empty);
  return h("div", { class: "scroll" }, h("table", {},
    h("caption", { class: "visually-hidden" }, caption),
    h("thead", {}, h("tr", {}, columns.map(([name, , num]) => h("th", { scope: "col", class: num ? "num" : null }, name)))),
    h("tbody", {}, rows.map((r) => h("tr", {}, columns.map(([, get, num]) => h("td", { class: num ? "num" : null }, get(r))))))));
}

function page(title, ...children) {
  const main = document.getElementById("main");
  document.title = `${title} · Origin`;
  const heading = h("h1", { tabindex: "-1" }, title);
  main.replaceChildren(heading, ...children);
  return main;
}

function loading(text = "Loading…") {
  return h("p", { class: "loading", role: "status" }, text);
}

// A form whose submit runs `work`; its button is disabled meanwhile, and the outcome (or the
// one-line refusal) is said beside it.
function form(fields, button, work, { stack = false } = {}) {
  const out = h("div", { "aria-live": "polite" });
  const submit = h("button", { type: "submit" }, button);
  const f = h("form", { class: stack ? "stack" : null }, fields, submit);
  f.addEventListener("submit", async (e) => {
    e.preventDefault();
    submit.disabled = true;
    out.replaceChildren(loading("Working…"));
    try {
      const done = await work(Object.fromEntries(new FormData(f)));
      out.replaceChildren(h("p", { class: "ok" }, done));
      say(done);
    } catch (err) {
      out.replaceChildren(problem(err));
    } finally {
      submit.disabled = false;
    }
  });
  return h("div", {}, f, out);
}

function field(label, name, attrs = {}) {
  return h("label", {}, label, h("input", { name, ...attrs }));
}

function choice(label, name, options, attrs = {}) {
  return h("label", {}, label, h("select", { name, ...attrs }, options.map(([v, t]) => h("option", { value: v }, t))));
}

function toSeconds(local) {
  return local ? iso(Date.parse(local) / 1000) : "";
}

// -- the chart -----------------------------------------------------------------------------

const SERIES = [
  ["Production", "#1d6b3a", "produced_wh"],
  ["Consumption", "#0a4f8a", "consumption_wh"],
  ["GGOs issued", "#7ac143", "issued_wh"],
  ["GGOs transferred", "#b35c00", "transferred_wh"],
  ["GGOs retired for consumption", "#6a3d9a", "matched_wh"],
];

function hourly(production, matching) {
  const rows = new Map();
  for (const p of [...production, ...matching.periods]) {
    const t = Date.parse(p.period) / 1000;
    rows.set(t, Object.assign(rows.get(t) || {}, p));
  }
  const xs = [...rows.keys()].sort((a, b) => a - b);
  return [xs, ...SERIES.map(([, , key]) => xs.map((x) => rows.get(x)[key] ?? null))];
}

function drawChart(target, data, label) {
  const width = () => Math.max(280, target.clientWidth || 600);
  const chart = new uPlot({
    width: width(), height: 320, tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), TZ),
    cursor: { drag: { x: true, y: false } }, legend: { live: true },
    scales: { x: { time: true } },
    series: [{ label: "Hour" }, ...SERIES.map(([name, colour]) => ({
      label: name, stroke: colour, width: 1.25, value: (u, v) => (v == null ? "–" : wh(v)),
    }))],
    axes: [{}, { size: 70, values: (u, vals) => vals.map(wh) }],
  }, data, target);
  target.setAttribute("role", "img");
  target.setAttribute("aria-label", label);
  new ResizeObserver(() => chart.setSize({ width: width(), height: 320 })).observe(target);
  return chart;
}

function zoomButtons(chart, xs) {
  const last = xs.length ? xs[xs.length - 1] + 3600 : nowHour();
  const span = (days) => () => chart.setScale("x", { min: last - days * DAY_S, max: last });
  return h("div", { class: "zoom", role: "group", "aria-label": "Zoom the chart" },
    [["Year", 365], ["Month", 31], ["Week", 7], ["Day", 1]].map(([name, days]) =>
      h("button", { type: "button", class: "plain", onclick: span(days) }, name)),
    h("span", { class: "empty" }, "or drag across the chart; double-click to see it all"));
}

// -- the pages -------------------------------------------------------------------------------

async function dashboard() {
  const main = page("Dashboard", loading());
  const end = nowHour();
  const span = { begin: iso(end - 365 * DAY_S), end: iso(end) };
  const [account, production, matching] = await Promise.all([
    api("accounts", "v1/account"),
    api("accounts", "v1/production", { query: { ...span, resolution: "hour" } }),
    api("accounts", "v1/matching", { query: { ...span, resolution: "hour" } }),
  ]);
  const year = matching; // its score and sums are of the whole span, whatever the resolution
  const produced = production.reduce((s, p) => s + p.produced_wh, 0);
  const issued = production.reduce((s, p) => s + p.issued_wh, 0);
  const transferred = production.reduce((s, p) => s + p.transferred_wh, 0);
  const headline = year.score == null
    ? h("p", { class: "headline" }, "No consumption in the last year to match yet.")
    : h("p", { class: "headline" }, h("strong", {}, `${(year.score * 100).toFixed(1)} %`),
      " of your consumption in the last year was matched with green GGOs, hour by hour.");
  const chartBox = h("div", { class: "chart" });
  main.replaceChildren(main.firstChild,
    h("p", {}, `Account ${account.name} (`, h("span", { class: "mono" }, account.id), ")"),
    headline,
    h("ul", { class: "cards" },
      h("li", {}, "Produced", h("b", {}, wh(produced))), h("li", {}, "GGOs issued", h("b", {}, wh(issued))),
      h("li", {}, "GGOs transferred", h("b", {}, wh(transferred))),
      h("li", {}, "Consumed", h("b", {}, wh(year.consumption_wh))),
      h("li", {}, "Matched", h("b", {}, wh(year.matched_wh)))),
    h("h2", {}, "Hour by hour, the last year"),
    chartBox);
  const data = hourly(production, matching);
  if (!data[0].length) {
    chartBox.replaceChildren(h("p", { class: "empty" }, "No hourly data yet: add your meters, and the next import fills this."));
    return;
  }
  const chart = drawChart(chartBox, data, `Hourly production, consumption and GGOs over the last year; ${data[0].length} hours`);
  chartBox.before(zoomButtons(chart, data[0]));
  chartBox.dataset.ready = "true";
}

async function ggos() {
  const main = page("Your GGOs", loading());
  const results = h("div", {}, loading());
  const summary = h("div");
  const filters = form([
    choice("State", "state", [["", "any"], ...STATES.map((s) => [s, s])]),
    field("Technology (EECS code)", "tech_type", { placeholder: "T010000", size: 10 }),
    field("Periods from", "begin", { type: "datetime-local" }),
    field("until", "end", { type: "datetime-local" }),
  ], "Show", async (f) => {
    const query = { state: f.state, tech_type: f.tech_type, begin: toSeconds(f.begin), end: toSeconds(f.end), limit: 200 };
    await list(query);
    return "Shown.";
  });
  const csv = h("a", { href: "api/accounts/v1/export/ggos.csv", download: "ggos.csv" }, "Download all as CSV");
  main.replaceChildren(main.firstChild, h("h2", {}, "By state and technology"), summary,
    h("h2", {}, "The GGOs"), filters, h("p", {}, csv), results);
  let asked = 0; // the list shown is the last one asked for, whichever answer comes last
  const first = list({ limit: 200 });

  async function list(query) {
    const mine = ++asked;
    results.replaceChildren(loading());
    const got = await api("accounts", "v1/ggos", { query });
    const name = await label(got.ggos.map((g) => g.tech_type));
    if (mine !== asked) return;
    results.replaceChildren(table("Your GGOs", [
      ["Period", (g) => when(g.begin)], ["Amount", (g) => wh(g.amount_wh), true], ["Sector", (g) => g.sector],
      ["Technology", (g) => name(g.tech_type)], ["State", (g) => h("span", { class: `state ${g.state}` }, g.state)],
      ["Address", (g) => h("a", { href: `#/verify/${g.address}`, class: "mono" }, g.address.slice(0, 14) + "…")],
    ], got.ggos, "No GGOs match these filters."));
  }
  const sums = await Promise.all(STATES.map((state) => api("accounts", "v1/ggos/summary", { query: { resolution: "year", state } })));
  const held = await api("accounts", "v1/ggos", { query: { limit: 1000 } });
  const techs = [...new Set(held.ggos.map((g) => g.tech_type))];
  const name = await label(techs);
  const byTech = await Promise.all(techs.map((t) => api("accounts", "v1/ggos/summary", { query: { resolution: "year", tech_type: t } })));
  const total = (rows) => rows.reduce((s, r) => s + r.amount_wh, 0);
  const count = (rows) => rows.reduce((s, r) => s + r.ggos, 0);
  summary.replaceChildren(
    table("GGOs by state", [["State", (r) => r[0]], ["GGOs", (r) => count(r[1]).toLocaleString("en-GB"), true], ["Amount", (r) => wh(total(r[1])), true]],
      STATES.map((s, i) => [s, sums[i]]).filter((r) => count(r[1])), "You hold no GGOs yet."),
    table("GGOs by technology", [["Technology", (r) => name(r[0])], ["Amount", (r) => wh(total(r[1])), true]],
      techs.map((t, i) => [t, byTech[i]]), ""));
  await first;
}

async function meters() {
  const main = page("Meters", loading());
  const mine = await api("accounts", "v1/meters");
  const have = new Set(mine.map((m) => m.gsrn));
  const available = h("div", {}, loading());
  const data = h("div");
  main.replaceChildren(main.firstChild,
    h("h2", {}, "Your meters"),
    table("Your meters", [["GSRN", (m) => h("span", { class: "mono" }, m.gsrn)], ["Type", (m) => m.type],
      ["Sector", (m) => m.sector || "not yet known"], ["Added", (m) => when(m.added_s)],
      ["Data", (m) => h("button", { type: "button", class: "plain", onclick: () => readings(m) }, `Data of ${m.gsrn}`)]], mine,
      "No meters yet: add one from your DataHub authorisation below."),
    data,
    h("h2", {}, "From your DataHub authorisation"), available);
  try {
    const found = await api("accounts", "v1/datahub/meters");
    available.replaceChildren(table("Metering points your DataHub authorisation covers", [
      ["GSRN", (m) => h("span", { class: "mono" }, m.gsrn)], ["Type", (m) => m.type || m.type_of_mp || ""],
      ["Waiting for", (m) => (m.waiting_for || []).join(", ") || "nothing"],
      ["Add", (m) => (have.has(m.gsrn) ? "added" : h("button", { type: "button", onclick: (e) => add(e, m.gsrn) }, `Add ${m.gsrn}`))],
    ], found, "Your DataHub authorisation covers no metering points (or the issuing body has not linked your DataHub identity yet)."));
  } catch (err) {
    available.replaceChildren(problem(err));
  }

  async function readings(meter) {
    data.replaceChildren(loading());
    const end = nowHour();
    const got = await api("accounts", "v1/measurements", { query: { begin: iso(end - 3 * DAY_S), end: iso(end + 3600), limit: 2000 } });
    const rows = got.measurements.filter((m) => m.meter === meter.index).reverse();
    data.replaceChildren(h("h2", {}, `The last three days of ${meter.gsrn}`),
      table(`Measurements of ${meter.gsrn}`, [["Period", (m) => when(m.begin)], ["Amount", (m) => wh(m.amount_wh), true],
        ["Retired against it", (m) => (m.type === "CONSUMPTION" ? wh(m.retired_wh) : "–"), true]], rows,
      "No measurements in the last three days."));
    data.querySelector("h2").scrollIntoView();
  }

  async function add(event, gsrn) {
    const button = event.currentTarget;
    button.disabled = true;
    try {
      await api("accounts", "v1/meters", { method: "POST", body: { gsrn } });
      say(`Meter ${gsrn} added.`);
      await meters();
    } catch (err) {
      button.after(problem(err));
      button.disabled = false;
    }
  }
}

function receiver(to) {
  return to.startsWith("xpub") ? { xpub: to } : { account: to };
}

async function operationDone(op) {
  let current = op;
  for (let i = 0; i < 40 && current.status === "PENDING"; i++) {
    await new Promise((r) => setTimeout(r, 500));
    current = await api("accounts", `v1/operations/${op.id}`);
  }
  if (current.status === "FAILED") throw new Error(`Refused: ${current.error ? current.error.message : "failed"}`);
  return `${current.kind} ${current.id}: ${current.status}`;
}

async function trade() {
  const main = page("Transfer and retire", loading());
  const ops = h("div");
  const amount = (v) => (v ? Number(v) : undefined);
  main.replaceChildren(main.firstChild,
    h("h2", {}, "Transfer a GGO, or part of it"),
    form([field("GGO address", "ggo", { required: true, size: 40 }),
      field("To (an account id, or a receive xpub)", "to", { required: true, size: 30 }),
      field("Wh (empty: all of it)", "amount_wh", { type: "number", min: 1 })], "Transfer",
    async (f) => operationDone(await api("accounts", "v1/transfers", { method: "POST",
      body: { ggo: f.ggo.trim(), to: receiver(f.to.trim()), amount_wh: amount(f.amount_wh) } })).finally(showOps)),
    h("h2", {}, "Retire a GGO against your consumption"),
    form([field("GGO address", "ggo", { required: true, size: 40 }),
      field("Wh (empty: all of it)", "amount_wh", { type: "number", min: 1 })], "Retire",
    async (f) => operationDone(await api("accounts", "v1/retirements", { method: "POST",
      body: { ggo: f.ggo.trim(), amount_wh: amount(f.amount_wh) } })).finally(showOps)),
    h("h2", {}, "A period in bulk"),
    form([field("From", "begin", { type: "datetime-local", required: true }),
      field("Until", "end", { type: "datetime-local", required: true }),
      field("Transfer to (empty: retire instead)", "to", { size: 30 }),
      field("Wh of each hour (transfers)", "amount_wh", { type: "number", min: 1 })], "Run",
    async (f) => {
      const span = { begin: toSeconds(f.begin), end: toSeconds(f.end) };
      const op = f.to.trim()
        ? await api("accounts", "v1/bulk/transfers", { method: "POST", body: { ...span, to: receiver(f.to.trim()), amount_wh: amount(f.amount_wh) } })
        : await api("accounts", "v1/bulk/retirements", { method: "POST", body: span });
      return operationDone(op).finally(showOps);
    }),
    h("h2", {}, "Your operations"), ops);
  await showOps();

  async function showOps() {
    const got = await api("accounts", "v1/operations", { query: { limit: 50 } });
    ops.replaceChildren(table("Your operations", [
      ["When", (o) => when(o.created_s)], ["What", (o) => o.kind],
      ["Status", (o) => h("span", { class: `state ${o.status}` }, o.status)],
      ["Why it failed", (o) => (o.error ? `${o.error.code}: ${o.error.message}` : "")],
    ], got.operations, "No operations yet."));
  }
}

async function agreements() {
  const main = page("Agreements", loading());
  const me = await api("accounts", "v1/account");
  const list = h("div");
  main.replaceChildren(main.firstChild,
    h("h2", {}, "Propose an agreement"),
    h("p", {}, "Ask another account to send you GGOs each hour, or offer yours."),
    form([choice("Direction", "direction", [["receive", "I receive from"], ["send", "I send to"]]),
      field("Account", "other", { required: true, size: 24 }),
      choice("How much", "rule", [["unmatched", "what matches the receiver's unmatched consumption"], ["cap", "up to N Wh each hour"], ["percent", "N % of the sender's production"]]),
      field("N", "rule_value", { type: "number", min: 1 }),
      field("From", "begin", { type: "datetime-local", required: true })], "Propose",
    async (f) => {
      const body = { begin: toSeconds(f.begin), rule: f.rule, rule_value: f.rule_value ? Number(f.rule_value) : undefined };
      if (f.direction === "receive") body.sender = f.other.trim();
      else body.receiver = { account: f.other.trim() };
      const made = await api("accounts", "v1/agreements", { method: "POST", body });
      await show();
      return `Agreement ${made.id} proposed.`;
    }),
    h("h2", {}, "Your agreements"), list);
  await show();

  async function show() {
    const got = await api("accounts", "v1/agreements");
    const act = (a, action) => h("button", { type: "button", class: action === "accept" ? null : "plain", onclick: async (e) => {
      e.currentTarget.disabled = true;
      try { await api("accounts", `v1/agreements/${a.id}/${action}`, { method: "POST" }); say(`Agreement ${a.id}: ${action}.`); await show(); } catch (err) { list.prepend(problem(err)); }
    } }, `${action[0].toUpperCase()}${action.slice(1)} ${a.id}`);
    list.replaceChildren(table("Your agreements", [
      ["From", (a) => (a.sender === me.id ? "you" : a.sender)], ["To", (a) => (a.receiver === me.id ? "you" : a.receiver || a.receiver_xpub)],
      ["Rule", (a) => `${a.rule}${a.rule_value ? " " + a.rule_value : ""}`], ["Since", (a) => when(a.begin_s)],
      ["Status", (a) => h("span", { class: `state ${a.status}` }, a.status)],
      ["Flowed", (a) => wh(a.transferred_wh), true],
      ["Decide", (a) => (a.status !== "PROPOSED" ? "" : a.proposed_by === me.id ? act(a, "withdraw") : [act(a, "accept"), " ", act(a, "decline")])],
    ], got, "No agreements yet."));
  }
}

async function matchingPage() {
  const main = page("Matching", loading());
  const out = h("div");
  const end = nowHour();
  main.replaceChildren(main.firstChild,
    form([choice("Per", "resolution", [["day", "day"], ["week", "week"], ["month", "month"], ["year", "year"], ["hour", "hour"]]),
      field("From", "begin", { type: "date", value: iso(end - 365 * DAY_S).slice(0, 10) }),
      field("Until", "end", { type: "date", value: iso(end + DAY_S).slice(0, 10) })], "Show",
    async (f) => { await show(f); return "Shown."; }),
    out);
  await show({ resolution: "day", begin: iso(end - 365 * DAY_S).slice(0, 10), end: iso(end + DAY_S).slice(0, 10) });

  async function show(f) {
    out.replaceChildren(loading());
    const query = { resolution: f.resolution, begin: `${f.begin}T00:00:00Z`, end: `${f.end}T00:00:00Z` };
    const got = await api("accounts", "v1/matching", { query });
    const report = `api/accounts/v1/report.html?${new URLSearchParams({ begin: query.begin, end: query.end })}`;
    out.replaceChildren(
      h("p", { class: "headline" }, got.score == null ? "No consumption in this span." :
        [h("strong", {}, `${(got.score * 100).toFixed(1)} %`), ` matched: ${wh(got.matched_wh)} of ${wh(got.consumption_wh)}.`]),
      h("p", {}, h("a", { href: report, target: "_blank", rel: "noopener" }, "The printable report"), " · ",
        h("a", { href: `api/accounts/v1/matching.csv?${new URLSearchParams(query)}`, download: "matching.csv" }, "CSV")),
      table("Coverage per period", [["Period", (p) => p.period], ["Consumption", (p) => wh(p.consumption_wh), true],
        ["Matched", (p) => wh(p.matched_wh), true], ["Coverage", (p) => (p.coverage == null ? "–" : `${(p.coverage * 100).toFixed(1)} %`), true]],
      got.periods.slice(-500).reverse(), "No consumption in this span."));
  }
}

function chainPicture(v) {
  const steps = [{ title: "Measurement", text: `${wh(v.measurement.amount)} in ${v.measurement.sector}, ${when(v.measurement.begin)}` },
    ...v.hops.map((hop) => ({ title: hop.action, text: `${wh(hop.amount)} · entry ${hop.seq} · ${when(hop.time)}`, sub: hop.address })),
  ];
  if (v.retired_to) steps.push({ title: "Retired", text: `against consumption ${v.consumption.slice(0, 18)}…`, sub: v.retired_to });
  else if (v.spent) steps.push({ title: "Used", text: v.spent === "split_ggo" ? "split into new GGOs (verify those)" : v.spent });
  else steps.push({ title: "Not used yet", text: `as of the ledger's checkpoint of ${v.checkpoint_size} entries` });
  const box = 64, gap = 28, width = 460;
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${steps.length * (box + gap)}`);
  svg.setAttribute("class", "chain");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", `The GGO's chain, ${steps.length} steps: ` + steps.map((s) => `${s.title}, ${s.text}`).join("; then "));
  const add = (tag, attrs, text) => {
    const el = document.createElementNS(ns, tag);
    for (const [k, val] of Object.entries(attrs)) el.setAttribute(k, val);
    if (text) el.textContent = text;
    svg.append(el);
  };
  steps.forEach((s, i) => {
    const y = i * (box + gap);
    add("rect", { x: 1, y: y + 1, width: width - 2, height: box, rx: 6, fill: i === 0 ? "#dff1e4" : "#f3f6f4", stroke: "#1d6b3a" });
    add("text", { x: 12, y: y + 22, "font-weight": "700" }, s.title);
    add("text", { x: 12, y: y + 40 }, s.text);
    if (s.sub) add("text", { x: 12, y: y + 56, "font-family": "monospace", "font-size": "10" }, s.sub.length > 70 ? `${s.sub.slice(0, 69)}…` : s.sub);
    if (i < steps.length - 1) add("path", { d: `M ${width / 2} ${y + box + 2} v ${gap - 6} l -5 -6 m 5 6 l 5 -6`, stroke: "#1d6b3a", fill: "none", "stroke-width": 2 });
  });
  return svg;
}

async function verify(address = "") {
  const main = page("Verify a GGO", loading());
  const out = h("div", { "aria-live": "polite" });
  main.replaceChildren(main.firstChild,
    h("p", {}, "The ledger's provenance bundle of a GGO is checked here against the ledger's log key: every signature, every inclusion proof, every hop from the measurement to the retirement."),
    form([field("GGO address", "address", { required: true, size: 72, value: address })], "Verify", async (f) => {
      location.hash = `#/verify/${f.address.trim()}`;
      return "Checked.";
    }), out);
  if (!address) return;
  out.replaceChildren(loading("Checking the bundle…"));
  const r = await fetch(`verify/${encodeURIComponent(address)}`);
  const v = await r.json();
  if (!r.ok || !v.ok) {
    out.replaceChildren(problem(new Error(v.error ? (v.error.message || v.error) : `HTTP ${r.status}`)));
    return;
  }
  const name = await label([v.tech_type]);
  out.replaceChildren(
    h("p", { class: "ok" }, `Verified: issued by ${v.issuer.slice(0, 16)}… on ledger ${v.ledger}, proven in a checkpoint of ${v.checkpoint_size} entries.`),
    h("p", {}, `${wh(v.measurement.amount)} of ${name(v.tech_type)}, ${when(v.measurement.begin)} to ${when(v.measurement.end)}, ${v.measurement.sector}.`),
    chainPicture(v));
}

async function apps() {
  const auth = session.auth_url;
  page("Apps",
    h("p", {}, "Third-party apps you let use your data, and your own OAuth clients, are kept by the authorization server."),
    h("ul", {},
      h("li", {}, h("a", { href: `${auth}/apps` }, "Connected apps"), ": what each may do; revoke any."),
      h("li", {}, h("a", { href: `${auth}/clients` }, "Your OAuth clients"), ": register an app of your own (docs/auth.md explains the code flow with PKCE)."),
      h("li", {}, h("a", { href: `${auth}/password` }, "Change your password"))));
}

// -- signing in and routing ----------------------------------------------------------------

const ROUTES = { "": dashboard, ggos, meters, trade, agreements, matching: matchingPage, verify, apps };

function signedOut() {
  document.getElementById("nav").hidden = true;
  document.getElementById("who").replaceChildren();
  page("Welcome to Origin",
    h("p", {}, "See where your electricity comes from, hour by hour; trade and retire your guarantees of origin."),
    h("p", {}, h("a", { href: "login", class: "button" }, "Sign in"), " · ", h("a", { href: "login?signup=true" }, "Create an account")));
}

async function route() {
  if (!session) return signedOut();
  const [name, arg] = location.hash.replace(/^#\/?/, "").split("/");
  const show = ROUTES[name] || dashboard;
  for (const a of document.querySelectorAll("nav a")) {
    if (a.getAttribute("href") === `#/${name}`) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  try {
    await show(arg ? decodeURIComponent(arg) : undefined);
  } catch (err) {
    document.getElementById("main").append(problem(err));
  }
  document.querySelector("main h1")?.focus();
}

async function start() {
  session = await (await fetch("session")).json();
  if (!session.signed_in) {
    session = null;
    return signedOut();
  }
  document.getElementById("nav").hidden = false;
  const out = h("button", { type: "button", class: "plain", onclick: async () => {
    await fetch("logout", { method: "POST", headers: { "X-CSRF-Token": session.csrf } });
    session = null;
    signedOut();
  } }, "Sign out");
  document.getElementById("who").replaceChildren(h("span", {}, `Signed in as ${session.name}`), out);
  window.addEventListener("hashchange", route);
  await route();
}

start();
