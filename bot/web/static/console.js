/* Kefu (客服) staff consoles: the plumbing they all share. Plain ES2020, no dependencies, no build step.
 *
 * A console is its own view code (page.html, page.js, page.css) plus this module and console.css,
 * loaded before the page's own files. The page holds a hidden <div class="console-app"> with a
 * <header class="console-header"> and a <main class="console-main">, and calls
 * KefuConsole.start({ name, title, onStart, onEnd }). This module then owns:
 *
 *   the session   start(): the error banner, the "Loading…" note and the login form; /auth/me,
 *                 login, logout; the user badge and the Log out button at the end of the header.
 *                 user() is who is logged in (null when nobody is). fail(error) is where failed
 *                 calls end up (401: log in again); refuse(message) hides the page for the wrong role.
 *   the API       api(method, path, body): JSON under /api/v1 with the session cookie (and, but for
 *                 GET, the X-CSRF-Token header from the kefu_csrf cookie); it rejects
 *                 with an Error whose status is the HTTP status and whose message is the server's
 *                 `detail` (validation errors as "field: msg" lines). showError() / clearError().
 *   the socket    liveSocket(path, { onFrame, onDown, onRefused }): a WebSocket under /api/v1 that
 *                 reconnects with backoff; close code 4401 ends the session, 4403 calls onRefused.
 *   the DOM       el(), button(), $(), find(): elements built with textContent only. Customers and
 *                 staff type HTML, so nothing here (nor in a console) writes innerHTML from a
 *                 server string; that is why there is no escape() to forget. markSelected(),
 *                 redrawList() and activateItems() make a list of items keyboard-friendly.
 *   the texts     t(key, values): the staff catalogue (texts/staff.py, GET /api/v1/texts/staff),
 *                 loaded by start() before anything is drawn. A page follows the staff member's
 *                 language (the account's setting, which the switch in its header saves; before
 *                 login the last choice in this browser, kept in localStorage; else the
 *                 browser's language). Static markup names its
 *                 texts with data-text="key" (data-text-placeholder, data-text-aria-label, data-text-title),
 *                 filled by translate(root). language() and locale() are for Intl formatting.
 *
 * Every element this module draws carries two classes, console-<part> (styled by console.css) and
 * <name>-<part>, the page's own name for it (agent-login-email, editor-user…), which the page's
 * styles and the browser tests use.
 */
