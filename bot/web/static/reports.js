/* Kefu (客服) reports for supervisors: the overview (KPI tiles, charts, tables) at /reports and every
 * conversation at /conversations, one page with two views. Plain ES2020, no build step.
 *
 * Login, session, the API and the staff texts come from console.js (KefuConsole); the charts from
 * Apache ECharts (vendor/echarts, docs/vendor.md), drawn on canvas with canvas tooltips
 * (renderMode "richText"), so no HTML is ever built from data and the strict CSP holds.
 * The period and filters live in the address: every number links to the conversations behind it,
 * and the back button goes back. Server strings are written with textContent, never innerHTML.
 */
(function () {
  "use strict";

  const { $, el, api, fail, t, locale, language } = KefuConsole;

  const COMMON = ["since", "until", "language", "channel", "agent_id"]; // both views
  const LIST_ONLY = ["q", "outcome", "rating", "article_id"]; // the conversations view
  const OUTCOMES = ["contained", "escalated", "abandoned", "rated_poor"];
  const OUTCOME_COLOURS = { contained: "#16a34a", escalated: "#2563eb", abandoned: "#d97706", rated_poor: "#dc2626" };
  const BANDS = ["answer", "clarify", "none"];
  const PAGE_SIZE = 50;
  // Which way a KPI should move; absent: neither (volume).
  const GOOD_WHEN_UP = {
    containment_rate: true, escalation_rate: false, abandonment_rate: false, bot_reply_p50_s: false,
    bot_reply_p90_s: false, first_response_p50_s: false, resolution_p50_s: false,
    first_response_breach_rate: false, queue_wait_p50_s: false, csat_mean: true, csat_satisfied_rate: true,
    csat_bot_mean: true, csat_agent_mean: true, complaint_rate: false, helpful_rate: true,
  };

  const ui = KefuConsole.find("reports", ["app", "filters", "since", "until", "language", "channel", "agent",
    "outcome", "rating", "q", "article-chip", "article-label", "article-clear", "overview", "conversations",
    "period", "tiles", "list", "list-head", "list-empty", "more", "detail"]);

  const state = {
    report: null, reportKey: null, reportSeq: 0, tz: null,
    agents: [], agentsLoaded: false,
    list: [], listKey: null, cursor: null, listSeq: 0,
    detail: null, detailSeq: 0,
  };

  const isStaff = (user) => Boolean(user) && ["admin", "supervisor"].includes(user.role);

  // ---------------------------------------------------------------- formatting (Intl, the staff's locale)

  const numberFormat = (options) => new Intl.NumberFormat(locale(), options);
  const count = (value) => numberFormat().format(value);

  function duration(seconds, signed) {
    const size = Math.abs(seconds);
    const [amount, unit] = size < 90 ? [seconds, "second"] : size < 5400 ? [seconds / 60, "minute"] : [seconds / 3600, "hour"];
    return numberFormat({ style: "unit", unit, unitDisplay: "short", maximumFractionDigits: Math.abs(amount) < 10 ? 1 : 0,
      signDisplay: signed ? "exceptZero" : "auto" }).format(amount);
  }

  function formatValue(value, unit) {
    if (value === null || value === undefined) return "–";
    if (unit === "percent") return numberFormat({ style: "percent", maximumFractionDigits: 1 }).format(value / 100);
    if (unit === "seconds") return duration(value, false);
    if (unit === "score") return numberFormat({ minimumFractionDigits: 2, maximumFractionDigits: 2 }).format(value);
    return count(value);
  }

  // A count with its share of the conversations: "3 (27.3 %)".
  const share = (value, rate) => (rate === null || rate === undefined ? count(value) : `${count(value)} (${formatValue(rate, "percent")})`);

  // A local date of the report ("2026-11-10") as the staff member writes dates.
  function day(iso, options = { year: "numeric", month: "short", day: "numeric" }) {
    const [y, m, d] = String(iso).split("-").map(Number);
    return new Date(Date.UTC(y, m - 1, d)).toLocaleDateString(locale(), { ...options, timeZone: "UTC" });
  }

  // A moment, in the report's time zone when it is known (the manager's), else the browser's.
  function moment(iso, options = { dateStyle: "medium", timeStyle: "short" }) {
    const date = new Date(iso);
    if (isNaN(date)) return "";
    try {
      return date.toLocaleString(locale(), state.tz ? { ...options, timeZone: state.tz } : options);
    } catch (_) {
      return date.toLocaleString(locale(), options);
    }
  }

  const weekday = (index) => new Date(Date.UTC(2024, 0, 1 + index)).toLocaleDateString(locale(), { weekday: "short", timeZone: "UTC" });

  // ---------------------------------------------------------------- the address: view, period, filters

  const currentView = () => (location.pathname.replace(/\/+$/, "") === "/conversations" ? "conversations" : "overview");

  function addressFilters() {
    const params = new URLSearchParams(location.search);
    const filters = {};
    for (const key of [...COMMON, ...LIST_ONLY, "id"]) {
      const value = params.get(key);
      if (value) filters[key] = value;
    }
    return filters;
  }

  function queryOf(filters, keys) {
    const params = new URLSearchParams();
    for (const key of keys) if (filters[key] !== undefined && filters[key] !== null && filters[key] !== "") params.set(key, filters[key]);
    return params.toString();
  }

  // The period shown: the address's, completed by the last summary's dates (the server's default).
  function period() {
    const filters = addressFilters();
    if (state.report && !filters.since && !filters.until) {
      filters.since = state.report.range.since;
      filters.until = state.report.range.until;
    }
    return filters;
  }

  // Where a number leads: the conversations of the period and filters, narrowed by `extra`.
  function conversationsHref(extra) {
    const filters = { ...period(), ...extra };
    for (const key of [...LIST_ONLY, "id"]) if (!(key in extra)) delete filters[key];
    const query = queryOf(filters, [...COMMON, ...LIST_ONLY, "id"]);
    return `/conversations${query ? `?${query}` : ""}`;
  }

  const csvHref = (table) => `/api/v1/reports/export.csv?${queryOf({ ...period(), table }, ["table", ...COMMON])}`;

  function navLink(href, text, className) {
    const link = el("a", className, text);
    link.href = href;
    link.dataset.nav = "";
    return link;
  }

  function go(href, replace) {
    if (replace || href === location.pathname + location.search) history.replaceState(null, "", href);
    else history.pushState(null, "", href);
    route();
  }

  // Links inside the page change the view without a reload; a new tab still gets its own page.
  document.addEventListener("click", (event) => {
    const link = event.target.closest("a[data-nav]");
    if (!link || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    go(link.getAttribute("href"), false);
  });
  window.addEventListener("popstate", () => { if (KefuConsole.user()) route(); });

  function fillForm(filters) {
    for (const key of [...COMMON, ...LIST_ONLY]) {
      const field = ui.filters.elements.namedItem(key);
      if (field) field.value = filters[key] || "";
    }
    if (filters.agent_id && ![...ui.agent.options].some((option) => option.value === filters.agent_id)) {
      ui.agent.append(Object.assign(el("option", null, `#${filters.agent_id}`), { value: filters.agent_id }));
      ui.agent.value = filters.agent_id;
    }
    ui.articleChip.hidden = !filters.article_id;
    if (filters.article_id) {
      ui.articleLabel.replaceChildren(el("span", null, t("reports.filter.article")), " ", el("code", null, filters.article_id));
    }
  }

  function applyForm(extra = {}) {
    const view = currentView();
    const filters = { ...addressFilters(), ...extra };
    for (const key of view === "conversations" ? [...COMMON, ...LIST_ONLY] : COMMON) {
      const field = ui.filters.elements.namedItem(key);
      if (field) filters[key] = field.value.trim();
    }
    delete filters.id; // new filters, new list: nothing open yet
    const keys = view === "conversations" ? [...COMMON, ...LIST_ONLY] : COMMON;
    const query = queryOf(filters, keys);
    go(`${view === "conversations" ? "/conversations" : "/reports"}${query ? `?${query}` : ""}`, false);
  }

  ui.filters.addEventListener("submit", (event) => { event.preventDefault(); applyForm(); });
  ui.filters.addEventListener("change", (event) => { if (!event.target.matches(".reports-q")) applyForm(); });
  ui.articleClear.addEventListener("click", () => applyForm({ article_id: "" }));

  function route() {
    const view = currentView();
    const filters = addressFilters();
    fillForm(filters);
    ui.overview.hidden = view !== "overview";
    ui.conversations.hidden = view !== "conversations";
    ui.app.dataset.view = view;
    for (const link of document.querySelectorAll(".reports-nav-link")) {
      const here = link.dataset.view === view;
      if (here) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
      const query = queryOf(period(), COMMON);
      link.setAttribute("href", `${link.dataset.view === "conversations" ? "/conversations" : "/reports"}${query ? `?${query}` : ""}`);
      link.dataset.nav = "";
    }
    document.title = t(view === "overview" ? "reports.title.overview" : "reports.title.conversations");
    if (view === "overview") loadSummary();
    else loadList(filters);
  }

  // ---------------------------------------------------------------- session

  function startApp(user) {
    if (!isStaff(user)) { notSupervisor(); return; }
    loadAgents();
    route();
  }

  function notSupervisor() {
    clearAll();
    KefuConsole.refuse(t("reports.refused"));
  }

  function clearAll() {
    state.reportSeq += 1;
    state.listSeq += 1;
    state.detailSeq += 1;
    Object.assign(state, { report: null, reportKey: null, list: [], listKey: null, cursor: null, detail: null, agentsLoaded: false });
    for (const node of document.querySelectorAll(".reports-chart")) {
      const chart = echarts.getInstanceByDom(node);
      if (chart) chart.dispose();
    }
    ui.tiles.replaceChildren();
    ui.period.textContent = "";
    for (const block of document.querySelectorAll(".reports-table-block")) block.querySelector(".reports-table-body")?.remove();
    ui.list.replaceChildren();
    ui.listHead.textContent = "";
    ui.more.hidden = true;
    clearDetail();
  }

  // A new language: everything drawn with t() and Intl is drawn again from what is loaded.
  function relanguage() {
    if (!isStaff(KefuConsole.user())) return;
    for (const node of document.querySelectorAll(".reports-chart")) {
      const chart = echarts.getInstanceByDom(node);
      if (chart) chart.dispose(); // its locale is fixed at init
    }
    document.title = t(currentView() === "overview" ? "reports.title.overview" : "reports.title.conversations");
    fillForm(addressFilters());
    if (state.report) renderOverview();
    renderList();
    if (state.detail) renderDetail(state.detail);
  }

  async function loadAgents() {
    if (state.agentsLoaded) return;
    try {
      const data = await api("GET", "/reports/agents");
      state.agents = Array.isArray(data.items) ? data.items : [];
      state.agentsLoaded = true;
    } catch (error) {
      fail(error);
      return;
    }
    const chosen = addressFilters().agent_id || "";
    ui.agent.replaceChildren(ui.agent.options[0], ...state.agents.map((agent) =>
      Object.assign(el("option", null, agent.name), { value: String(agent.id) })));
    fillForm({ ...addressFilters(), agent_id: chosen });
  }

  // ---------------------------------------------------------------- the overview

  async function loadSummary() {
    const filters = addressFilters();
    const key = queryOf(filters, COMMON);
    if (state.report && state.reportKey === key) { renderOverview(); return; }
    const seq = ++state.reportSeq;
    ui.overview.setAttribute("aria-busy", "true");
    let data;
    try {
      data = await api("GET", `/reports/summary${key ? `?${key}` : ""}`);
    } catch (error) {
      if (seq !== state.reportSeq) return;
      ui.overview.removeAttribute("aria-busy");
      if (error.status === 403) notSupervisor();
      else fail(error);
      return;
    }
    if (seq !== state.reportSeq) return;
    KefuConsole.clearError();
    Object.assign(state, { report: data, reportKey: key, tz: data.range.tz });
    ui.overview.removeAttribute("aria-busy");
    // The server's default period, written into the address so that links and reloads keep it.
    if (!filters.since && !filters.until) {
      const query = queryOf({ ...filters, since: data.range.since, until: data.range.until }, COMMON);
      history.replaceState(null, "", `/reports?${query}`);
      state.reportKey = query;
      fillForm(addressFilters());
    }
    renderOverview();
  }

  function renderOverview() {
    const data = state.report;
    ui.period.textContent = t("reports.period", {
      since: day(data.range.since), until: day(data.range.until), tz: data.range.tz,
      previous_since: day(data.previous.since), previous_until: day(data.previous.until),
    });
    for (const link of document.querySelectorAll(".reports-csv")) {
      link.href = csvHref(link.dataset.table);
      link.setAttribute("download", "");
    }
    ui.tiles.replaceChildren(...Object.entries(data.kpis).map(([name, kpi]) => tile(name, kpi)));
    drawCharts(data.series);
    drawTables(data.tables);
  }

  function tile(name, kpi) {
    const link = navLink(conversationsHref(kpi.outcome ? { outcome: kpi.outcome } : {}), null, "reports-tile");
    link.dataset.kpi = name;
    const trend = change(name, kpi);
    link.classList.add(`trend-${trend.mood}`);
    link.title = t("reports.tile.previous", { value: formatValue(kpi.previous, kpi.unit),
      since: day(state.report.previous.since), until: day(state.report.previous.until) });
    link.append(
      el("span", "reports-tile-label", t(`reports.kpi.${name}`)),
      el("span", "reports-tile-value", formatValue(kpi.value, kpi.unit)),
      el("span", "reports-tile-change", trend.text),
    );
    return link;
  }

  // The change against the previous period: points for rates, a share of the previous value else.
  function change(name, kpi) {
    if (kpi.value === null || kpi.previous === null) return { text: t("reports.change.none"), mood: "neutral" };
    const diff = kpi.value - kpi.previous;
    let amount;
    if (kpi.unit === "percent") {
      amount = t("reports.change.points", { delta: numberFormat({ maximumFractionDigits: 1, signDisplay: "exceptZero" }).format(diff) });
    } else if (kpi.previous === 0) {
      amount = kpi.unit === "seconds" ? duration(diff, true) : numberFormat({ maximumFractionDigits: 2, signDisplay: "exceptZero" }).format(diff);
    } else {
      amount = numberFormat({ style: "percent", maximumFractionDigits: 0, signDisplay: "exceptZero" }).format(diff / kpi.previous);
    }
    const good = GOOD_WHEN_UP[name];
    const mood = diff === 0 || good === undefined ? "neutral" : (diff > 0) === good ? "better" : "worse";
    return { text: t("reports.change.vs_previous", { change: amount }), mood };
  }

  // ---------------------------------------------------------------- charts

  function chart(name) {
    const node = $(`.reports-chart[data-chart="${name}"]`);
    let instance = echarts.getInstanceByDom(node);
    if (!instance) {
      instance = echarts.init(node, null, { renderer: "canvas", locale: language() === "zh" ? "ZH" : "EN" });
      instance.on("click", (params) => chartClicked(name, params));
    }
    node.setAttribute("aria-label", t(`reports.chart.${name}`));
    return instance;
  }

  window.addEventListener("resize", () => {
    for (const node of document.querySelectorAll(".reports-chart")) {
      const instance = echarts.getInstanceByDom(node);
      if (instance) instance.resize();
    }
  });

  // Tooltips drawn on the canvas: an HTML tooltip would need inline styles (CSP) and markup.
  const base = (trigger = "axis") => ({
    animation: false,
    aria: { enabled: true },
    tooltip: { trigger, renderMode: "richText", confine: true },
    grid: { left: 8, right: 16, top: 40, bottom: 8, containLabel: true },
  });

  function bars(names, values, colour) {
    return {
      ...base(),
      xAxis: { type: "category", data: names },
      yAxis: { type: "value", minInterval: 1 },
      series: [{ type: "bar", data: values, itemStyle: { color: colour }, label: { show: true, position: "top" }, cursor: "pointer" }],
    };
  }

  function drawCharts(series) {
    const days = series.daily.map((row) => day(row.date, { month: "short", day: "numeric" }));
    chart("daily").setOption({
      ...base(),
      legend: { top: 0 },
      xAxis: { type: "category", data: days, boundaryGap: false },
      yAxis: { type: "value", minInterval: 1 },
      series: OUTCOMES.map((outcome) => ({
        id: outcome, name: t(`reports.outcome.${outcome}`), type: "line", symbolSize: 7,
        itemStyle: { color: OUTCOME_COLOURS[outcome] }, data: series.daily.map((row) => row[outcome]),
      })),
    }, true);
    chart("messages").setOption({
      ...bars(days, series.daily.map((row) => row.customer_messages), "#0891b2"),
      series: [{ type: "bar", name: t("reports.series.customer_messages"), data: series.daily.map((row) => row.customer_messages), itemStyle: { color: "#0891b2" } }],
    }, true);

    const hours = [...Array(24).keys()];
    const most = Math.max(1, ...series.heatmap.map((cell) => cell.conversations));
    chart("heatmap").setOption({
      ...base("item"),
      tooltip: { trigger: "item", renderMode: "richText", confine: true,
        formatter: (p) => t("reports.heatmap.cell", { weekday: weekday(p.value[1]), hour: count(p.value[0]), conversations: count(p.value[2]) }) },
      grid: { left: 8, right: 16, top: 8, bottom: 48, containLabel: true },
      xAxis: { type: "category", data: hours.map((h) => count(h)), splitArea: { show: true } },
      yAxis: { type: "category", data: [...Array(7).keys()].map(weekday), inverse: true, splitArea: { show: true } },
      visualMap: { min: 0, max: most, orient: "horizontal", left: "center", bottom: 0, itemHeight: 120, calculable: false,
        inRange: { color: ["#f1f5f9", "#93c5fd", "#1d4ed8"] } },
      series: [{ type: "heatmap", name: t("reports.series.conversations"),
        data: series.heatmap.map((cell) => [cell.hour, cell.weekday, cell.conversations]) }],
    }, true);

    const scores = ["1", "2", "3", "4", "5"];
    chart("csat").setOption(bars(scores.map((s) => t("reports.rating.stars", { score: s })),
      scores.map((s) => series.csat_distribution[s] || 0), "#f59e0b"), true);
    const bandNames = [...BANDS, ...Object.keys(series.bands).filter((b) => !BANDS.includes(b))];
    chart("bands").setOption(bars(bandNames.map((b) => t(`reports.band.${b}`)), bandNames.map((b) => series.bands[b] || 0), "#6366f1"), true);
    const reasons = Object.keys(series.escalation_reasons);
    chart("reasons").setOption(bars(reasons.map((r) => t(`reports.reason.${r}`)), reasons.map((r) => series.escalation_reasons[r]), "#2563eb"), true);
  }

  // A point of a chart leads to its conversations, where the list can filter by it.
  function chartClicked(name, params) {
    const daily = state.report && state.report.series.daily;
    let extra = null;
    if (name === "daily" && daily[params.dataIndex]) {
      const date = daily[params.dataIndex].date;
      extra = { since: date, until: date, outcome: params.seriesId };
    } else if (name === "messages" && daily[params.dataIndex]) {
      const date = daily[params.dataIndex].date;
      extra = { since: date, until: date };
    } else if (name === "csat") {
      extra = { rating: String(params.dataIndex + 1) };
    } else if (name === "reasons") {
      extra = { outcome: "escalated" };
    }
    if (extra) go(conversationsHref(extra), false);
  }

  // ---------------------------------------------------------------- tables

  function table(columns, rows) {
    if (!rows.length) return el("p", "reports-table-body reports-empty", t("reports.table.empty"));
    const wrap = el("div", "reports-table-body");
    const grid = el("table", "reports-table");
    const head = el("tr");
    for (const column of columns) head.append(el("th", column.numeric ? "num" : null, t(column.label)));
    const body = el("tbody");
    for (const row of rows) {
      const line = el("tr");
      for (const column of columns) {
        const value = column.cell(row);
        const cell = el("td", column.numeric ? "num" : null);
        cell.append(value instanceof Node ? value : el("span", null, value));
        line.append(cell);
      }
      body.append(line);
    }
    grid.append(el("thead"), body);
    grid.tHead.append(head);
    wrap.append(grid);
    return wrap;
  }

  function fillTable(name, columns, rows) {
    const block = $(`.reports-table-block[data-table="${name}"]`);
    const old = block.querySelector(".reports-table-body");
    if (old) old.remove();
    block.append(table(columns, rows));
  }

  function articleCell(row) {
    const cell = navLink(conversationsHref({ article_id: row.article_id }), null, "reports-article");
    cell.append(el("span", "reports-article-title", row.title || row.article_id));
    if (row.title && row.title !== row.article_id) cell.append(el("code", "reports-article-id", row.article_id));
    return cell;
  }

  function drawTables(tables) {
    const articles = [
      { label: "reports.column.article", cell: articleCell },
      { label: "reports.column.offered", numeric: true, cell: (r) => navLink(conversationsHref({ article_id: r.article_id }), count(r.offered)) },
      { label: "reports.column.helpful", numeric: true, cell: (r) => count(r.helpful) },
      { label: "reports.column.not_helpful", numeric: true, cell: (r) => count(r.not_helpful) },
    ];
    fillTable("top_articles", articles, tables.top_articles);
    fillTable("not_helpful_articles", articles, tables.not_helpful_articles);
    fillTable("unanswered", [
      { label: "reports.column.question", cell: (r) => navLink(conversationsHref({ q: r.question.slice(0, 200) }), r.question) },
      { label: "reports.column.count", numeric: true, cell: (r) => count(r.count) },
      { label: "reports.column.language", cell: (r) => t(`reports.language.${r.language}`) },
    ], tables.unanswered);
    fillTable("agents", [
      { label: "reports.column.agent", cell: (r) => navLink(conversationsHref({ agent_id: String(r.agent_id) }), r.name, "reports-agent-link") },
      { label: "reports.column.handoffs", numeric: true,
        cell: (r) => navLink(conversationsHref({ agent_id: String(r.agent_id), outcome: "escalated" }), count(r.handoffs)) },
      { label: "reports.column.resolved", numeric: true, cell: (r) => count(r.resolved) },
      { label: "reports.column.first_response", numeric: true, cell: (r) => formatValue(r.first_response_p50_s, "seconds") },
      { label: "reports.column.csat", numeric: true,
        cell: (r) => (r.csat_count ? t("reports.csat_of", { mean: formatValue(r.csat_mean, "score"), count: count(r.csat_count) }) : "–") },
    ], tables.agents);
    fillTable("channels", [
      { label: "reports.filter.channel", cell: (r) => navLink(conversationsHref({ channel: r.channel }), t(`reports.channel.${r.channel}`)) },
      { label: "reports.column.conversations", numeric: true, cell: (r) => navLink(conversationsHref({ channel: r.channel }), count(r.conversations)) },
      { label: "reports.column.contained", numeric: true,
        cell: (r) => navLink(conversationsHref({ channel: r.channel, outcome: "contained" }), share(r.contained, r.containment_rate)) },
      { label: "reports.column.escalated", numeric: true,
        cell: (r) => navLink(conversationsHref({ channel: r.channel, outcome: "escalated" }), share(r.escalated, r.escalation_rate)) },
      { label: "reports.column.csat", numeric: true,
        cell: (r) => (r.csat_count ? t("reports.csat_of", { mean: formatValue(r.csat_mean, "score"), count: count(r.csat_count) }) : "–") },
    ], tables.channels || []);
    fillTable("csat_comments", [
      { label: "reports.column.when", cell: (r) => moment(r.created_at) },
      { label: "reports.column.score", numeric: true, cell: (r) => navLink(conversationsHref({ rating: String(r.score) }), count(r.score)) },
      { label: "reports.column.resolved_by", cell: (r) => t(`reports.resolved_by.${r.resolved_by}`) },
      { label: "reports.column.comment", cell: (r) => navLink(conversationsHref({ id: r.conversation_id }), r.comment, "reports-comment") },
    ], tables.csat_comments);
  }

  // ---------------------------------------------------------------- every conversation

  async function loadList(filters) {
    const key = queryOf(filters, [...COMMON, ...LIST_ONLY]);
    if (state.listKey !== key) {
      state.list = [];
      state.cursor = null;
      state.listKey = key;
      ui.list.replaceChildren();
      ui.listHead.textContent = t("console.loading");
      await fetchPage(false);
    } else {
      renderList();
    }
    if (filters.id && (!state.detail || state.detail.conversation.id !== filters.id)) openConversation(filters.id);
    else if (!filters.id && state.detail) clearDetail();
  }

  async function fetchPage(more) {
    const seq = ++state.listSeq;
    const key = state.listKey;
    const query = `${key ? `${key}&` : ""}limit=${PAGE_SIZE}${more && state.cursor ? `&cursor=${encodeURIComponent(state.cursor)}` : ""}`;
    ui.more.disabled = true;
    let data;
    try {
      data = await api("GET", `/reports/conversations?${query}`);
    } catch (error) {
      if (seq !== state.listSeq) return;
      ui.more.disabled = false;
      ui.listHead.textContent = "";
      if (error.status === 403) notSupervisor();
      else fail(error);
      return;
    }
    if (seq !== state.listSeq || key !== state.listKey) return;
    KefuConsole.clearError();
    state.list = more ? [...state.list, ...data.items] : data.items;
    state.cursor = data.next_cursor;
    ui.more.disabled = false;
    renderList();
  }

  ui.more.addEventListener("click", () => fetchPage(true));

  function renderList() {
    if (state.listKey === null) return;
    const open = state.detail && state.detail.conversation.id;
    KefuConsole.redrawList(ui.list, state.list.map((row) => listItem(row, row.id === open)), "conversationId");
    ui.listEmpty.hidden = state.list.length > 0;
    ui.more.hidden = !state.cursor;
    ui.listHead.textContent = state.cursor
      ? t("reports.list.shown_more", { count: count(state.list.length) })
      : t("reports.list.shown", { count: count(state.list.length) });
  }

  function outcomeBadge(outcome) {
    return el("span", `console-badge reports-outcome-badge outcome-${outcome}`, t(`reports.outcome.${outcome}`));
  }

  function listItem(row, selected) {
    const item = el("li", "console-list-item reports-item");
    item.dataset.conversationId = row.id;
    item.tabIndex = 0;
    item.setAttribute("role", "button");
    KefuConsole.markSelected(item, selected);
    const top = el("div", "reports-item-top");
    top.append(el("span", "reports-item-when", moment(row.started_at)), outcomeBadge(row.outcome));
    if (row.language) top.append(el("span", `console-badge console-lang lang-${row.language}`, t(`reports.language.${row.language}`)));
    if (row.rating) top.append(el("span", "reports-item-rating", t("reports.rating.stars", { score: row.rating })));
    const meta = el("div", "reports-item-meta");
    const messages = row.customer_messages === 1 ? "reports.list.message" : "reports.list.messages";
    meta.append(el("span", null, t(`reports.channel.${row.channel}`)), " · ",
      el("span", null, t(messages, { count: count(row.customer_messages) })));
    if (row.agent_name) meta.append(" · ", el("span", "reports-item-agent", row.agent_name));
    item.append(top, el("div", "reports-item-text", row.first_message || "–"), meta);
    return item;
  }

  KefuConsole.activateItems(ui.list, ".reports-item", (item) => {
    const filters = { ...addressFilters(), id: item.dataset.conversationId };
    go(`/conversations?${queryOf(filters, [...COMMON, ...LIST_ONLY, "id"])}`, true);
  });

  function clearDetail() {
    state.detailSeq += 1;
    state.detail = null;
    ui.detail.replaceChildren(el("p", "reports-placeholder", t("reports.detail.placeholder")));
    for (const item of ui.list.children) KefuConsole.markSelected(item, false);
  }

  async function openConversation(id) {
    const seq = ++state.detailSeq;
    ui.detail.replaceChildren(el("p", "reports-placeholder", t("console.loading")));
    let data;
    try {
      data = await api("GET", `/reports/conversations/${encodeURIComponent(id)}`);
    } catch (error) {
      if (seq !== state.detailSeq) return;
      ui.detail.replaceChildren(el("p", "reports-placeholder", error.message));
      if (error.status === 403) notSupervisor();
      else if (error.status !== 404) fail(error);
      return;
    }
    if (seq !== state.detailSeq) return;
    state.detail = data;
    for (const item of ui.list.children) KefuConsole.markSelected(item, item.dataset.conversationId === id);
    renderDetail(data);
  }

  function renderDetail(data) {
    const c = data.conversation;
    const view = el("article", "reports-conversation");
    const head = el("div", "reports-detail-head");
    const facts = el("dl", "reports-facts");
    const fact = (label, value) => {
      const dd = el("dd");
      dd.append(value instanceof Node ? value : el("span", null, value));
      facts.append(el("dt", null, t(label)), dd);
    };
    fact("reports.detail.started", moment(c.started_at));
    fact("reports.detail.outcome", outcomeBadge(c.outcome));
    fact("reports.filter.language", c.language ? t(`reports.language.${c.language}`) : "–");
    fact("reports.filter.channel", t(`reports.channel.${c.channel}`));
    fact("reports.filter.rating", data.rating ? t("reports.rating.stars", { score: data.rating.score }) : "–");
    if (c.agent_name) fact("reports.filter.agent", c.agent_name);
    fact("reports.detail.id", el("code", null, c.id));
    head.append(el("h2", "reports-detail-title", t("reports.detail.title")), el("p", "reports-read-only", t("reports.detail.read_only")), facts);

    const transcript = el("ol", "reports-transcript");
    for (const message of data.messages) {
      const sender = ["customer", "bot", "agent", "system"].includes(message.sender) ? message.sender : "system";
      const item = el("li", `reports-msg from-${sender}`);
      const meta = el("div", "reports-msg-meta");
      meta.append(el("span", "reports-msg-sender", t(`reports.sender.${sender}`)), el("span", null, moment(message.created_at, { timeStyle: "medium" })));
      item.append(meta, el("div", "reports-msg-text", message.text));
      transcript.append(item);
    }
    const conversation = block("reports.detail.transcript", transcript, "reports-transcript-block");
    const trail = block("reports.detail.trail", trailList(data), "reports-trail-block");
    view.append(head, conversation, trail);
    if (data.rating) {
      const rating = el("div", "reports-rating");
      rating.append(
        el("div", null, t("reports.detail.rating_line", { score: data.rating.score, by: t(`reports.resolved_by.${data.rating.resolved_by}`) })),
      );
      if (data.rating.comment) rating.append(el("blockquote", "reports-rating-comment", data.rating.comment));
      view.append(block("reports.detail.rating", rating, "reports-rating-block"));
    }
    ui.detail.replaceChildren(view);
  }

  function block(label, content, className) {
    const section = el("section", `console-block ${className}`);
    section.append(el("h3", null, t(label)), content);
    return section;
  }

  // The bot's trail, in time order: lookups with what they found, feedback, handoffs and notes.
  function trailList(data) {
    const events = [];
    const add = (at, kind, build) => events.push({ at: Date.parse(at) || 0, kind, build });
    for (const lookup of data.lookups) {
      add(lookup.created_at, "lookup", (item) => {
        item.append(el("span", "reports-trail-what", t("reports.trail.lookup")), " ",
          el("q", "reports-trail-question", lookup.question), " ",
          el("span", `console-badge reports-band band-${lookup.band}`, t(`reports.band.${lookup.band}`)));
        if (lookup.intent) item.append(" ", intentLine(lookup.intent, lookup.intent_confidence));
        if (lookup.hits.length) {
          const hits = el("ul", "reports-hits");
          for (const hit of lookup.hits) {
            const line = el("li", "reports-hit");
            line.append(el("code", "reports-hit-article", hit.article_id), " ", el("span", "reports-hit-meta", t("reports.trail.hit", {
              version: hit.version === null ? "–" : count(hit.version),
              score: hit.score === null ? "–" : numberFormat({ minimumFractionDigits: 2, maximumFractionDigits: 2 }).format(hit.score),
            })));
            hits.append(line);
          }
          item.append(hits);
        }
      });
    }
    for (const vote of data.feedback) {
      add(vote.created_at, "feedback", (item) => item.append(
        el("span", `reports-trail-what fb-${vote.helpful ? "helpful" : "not_helpful"}`, t(vote.helpful ? "reports.trail.helpful" : "reports.trail.not_helpful")),
        " ", el("code", null, vote.article_id), " ",
        el("span", "reports-hit-meta", t("reports.trail.version", { version: vote.version === null ? "–" : count(vote.version) }))));
    }
    for (const handoff of data.handoffs) {
      add(handoff.created_at, "handoff", (item) => {
        item.append(el("span", "reports-trail-what",
          t("reports.trail.handoff", { reason: t(`reports.reason.${handoff.reason}`) })));
        if (handoff.intents.length) item.append(packetIntents(handoff.intents));
      });
      const agent = (key, at) => add(at, "handoff", (item) => {
        item.append(el("span", "reports-trail-what", t(key)));
        if (handoff.agent_name) item.append(" ", el("span", "reports-trail-agent", handoff.agent_name));
      });
      if (handoff.claimed_at) agent("reports.trail.claimed", handoff.claimed_at);
      if (handoff.first_response_at) agent("reports.trail.first_response", handoff.first_response_at);
      if (handoff.closed_at) {
        add(handoff.closed_at, "handoff", (item) => item.append(el("span", "reports-trail-what",
          t("reports.trail.closed", { status: t(`reports.handoff_status.${handoff.status}`) }))));
      }
      for (const note of handoff.notes) {
        add(note.created_at, "note", (item) => item.append(el("span", "reports-trail-what", t("reports.trail.note")), " ",
          el("span", "reports-note-text", note.text)));
      }
    }
    events.sort((a, b) => a.at - b.at);
    const list = el("ol", "reports-trail");
    for (const event of events) {
      const item = el("li", `reports-trail-item trail-${event.kind}`);
      item.append(el("time", "reports-trail-when", moment(new Date(event.at).toISOString(), { timeStyle: "medium" })), " ");
      event.build(item);
      list.append(item);
    }
    if (!events.length) list.append(el("li", "reports-empty", t("reports.trail.empty")));
    return list;
  }

  // The intent Rasa read in a message, with its confidence as a percent when it gave one.
  function intentLine(intent, confidence) {
    const line = el("span", "reports-intent");
    line.append(el("span", "reports-hit-meta", t("reports.trail.intent")), " ", el("code", "reports-intent-name", intent));
    if (confidence !== null && confidence !== undefined) {
      line.append(" ", el("span", "reports-hit-meta reports-intent-confidence",
        numberFormat({ style: "percent", maximumFractionDigits: 0 }).format(confidence)));
    }
    return line;
  }

  // What the handoff's packet kept of the conversation: each customer message and its intent.
  function packetIntents(intents) {
    const box = el("div", "reports-packet-intents");
    const list = el("ul", "reports-hits");
    for (const seen of intents) {
      const line = el("li", "reports-packet-intent");
      line.append(intentLine(seen.intent || "–", seen.confidence));
      if (seen.text) line.append(" ", el("q", "reports-trail-question", seen.text));
      list.append(line);
    }
    box.append(el("span", "reports-hit-meta", t("reports.trail.packet_intents")), list);
    return box;
  }

  KefuConsole.start({
    name: "reports", title: "reports.title.login",
    onStart: startApp, onEnd: clearAll, onForbidden: notSupervisor, onLanguage: relanguage,
  });
})();
