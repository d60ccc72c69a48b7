/* Kefu (客服) chat widget: plain ES2020, no dependencies, no build step.
 *
 * Include with:
 *   <script src="https://HOST/widget/widget.js" data-kefu-url="https://HOST" defer></script>
 * Optional: data-lang="zh" | "en".
 *
 * Server/customer text is only ever written with textContent, never innerHTML.
 */
(function () {
  "use strict";

  // currentScript is only set while the script first runs, so read it before anything async.
  const script = document.currentScript || document.querySelector("script[data-kefu-url]");
  if (window.Kefu || document.getElementById("kefu-widget")) return; // included twice

  // ---------------------------------------------------------------- configuration

  function scriptOrigin() {
    try {
      const origin = new URL(script.src, location.href).origin;
      if (origin && origin !== "null") return origin;
    } catch (_) { /* no src, or unparsable: fall through */ }
    return location.origin;
  }

  const kefuUrl = ((script && script.getAttribute("data-kefu-url")) || "").trim().replace(/\/+$/, "")
    || scriptOrigin();
  const wsUrl = kefuUrl.replace(/^http/i, "ws"); // http → ws, https → wss
  const CONV_KEY = `kefu:conversation:${kefuUrl}`;
  const OUTBOX_KEY = `kefu:outbox:${kefuUrl}`;
  const MAX_LEN = 2000;
  const SENDERS = ["customer", "bot", "agent", "system"];
  const AUTH_CLOSE_CODES = [4401, 4403, 4404];

  function pickLang() {
    const attr = ((script && script.getAttribute("data-lang")) || "").toLowerCase();
    if (attr === "zh" || attr === "en") return attr;
    if ((document.documentElement.lang || "").toLowerCase().startsWith("zh")) return "zh";
    if ((navigator.language || "").toLowerCase().startsWith("zh")) return "zh";
    return "en";
  }

  const STRINGS = {
    zh: {
      title: "在线客服",
      open: "打开在线客服",
      close: "关闭",
      placeholder: "请输入您的问题…",
      send: "发送",
      human: "转人工",
      typing: "正在输入…",
      reconnecting: "连接已断开，正在重连…",
      retrying: "暂时无法连接客服，正在重试…",
      failed: "无法连接客服，请刷新页面后重试。",
      readMore: "查看全文",
      error: "出错了，请重试。",
      agent: "人工客服",
      rate: "请为本次服务打分（1–5）",
      ratingComment: "还有什么想告诉我们的吗？（选填）",
      ratingSend: "提交评价",
      ratingThanks: "感谢您的评价！",
      ratingStar: (n) => `${n} 分`,
      empty: "您好！请问有什么可以帮您？",
      separator: "：",
      menu: "更多选项",
      transcriptAction: "把对话发到我的邮箱",
      transcriptAddress: "您的邮箱地址",
      transcriptSend: "发送",
      transcriptCancel: "取消",
      transcriptSent: (email) => `对话记录稍后会发送到 ${email}。`,
      transcriptInvalid: "请检查邮箱地址，我们无法发送到这个地址。",
      transcriptThrottled: "一小时内已多次发送这段对话，请稍后再试。",
      transcriptThrottledAddress: "今天已多次向这个邮箱发送对话记录，请稍后再试。",
      transcriptOff: "抱歉，目前无法发送邮件。",
      transcriptRetry: "抱歉，对话记录发送失败，请重试。",
    },
    en: {
      title: "Customer service",
      open: "Open customer service chat",
      close: "Close",
      placeholder: "Type your question…",
      send: "Send",
      human: "Talk to a person",
      typing: "Typing…",
      reconnecting: "Connection lost, reconnecting…",
      retrying: "Can't reach customer service, retrying…",
      failed: "Unable to connect. Please reload the page and try again.",
      readMore: "Full article",
      error: "Something went wrong. Please try again.",
      agent: "Agent",
      rate: "Rate this chat (1–5)",
      ratingComment: "Anything else you'd like to tell us? (optional)",
      ratingSend: "Send rating",
      ratingThanks: "Thank you for your rating!",
      ratingStar: (n) => `${n} out of 5`,
      empty: "Hi! How can we help you today?",
      separator: ": ",
      menu: "More options",
      transcriptAction: "Email me this conversation",
      transcriptAddress: "Your email address",
      transcriptSend: "Send",
      transcriptCancel: "Cancel",
      transcriptSent: (email) => `We'll send this conversation to ${email} in a moment.`,
      transcriptInvalid: "Please check the address: we can't send email to it.",
      transcriptThrottled: "This conversation was already emailed several times in the last hour. Please try again later.",
      transcriptThrottledAddress: "We've already emailed several conversations to this address today. Please try again later.",
      transcriptOff: "Sorry, we can't send email at the moment.",
      transcriptRetry: "Sorry, we couldn't send the conversation. Please try again.",
    },
  };

  const lang = pickLang();
  const t = STRINGS[lang];

  // ---------------------------------------------------------------- storage
  // localStorage can throw (private mode, blocked cookies): the widget must still work, just
  // without persistence.

  const store = {
    get: (k) => { try { return JSON.parse(localStorage.getItem(k) || "null"); } catch (_) { return null; } },
    set: (k, v) => { try { localStorage.setItem(k, JSON.stringify(v)); } catch (_) { /* ignore */ } },
    remove: (k) => { try { localStorage.removeItem(k); } catch (_) { /* ignore */ } },
  };

  function loadConversation() {
    const c = store.get(CONV_KEY);
    return c && typeof c.id === "string" && typeof c.token === "string" && c.id && c.token ? c : null;
  }

  function loadOutbox() {
    const items = store.get(OUTBOX_KEY);
    if (!Array.isArray(items)) return [];
    return items.filter((i) => i && typeof i.client_message_id === "string" && typeof i.text === "string");
  }

  // randomUUID only exists in secure contexts (https / localhost); fall back to a v4 UUID by hand.
  function uuid() {
    const c = window.crypto;
    try { if (c && c.randomUUID) return c.randomUUID(); } catch (_) { /* fall through */ }
    const b = c && c.getRandomValues
      ? c.getRandomValues(new Uint8Array(16))
      : Uint8Array.from({ length: 16 }, () => Math.floor(Math.random() * 256));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  // ---------------------------------------------------------------- state

  let conv = loadConversation();  // {id, token} or null
  let outbox = loadOutbox();      // [{client_message_id, text, payload}] awaiting their echo
  let ws = null;                  // the current socket, or null while down
  let ready = false;              // true once the server finished its replay ("ready")
  let lastId = 0;                 // highest message id seen
  const shown = new Set();        // message ids already rendered
  const pending = new Map();      // client_message_id → pending bubble
  let attempt = 0;                // reconnect backoff step
  let retryTimer = null;
  let creating = false;           // a POST /conversations is in flight
  let recovered = false;          // already replaced a rejected conversation since the last "ready"
  let gaveUp = false;
  let isOpen = false;
  let typingTimer = null;         // hides an agent's typing whose false frame never came
  let typingSentAt = 0;           // when our last "typing: true" went (0: we are not typing)
  let typingIdle = null;          // sends "typing: false" after a pause
  let mailOn = false;             // the service sends mail: "Email me this conversation" is offered
  let contactEmail = "";          // the address the conversation has (the contact form's, a mail's sender)
  let transcriptEmail = "";       // the address the last transcript went to

  // ---------------------------------------------------------------- DOM helpers

  // Attributes only (no innerHTML); "text" sets textContent; string children become text nodes.
  function el(tag, attrs = {}, children = []) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (v == null || v === false) continue;
      // A text is isolated with its own direction (widget.css): a U+202E in a name, a message
      // or a title cannot reorder the widget around it.
      if (k === "text") { node.textContent = String(v); node.dir = "auto"; }
      else node.setAttribute(k, v === true ? "" : String(v));
    }
    for (const child of children) if (child != null) node.append(child);
    return node;
  }

  function chatIcon() {
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    const path = document.createElementNS(ns, "path");
    path.setAttribute("d", "M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z");
    svg.append(path);
    return svg;
  }

  // ---------------------------------------------------------------- build the widget

  const root = el("div", { id: "kefu-widget", lang: lang === "zh" ? "zh-CN" : "en", hidden: true });
  const launcher = el("button", {
    type: "button", class: "kefu-launcher", "aria-expanded": "false", "aria-controls": "kefu-panel",
    "aria-label": t.open, title: t.title,
  }, [chatIcon()]);
  const closeBtn = el("button", { type: "button", class: "kefu-close", "aria-label": t.close, title: t.close }, ["×"]);
  // "More options" (⋯): a disclosure with "Email me this conversation", shown only when the
  // service sends mail (docs/widget.md).
  const menuBtn = el("button", {
    type: "button", class: "kefu-menu-button", "aria-label": t.menu, title: t.menu,
    "aria-expanded": "false", "aria-controls": "kefu-menu", hidden: true,
  }, ["⋯"]);
  const transcriptItem = el("button", { type: "button", class: "kefu-menu-item kefu-transcript-open", text: t.transcriptAction });
  const menu = el("div", { class: "kefu-menu", id: "kefu-menu", hidden: true }, [transcriptItem]);
  const transcriptInput = el("input", {
    class: "kefu-transcript-email", id: "kefu-transcript-email", name: "email", type: "email",
    autocomplete: "email", maxlength: 254, required: true, "aria-describedby": "kefu-transcript-result",
  });
  const transcriptSend = el("button", { type: "submit", class: "kefu-transcript-send", text: t.transcriptSend });
  const transcriptCancel = el("button", { type: "button", class: "kefu-transcript-cancel", text: t.transcriptCancel });
  const transcriptResult = el("div", {
    class: "kefu-transcript-result", id: "kefu-transcript-result", role: "status", "aria-live": "polite",
  });
  const transcriptFields = el("div", { class: "kefu-transcript-fields" }, [
    el("label", { class: "kefu-transcript-label", for: "kefu-transcript-email", text: t.transcriptAddress }),
    el("div", { class: "kefu-transcript-row" }, [transcriptInput, transcriptSend]),
  ]);
  const transcriptForm = el("form", {
    class: "kefu-transcript", "aria-label": t.transcriptAction, novalidate: true, hidden: true,
  }, [
    el("div", { class: "kefu-transcript-heading", text: t.transcriptAction }),
    transcriptFields, transcriptResult, transcriptCancel,
  ]);
  const statusLine = el("div", { class: "kefu-status", role: "status", hidden: true });
  const list = el("div", {
    class: "kefu-messages", role: "log", "aria-live": "polite", "aria-label": t.title, "data-empty": t.empty,
  });
  const typing = el("div", { class: "kefu-typing", "aria-live": "polite", hidden: true }, [
    ...[1, 2, 3].map(() => el("span", { class: "kefu-dot", "aria-hidden": "true" })),
    el("span", { class: "kefu-typing-text", text: t.typing }),
  ]);
  const humanBtn = el("button", { type: "button", class: "kefu-human", text: t.human });
  const input = el("textarea", {
    class: "kefu-input", name: "message", rows: 1, maxlength: MAX_LEN,
    placeholder: t.placeholder, "aria-label": t.placeholder, autocomplete: "off",
  });
  const sendBtn = el("button", { type: "submit", class: "kefu-send", text: t.send });
  const form = el("form", { class: "kefu-form", novalidate: true }, [input, sendBtn]);
  const panel = el("div", { class: "kefu-panel", id: "kefu-panel", role: "dialog", "aria-label": t.title, hidden: true }, [
    el("div", { class: "kefu-header" }, [
      el("h2", { class: "kefu-title", text: t.title }),
      el("div", { class: "kefu-header-buttons" }, [menuBtn, closeBtn]),
    ]),
    menu,
    transcriptForm,
    statusLine,
    list,
    typing,
    el("div", { class: "kefu-actions" }, [humanBtn]),
    form,
  ]);
  root.append(panel, launcher);

  // Keep the widget hidden until its stylesheet is in, so the page never flashes unstyled controls.
  function loadStyles() {
    const href = `${kefuUrl}/widget/widget.css`;
    const existing = Array.from(document.querySelectorAll('link[rel="stylesheet"]')).some((l) => l.href === href);
    if (existing) { root.hidden = false; return; }
    const link = el("link", { rel: "stylesheet", href });
    const show = () => { root.hidden = false; };
    link.addEventListener("load", show);
    link.addEventListener("error", show); // degraded but usable beats invisible
    document.head.append(link);
  }

  // ---------------------------------------------------------------- rendering

  function scrollToBottom() {
    list.scrollTop = list.scrollHeight;
  }

  // http(s) or relative only; "/..." is relative to the Kefu server, not the host page.
  function safeUrl(raw) {
    if (typeof raw !== "string" || !raw.trim()) return null;
    const url = raw.trim();
    try {
      const abs = new URL(url.startsWith("/") && !url.startsWith("//") ? kefuUrl + url : url, `${kefuUrl}/`);
      return abs.protocol === "http:" || abs.protocol === "https:" ? abs.href : null;
    } catch (_) {
      return null;
    }
  }

  function buildArticles(articles) {
    const box = el("div", { class: "kefu-articles" });
    for (const a of articles) {
      if (!a || typeof a !== "object") continue;
      // The card's label is the widget's own, in its interface language: the bot labels a card in
      // the conversation's language, which is not always the page's ("Full article：…" on a zh page).
      const label = t.readMore;
      const parts = [el("span", { class: "kefu-article-label", text: label }), t.separator,
        el("span", { class: "kefu-article-title", text: String(a.title || "") })];
      const href = safeUrl(a.url);
      box.append(href
        ? el("a", { class: "kefu-article-link", href, target: "_blank", rel: "noopener noreferrer" }, parts)
        : el("span", { class: "kefu-article-text" }, parts));
    }
    return box;
  }

  function buildQuickReplies(buttons) {
    const box = el("div", { class: "kefu-quick-replies" });
    for (const b of buttons) {
      if (!b || typeof b.title !== "string" || !b.title) continue;
      const btn = el("button", { type: "button", class: "kefu-quick-reply", text: b.title });
      const payload = typeof b.payload === "string" && b.payload ? b.payload : undefined;
      btn.addEventListener("click", () => {
        disableQuickReplies(box); // one-shot
        send(b.title, payload);
      });
      box.append(btn);
    }
    return box;
  }

  function disableQuickReplies(scope) {
    const boxes = scope.classList && scope.classList.contains("kefu-quick-replies")
      ? [scope] : scope.querySelectorAll(".kefu-quick-replies");
    for (const box of boxes) {
      box.classList.add("kefu-used");
      for (const btn of box.querySelectorAll("button")) btn.disabled = true;
    }
  }

  // In a replayed history, a customer message equal to a button title means that button was used.
  function markQuickReplyUsed(text) {
    for (const box of list.querySelectorAll(".kefu-quick-replies:not(.kefu-used)")) {
      if (Array.from(box.children).some((b) => b.textContent === text)) disableQuickReplies(box);
    }
  }

  function buildMessage(m, sender) {
    const node = el("div", { class: `kefu-message kefu-from-${sender}` });
    if (sender === "agent") {
      const who = typeof m.agent_name === "string" && m.agent_name ? `${t.agent} · ${m.agent_name}` : t.agent;
      node.append(el("div", { class: "kefu-sender", text: who }));
    }
    node.append(el("div", { class: "kefu-text", text: typeof m.text === "string" ? m.text : "" }));
    if (Array.isArray(m.articles) && m.articles.length) node.append(buildArticles(m.articles));
    if (Array.isArray(m.buttons) && m.buttons.length) node.append(buildQuickReplies(m.buttons));
    if (m.kind === "csat_request") node.append(buildRating());
    return node;
  }

  // The satisfaction rating asked for at the end (after an agent resolved the chat, or the bot
  // helped and the customer said goodbye): 1–5 and an optional comment, sent once.
  function buildRating() {
    const box = el("form", { class: "kefu-rating", "aria-label": t.rate });
    const scores = el("div", { class: "kefu-rating-scores", role: "radiogroup", "aria-label": t.rate });
    let chosen = 0;
    for (let n = 1; n <= 5; n++) {
      const btn = el("button", {
        type: "button", class: "kefu-rating-score", "data-score": String(n),
        "aria-label": t.ratingStar(n), "aria-pressed": "false", text: String(n),
      });
      btn.addEventListener("click", () => {
        chosen = n;
        for (const b of scores.children) b.setAttribute("aria-pressed", String(b === btn));
        submit.disabled = false;
      });
      scores.append(btn);
    }
    const comment = el("textarea", {
      class: "kefu-rating-comment", rows: "2", maxlength: "1000", placeholder: t.ratingComment,
      "aria-label": t.ratingComment,
    });
    const submit = el("button", { type: "submit", class: "kefu-rating-send", text: t.ratingSend });
    submit.disabled = true;
    const result = el("div", { class: "kefu-rating-result", role: "status" });
    box.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (!chosen || !conv) return;
      submit.disabled = true;
      try {
        const response = await fetch(`${kefuUrl}/api/v1/conversations/${encodeURIComponent(conv.id)}/rating`, {
          method: "POST",
          headers: { "Content-Type": "application/json", Authorization: `Bearer ${conv.token}` },
          body: JSON.stringify({ score: chosen, comment: comment.value.trim() || null }),
        });
        const body = await response.json().catch(() => ({}));
        if (response.ok) {
          box.replaceChildren(el("div", { class: "kefu-rating-done", text: t.ratingThanks }));
        } else {
          result.textContent = typeof body.detail === "string" ? body.detail : `HTTP ${response.status}`;
          submit.disabled = response.status === 409;
        }
      } catch (_) {
        result.textContent = t.retrying;
        submit.disabled = false;
      }
    });
    box.append(el("div", { class: "kefu-rating-label", text: t.rate }), scores, comment, submit, result);
    return box;
  }

  // Pending bubbles stay at the end: confirmed messages go in before the first one still pending.
  function place(node) {
    list.insertBefore(node, list.querySelector(".kefu-pending"));
  }

  function notice(text) {
    list.append(el("div", { class: "kefu-message kefu-from-system kefu-notice" }, [
      el("div", { class: "kefu-text", text }),
    ]));
    scrollToBottom();
  }

  function onMessage(m) {
    if (!m || typeof m !== "object" || !Number.isInteger(m.id) || shown.has(m.id)) return;
    shown.add(m.id);
    lastId = Math.max(lastId, m.id);
    const sender = SENDERS.includes(m.sender) ? m.sender : "system";
    const cmid = typeof m.client_message_id === "string" ? m.client_message_id : null;

    let node = cmid ? pending.get(cmid) : null;
    if (node) { // the echo of our own message: confirm the pending bubble in place
      pending.delete(cmid);
      node.classList.remove("kefu-pending");
      node.querySelector(".kefu-text").textContent = typeof m.text === "string" ? m.text : "";
    } else {
      if (sender === "bot" || sender === "agent") disableQuickReplies(list); // only the newest stay live
      node = buildMessage(m, sender);
    }
    if (cmid) dropFromOutbox(cmid);
    if (sender === "customer") markQuickReplyUsed(m.text);
    if (sender === "bot" || sender === "agent") {
      setTyping(false);
      if (ready && !isOpen) launcher.classList.add("kefu-unread");
    }
    node.setAttribute("data-message-id", String(m.id));
    place(node);
    scrollToBottom();
  }

  function showPending(item) {
    const node = buildMessage({ text: item.text }, "customer");
    node.classList.add("kefu-pending");
    node.setAttribute("data-client-message-id", item.client_message_id);
    pending.set(item.client_message_id, node);
    list.append(node);
    scrollToBottom();
  }

  function setTyping(active) {
    typing.hidden = !active;
    if (active) scrollToBottom();
  }

  function setStatus(text) {
    statusLine.textContent = text || "";
    statusLine.hidden = !text;
  }

  // ---------------------------------------------------------------- outbox

  function saveOutbox() {
    if (outbox.length) store.set(OUTBOX_KEY, outbox);
    else store.remove(OUTBOX_KEY);
  }

  function dropFromOutbox(cmid) {
    const before = outbox.length;
    outbox = outbox.filter((i) => i.client_message_id !== cmid);
    if (outbox.length !== before) saveOutbox();
  }

  function transmit(item) {
    if (!ws || !ready || ws.readyState !== WebSocket.OPEN) return; // stays queued for the next "ready"
    ws.send(JSON.stringify({
      type: "message",
      text: item.text,
      client_message_id: item.client_message_id,
      payload: item.payload || undefined, // undefined is left out of the JSON
    }));
  }

  // The customer's typing, for an agent who has the chat open (the service drops it
  // otherwise): "active" at most every 2.5 s while keys come, false after 4 s idle or on send.
  function sendTyping(active) {
    if (ws && ready && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: "typing", active }));
  }

  function customerTyping() {
    const now = Date.now();
    if (now - typingSentAt > 2500) { typingSentAt = now; sendTyping(true); }
    clearTimeout(typingIdle);
    typingIdle = setTimeout(customerStoppedTyping, 4000);
  }

  function customerStoppedTyping() {
    clearTimeout(typingIdle);
    if (!typingSentAt) return;
    typingSentAt = 0;
    sendTyping(false);
  }

  function send(text, payload) {
    const body = typeof text === "string" ? text : String(text ?? "");
    if (!body.trim()) return false;
    customerStoppedTyping();
    const item = { client_message_id: uuid(), text: body, payload: payload || undefined };
    outbox.push(item);
    saveOutbox();
    showPending(item);
    if (conv && ready) transmit(item);
    else start(); // no conversation yet, or down: the message waits in the outbox
    return true;
  }

  // ---------------------------------------------------------------- connection

  function scheduleRetry() {
    clearTimeout(retryTimer);
    // 0.5s, 1s, 2s, … capped at 10s; ±25% jitter so many clients don't reconnect in lockstep.
    const base = Math.min(10000, 500 * 2 ** Math.min(attempt, 10));
    attempt += 1;
    const delay = Math.min(10000, base * (0.75 + Math.random() * 0.5));
    retryTimer = setTimeout(start, delay);
  }

  // Ensure a conversation exists, then connect to it.
  function start() {
    if (gaveUp) return;
    if (conv) { connect(); return; }
    if (creating) return;
    creating = true;
    fetch(`${kefuUrl}/api/v1/conversations`, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ language: lang }),
    })
      .then((r) => {
        if (!r.ok) throw new Error(`HTTP ${r.status}`);
        return r.json();
      })
      .then((d) => {
        if (!d || d.id == null || !d.token) throw new Error("bad response");
        conv = { id: String(d.id), token: String(d.token) };
        store.set(CONV_KEY, conv);
        creating = false;
        connect();
      })
      .catch(() => {
        creating = false;
        setStatus(t.retrying);
        scheduleRetry();
      });
  }

  function connect() {
    if (!conv || ws) return;
    clearTimeout(retryTimer);
    const url = `${wsUrl}/api/v1/conversations/${encodeURIComponent(conv.id)}/ws`
      + `?token=${encodeURIComponent(conv.token)}&after=${lastId}`;
    let sock;
    try {
      sock = new WebSocket(url);
    } catch (_) {
      setStatus(t.reconnecting);
      scheduleRetry();
      return;
    }
    ws = sock;
    ready = false;
    // Handlers check `ws === sock` so a stale socket can never touch the current state.
    sock.addEventListener("message", (ev) => { if (ws === sock) onFrame(ev.data); });
    sock.addEventListener("close", (ev) => {
      if (ws !== sock) return;
      ws = null;
      ready = false;
      setTyping(false);
      if (AUTH_CLOSE_CODES.includes(ev.code)) replaceConversation();
      else { setStatus(t.reconnecting); scheduleRetry(); }
    });
    // "error" is always followed by "close", which does the work.
  }

  // The server no longer accepts our conversation: forget it and open a new one, once.
  function replaceConversation() {
    store.remove(CONV_KEY);
    conv = null;
    if (recovered) { // the fresh conversation was rejected too: stop instead of looping
      gaveUp = true;
      setStatus(t.failed);
      return;
    }
    recovered = true;
    // The old history belongs to the old conversation; pending bubbles stay and are resent.
    for (const node of list.querySelectorAll(".kefu-message:not(.kefu-pending)")) node.remove();
    shown.clear();
    lastId = 0;
    // Don't create conversations for visitors who never open the chat.
    if (isOpen || outbox.length) start();
  }

  function onFrame(raw) {
    let frame;
    try { frame = JSON.parse(raw); } catch (_) { return; }
    if (!frame || typeof frame !== "object") return;
    switch (frame.type) {
      case "message":
        onMessage(frame.message);
        break;
      case "typing":
        if (frame.from === "customer") break; // our own typing, on its way to the agent
        setTyping(frame.active === true);
        // An agent's typing ends with a false frame; a dropped console's never comes.
        clearTimeout(typingTimer);
        if (frame.from === "agent" && frame.active === true) typingTimer = setTimeout(() => setTyping(false), 8000);
        break;
      case "ready":
        ready = true;
        attempt = 0;
        recovered = false;
        if (Number.isInteger(frame.last_id)) lastId = Math.max(lastId, frame.last_id);
        setStatus(null);
        readState();
        // Resend with the same client_message_id: the server dedupes, so nothing doubles.
        for (const item of outbox.slice()) transmit(item);
        scrollToBottom();
        break;
      case "error": {
        const cmid = typeof frame.client_message_id === "string" ? frame.client_message_id : null;
        if (cmid) {
          dropFromOutbox(cmid);
          const node = pending.get(cmid);
          if (node) {
            pending.delete(cmid);
            node.classList.replace("kefu-pending", "kefu-failed");
            node.removeAttribute("data-client-message-id");
          }
        }
        notice(typeof frame.detail === "string" && frame.detail ? frame.detail : t.error);
        break;
      }
      // Unknown frame types are ignored, for forward compatibility.
    }
  }

  // ---------------------------------------------------------------- email me this conversation

  function conversationUrl(path = "") {
    return `${kefuUrl}/api/v1/conversations/${encodeURIComponent(conv.id)}${path}`;
  }

  // Whether the service sends mail, and the address the customer already gave (the contact
  // form's, or the one they wrote from): asked after each connection and when the form opens.
  async function readState() {
    if (!conv) return;
    try {
      const response = await fetch(conversationUrl(), { headers: { Authorization: `Bearer ${conv.token}` } });
      if (!response.ok) return;
      const body = await response.json();
      contactEmail = typeof body.contact_email === "string" ? body.contact_email : "";
      setMailOn(body.email_transcript === true);
    } catch (_) { /* offline: the menu stays as it was */ }
  }

  function setMailOn(on) {
    mailOn = on;
    menuBtn.hidden = !on;
    if (!on) closeMenu(false);
  }

  function openMenu() {
    menu.hidden = false;
    menuBtn.setAttribute("aria-expanded", "true");
    transcriptItem.focus();
  }

  function closeMenu(refocus) {
    if (menu.hidden) return;
    menu.hidden = true;
    menuBtn.setAttribute("aria-expanded", "false");
    if (refocus) menuBtn.focus();
  }

  function openTranscript() {
    closeMenu(false);
    transcriptFields.hidden = false;
    transcriptSend.disabled = false;
    transcriptCancel.textContent = t.transcriptCancel;
    transcriptResult.textContent = "";
    transcriptInput.removeAttribute("aria-invalid");
    transcriptInput.value = transcriptEmail || contactEmail;
    transcriptForm.hidden = false;
    transcriptInput.focus();
    transcriptInput.select();
    // The address may be newer on the server (given in the chat since the last connection):
    // it fills the field if the customer has not typed in it meanwhile.
    const shown = transcriptInput.value;
    readState().then(() => {
      const fresh = transcriptEmail || contactEmail;
      if (!transcriptForm.hidden && transcriptInput.value === shown && fresh !== shown) {
        transcriptInput.value = fresh;
        if (document.activeElement === transcriptInput) transcriptInput.select();
      }
    });
  }

  function closeTranscript() {
    transcriptForm.hidden = true;
    if (!menuBtn.hidden) menuBtn.focus();
    else input.focus();
  }

  function transcriptSaid(text, invalid) {
    transcriptResult.textContent = text;
    if (invalid) transcriptInput.setAttribute("aria-invalid", "true");
    else transcriptInput.removeAttribute("aria-invalid");
  }

  async function sendTranscript() {
    const email = transcriptInput.value.trim();
    if (!email || !transcriptInput.checkValidity()) {
      transcriptSaid(t.transcriptInvalid, true);
      transcriptInput.focus();
      return;
    }
    if (!conv) { transcriptSaid(t.transcriptRetry, false); return; }
    transcriptSend.disabled = true;
    transcriptResult.textContent = "";
    let response;
    try {
      response = await fetch(conversationUrl("/transcript"), {
        method: "POST",
        headers: { "Content-Type": "application/json", Authorization: `Bearer ${conv.token}` },
        body: JSON.stringify({ email }),
      });
    } catch (_) {
      transcriptSend.disabled = false;
      transcriptSaid(t.transcriptRetry, false);
      return;
    }
    const body = await response.json().catch(() => ({}));
    transcriptSend.disabled = false;
    if (response.status === 202) {
      transcriptEmail = typeof body.to === "string" && body.to ? body.to : email;
      transcriptFields.hidden = true;
      transcriptCancel.textContent = t.close;
      transcriptSaid(t.transcriptSent(transcriptEmail), false);
      transcriptCancel.focus();
    } else if (response.status === 422) {
      transcriptSaid(t.transcriptInvalid, true);
      transcriptInput.focus();
    } else if (response.status === 429) { // which limit: this conversation's, or the address's
      transcriptSaid(body.limit === "address" ? t.transcriptThrottledAddress : t.transcriptThrottled, false);
    } else if (response.status === 409) { // mail went off since the menu was shown
      transcriptFields.hidden = true;
      transcriptCancel.textContent = t.close;
      transcriptSaid(t.transcriptOff, false);
      setMailOn(false);
      transcriptCancel.focus();
    } else {
      transcriptSaid(t.transcriptRetry, false);
    }
  }

  // ---------------------------------------------------------------- open / close

  function open() {
    if (isOpen) return;
    isOpen = true;
    panel.hidden = false;
    root.classList.add("kefu-open");
    launcher.setAttribute("aria-expanded", "true");
    launcher.setAttribute("aria-label", t.close);
    launcher.classList.remove("kefu-unread");
    if (!ws) start(); // the first open is what creates a conversation
    scrollToBottom();
    input.focus();
  }

  function close() {
    if (!isOpen) return;
    isOpen = false;
    closeMenu(false);
    panel.hidden = true;
    root.classList.remove("kefu-open");
    launcher.setAttribute("aria-expanded", "false");
    launcher.setAttribute("aria-label", t.open);
    launcher.focus();
  }

  // ---------------------------------------------------------------- events

  launcher.addEventListener("click", () => (isOpen ? close() : open()));
  closeBtn.addEventListener("click", close);
  root.addEventListener("keydown", (e) => { // on root, so Escape also works with focus on the launcher
    if (e.key !== "Escape" || !isOpen) return;
    e.preventDefault();
    // The innermost thing open closes first: the menu, then the transcript form, then the panel.
    if (!menu.hidden) closeMenu(true);
    else if (!transcriptForm.hidden && transcriptForm.contains(document.activeElement)) closeTranscript();
    else close();
  });
  menuBtn.addEventListener("click", () => (menu.hidden ? openMenu() : closeMenu(true)));
  transcriptItem.addEventListener("click", openTranscript);
  transcriptCancel.addEventListener("click", closeTranscript);
  transcriptForm.addEventListener("submit", (e) => { e.preventDefault(); sendTranscript(); });
  transcriptInput.addEventListener("input", () => transcriptInput.removeAttribute("aria-invalid"));
  // A click anywhere but the menu and its button closes the menu.
  document.addEventListener("click", (e) => {
    if (!menu.hidden && !menu.contains(e.target) && !menuBtn.contains(e.target)) closeMenu(false);
  });
  humanBtn.addEventListener("click", () => { send(t.human, "/request_human"); input.focus(); });

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    if (send(input.value.slice(0, MAX_LEN))) {
      input.value = "";
      autosize();
    }
    input.focus();
  });

  input.addEventListener("keydown", (e) => {
    // isComposing / 229: Enter that confirms a Chinese IME candidate must not send.
    if (e.key !== "Enter" || e.shiftKey || e.isComposing || e.keyCode === 229) return;
    e.preventDefault();
    if (typeof form.requestSubmit === "function") form.requestSubmit();
    else form.dispatchEvent(new Event("submit", { cancelable: true }));
  });

  // Grow the textarea with its content up to a few lines (CSSOM, so CSP-safe).
  function autosize() {
    input.style.height = "auto";
    input.style.height = `${Math.min(input.scrollHeight, 120)}px`;
  }
  input.addEventListener("input", autosize);
  input.addEventListener("input", () => { if (input.value.trim()) customerTyping(); });

  // Back online: retry now instead of waiting out the backoff.
  window.addEventListener("online", () => {
    if (conv && !ws && !gaveUp) { attempt = 0; connect(); }
  });

  // ---------------------------------------------------------------- start up

  function mount() {
    loadStyles();
    document.body.append(root);
    for (const item of outbox) showPending(item); // unsent messages from a previous page view
    // Replay with after=0 renders the stored history; a leftover outbox means the customer already
    // tried to chat, so that also justifies opening a conversation.
    if (conv || outbox.length) start();
  }

  window.Kefu = {
    open,
    close,
    send: (text) => send(text),
  };

  if (document.body) mount();
  else document.addEventListener("DOMContentLoaded", mount, { once: true });
})();
