/* Kefu (客服) agent console: the queue and the handoff pane. Plain ES2020, no build step.
 *
 * Login, session, the API, sockets and the page's frame come from console.js (KefuConsole).
 * Served at /agent with a strict CSP, so there is no inline script or style anywhere.
 * Customers can type HTML: every server string is written with textContent, never innerHTML.
 */
(function () {
  "use strict";

  const { $, el, button, api, fail, clearError, showError, markSelected, t, locale } = KefuConsole;
  // One element holding several texts (a customer's, a label's), each isolated in its own span.
  const texts = (tag, parts, className) => {
    const node = el(tag, className);
    for (const part of parts) if (part) node.append(el("span", null, part));
    return node;
  };
  // Reasons, senders, statuses and bands are named like the reports name them (texts/staff.py).
  const known = (prefix, value) => { const key = `${prefix}.${value}`; return t(key) !== key; };
  const label = (prefix, value) => (known(prefix, value) ? t(`${prefix}.${value}`) : String(value ?? "?"));
  const reasonOf = (reason) => label("reports.reason", reason);
  const statusOf = (status) => label("reports.handoff_status", status);
  const SENDERS = ["customer", "bot", "agent", "system"];

  const ui = KefuConsole.find("agent", ["conn", "online", "filter", "queue", "queue-empty", "queue-count", "detail",
    "detail-template"]);
  const me = KefuConsole.user;

  const state = {
    rows: [], target: 0 /* first_response_target_s */, selectedId: null, detail: null,
    detailSeq: 0, // answers for a handoff that is no longer on screen are dropped
    seen: new Set(), // message ids already in the transcript
    queueSocket: null, detailSocket: null, queueLoading: false, queueDirty: false,
    ticker: null, typingTimer: null, focusReply: false, conn: "connecting", online: null,
    attached: [], // articles from the knowledge-base panel for the next reply: { id, title }
    pendingResolve: null, // { id, timer }: resolved on screen, sent when the undo window closes
  };
  const MAX_ATTACHED = 3; // the service's MAX_REPLY_ARTICLES
  const UNDO_MS = 10000;

  // ---------------------------------------------------------------- formatting

  // Numbers and times in the staff member's locale (console.js locale()).
  const num = (value, digits = 2) => (typeof value === "number"
    ? new Intl.NumberFormat(locale(), { minimumFractionDigits: digits, maximumFractionDigits: digits }).format(value) : "–");
  const pad = (n) => String(n).padStart(2, "0");
  const clock = (seconds) => {
    const s = Math.max(0, Math.floor(seconds));
    return `${pad(Math.floor(s / 60))}:${pad(s % 60)}`;
  };
  const timeOf = (iso) => {
    const date = new Date(iso);
    return isNaN(date) ? "" : date.toLocaleTimeString(locale(), { hour: "2-digit", minute: "2-digit" });
  };

  // ---------------------------------------------------------------- session

  function startApp() {
    setConn("connecting");
    // This socket also marks the agent online, so it stays open for the whole session.
    state.queueSocket = KefuConsole.liveSocket("/agent/ws", {
      onFrame: (frame) => {
        if (frame.type === "ready") setConn("live"); // and refetch: changes may have been missed
        if (frame.type === "ready" || frame.type === "queue_changed") loadQueue();
      },
      onDown: () => setConn("down"),
      onRefused: notAgent,
    });
    loadQueue();
    loadPresence();
    if (!state.ticker) state.ticker = setInterval(tick, 1000);
  }

  function stopSockets() {
    if (state.queueSocket) state.queueSocket.stop();
    state.queueSocket = null;
    unwatchHeld();
    clearDetail();
  }

  function loggedOut() {
    stopSockets();
    clearInterval(state.ticker);
    state.ticker = null;
    state.rows = [];
    ui.queue.replaceChildren();
  }

  function notAgent() {
    stopSockets();
    KefuConsole.refuse(t("agent.refused"));
    setConn("offline");
  }

  function setConn(mode) {
    state.conn = mode;
    ui.conn.textContent = t(`agent.conn.${mode}`);
    ui.conn.className = `agent-conn conn-${mode}`;
  }

  // ---------------------------------------------------------------- presence

  // The agent's own status (online takes new chats; away keeps theirs and takes none).
  const presence = $(".agent-presence");

  async function loadPresence() {
    try {
      presence.value = (await api("GET", "/agents/me/presence")).chosen;
    } catch (error) {
      fail(error);
    }
  }

  presence.addEventListener("change", async () => {
    try {
      await api("PUT", "/agents/me/presence", { status: presence.value });
    } catch (error) {
      fail(error);
      loadPresence();
    }
  });

  // ---------------------------------------------------------------- queue

  // Bursts of queue_changed collapse into the fetch in flight plus at most one more.
  async function loadQueue() {
    if (state.queueLoading) { state.queueDirty = true; return; }
    state.queueLoading = true;
    try {
      do {
        state.queueDirty = false;
        await fetchQueue();
      } while (state.queueDirty && me());
    } finally {
      state.queueLoading = false;
    }
  }

  async function fetchQueue() {
    const filter = ui.filter.value;
    let data;
    try {
      data = await api("GET", `/handoffs?status=${encodeURIComponent(filter)}`);
    } catch (error) {
      if (error.status === 403) notAgent();
      else fail(error);
      return;
    }
    if (filter !== ui.filter.value || !me()) { state.queueDirty = true; return; }
    state.rows = Array.isArray(data.data) ? data.data : []; // keep the server's priority order
    state.target = Number(data.first_response_target_s) || 0;
    state.online = Number(data.agents_online) || 0;
    renderQueue();
    followSelected();
    alertNewChats(filter);
    watchHeld(filter);
  }

  ui.filter.addEventListener("change", () => loadQueue());

  function renderQueue() {
    KefuConsole.redrawList(ui.queue, state.rows.map(queueItem), "handoffId");
    ui.queueEmpty.hidden = state.rows.length > 0;
    ui.queueCount.textContent = `(${num(state.rows.length, 0)})`;
    if (state.online !== null) {
      const plural = new Intl.PluralRules("en").select(state.online) === "one" ? "one" : "other";
      ui.online.textContent = t(`agent.online.${plural}`, { count: num(state.online, 0) });
    }
    const waiting = state.rows.filter((row) => row.status === "waiting").length;
    document.title = waiting ? t("agent.title_waiting", { count: num(waiting, 0) }) : t("agent.title");
    tick();
  }

  function queueItem(row) {
    const item = el("li", `console-list-item agent-queue-item status-${row.status}`);
    item.dataset.handoffId = String(row.id);
    item.tabIndex = 0;
    item.setAttribute("role", "button");
    markSelected(item, row.id === state.selectedId);
    const top = el("div", "agent-qi-top");
    top.append(
      el("span", `console-badge console-lang agent-lang lang-${row.language}`, (row.language || "?").toUpperCase()),
      el("span", "agent-qi-priority", `P${row.priority}`),
      el("span", "agent-qi-status", statusOf(row.status)),
      el("span", "agent-qi-wait", clock(waitOf(row))),
    );
    if (row.channel === "email") top.append(channelBadge(row.channel));
    const meta = el("div", "agent-qi-meta", reasonOf(row.reason));
    if (row.agent_name) meta.append(" · ", el("span", "agent-qi-agent", row.agent_name));
    item.append(top, el("div", "agent-qi-summary", row.summary || t("agent.no_summary")), meta);
    if (row.rating) item.append(ratingView(row.rating, "agent-qi-rating"));
    if (state.pendingResolve && state.pendingResolve.id === row.id) item.classList.add("agent-resolving");
    return item;
  }

  KefuConsole.activateItems(ui.queue, ".agent-queue-item", (item) => select(Number(item.dataset.handoffId)));

  // Waiting ones count up live from created_at; the others show how long they did wait.
  function waitOf(row) {
    const created = Date.parse(row.created_at);
    if (row.status === "waiting" && !isNaN(created)) return (Date.now() - created) / 1000;
    return Number(row.wait_seconds) || 0;
  }

  function slaClass(seconds) {
    const ratio = state.target ? seconds / state.target : 0;
    return ratio < 0.5 ? "sla-ok" : ratio < 1 ? "sla-warn" : "sla-breach";
  }

  function tick() {
    const rows = new Map(state.rows.map((row) => [String(row.id), row]));
    for (const item of ui.queue.children) {
      const row = rows.get(item.dataset.handoffId);
      if (!row) continue;
      const seconds = waitOf(row);
      item.querySelector(".agent-qi-wait").textContent = clock(seconds);
      item.classList.remove("sla-ok", "sla-warn", "sla-breach");
      item.classList.add(slaClass(seconds));
    }
  }

  // The open handoff changed elsewhere (claimed by someone else, closed): reload it.
  function followSelected() {
    const shown = state.detail;
    if (!shown || shown.id !== state.selectedId) return;
    const row = state.rows.find((r) => r.id === shown.id);
    const filter = ui.filter.value;
    const listed = filter === "open" ? ["waiting", "assigned"] : [filter];
    const score = (h) => (h && h.rating ? h.rating.score : null);
    const changed = row ? row.status !== shown.status || row.agent_id !== shown.agent_id || score(row) !== score(shown)
      // A waiting handoff's packet after a new message or lookup (a held one shows its
      // messages live, and a redraw would drop the knowledge-base results the agent reads).
      || (row.status === "waiting" && row.packet_updated_at !== shown.packet_updated_at)
      : listed.includes(shown.status);
    if (changed) loadDetail(shown.id, true);
  }

  // ---------------------------------------------------------------- detail

  function select(id) {
    if (!id) return;
    for (const item of ui.queue.children) markSelected(item, Number(item.dataset.handoffId) === id);
    if (id === state.selectedId && state.detail) return;
    clearDetail(t("console.loading"));
    state.selectedId = id;
    loadDetail(id, false);
  }

  function clearDetail(message) {
    if (state.detailSocket) state.detailSocket.stop();
    state.detailSocket = null;
    state.detailSeq += 1;
    state.selectedId = null;
    state.detail = null;
    state.seen = new Set();
    state.attached = [];
    ui.detail.replaceChildren(el("p", "agent-placeholder", message || t("agent.placeholder")));
  }

  // quiet: a background refresh, whose refusal goes into the pane rather than the banner.
  async function loadDetail(id, quiet) {
    const seq = ++state.detailSeq;
    let data;
    try {
      data = await api("GET", `/handoffs/${id}`);
    } catch (error) {
      if (seq !== state.detailSeq) return;
      if (error.status === 403 || error.status === 404) {
        clearDetail(error.message);
        if (!quiet) showError(error.message);
      } else {
        fail(error);
      }
      return;
    }
    if (seq !== state.detailSeq || state.selectedId !== id) return;
    renderDetail(data);
    if (!state.detailSocket) {
      state.detailSocket = KefuConsole.liveSocket(`/handoffs/${id}/ws`, {
        onFrame: (frame) => {
          if (frame.type === "ready") catchUp(id); // messages sent between our fetch and the subscription
          else if (frame.type === "message") {
            appendMessage(frame.message);
            // The socket carries the widget's frame; the mail behind a message is the handoff's.
            if (frame.message && frame.message.sender === "customer" && state.detail && state.detail.contact_email) catchUp(id);
          }
          else if (frame.type === "typing" && frame.from === "customer") showTyping(Boolean(frame.active));
        },
        onRefused: () => { state.detailSocket = null; },
      });
    }
  }

  async function catchUp(id) {
    try {
      const data = await api("GET", `/handoffs/${id}`);
      if (state.selectedId !== id || !state.detail) return;
      for (const m of data.messages || []) {
        // A message first drawn from the socket gets its mail now.
        const drawn = m.email && ui.detail.querySelector(`.agent-msg[data-message-id="${Number(m.id)}"]`);
        if (drawn && !drawn.querySelector(".agent-mail-toggle")) drawn.replaceWith(messageItem(m));
        else appendMessage(m);
      }
    } catch (_) { /* the next queue refresh reports anything lasting */ }
  }

  // The holder's controls; an admin may step in on anyone's handoff (the service's may_act).
  const holds = (data) =>
    data.status === "assigned" && Boolean(me()) && (data.agent_id === me().id || me().role === "admin");

  function renderDetail(data) {
    // Keep whatever the agent was typing when the same handoff is redrawn.
    const same = state.detail && state.detail.id === data.id;
    const drafts = [".agent-reply", ".agent-note", ".agent-kb-query"]
      .map((name) => [name, same && $(name, ui.detail)]).filter(([, field]) => field).map(([name, f]) => [name, f.value]);
    state.detail = data;
    state.seen = new Set();
    const packet = data.packet || {};
    const view = ui.detailTemplate.content.cloneNode(true);
    KefuConsole.translate(view);
    $(".agent-summary", view).textContent = data.summary || packet.summary || t("agent.no_summary");
    fillFacts($(".agent-facts", view), data, packet);
    fillArticles($(".agent-articles", view), packet.articles || []);
    fillSentiment($(".agent-sentiment", view), packet.sentiment || []);
    for (const i of packet.intents || []) {
      $(".agent-intents", view).append(texts("li", [i.text, ` → ${i.intent} (${num(i.confidence)})`]));
    }
    for (const note of data.notes || []) $(".agent-notes", view).append(noteItem(note));
    if (data.status !== "waiting") $(".agent-claim", view).remove();
    if (!holds(data)) $(".agent-holder", view).remove();
    else if (state.pendingResolve && state.pendingResolve.id === data.id) $(".agent-holder", view).hidden = true;
    if (!same) state.attached = [];
    if (!same) state.customerTypingUntil = 0;
    ui.detail.replaceChildren(view);
    drawAttached();
    drawTyping();

    for (const message of data.messages || []) appendMessage(message, false);
    const transcript = $(".agent-transcript", ui.detail);
    transcript.scrollTop = transcript.scrollHeight;
    for (const [name, value] of drafts) {
      const field = $(name, ui.detail);
      if (field) field.value = value;
    }
    const reply = $(".agent-reply", ui.detail);
    if (reply && state.focusReply) { state.focusReply = false; reply.focus(); }
  }

  function fillFacts(list, data, packet) {
    const add = (term, value) => {
      if (value === undefined || value === null || value === "") return;
      const dd = value instanceof Node ? el("dd") : el("dd", null, value);
      if (value instanceof Node) dd.append(value);
      list.append(el("dt", null, term), dd);
    };
    const customer = packet.customer || {};
    const email = data.customer_email || data.contact_email || customer.email;
    const name = data.customer_name || customer.name;
    add(t("agent.fact.customer"), name || email ? texts("span", [name, email && " <", email, email && ">"]) : t("agent.anonymous"));
    add(t("agent.fact.channel"), channelBadge(data.channel || "widget"));
    add(t("agent.fact.reason"), reasonOf(data.reason));
    add(t("agent.fact.language"), label("editor.language", data.language));
    const status = statusOf(data.status);
    add(t("agent.fact.status"), data.agent_name ? texts("span", [`${status} · `, data.agent_name]) : status);
    const parts = data.priority_parts || {};
    const why = ["reason", "upset", "topic", "waiting"].filter((k) => parts[k] !== undefined)
      .map((k) => t(`agent.priority.${k}`, { points: num(parts[k], 0) }));
    const joined = new Intl.ListFormat(locale(), { style: "narrow", type: "unit" });
    add(t("agent.fact.priority"), why.length ? t("agent.priority.parts", { priority: num(data.priority, 0), parts: joined.format(why) })
      : num(data.priority, 0));
    add(t("agent.fact.sentiment"), num(data.sentiment));
    if (data.status === "resolved") add(t("agent.fact.rating"), data.rating ? ratingView(data.rating, "agent-rating") : t("agent.rating.none"));
  }

  // The customer's stars (read out as "4 of 5") and comment.
  function ratingView(rating, className) {
    const score = Math.max(0, Math.min(5, Math.round(Number(rating.score) || 0)));
    const view = el("span", className);
    const stars = el("span", "agent-stars", "★".repeat(score) + "☆".repeat(5 - score));
    stars.setAttribute("role", "img");
    stars.setAttribute("aria-label", t("agent.rating.score", { score: num(score, 0) }));
    stars.title = stars.getAttribute("aria-label");
    view.append(stars);
    if (rating.comment) view.append(" ", el("span", "agent-rating-comment", rating.comment));
    return view;
  }

  function fillArticles(list, articles) {
    for (const a of articles) {
      const item = el("li");
      item.append(
        el("span", "agent-article-title", a.title || a.article_id),
        el("span", "agent-article-meta", ` ${num(a.score)} · ${label("reports.band", a.band)} · `),
        el("span", `agent-feedback fb-${a.feedback || "none"}`, label("agent.feedback", a.feedback || "none")),
      );
      if (a.question) item.title = t("agent.article.asked", { question: a.question });
      list.append(item);
    }
  }

  // One bar per customer message: up from the middle line when positive, down when negative.
  function fillSentiment(chart, points) {
    const scores = new Intl.ListFormat(locale(), { style: "narrow", type: "unit" }).format(points.map((p) => num(p.score)));
    chart.setAttribute("aria-label", t("agent.sentiment.label", { scores: scores || t("agent.sentiment.none") }));
    for (const point of points) {
      const score = Math.max(-1, Math.min(1, Number(point.score) || 0));
      const bar = el("span", `agent-sent-bar ${score < -0.2 ? "neg" : score > 0.2 ? "pos" : "neu"}`);
      bar.title = point.text ? `${num(score)} · ${point.text}` : num(score);
      const fill = el("span", "agent-sent-fill");
      fill.style.height = `${Math.max(4, Math.abs(score) * 50)}%`; // CSSOM writes are allowed by the CSP
      bar.append(fill);
      chart.append(bar);
    }
  }

  function noteItem(note) {
    const item = el("li", "agent-note-item");
    item.append(
      texts("span", [note.author || "?", ` · ${timeOf(note.created_at)}`], "agent-note-meta"),
      el("div", "agent-note-text", note.text),
    );
    return item;
  }

  // Where the customer writes from (docs/email.md): a badge in the queue and the facts.
  function channelBadge(channel) {
    const known = channel === "email" ? "email" : "widget";
    return el("span", `console-badge agent-channel channel-${known}`, t(`agent.channel.${known}`));
  }

  // How a message went out by email: queued, sent to the mail server at …, failed, or not
  // mailed because the widget showed it.
  function deliveryText(delivery) {
    const values = { to: delivery.to, time: delivery.sent_at ? timeOf(delivery.sent_at) : "", error: delivery.error || "" };
    const key = ["queued", "sent", "failed", "cancelled"].includes(delivery.status) ? delivery.status : "queued";
    return t(`agent.mail.${key}`, values);
  }

  function drawDelivery(item, delivery) {
    let line = $(".agent-msg-mail", item);
    if (!delivery) { if (line) line.remove(); return; }
    if (!line) { line = el("div", "agent-msg-mail"); item.append(line); }
    line.textContent = deliveryText(delivery);
    line.className = `agent-msg-mail mail-${delivery.status}`;
  }

  // While a conversation with an address is open, its mail states are read again every few
  // seconds (a reply waits its grace period, then goes).
  async function refreshDeliveries() {
    const detail = state.detail;
    if (!detail || !detail.contact_email || document.hidden) return;
    try {
      const data = await api("GET", `/handoffs/${detail.id}`);
      if (state.detail !== detail) return;
      detail.deliveries = data.deliveries || {};
      for (const item of ui.detail.querySelectorAll(".agent-msg")) {
        drawDelivery(item, detail.deliveries[item.dataset.messageId]);
      }
    } catch (_) { /* the next round tries again */ }
  }
  setInterval(refreshDeliveries, 5000);

  function messageItem(message) {
    const sender = SENDERS.includes(message.sender) ? message.sender : "system";
    const item = el("li", `agent-msg from-${sender}`);
    item.dataset.messageId = String(message.id);
    const meta = el("div", "agent-msg-meta");
    meta.append(el("span", "agent-msg-sender", t(`reports.sender.${sender}`)), el("span", "agent-msg-time", timeOf(message.created_at)));
    const mail = message.email && typeof message.email === "object" ? message.email : null;
    if (mail) meta.append(el("span", "console-badge agent-channel channel-email agent-mail-marker", t("agent.email.marker")));
    item.append(meta);
    if (mail) item.append(texts("div", [t("agent.email.subject"), mail.subject || t("agent.email.no_subject")], "agent-mail-subject"));
    item.append(el("div", "agent-msg-text", message.text));
    if (mail) item.append(...mailParts(mail, message.id));
    // What the bot offered, as plain text: the agent needs to know, not to click it.
    const titles = (list) => (Array.isArray(list) ? list.map((x) => x.title || x.label).filter(Boolean) : []);
    const buttons = titles(message.buttons);
    const articles = titles(message.articles);
    const listed = (label, titles) => texts("div", [label, ...titles.flatMap((title, i) => (i ? [" · ", title] : [title]))], "agent-msg-extra");
    if (buttons.length) item.append(listed(t("agent.msg.buttons"), buttons));
    if (articles.length) item.append(listed(t("agent.msg.articles"), articles));
    const deliveries = (state.detail && state.detail.deliveries) || {};
    drawDelivery(item, deliveries[String(message.id)]);
    return item;
  }

  // A file size as people read it: 512 B, 12 kB, 3.4 MB, in the staff member's locale.
  function humanSize(bytes) {
    const size = Math.max(0, Number(bytes) || 0);
    const [value, unit] = size < 1024 ? [size, "byte"] : size < 1024 * 1024 ? [size / 1024, "kilobyte"] : [size / 1024 / 1024, "megabyte"];
    return new Intl.NumberFormat(locale(), { style: "unit", unit, unitDisplay: "short", maximumFractionDigits: 1 }).format(value);
  }

  // The mail a customer message came from (docs/email.md): its attachments listed as text
  // (Kefu keeps none: never a link), and behind a toggle the whole mail, quoted history and
  // signature included, as text.
  function mailParts(mail, messageId) {
    const parts = [];
    const files = Array.isArray(mail.attachments) ? mail.attachments.filter((a) => a && typeof a === "object") : [];
    if (files.length) {
      const box = el("div", "agent-mail-attachments");
      const list = el("ul", "agent-mail-files");
      for (const file of files) {
        const item = el("li", "agent-mail-file");
        item.append(el("span", "agent-mail-file-name", String(file.name || "?")), " ",
          el("span", "agent-mail-file-meta", `${String(file.content_type || "")} · ${humanSize(file.size)}`));
        list.append(item);
      }
      box.append(el("div", "agent-mail-files-label", t("agent.email.attachments")), list,
        el("div", "agent-mail-files-note", t("agent.email.attachments_note")));
      parts.push(box);
    }
    const whole = el("div", "agent-mail-whole");
    whole.id = `agent-mail-${messageId}`;
    whole.hidden = true;
    if (mail.from) whole.append(texts("div", [t("agent.email.from"), String(mail.from)], "agent-mail-from"));
    whole.append(el("pre", "agent-mail-text", String(mail.text || "")));
    const toggle = button("agent-mail-toggle", t("agent.email.show"));
    toggle.setAttribute("aria-expanded", "false");
    toggle.setAttribute("aria-controls", whole.id);
    parts.push(toggle, whole);
    return parts;
  }

  function toggleMail(toggle) {
    const whole = document.getElementById(toggle.getAttribute("aria-controls"));
    if (!whole) return;
    whole.hidden = !whole.hidden;
    toggle.setAttribute("aria-expanded", String(!whole.hidden));
    toggle.textContent = t(whole.hidden ? "agent.email.show" : "agent.email.hide");
  }

  // Messages come from the fetch, the socket and our own POST: keep each once, in id order.
  function appendMessage(message, scroll = true) {
    const transcript = $(".agent-transcript", ui.detail);
    if (!transcript || !message || state.seen.has(message.id)) return;
    state.seen.add(message.id);
    const nearBottom = transcript.scrollHeight - transcript.scrollTop - transcript.clientHeight < 60;
    const later = [...transcript.children].find((li) => Number(li.dataset.messageId) > message.id);
    transcript.insertBefore(messageItem(message), later || null);
    if (message.sender === "customer") showTyping(false);
    if (scroll && (nearBottom || message.sender === "agent")) transcript.scrollTop = transcript.scrollHeight;
  }

  // The customer's typing; kept in state, so a redraw of the pane (a claim, a new packet)
  // shows it still.
  function showTyping(active) {
    state.customerTypingUntil = active ? Date.now() + 8000 : 0;
    drawTyping();
  }

  function drawTyping() {
    const typing = $(".agent-typing", ui.detail);
    if (!typing) return;
    const left = (state.customerTypingUntil || 0) - Date.now();
    typing.hidden = left <= 0;
    clearTimeout(state.typingTimer);
    if (left > 0) state.typingTimer = setTimeout(drawTyping, left);
  }

  // ---------------------------------------------------------------- typing and notifications

  // The agent's typing, to the customer (docs/handoff.md): "active" at most every 2.5 s while
  // keys come, then false after 4 s without one or when the reply goes.
  const typing = { sentAt: 0, idle: null };

  function sendTyping(active) {
    const ws = state.detailSocket && state.detailSocket.ws;
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: "typing", active }));
  }

  function agentTyping() {
    if (!state.detail || !holds(state.detail)) return;
    const now = Date.now();
    if (now - typing.sentAt > 2500) { typing.sentAt = now; sendTyping(true); }
    clearTimeout(typing.idle);
    typing.idle = setTimeout(agentStoppedTyping, 4000);
  }

  function agentStoppedTyping() {
    clearTimeout(typing.idle);
    if (!typing.sentAt) return;
    typing.sentAt = 0;
    sendTyping(false);
  }

  ui.detail.addEventListener("input", (event) => { if (event.target.matches(".agent-reply")) agentTyping(); });
  ui.detail.addEventListener("submit", (event) => { if (event.target.matches(".agent-reply-form")) agentStoppedTyping(); });

  // A chime and a desktop notification for a new chat in the queue and for a customer's message
  // in a held chat that is not on screen. Permission is asked only when the agent clicks
  // "Enable notifications"; a "denied" is the browser's to undo, so the button just goes.
  const alerts = { waiting: null /* ids seen waiting, once the open queue was read */, audio: null, watchers: new Map() };
  const notifyButton = $(".agent-notify");
  const mayNotify = () => "Notification" in window && Notification.permission === "granted";

  function drawNotifyButton() {
    notifyButton.hidden = !("Notification" in window) || Notification.permission !== "default";
  }

  notifyButton.addEventListener("click", async () => {
    unlockSound();
    try { await Notification.requestPermission(); } catch (_) { /* the answer stays "default" */ }
    drawNotifyButton();
  });
  drawNotifyButton();

  // Browsers let a page play sound only after a click, so the audio context waits for one.
  function unlockSound() {
    if (alerts.audio || !window.AudioContext) return;
    try { alerts.audio = new AudioContext(); } catch (_) { /* no sound: the notification alone */ }
  }
  document.addEventListener("pointerdown", unlockSound);

  // Two short tones from the Web Audio API: no sound file to ship.
  function chime() {
    const audio = alerts.audio;
    if (!audio) return;
    const start = audio.currentTime;
    const gain = audio.createGain();
    gain.connect(audio.destination);
    gain.gain.setValueAtTime(0.0001, start);
    gain.gain.exponentialRampToValueAtTime(0.2, start + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, start + 0.45);
    [880, 1320].forEach((hertz, i) => {
      const tone = audio.createOscillator();
      tone.frequency.value = hertz;
      tone.connect(gain);
      tone.start(start + i * 0.12);
      tone.stop(start + 0.45);
    });
  }

  function notify(title, body, tag, id) {
    chime();
    if (!mayNotify()) return;
    try {
      // A notification's body is plain text: a customer's markup shows as typed.
      const note = new Notification(title, { body: String(body || "").slice(0, 200), tag });
      note.onclick = () => { window.focus(); select(id); note.close(); };
    } catch (_) { /* e.g. Android Chrome, which allows them only from a service worker */ }
  }

  // (a) A chat that joins the waiting queue, once; the first read only learns what is there.
  function alertNewChats(filter) {
    if (filter !== "open") return;
    const first = alerts.waiting === null;
    if (first) alerts.waiting = new Set();
    for (const row of state.rows) {
      if (row.status !== "waiting" || alerts.waiting.has(row.id)) continue;
      alerts.waiting.add(row.id);
      if (!first) notify(t("agent.notify.new_chat"), row.summary, `kefu-chat-${row.id}`, row.id);
    }
  }

  // (b) Each chat this agent holds has a listening socket (a few: the open-chats limit); a
  // customer's message notifies unless that chat is on screen in a visible page.
  function watchHeld(filter) {
    if (filter !== "open" || !me()) return;
    const held = new Set(state.rows.filter((row) => row.status === "assigned" && row.agent_id === me().id).map((row) => row.id));
    for (const [id, socket] of alerts.watchers) {
      if (!held.has(id)) { socket.stop(); alerts.watchers.delete(id); }
    }
    for (const id of held) {
      if (alerts.watchers.has(id)) continue;
      alerts.watchers.set(id, KefuConsole.liveSocket(`/handoffs/${id}/ws`, {
        onFrame: (frame) => heard(id, frame),
        onRefused: () => alerts.watchers.delete(id),
      }));
    }
  }

  function heard(id, frame) {
    const message = frame.type === "message" ? frame.message : null;
    if (!message || message.sender !== "customer") return;
    if (!document.hidden && state.selectedId === id) return;
    notify(t("agent.notify.new_message"), message.text, `kefu-message-${id}`, id);
  }

  function unwatchHeld() {
    for (const socket of alerts.watchers.values()) socket.stop();
    alerts.watchers.clear();
  }

  // ---------------------------------------------------------------- actions

  // The pane is redrawn often, so its controls are handled here once, by delegation.
  ui.detail.addEventListener("click", (event) => {
    const target = event.target.closest("button");
    if (!target || !state.detail) return;
    const id = state.detail.id;
    if (target.matches(".agent-claim")) claim(id, target);
    else if (target.matches(".agent-resolve")) resolveLater(id);
    else if (target.matches(".agent-return")) closeHandoff(id, "return", t("agent.return.confirm"));
    else if (target.matches(".agent-transfer-open")) openTransfer();
    else if (target.matches(".agent-transfer-cancel")) $(".agent-transfer-form", ui.detail).hidden = true;
    else if (target.matches(".agent-kb-insert")) attach(target.closest(".agent-kb-hit"));
    else if (target.matches(".agent-attached-remove")) detach(target.closest(".agent-attached-item"));
    else if (target.matches(".agent-mail-toggle")) toggleMail(target);
  });

  ui.detail.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!state.detail) return;
    const form = event.target;
    if (form.matches(".agent-reply-form")) post(state.detail.id, "messages", ".agent-reply", ".agent-send", replied);
    else if (form.matches(".agent-note-form")) post(state.detail.id, "notes", ".agent-note", ".agent-add-note", addNote);
    else if (form.matches(".agent-kb-form")) searchKb();
    else if (form.matches(".agent-transfer-form")) transfer(state.detail.id, form);
  });

  ui.detail.addEventListener("keydown", (event) => {
    // isComposing: the Enter that picks a Chinese IME candidate must not send the message.
    if (!event.target.matches(".agent-reply") || event.key !== "Enter" || event.shiftKey || event.isComposing) return;
    event.preventDefault();
    event.target.form.requestSubmit();
  });

  async function claim(id, claimButton) {
    clearError();
    claimButton.disabled = true;
    try {
      await api("POST", `/handoffs/${id}/claim`);
      state.focusReply = true; // whichever redraw comes first (ours or the queue's) takes it
      await loadDetail(id, false);
    } catch (error) {
      claimButton.disabled = false;
      fail(error); // 409: someone else was faster, and the detail names them
    }
    loadQueue();
  }

  // A reply or a note: the text stays in its box unless the server took it.
  async function post(id, what, fieldSelector, buttonSelector, onCreated) {
    const field = $(fieldSelector, ui.detail);
    const submit = $(buttonSelector, ui.detail);
    const reply = what === "messages";
    const articles = reply ? state.attached : [];
    // A reply of cards alone says their titles (a message always has a text).
    const text = (field ? field.value.trim() : "") || articles.map((a) => a.title).join("\n");
    if (!text || submit.disabled) return;
    submit.disabled = true;
    try {
      const body = reply && articles.length ? { text, article_ids: articles.map((a) => a.id) } : { text };
      const created = await api("POST", `/handoffs/${id}/${what}`, body);
      if (state.selectedId === id) {
        onCreated(created);
        field.value = "";
      }
      clearError();
    } catch (error) {
      fail(error);
    } finally {
      submit.disabled = false;
    }
  }

  function replied(message) {
    state.attached = [];
    drawAttached();
    appendMessage(message);
  }

  function addNote(note) {
    const list = $(".agent-notes", ui.detail);
    if (list) list.append(noteItem(note));
  }

  async function searchKb() {
    const q = $(".agent-kb-query", ui.detail).value.trim();
    const results = $(".agent-kb-results", ui.detail);
    if (!q) return;
    results.replaceChildren(el("p", "agent-none", t("agent.kb.searching")));
    let data;
    try {
      data = await api("GET", `/agent/kb/search?q=${encodeURIComponent(q)}`);
    } catch (error) {
      results.replaceChildren();
      fail(error);
      return;
    }
    const hits = (data && data.hits) || [];
    if (!hits.length) { results.replaceChildren(el("p", "agent-none", t("agent.kb.none"))); return; }
    const list = el("ul", "agent-kb-list");
    for (const hit of hits.slice(0, 5)) {
      const item = el("li", "agent-kb-hit");
      // Attached by id: the service builds the customer's card (title, page) itself.
      item.dataset.articleId = String(hit.article_id);
      item.dataset.title = String(hit.title);
      const answer = hit.answer || "";
      item.appendChild(el("div", "agent-kb-head"))
        .append(el("strong", "agent-kb-title", hit.title), el("span", "agent-kb-score", num(hit.score)));
      item.append(
        el("p", "agent-kb-snippet", answer.length > 120 ? `${answer.slice(0, 120)}…` : answer),
        button("agent-kb-insert", t("agent.kb.insert")),
      );
      list.append(item);
    }
    results.replaceChildren(el("p", "agent-kb-band", t("agent.kb.band", { band: label("reports.band", data.band) })), list);
  }

  // An article from the search goes with the next reply as a link card, the bot's kind.
  function attach(hit) {
    if (!hit) return;
    const id = hit.dataset.articleId;
    if (!state.attached.some((a) => a.id === id)) {
      if (state.attached.length >= MAX_ATTACHED) { showError(t("agent.attach.full", { max: num(MAX_ATTACHED, 0) })); return; }
      state.attached.push({ id, title: hit.dataset.title });
    }
    drawAttached();
    const field = $(".agent-reply", ui.detail);
    if (field) field.focus();
  }

  // Canned replies (agent-canned.js) read the open handoff and attach the articles they name.
  window.KefuAgentDesk = Object.freeze({
    handoff: () => state.detail,
    attach: (article) => attach({ dataset: { articleId: article.id, title: article.title } }),
  });

  function detach(item) {
    if (!item) return;
    state.attached = state.attached.filter((a) => a.id !== item.dataset.articleId);
    drawAttached();
  }

  function drawAttached() {
    const list = $(".agent-attached", ui.detail);
    if (!list) return;
    list.hidden = !state.attached.length;
    list.replaceChildren(...state.attached.map((article) => {
      const item = el("li", "agent-attached-item");
      item.dataset.articleId = article.id;
      const remove = button("agent-attached-remove", "×");
      remove.setAttribute("aria-label", t("agent.attach.remove", { title: article.title }));
      item.append(el("span", "agent-attached-label", t("agent.attach.label")), el("span", "agent-attached-title", article.title), remove);
      return item;
    }));
  }

  // ---------------------------------------------------------------- resolve, with undo

  /* Resolving asks the customer for a rating at once, so the request waits for the undo
   * window to close rather than being reopened afterwards: the customer sees nothing of an
   * undone resolve. Leaving the page (or logging out) during the window sends it then. */
  const undoBar = el("div", "agent-undo");
  undoBar.setAttribute("role", "status");
  undoBar.hidden = true;
  const undoText = el("span", "agent-undo-text");
  const undoButton = button("agent-undo-button", "");
  undoBar.append(undoText, undoButton);
  document.body.append(undoBar);
  undoButton.addEventListener("click", () => undoResolve());

  function drawUndo() {
    undoText.textContent = t("agent.resolve.done");
    undoButton.textContent = t("agent.resolve.undo");
    undoBar.hidden = !state.pendingResolve;
  }

  function resolveLater(id) {
    if (state.pendingResolve) sendResolve(); // one at a time: the earlier one goes now
    clearError();
    state.pendingResolve = { id, timer: setTimeout(sendResolve, UNDO_MS) };
    drawUndo();
    const holder = state.detail && state.detail.id === id && $(".agent-holder", ui.detail);
    if (holder) holder.hidden = true;
    renderQueue();
  }

  function undoResolve() {
    const pending = state.pendingResolve;
    if (!pending) return;
    clearTimeout(pending.timer);
    state.pendingResolve = null;
    drawUndo();
    renderQueue();
    if (state.detail && state.detail.id === pending.id) renderDetail(state.detail);
  }

  async function sendResolve({ keepalive = false } = {}) {
    const pending = state.pendingResolve;
    if (!pending) return;
    clearTimeout(pending.timer);
    state.pendingResolve = null;
    drawUndo();
    try {
      await api("POST", `/handoffs/${pending.id}/resolve`, undefined, { keepalive });
    } catch (error) {
      if (!keepalive) fail(error);
    }
    if (keepalive || !me()) return;
    loadQueue();
    if (state.selectedId === pending.id) loadDetail(pending.id, false);
  }

  window.addEventListener("pagehide", () => sendResolve({ keepalive: true }));

  // Transfer: to a colleague (who holds it at once) or back to the queue, with a note.
  async function openTransfer() {
    const form = $(".agent-transfer-form", ui.detail);
    const select = $(".agent-transfer-to", form);
    let team;
    try {
      team = await api("GET", "/agents");
    } catch (error) {
      fail(error);
      return;
    }
    const options = [Object.assign(el("option", null, t("agent.transfer.queue")), { value: "" })];
    for (const member of team.items || []) {
      if (me() && member.id === me().id) continue;
      const label = t("agent.transfer.member", {
        name: member.name, status: t(`agent.transfer.status.${member.status}`), open: num(member.open_chats, 0),
      });
      options.push(Object.assign(el("option", null, label), { value: String(member.id) }));
    }
    select.replaceChildren(...options);
    form.hidden = false;
    $(".agent-transfer-note", form).focus();
  }

  async function transfer(id, form) {
    const note = $(".agent-transfer-note", form);
    const to = $(".agent-transfer-to", form).value;
    const send = $(".agent-transfer-send", form);
    clearError();
    send.disabled = true;
    try {
      await api("POST", `/handoffs/${id}/transfer`, { to_agent_id: to ? Number(to) : null, note: note.value });
      note.value = "";
      form.hidden = true;
    } catch (error) {
      fail(error);
    } finally {
      send.disabled = false;
    }
    loadQueue();
    if (state.selectedId === id) loadDetail(id, false);
  }

  async function closeHandoff(id, action, question) {
    if (!window.confirm(question)) return;
    clearError();
    try {
      await api("POST", `/handoffs/${id}/${action}`);
    } catch (error) {
      fail(error);
    }
    loadQueue();
    if (state.selectedId === id) loadDetail(id, false);
  }

  // A new language redraws what this page drew with t(); the static parts follow data-text.
  function relanguage() {
    setConn(state.conn);
    drawUndo();
    renderQueue();
    if (state.detail) renderDetail(state.detail);
    else if (!state.selectedId) clearDetail();
  }

  KefuConsole.start({ name: "agent", title: "agent.title",
    onStart: startApp, onEnd: loggedOut, onLanguage: relanguage, beforeLogout: () => sendResolve() });
})();