(function () {
  "use strict";

  const API = "/api/v1";
  const WS_BASE = location.origin.replace(/^http/i, "ws"); // http → ws, https → wss

  // ---------------------------------------------------------------- DOM helpers

  const $ = (selector, root = document) => root.querySelector(selector);

  // Every text written here is isolated with its own direction (dir="auto", and unicode-bidi:
  // isolate in console.css): a name or message with U+202E (or Arabic, Hebrew) cannot reorder
  // the interface around it. A line mixing several texts makes one element per text.
  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) {
      node.textContent = String(text);
      node.dir = "auto";
    }
    return node;
  }

  const button = (className, text) => Object.assign(el("button", className, text), { type: "button" });

  // The page's elements by their short names: find("agent", ["queue-empty"]).queueEmpty is .agent-queue-empty.
  function find(prefix, names) {
    const ui = {};
    for (const name of names) ui[name.replace(/-(\w)/g, (_, c) => c.toUpperCase())] = $(`.${prefix}-${name}`);
    return ui;
  }

  function markSelected(item, on) {
    item.classList.toggle("selected", on);
    if (on) item.setAttribute("aria-current", "true");
    else item.removeAttribute("aria-current");
  }

  // Replace a list's items; the one that had keyboard focus (same data-<key>) gets it back.
  function redrawList(list, items, key) {
    const focused = document.activeElement;
    const id = focused && focused.parentElement === list ? focused.dataset[key] : undefined;
    list.replaceChildren(...items);
    if (id === undefined) return;
    const again = [...list.children].find((item) => item.dataset[key] === id);
    if (again) again.focus();
  }

  // Items that open on click, Enter or Space (they carry tabindex="0" and role="button").
  function activateItems(list, selector, open) {
    const pick = (event) => {
      const item = event.target.closest(selector);
      if (item && list.contains(item)) open(item);
    };
    list.addEventListener("click", pick);
    list.addEventListener("keydown", (event) => {
      if (event.key !== "Enter" && event.key !== " ") return;
      event.preventDefault(); // Space would scroll the list
      pick(event);
    });
  }

  // ---------------------------------------------------------------- the texts

  const LANGUAGE_KEY = "kefu-staff-language";
  const LANGUAGE_NAMES = { en: "English", zh: "中文" }; // each in its own language: not translated
  const HTML_LANG = { en: "en", zh: "zh-CN" };
  const texts = { catalogue: {}, languages: ["en"], language: "en" };

  function t(key, values) {
    const entry = texts.catalogue[key];
    const text = entry ? entry[texts.language] || entry.en : key; // a missing key shows itself
    return values ? text.replace(/\{(\w+)\}/g, (whole, name) => (name in values ? String(values[name]) : whole)) : text;
  }

  const language = () => texts.language;
  // Intl's locale: the browser's own when it is in the chosen language (en-GB keeps its dates).
  const locale = () =>
    (navigator.languages || [navigator.language]).find((tag) => tag && tag.toLowerCase().startsWith(texts.language))
    || HTML_LANG[texts.language];

  function preferredLanguage() {
    let stored = null;
    try { stored = localStorage.getItem(LANGUAGE_KEY); } catch (_) { /* storage off: the browser decides */ }
    if (texts.languages.includes(stored)) return stored;
    const browser = (navigator.languages || [navigator.language]).map((tag) => String(tag || "").slice(0, 2).toLowerCase());
    return browser.find((code) => texts.languages.includes(code)) || "en";
  }

  const TEXT_ATTRIBUTES = [["placeholder", "textPlaceholder"], ["aria-label", "textAriaLabel"], ["title", "textTitle"]];

  // Every element of root whose text, placeholder, aria-label or title names a catalogue key.
  function translate(root = document) {
    for (const node of root.querySelectorAll("[data-text]")) node.textContent = t(node.dataset.text);
    for (const [attribute, key] of TEXT_ATTRIBUTES) {
      for (const node of root.querySelectorAll(`[data-text-${attribute}]`)) node.setAttribute(attribute, t(node.dataset[key]));
    }
  }

  // The language on screen; kept in this browser for the login form (localStorage).
  function applyLanguage(code) {
    texts.language = code;
    try { localStorage.setItem(LANGUAGE_KEY, code); } catch (_) { /* kept for this page only */ }
    document.documentElement.lang = HTML_LANG[code] || code;
    translate();
    if (session.ui && session.ui.languageSwitch) session.ui.languageSwitch.value = code;
    if (session.user) drawUser(session.user);
  }

  // The switch: the page redraws at once, and a logged-in user's choice is saved on the account
  // (PATCH /auth/me), so every console and browser they log in to follows it.
  function setLanguage(code) {
    if (!texts.languages.includes(code)) return;
    applyLanguage(code);
    if (session.options && session.options.onLanguage) session.options.onLanguage(code);
    const user = session.user;
    if (!user || user.language === code) return;
    api("PATCH", "/auth/me", { language: code })
      .then((saved) => { if (session.user === user) user.language = saved.language; })
      .catch(fail);
  }

  async function loadTexts() {
    const data = await api("GET", "/texts/staff");
    texts.catalogue = data.texts || {};
    texts.languages = Array.isArray(data.languages) && data.languages.length ? data.languages : ["en"];
    texts.language = preferredLanguage();
    document.documentElement.lang = HTML_LANG[texts.language] || texts.language;
  }

  // ---------------------------------------------------------------- the API

  // FastAPI's `detail` is a string for our refusals and a list of {loc, msg} for validation errors.
  function detailText(data, status) {
    const detail = data && data.detail;
    if (Array.isArray(detail)) {
      return detail.map((d) => {
        if (!d || typeof d !== "object") return String(d);
        const loc = Array.isArray(d.loc) ? d.loc.slice(["body", "query", "path"].includes(d.loc[0]) ? 1 : 0) : [];
        return loc.length ? `${loc.join(".")}: ${d.msg}` : String(d.msg || "");
      }).join("\n");
    }
    return typeof detail === "string" && detail ? detail : t("console.request_failed", { status });
  }

  const apiError = (status, message) => Object.assign(new Error(message), { status });

  // The session cookie is HttpOnly; its CSRF token (bot/api/csrf.py) is the one cookie a script may read.
  function csrfToken() {
    const prefix = "kefu_csrf=";
    const cookie = document.cookie.split("; ").find((c) => c.startsWith(prefix));
    return cookie ? decodeURIComponent(cookie.slice(prefix.length)) : "";
  }

  // keepalive: the request outlives the page (an action due when the agent leaves it).
  async function api(method, path, body, { keepalive = false } = {}) {
    const options = { method, credentials: "same-origin", keepalive, headers: { Accept: "application/json" } };
    if (!["GET", "HEAD"].includes(method)) options.headers["X-CSRF-Token"] = csrfToken();
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(API + path, options);
    } catch (_) {
      throw apiError(0, t("console.unreachable"));
    }
    let data = null;
    try { data = response.status === 204 ? null : await response.json(); } catch (_) { data = null; }
    if (response.ok) return data;
    throw apiError(response.status, detailText(data, response.status));
  }

  // ---------------------------------------------------------------- the session

  const session = { user: null, options: null, ui: null };

  // The parts every console has before it has anything of its own: one banner for every failed
  // call, a loading note, and the login form.
  function drawChrome(name, title) {
    const part = (tag, what, key) => {
      const node = el(tag, `console-${what} ${name}-${what}`, key && t(key));
      if (key) node.dataset.text = key;
      return node;
    };
    const error = part("div", "error");
    error.setAttribute("role", "alert");
    error.hidden = true;
    const close = Object.assign(el("button", `console-error-close ${name}-error-close`, "×"), { type: "button" });
    close.dataset.textAriaLabel = "console.dismiss";
    error.append(part("span", "error-text"), close);

    const loading = part("p", "loading", "console.loading");

    const field = (label, type, what, autocomplete) => {
      const input = Object.assign(part("input", what), { type, name: type, autocomplete, required: true });
      const text = el("span", null, t(label));
      text.dataset.text = label;
      const wrap = el("label");
      wrap.append(text, input);
      return wrap;
    };
    const heading = el("h1", null, t(title)); // the page's title is a catalogue key
    heading.dataset.text = title;
    const form = part("form", "login");
    form.noValidate = true;
    form.append(heading, field("console.email", "email", "login-email", "username"),
      field("console.password", "password", "login-password", "current-password"),
      Object.assign(part("button", "login-submit", "console.log_in"), { type: "submit" }));
    $(".console-login-submit", form).classList.add("console-primary");
    const loginView = part("section", "login-view");
    loginView.hidden = true;
    loginView.append(form);
    document.body.prepend(error, loading, loginView);

    // Who is logged in, and the way out, close the page's own header.
    const header = $(".console-header");
    const logout = Object.assign(part("button", "logout", "console.log_out"), { type: "button" });
    const userBadge = part("span", "user");
    header.append(part("span", "spacer"));
    let languageSwitch = null;
    if (texts.languages.length > 1) {
      languageSwitch = part("select", "language-switch");
      languageSwitch.dataset.textAriaLabel = "console.language";
      for (const code of texts.languages) {
        languageSwitch.append(Object.assign(el("option", null, LANGUAGE_NAMES[code] || code), { value: code, lang: HTML_LANG[code] || code }));
      }
      languageSwitch.value = texts.language;
      languageSwitch.addEventListener("change", () => setLanguage(languageSwitch.value));
      header.append(languageSwitch);
    }
    header.append(userBadge, logout);

    return { error, errorText: $(".console-error-text", error), close, loading, loginView, form, languageSwitch,
      email: $(".console-login-email", form), password: $(".console-login-password", form),
      submit: $(".console-login-submit", form), user: userBadge, logout,
      app: $(".console-app"), main: $(".console-main") };
  }

  function showError(message) {
    session.ui.errorText.textContent = message;
    session.ui.error.hidden = !message;
  }
  const clearError = () => showError("");

  function showLogin() {
    const ui = session.ui;
    ui.loading.hidden = ui.app.hidden = true;
    ui.loginView.hidden = false;
    ui.email.focus();
  }

  function drawUser(user) {
    const role = el("span", "console-user-role", t(`console.role.${user.role}`));
    session.ui.user.replaceChildren(el("span", "console-user-name", user.name || user.email), " (", role, ")");
  }

  function begin(user) {
    const ui = session.ui;
    session.user = user;
    // The account's language, when the user chose one, wins over this browser's (nothing is drawn yet).
    if (texts.languages.includes(user.language) && user.language !== texts.language) {
      applyLanguage(user.language);
    }
    drawUser(user);
    ui.loading.hidden = ui.loginView.hidden = true;
    ui.app.hidden = ui.main.hidden = false;
    session.options.onStart(user);
  }

  // Logged out, here or by the server: the page clears what it showed, then the login form.
  function end(message) {
    session.user = null;
    session.options.onEnd();
    showLogin();
    if (message) showError(message);
  }

  // Where failed calls end up: an expired session means logging in again; a 403 goes to the page's
  // onForbidden when it has one (the account lacks the role), else it is shown like any refusal.
  function fail(error) {
    const status = error && error.status;
    if (status === 401 && session.user) end(t("console.session_ended"));
    else if (status === 403 && session.user && session.options.onForbidden) session.options.onForbidden();
    else showError((error && error.message) || String(error));
  }

  // Logged in, but not with the role this console is for.
  function refuse(message) {
    session.ui.main.hidden = true;
    showError(message);
  }

  async function login(event) {
    event.preventDefault();
    const ui = session.ui;
    const email = ui.email.value.trim();
    const password = ui.password.value;
    if (!email || !password) { showError(t("console.enter_credentials")); return; }
    ui.submit.disabled = true;
    try {
      const user = await api("POST", "/auth/login", { email, password });
      ui.password.value = "";
      clearError();
      begin(user);
    } catch (error) {
      showError(error.message); // 401 wrong password, 429 too many tries: the server says which
    } finally {
      ui.submit.disabled = false;
    }
  }

  async function logout() {
    const leave = session.options.confirmLogout;
    if (leave && !leave()) return;
    if (session.options.beforeLogout) await session.options.beforeLogout();
    try { await api("POST", "/auth/logout"); } catch (_) { /* logged out here either way */ }
    end();
  }

  /* options: name ("agent": the prefix of the page's class names), title (the login heading's
   * catalogue key), onStart(user) and onEnd() (draw and clear the page), and optionally onForbidden()
   * (a 403 from fail()), confirmLogout() (false keeps the user here, e.g. unsaved work) and
 * beforeLogout() (awaited while the session still holds, e.g. an action waiting to be sent).
   * onLanguage(code) redraws what the page drew with t() when the switch changes the language.
   * The page speaks the account's language (/auth/me `language`) once logged in, else the one
   * last chosen in this browser, else the browser's. */
  async function start(options) {
    session.options = options;
    try {
      await loadTexts();
    } catch (error) {
      // Said in English: without the catalogue there is nothing else to say it in.
      const note = el("p", "console-error", `Cannot load the interface texts (${error.status || "offline"}). Reload the page.`);
      note.setAttribute("role", "alert");
      document.body.prepend(note);
      return;
    }
    session.ui = drawChrome(options.name, options.title);
    translate();
    session.ui.form.addEventListener("submit", login);
    session.ui.logout.addEventListener("click", logout);
    session.ui.close.addEventListener("click", clearError);
    try {
      begin(await api("GET", "/auth/me"));
    } catch (error) {
      if (error.status === 401) showLogin();
      else { session.ui.loading.hidden = true; showError(error.message); }
    }
  }

  // ---------------------------------------------------------------- the socket

  // A socket that reconnects with backoff (1 s doubling to 10 s) until stopped or refused.
  function liveSocket(path, { onFrame, onDown, onRefused }) {
    const live = { ws: null, stopped: false, delay: 1000, retry: null };
    const open = () => {
      const ws = new WebSocket(WS_BASE + API + path);
      live.ws = ws;
      ws.addEventListener("message", (event) => {
        let frame;
        try { frame = JSON.parse(event.data); } catch (_) { return; }
        if (frame.type === "ready") live.delay = 1000;
        onFrame(frame);
      });
      ws.addEventListener("close", (event) => {
        if (live.stopped || live.ws !== ws) return;
        if (event.code === 4401) { end(t("console.log_in_again")); return; }
        if (event.code === 4403) { onRefused(); return; }
        if (onDown) onDown();
        live.retry = setTimeout(open, live.delay);
        live.delay = Math.min(live.delay * 2, 10000);
      });
    };
    live.stop = () => {
      live.stopped = true;
      clearTimeout(live.retry);
      if (live.ws) live.ws.close();
    };
    open();
    return live;
  }

  window.KefuConsole = Object.freeze({
    start, user: () => session.user, fail, refuse, showError, clearError,
    api, liveSocket, t, translate, language, locale, setLanguage,
    $, el, button, find, markSelected, redrawList, activateItems,
  });
})();
