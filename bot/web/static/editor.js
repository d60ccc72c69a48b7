/* Kefu (客服) knowledge editor: articles, gaps, import and export, calibration. Plain ES2020, no build step.
 *
 * Login, session, the API and the page's frame come from console.js (KefuConsole).
 * Served at /editor with a strict CSP, so there is no inline script or style anywhere.
 * Every server string is written with textContent; the single exception is the Markdown
 * preview, see setPreview().
 */
(function () {
  "use strict";

  const { $, el, button, api, fail, clearError, showError, markSelected, t, locale } = KefuConsole;
  const SLUG = /^[a-z0-9][a-z0-9-]{0,79}$/;
  const PAGE_SIZE = 20;
  const MAX_DRAFT_QUESTIONS = 20;
  // A value's text by the value ("editor.band.answer"), or the value itself when it has none.
  const label = (prefix, value) => {
    const key = `${prefix}.${value}`;
    const text = t(key);
    return text === key ? String(value ?? "?") : text;
  };

  const ui = KefuConsole.find("editor", ["search", "new",
    "filter-status", "filter-language", "filter-category", "filter-tag", "filter-review", "list", "list-empty",
    "prev", "next", "page", "placeholder", "form", "heading", "status", "version", "form-review", "dirty", "stats",
    "conflict", "conflict-text", "reload", "your-text", "your-text-body", "id", "title", "language", "translation-of",
    "category", "translations", "add-translation", "topic-stats",
    "category-list", "tags", "questions", "body", "preview", "save", "publish", "archive", "saved", "history", "diff",
    "try", "try-input", "try-language", "try-btn", "try-result", "try-band", "try-hits", "gaps", "gaps-empty",
    "gaps-days", "gaps-total", "import", "import-file", "import-btn", "import-report", "item-template",
    "gap-template", "calibration-when", "calibration-badge", "calibration-reason", "calibration-precision",
    "calibration-answered", "calibration-kept-out", "calibration-self-top1", "calibration-method", "confusable",
    "confusable-empty"]);
  const me = KefuConsole.user;

  const state = {
    rows: [], count: 0, offset: 0, listSeq: 0, searchTimer: null,
    article: null, // the article as last loaded or saved; null while writing a new one
    isNew: false, snapshot: "", busy: false, articleSeq: 0,
    previewTimer: null, previewSeq: 0, trySeq: 0,
    gaps: [], gapsLoaded: false, gapsSeq: 0,
    calibrationSeq: 0, calibrationTimer: null,
    translating: null, // the source's title while writing a translation of it
    categories: [], tags: [], gapsTotal: 0, calibration: undefined, // what the last answers said
  };

  // ---------------------------------------------------------------- helpers

  const enc = encodeURIComponent;
  // Dates and numbers in the staff member's locale (console.js locale()).
  const when = (iso) => {
    const date = new Date(iso);
    return !iso || isNaN(date) ? "" : date.toLocaleString(locale(), { dateStyle: "medium", timeStyle: "short" });
  };
  const count = (n) => (Number.isFinite(Number(n)) ? Number(n) : 0);
  const fmt = (n, options) => new Intl.NumberFormat(locale(), options).format(n);
  // "1 question" / "3 questions": the key's .one or .other text (Chinese has one form for both).
  const plural = (n, key) => t(`${key}.${new Intl.PluralRules("en").select(n) === "one" ? "one" : "other"}`, { count: fmt(n) });
  // A text whose placeholders hold elements (a name someone typed stays in its own span).
  function textWith(key, nodes, values) {
    const parts = t(key, values).split(/(\{\w+\})/);
    return parts.filter(Boolean).map((part) => {
      const name = part.slice(1, -1);
      return part.startsWith("{") && nodes[name] !== undefined ? nodes[name] : part;
    });
  }
  const statsOf = (s) => ({ offered: fmt(count(s.offered)), answered: fmt(count(s.answered)), helpful: fmt(count(s.helpful)),
    not_helpful: fmt(count(s.not_helpful)), handoff_after: fmt(count(s.handoff_after)) });

  // Awaits a call; a failure goes to fail() unless `current()` says its answer is no longer wanted.
  async function attempt(call, current = () => true) {
    try { return await call; } catch (error) { if (current()) fail(error); return null; }
  }

  // ---------------------------------------------------------------- session

  function startApp() {
    document.title = t("editor.title");
    setTab(location.hash === "#gaps" ? "gaps" : "articles", false); // the reports link to #gaps
    loadList();
  }

  function loggedOut() { // nothing of the last session stays on screen
    Object.assign(state, { rows: [], offset: 0, gaps: [], gapsLoaded: false });
    for (const list of [ui.list, ui.gaps, ui.importReport, ui.history, ui.diff]) list.replaceChildren();
    ui.tryResult.hidden = true;
    showCalibration(null);
    closeArticle();
  }

  const notEditor = () => KefuConsole.refuse(t("editor.refused"));

  window.addEventListener("beforeunload", (event) => { if (isDirty()) event.preventDefault(); });

  // ---------------------------------------------------------------- tabs

  const tabs = [...document.querySelectorAll(".editor-tab")];
  function setTab(name, focus) {
    for (const tab of tabs) {
      const on = tab.dataset.tab === name;
      tab.setAttribute("aria-selected", String(on));
      tab.tabIndex = on ? 0 : -1;
      if (on && focus) tab.focus();
    }
    for (const panel of document.querySelectorAll(".editor-panel")) panel.hidden = panel.dataset.panel !== name;
    if (name === "gaps" && !state.gapsLoaded && me()) loadGaps();
    if (name === "calibration" && me()) loadCalibration(); // it changes a few seconds after every edit
  }

  $(".editor-tabs").addEventListener("click", (event) => {
    const tab = event.target.closest(".editor-tab");
    if (tab) setTab(tab.dataset.tab, false);
  });
  // Arrow keys move between tabs (the WAI-ARIA tabs pattern).
  $(".editor-tabs").addEventListener("keydown", (event) => {
    const at = tabs.indexOf(event.target);
    if (at < 0) return;
    const to = { ArrowRight: at + 1, ArrowLeft: at - 1, Home: 0, End: tabs.length - 1 }[event.key];
    if (to === undefined) return;
    event.preventDefault();
    setTab(tabs[(to + tabs.length) % tabs.length].dataset.tab, true);
  });

  // ---------------------------------------------------------------- article list

  async function loadList() {
    const seq = ++state.listSeq;
    const params = new URLSearchParams(Object.entries({ q: ui.search.value.trim(), status: ui.filterStatus.value,
      category: ui.filterCategory.value, language: ui.filterLanguage.value, tag: ui.filterTag.value,
      needs_review: ui.filterReview.checked ? "true" : "", offset: String(state.offset), limit: String(PAGE_SIZE),
    }).filter(([, value]) => value)); // empty filters are left out
    const data = await attempt(api("GET", `/articles?${params}`), () => seq === state.listSeq);
    if (!data || seq !== state.listSeq || !me()) return;
    state.rows = Array.isArray(data.data) ? data.data : [];
    state.count = count(data.count);
    if (!state.rows.length && state.offset > 0 && state.count > 0) { // the last page emptied: step back
      state.offset = Math.floor((state.count - 1) / PAGE_SIZE) * PAGE_SIZE;
      loadList();
      return;
    }
    state.categories = data.categories;
    state.tags = data.tags;
    fillFilters();
    ui.categoryList.replaceChildren(...(data.categories || []).map((c) => Object.assign(el("option"), { value: c })));
    renderList();
  }

  function fillFilters() {
    fillOptions(ui.filterCategory, state.categories, t("editor.filter.all_categories"));
    fillOptions(ui.filterTag, state.tags, t("editor.filter.all_tags"));
  }

  // Rebuild a filter's options from the server's list, keeping the current choice.
  function fillOptions(select, values, allLabel) {
    const current = select.value;
    const list = Array.isArray(values) ? values.map(String) : [];
    if (current && !list.includes(current)) list.unshift(current);
    const option = (value, label) => Object.assign(el("option", null, label), { value });
    select.replaceChildren(option("", allLabel), ...list.map((value) => option(value, value)));
    select.value = current;
  }

  function renderList() {
    KefuConsole.redrawList(ui.list, state.rows.map(listItem), "articleId");
    ui.listEmpty.hidden = state.rows.length > 0;
    const first = state.rows.length ? state.offset + 1 : 0;
    const last = state.offset + state.rows.length;
    ui.page.textContent = state.rows.length ? t("editor.list.page", { first: fmt(first), last: fmt(last), count: fmt(state.count) })
      : t("editor.list.page_empty", { count: fmt(state.count) });
    ui.prev.disabled = state.offset <= 0;
    ui.next.disabled = last >= state.count;
  }

  function listItem(row) {
    const item = ui.itemTemplate.content.firstElementChild.cloneNode(true);
    KefuConsole.translate(item);
    item.dataset.articleId = String(row.id);
    item.classList.add(`status-${row.status}`);
    markSelected(item, Boolean(state.article) && state.article.id === row.id);
    const lang = $(".editor-lang", item);
    lang.textContent = String(row.language || "?").toUpperCase();
    lang.classList.add(`lang-${row.language}`);
    statusBadge($(".editor-item-status", item), row.status);
    if (!row.needs_review) $(".editor-needs-review", item).remove();
    const s = row.stats || {};
    const stats = $(".editor-item-stats", item);
    stats.textContent = t("editor.item.stats", statsOf(s));
    stats.title = t("editor.item.stats_title", statsOf(s));
    const translations = Array.isArray(row.translations) ? row.translations : [];
    const others = $(".editor-item-translations", item);
    if (translations.length) {
      others.textContent = `+ ${translations.map((t) => String(t.language || "?").toUpperCase()).join(" ")}`;
      others.title = translations.map((x) => t("editor.item.translation", { language: x.language, title: x.title, id: x.id })).join("\n");
    } else others.remove();
    $(".editor-item-title", item).textContent = row.title || t("editor.untitled");
    $(".editor-item-id", item).replaceChildren(`${row.id} · v${row.version}`, ...(row.category ? [" · ", el("span", null, row.category)] : []));
    return item;
  }

  function statusBadge(node, status) { // "draft" / "published" / "archived" / "new", coloured by class
    node.textContent = label("editor.status", status);
    node.classList.remove("st-draft", "st-published", "st-archived", "st-new");
    node.classList.add(`st-${status}`);
    return node;
  }

  function markListSelection() {
    const id = state.article ? state.article.id : null;
    for (const item of ui.list.children) markSelected(item, item.dataset.articleId === id);
  }

  KefuConsole.activateItems(ui.list, ".editor-item", (item) => openArticle(item.dataset.articleId));

  const reloadFromStart = () => { state.offset = 0; loadList(); };
  for (const filter of [ui.filterStatus, ui.filterLanguage, ui.filterCategory, ui.filterTag, ui.filterReview]) {
    filter.addEventListener("change", reloadFromStart);
  }
  ui.search.addEventListener("input", () => { clearTimeout(state.searchTimer); state.searchTimer = setTimeout(reloadFromStart, 300); });
  ui.prev.addEventListener("click", () => { state.offset = Math.max(0, state.offset - PAGE_SIZE); loadList(); });
  ui.next.addEventListener("click", () => { state.offset += PAGE_SIZE; loadList(); });
  ui.new.addEventListener("click", () => { if (confirmDiscard()) newArticle({}); });

  // ---------------------------------------------------------------- the form

  const lines = (text) => text.split("\n").map((s) => s.trim()).filter(Boolean);
  const splitTags = (text) => [...new Set(text.split(/[,，、]/).map((s) => s.trim()).filter(Boolean))];
  function formValues() {
    return {
      title: ui.title.value.trim(), body: ui.body.value, questions: lines(ui.questions.value),
      category: ui.category.value.trim(), tags: splitTags(ui.tags.value), language: ui.language.value,
      translation_of: ui.translationOf.value.trim() || null, // sent as null to unlink
    };
  }

  const EMPTY = JSON.stringify({ title: "", body: "", questions: [], category: "", tags: [], language: "en",
    translation_of: null });
  const isDirty = () => !ui.form.hidden && JSON.stringify(formValues()) !== state.snapshot;
  const confirmDiscard = () => !isDirty() || window.confirm(t("editor.discard.confirm"));
  const setField = (field, value) => { if (field.value !== value) field.value = value; }; // keeps the caret

  function fillForm(a) {
    setField(ui.id, a.id || "");
    setField(ui.title, a.title || "");
    ui.language.value = a.language === "zh" ? "zh" : "en";
    setField(ui.translationOf, a.translation_of || "");
    setField(ui.category, a.category || "");
    setField(ui.tags, (a.tags || []).join(", "));
    setField(ui.questions, (a.questions || []).join("\n"));
    setField(ui.body, a.body || "");
  }

  // Show a saved article: the form, its status, its preview; keepConflict leaves the 409 box open.
  function showArticle(article, keepConflict) {
    Object.assign(state, { article, isNew: false });
    ui.placeholder.hidden = true;
    ui.form.hidden = false;
    fillForm(article);
    state.snapshot = JSON.stringify(formValues());
    ui.id.readOnly = true;
    ui.heading.textContent = article.title || article.id;
    statusBadge(ui.status, article.status);
    ui.version.textContent = t("editor.version", { version: article.version });
    ui.formReview.hidden = !article.needs_review;
    ui.stats.replaceChildren(t("editor.stats", statsOf(article.stats || {})), ...(article.author
      ? textWith("editor.stats.saved_by", { author: el("span", null, article.author) }, { when: when(article.updated_at) }) : []));
    showTranslations(article);
    if (!keepConflict) ui.conflict.hidden = true;
    cancelPreview();
    setPreview(article.body_html || "");
    markListSelection();
    updateButtons();
  }

  function newArticle(prefill) {
    state.articleSeq += 1; // drop any article still loading
    Object.assign(state, { article: null, isNew: true });
    ui.placeholder.hidden = true;
    ui.form.hidden = false;
    ui.conflict.hidden = true;
    fillForm(Object.assign({ language: "en" }, prefill));
    state.snapshot = EMPTY; // a prefilled draft counts as unsaved work
    ui.id.readOnly = false;
    state.translating = null;
    newHeading();
    statusBadge(ui.status, "new");
    ui.version.textContent = ui.stats.textContent = ui.saved.textContent = "";
    ui.formReview.hidden = true;
    showTranslations(null);
    ui.history.replaceChildren(el("li", "editor-none", t("editor.history.first_save")));
    ui.diff.replaceChildren();
    cancelPreview();
    setPreview("");
    if (ui.body.value.trim()) schedulePreview();
    markListSelection();
    updateButtons();
    (ui.id.value ? ui.title : ui.id).focus();
  }

  // "New article", or "New translation of “<the source's title>”" (the title in its own span).
  function newHeading() {
    if (state.translating === null) ui.heading.textContent = t("editor.new");
    else ui.heading.replaceChildren(...textWith("editor.translations.new_heading", { title: el("span", null, state.translating) }));
  }

  function closeArticle() {
    Object.assign(state, { articleSeq: state.articleSeq + 1, article: null, isNew: false, snapshot: "" });
    ui.form.hidden = true;
    ui.placeholder.hidden = false;
    cancelPreview();
    setPreview("");
  }

  async function openArticle(id, force) {
    if (!id || (!force && !confirmDiscard())) return;
    clearError();
    ui.saved.textContent = "";
    ui.diff.replaceChildren();
    const seq = ++state.articleSeq;
    const article = await attempt(api("GET", `/articles/${enc(id)}`), () => seq === state.articleSeq);
    if (!article || seq !== state.articleSeq) return null;
    showArticle(article, force === "keep-conflict");
    loadHistory();
    return article;
  }

  function updateButtons() {
    const dirty = isDirty();
    const status = state.article ? state.article.status : "draft";
    ui.dirty.hidden = !dirty;
    ui.save.textContent = t(state.isNew || status === "draft" ? "editor.save_draft" : "editor.save");
    ui.save.disabled = state.busy || (!state.isNew && !dirty);
    ui.publish.textContent = t(status === "published" && dirty ? "editor.save_publish" : "editor.publish");
    ui.archive.textContent = t("editor.archive");
    ui.publish.disabled = state.busy || (!state.isNew && status === "published" && !dirty);
    ui.archive.disabled = state.busy || state.isNew || status === "archived";
  }

  ui.form.addEventListener("input", (event) => {
    ui.saved.textContent = "";
    updateButtons();
    if (event.target === ui.body) schedulePreview();
  });
  ui.form.addEventListener("change", updateButtons);
  ui.form.addEventListener("submit", (event) => { event.preventDefault(); write("draft"); });
  ui.form.addEventListener("keydown", (event) => { // Ctrl+S / ⌘S saves
    if (!(event.ctrlKey || event.metaKey) || event.key.toLowerCase() !== "s") return;
    event.preventDefault();
    if (!ui.save.disabled) write("draft");
  });
  ui.publish.addEventListener("click", () => write("published"));
  ui.archive.addEventListener("click", () => {
    if (window.confirm(t("editor.archive.confirm"))) write("archived");
  });

  // Save, publish or archive. Pending edits are saved first (PUT keeps the status), then the status call.
  function write(target) {
    const values = formValues();
    const id = ui.id.value.trim();
    const problem = !state.isNew ? null : !SLUG.test(id) ? [ui.id, t("editor.invalid.id")]
      : !values.title ? [ui.title, t("editor.invalid.title")] : null;
    const badLink = values.translation_of && !SLUG.test(values.translation_of);
    if (problem || badLink) {
      const [field, message] = problem || [ui.translationOf, t("editor.invalid.translation_of")];
      showError(message);
      field.focus();
      return;
    }
    change(async () => {
      let article = state.article;
      if (state.isNew) {
        article = await api("POST", "/articles", { id, ...values, status: target === "published" ? "published" : "draft" });
        showArticle(article);
      } else if (isDirty() || target === "draft") {
        article = await api("PUT", `/articles/${enc(article.id)}`, { expected_version: article.version, ...values });
        showArticle(article);
      }
      if (target !== "draft" && article.status !== target) {
        article = await api("POST", `/articles/${enc(article.id)}/status`, { status: target, expected_version: article.version });
        showArticle(article);
      }
      return t(`editor.saved.${target}`, { version: article.version });
    });
  }

  // Runs one write (its steps show what they get back), then says so in .editor-saved and refreshes
  // the list and the history. A 409 on an existing article is somebody else's newer version.
  async function change(steps) {
    if (state.busy) return;
    clearError();
    setBusy(true);
    try {
      ui.saved.textContent = await steps();
      loadList();
      loadHistory();
    } catch (error) {
      if (error.status === 409 && !state.isNew && state.article) conflict(error.message);
      else fail(error); // 409 on create: the id is taken; 422: "field: msg" lines
      if (error.status === 409 && state.isNew) ui.id.focus();
    } finally {
      setBusy(false);
    }
  }
  const setBusy = (on) => { state.busy = on; updateButtons(); };

  // ---------------------------------------------------------------- translations

  // The article's topic: the other articles (language, title to open, status), the topic's outcomes,
  // and "Add a translation" while the topic lacks the other language. A new draft shows none yet.
  const otherLanguage = (language) => (language === "zh" ? "en" : "zh");
  // returns-policy → returns-policy-zh; installment-payment-zh → installment-payment-en
  const translationId = (id, language) => `${id.replace(/-(zh|en)$/, "").slice(0, 77)}-${language}`;

  function showTranslations(article) {
    const translations = article && Array.isArray(article.translations) ? article.translations : [];
    const items = translations.map((x) => {
      const item = el("li", "editor-translation");
      item.dataset.articleId = String(x.id);
      item.append(el("span", `console-badge console-lang lang-${x.language}`, String(x.language || "?").toUpperCase()),
        button("editor-translation-open", x.title || x.id), el("span", "editor-translation-id", x.id),
        statusBadge(el("span", "console-badge editor-badge"), x.status));
      return item;
    });
    if (!items.length) {
      items.push(el("li", "editor-none", t(article ? "editor.translations.none" : "editor.translations.new_hint")));
    }
    ui.translations.replaceChildren(...items);
    const other = article ? otherLanguage(article.language) : null;
    ui.addTranslation.hidden = !article || translations.some((x) => x.language === other);
    ui.addTranslation.textContent = other ? t("editor.translations.add_in", { language: t(`reports.language.${other}`) })
      : t("editor.translations.add");
    const s = article && translations.length ? article.topic_stats || {} : null;
    ui.topicStats.textContent = s ? t("editor.topic_stats", statsOf(s)) : "";
  }

  ui.translations.addEventListener("click", (event) => {
    const open = event.target.closest(".editor-translation-open");
    if (open) openArticle(open.closest(".editor-translation").dataset.articleId);
  });

  // A new draft in the other language, linked to this article; category and tags carried over.
  ui.addTranslation.addEventListener("click", () => {
    const source = state.article;
    if (!source || !confirmDiscard()) return;
    const language = otherLanguage(source.language);
    clearError();
    newArticle({ id: translationId(source.id, language), language, translation_of: source.id,
      category: source.category, tags: source.tags });
    state.translating = source.title || source.id;
    newHeading();
  });

  // ---------------------------------------------------------------- optimistic locking

  // Someone saved a newer version since this one was loaded: say so, offer Reload, keep our text.
  function conflict(message) {
    showError(message);
    const v = formValues();
    const line = (field, value) => t("editor.conflict.line", { label: t(`editor.field.${field}`), value });
    ui.yourTextBody.textContent = [line("title", v.title), line("language", v.language),
      line("translation_of", v.translation_of || t("editor.conflict.none")), line("category", v.category),
      line("tags", v.tags.join(", ")), "", line("questions", ""), ...v.questions, "", line("body", ""), v.body].join("\n");
    ui.conflictText.textContent = message;
    ui.reload.hidden = false;
    ui.yourText.open = false;
    ui.conflict.hidden = false;
    ui.conflict.scrollIntoView({ block: "nearest" });
    ui.reload.focus();
  }

  ui.reload.addEventListener("click", async () => {
    if (!state.article) return;
    const article = await openArticle(state.article.id, "keep-conflict");
    if (!article) return;
    clearError();
    ui.conflictText.replaceChildren(...(article.author
      ? textWith("editor.conflict.reloaded_by", { author: el("span", null, article.author) }, { version: article.version })
      : [t("editor.conflict.reloaded", { version: article.version })]));
    ui.reload.hidden = true;
    ui.yourText.open = true;
  });

  $(".editor-conflict-close").addEventListener("click", () => { ui.conflict.hidden = true; });

  // ---------------------------------------------------------------- Markdown preview

  const cancelPreview = () => { clearTimeout(state.previewTimer); state.previewSeq += 1; };
  const schedulePreview = () => { cancelPreview(); state.previewTimer = setTimeout(renderPreview, 300); };

  async function renderPreview() {
    const seq = ++state.previewSeq;
    const body = ui.body.value;
    if (!body.trim()) { setPreview(""); return; }
    try {
      const data = await api("POST", "/articles/preview", { body });
      if (seq === state.previewSeq) setPreview(data && data.html);
    } catch (error) {
      if (seq !== state.previewSeq) return;
      if (error.status === 401 || error.status === 403) fail(error);
      else ui.preview.replaceChildren(el("p", "editor-none", t("editor.preview.unavailable", { error: error.message })));
    }
  }

  function setPreview(html) {
    // The one innerHTML in this console, and only ever into .editor-preview. It is safe because
    // the HTML comes from this server's own Markdown renderer (`html` of /articles/preview, or
    // `body_html` of an article), which escapes raw HTML in the Markdown and drops javascript:
    // and other unsafe links; on top of that the page's CSP (script-src 'self') runs no inline
    // script or handler even if something slipped through.
    ui.preview.innerHTML = typeof html === "string" ? html : "";
    for (const link of ui.preview.querySelectorAll("a[href]")) { // never navigate away from unsaved work
      Object.assign(link, { target: "_blank", rel: "noopener noreferrer" });
    }
  }

  // ---------------------------------------------------------------- history, diff, restore

  async function loadHistory() {
    const article = state.article;
    if (!article) return;
    const seq = state.articleSeq;
    const data = await attempt(api("GET", `/articles/${enc(article.id)}/versions`), () => seq === state.articleSeq);
    if (!data || seq !== state.articleSeq || !state.article) return;
    const current = state.article.version;
    const items = (data.data || []).map((v) => {
      const item = el("li", "editor-history-item");
      item.dataset.version = String(v.version);
      item.append(el("strong", "editor-history-version", `v${v.version}`), statusBadge(el("span", "console-badge editor-badge"), v.status),
        el("span", "editor-history-title", v.title),
        el("span", "editor-history-meta", v.author || "?"), el("span", "editor-history-meta", ` · ${when(v.created_at)}`));
      if (v.version === current) item.append(el("span", "editor-history-current", t("editor.history.current")));
      else item.append(button("editor-diff-btn", t("editor.history.diff")), button("editor-restore-btn", t("editor.history.restore")));
      return item;
    });
    ui.history.replaceChildren(...items);
  }

  ui.history.addEventListener("click", (event) => {
    const target = event.target.closest("button");
    const item = target && target.closest(".editor-history-item");
    if (!item || !state.article) return;
    const version = Number(item.dataset.version);
    if (target.matches(".editor-diff-btn")) showDiff(version, target);
    else if (target.matches(".editor-restore-btn")) restore(version);
  });

  async function showDiff(from, trigger) {
    const article = state.article;
    trigger.disabled = true;
    const data = await attempt(api("GET", `/articles/${enc(article.id)}/diff?from=${from}&to=${article.version}`));
    trigger.disabled = false;
    if (!data || state.article !== article) return;
    const head = el("div", "editor-diff-head");
    head.append(el("strong", null, t("editor.diff.heading", { from: data.from, to: data.to })),
      button("editor-diff-close", t("editor.diff.close")));
    const parts = [head];
    for (const field of data.fields || []) {
      const block = el("div", "editor-diff-lines");
      for (const line of field.lines || []) {
        const op = line.op === "+" || line.op === "-" ? line.op : " ";
        block.append(el("div", `diff-line ${{ "+": "diff-add", "-": "diff-del", " ": "diff-same" }[op]}`, `${op} ${line.text}`));
      }
      parts.push(el("h4", "editor-diff-field", label("editor.field", field.field)), block);
    }
    if (parts.length === 1) parts.push(el("p", "editor-none", t("editor.diff.none")));
    ui.diff.replaceChildren(...parts);
  }

  ui.diff.addEventListener("click", (event) => { if (event.target.closest(".editor-diff-close")) ui.diff.replaceChildren(); });

  function restore(version) {
    const article = state.article;
    const question = t("editor.restore.confirm", { version });
    if (!window.confirm(isDirty() ? `${question}\n${t("editor.restore.lose")}` : question)) return;
    change(async () => {
      const restored = await api("POST", `/articles/${enc(article.id)}/restore`, { version, expected_version: article.version });
      showArticle(restored);
      ui.diff.replaceChildren();
      return t("editor.saved.restored", { version, new_version: restored.version });
    });
  }

  // ---------------------------------------------------------------- try a question

  ui.try.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = ui.tryInput.value.trim();
    if (!text) { ui.tryInput.focus(); return; }
    const seq = ++state.trySeq;
    const body = { text };
    if (ui.tryLanguage.value) body.language = ui.tryLanguage.value;
    ui.tryBtn.disabled = true;
    const data = await attempt(api("POST", "/articles/try", body), () => seq === state.trySeq);
    if (seq !== state.trySeq) return;
    ui.tryBtn.disabled = false;
    if (!data) return;
    const band = label("editor.band", data.band);
    ui.tryBand.textContent = data.language ? t("editor.try.band_language", { band, language: data.language }) : t("editor.try.band", { band });
    ui.tryBand.className = `editor-try-band band-${data.band}`;
    const hits = (data.hits || []).slice(0, 5).map((hit) => {
      const item = el("li", "editor-try-hit");
      item.dataset.articleId = String(hit.article_id);
      const matched = hit.matched || {};
      item.appendChild(el("div", "editor-try-head")).append(button("editor-try-open", hit.title || hit.article_id),
        el("span", "editor-try-id", hit.article_id), statusBadge(el("span", "console-badge editor-badge"), hit.status),
        el("span", "editor-try-score", score(hit.score)));
      item.appendChild(el("p", "editor-try-matched")).append(el("span", "editor-try-kind", label("editor.kind", matched.kind)),
        el("span", "editor-try-text", matched.text || ""));
      return item;
    });
    ui.tryHits.replaceChildren(...hits);
    if (!hits.length) ui.tryHits.replaceChildren(el("li", "editor-none", t("editor.try.none")));
    ui.tryResult.hidden = false;
  });

  $(".editor-try-clear").addEventListener("click", () => { ui.tryResult.hidden = true; ui.tryInput.focus(); });
  ui.tryHits.addEventListener("click", (event) => {
    const open = event.target.closest(".editor-try-open");
    if (open) openArticle(open.closest(".editor-try-hit").dataset.articleId);
  });

  // ---------------------------------------------------------------- gaps

  async function loadGaps() {
    const seq = ++state.gapsSeq;
    state.gapsLoaded = true;
    ui.gapsTotal.textContent = t("console.loading");
    const data = await attempt(api("GET", `/gaps?days=${enc(ui.gapsDays.value)}`), () => seq === state.gapsSeq);
    if (seq !== state.gapsSeq) return;
    if (!data) { state.gapsLoaded = false; ui.gapsTotal.textContent = ""; return; }
    state.gaps = Array.isArray(data.clusters) ? data.clusters : [];
    state.gapsTotal = count(data.total);
    showGapsTotal();
    ui.gaps.replaceChildren(...state.gaps.map(gapItem));
    ui.gapsEmpty.hidden = state.gaps.length > 0;
  }

  const showGapsTotal = () => {
    ui.gapsTotal.textContent = t("editor.gaps.total", { questions: plural(state.gapsTotal, "editor.gaps.unanswered"),
      groups: plural(state.gaps.length, "editor.gaps.groups") });
  };
  const tally = (counts, prefix) => Object.entries(counts || {}).filter(([, n]) => count(n) > 0)
    .map(([key, n]) => `${prefix ? label(prefix, key) : key} ${fmt(count(n))}`).join(" · ");
  function gapItem(cluster, index) {
    const item = ui.gapTemplate.content.firstElementChild.cloneNode(true);
    KefuConsole.translate(item);
    item.dataset.gapIndex = String(index);
    $(".editor-gap-size", item).textContent = plural(count(cluster.size), "editor.count.questions");
    $(".editor-gap-langs", item).textContent = tally(cluster.languages);
    $(".editor-gap-seen", item).textContent = cluster.last_seen ? t("editor.gaps.seen", { when: when(cluster.last_seen) }) : "";
    $(".editor-gap-reasons", item).textContent = tally(cluster.reasons, "editor.gaps.reason");
    $(".editor-gap-samples", item).replaceChildren(...(cluster.samples || []).map((s) => el("li", null, s)));
    return item;
  }

  ui.gaps.addEventListener("click", (event) => {
    const draft = event.target.closest(".editor-gap-draft");
    const cluster = draft && state.gaps[Number(draft.closest(".editor-gap").dataset.gapIndex)];
    if (!cluster || !confirmDiscard()) return;
    const langs = Object.entries(cluster.languages || {}).sort((a, b) => count(b[1]) - count(a[1]));
    const questions = (cluster.questions || []).slice(0, MAX_DRAFT_QUESTIONS);
    setTab("articles", false);
    clearError();
    newArticle({ title: (cluster.samples || [])[0] || questions[0] || "", questions,
      language: langs.length ? langs[0][0] : "en", body: "" });
  });

  ui.gapsDays.addEventListener("change", loadGaps);
  $(".editor-gaps-refresh").addEventListener("click", loadGaps);

  // ---------------------------------------------------------------- calibration

  const CALIBRATION = ["calibrated", "fallback", "pending"];
  const finite = (x) => typeof x === "number" && Number.isFinite(x);
  const percent = (x) => (finite(x) ? fmt(x, { style: "percent", minimumFractionDigits: 1, maximumFractionDigits: 1 }) : "–");
  const score = (x) => (finite(x) ? fmt(x, { minimumFractionDigits: 3, maximumFractionDigits: 3 }) : "?");
  const calibrationShown = () => !$("#editor-panel-calibration").hidden;

  async function loadCalibration() {
    const seq = ++state.calibrationSeq;
    clearTimeout(state.calibrationTimer);
    ui.calibrationWhen.textContent = t("console.loading");
    const data = await attempt(api("GET", "/retrieval/calibration"), () => seq === state.calibrationSeq);
    if (seq !== state.calibrationSeq || !me()) return;
    showCalibration(data);
    // The first calibration of a new knowledge base takes a few seconds: look again meanwhile.
    if (data && data.status === "pending") {
      state.calibrationTimer = setTimeout(() => { if (calibrationShown() && me()) loadCalibration(); }, 5000);
    }
  }

  function showCalibration(data) {
    state.calibration = data;
    const c = data || {};
    const status = CALIBRATION.includes(c.status) ? c.status : null;
    ui.calibrationBadge.textContent = status ? t(`editor.calibration.status.${status}`) : "";
    ui.calibrationBadge.className = `console-badge editor-badge editor-calibration-badge cal-${status || "none"}`;
    ui.calibrationBadge.hidden = !status;
    ui.calibrationReason.textContent = c.reason || "";
    ui.calibrationPrecision.textContent = percent(c.expected_precision);
    ui.calibrationAnswered.textContent = percent(c.answered_share);
    ui.calibrationKeptOut.textContent = percent(c.kept_out);
    ui.calibrationSelfTop1.textContent = percent(c.self_top1);
    const limits = c.thresholds || {};
    ui.calibrationMethod.textContent = !data ? "" : c.method === "model"
      ? t("editor.calibration.model", { low: score(limits.low) })
      : t("editor.calibration.thresholds", { high: score(limits.high), low: score(limits.low) });
    const measured = c.articles != null ? [t("editor.calibration.measured", { questions: plural(count(c.questions),
      "editor.count.questions"), articles: plural(count(c.articles), "editor.count.articles") })] : [];
    const took = finite(c.seconds) ? [t("editor.calibration.took", { seconds: fmt(c.seconds, { minimumFractionDigits: 1,
      maximumFractionDigits: 1 }) })] : [];
    ui.calibrationWhen.textContent = !data ? "" : c.computed_at
      ? [`${t("editor.calibration.computed", { when: when(c.computed_at) })}${took.length ? ` ${took[0]}` : ""}`,
        c.encoder || "?", ...measured].join(" · ")
      : String(c.encoder || "");
    const pairs = Array.isArray(c.confusable) ? c.confusable : [];
    ui.confusable.replaceChildren(...pairs.map(confusablePair));
    ui.confusableEmpty.hidden = !data || pairs.length > 0;
    ui.confusableEmpty.textContent = t(status === "calibrated" ? "editor.confusable.empty" : "editor.confusable.pending");
  }

  // "4 questions land on each other: <title A> ↔ <title B>", each title a button that opens the article.
  function confusablePair(pair) {
    const n = count(pair.questions);
    const item = el("li", "editor-confusable-pair");
    const form = new Intl.PluralRules("en").select(n) === "one" ? "one" : "other";
    item.append(el("span", "editor-confusable-count", t(`editor.confusable.count.${form}`,
      { questions: plural(n, "editor.count.questions") })));
    (pair.topics || []).forEach((topic, index) => {
      if (index) item.append(el("span", "editor-confusable-sep", "↔"));
      item.append(confusableTopic(topic));
    });
    return item;
  }

  function confusableTopic(topic) {
    const side = el("span", "editor-confusable-topic");
    const articles = Array.isArray(topic.articles) ? topic.articles : [];
    articles.forEach((a, index) => {
      if (index) side.append(el("span", "editor-confusable-or", "/"));
      const open = button("editor-confusable-open", a.title || a.id);
      open.dataset.articleId = String(a.id);
      open.title = t("editor.confusable.open", { id: a.id });
      open.prepend(el("span", `console-badge console-lang lang-${a.language}`, String(a.language || "?").toUpperCase()));
      side.append(open);
    });
    if (!articles.length) side.append(el("span", "editor-none", t("editor.confusable.unpublished", { topic: topic.topic_id })));
    return side;
  }

  ui.confusable.addEventListener("click", (event) => {
    const open = event.target.closest(".editor-confusable-open");
    if (!open || !confirmDiscard()) return;
    setTab("articles", false);
    openArticle(open.dataset.articleId, true);
  });
  $(".editor-calibration-refresh").addEventListener("click", loadCalibration);

  // ---------------------------------------------------------------- import

  const formatOf = (name) => (/\.jsonl$/i.test(name) ? "jsonl" : /\.(md|markdown)$/i.test(name) ? "markdown" : null);
  ui.import.addEventListener("submit", async (event) => {
    event.preventDefault();
    const files = [...ui.importFile.files];
    if (!files.length) { showError(t("editor.import.choose")); return; }
    const unknown = files.filter((f) => !formatOf(f.name)).map((f) => f.name);
    if (unknown.length) { showError(t("editor.import.unknown", { files: unknown.join(", ") })); return; }
    clearError();
    ui.importBtn.disabled = true;
    ui.importReport.replaceChildren(el("p", "editor-none", t("editor.import.running")));
    const total = { created: 0, updated: 0, unchanged: 0, rejected: [] };
    let failed = null;
    try {
      for (const format of ["jsonl", "markdown"]) { // the API takes one format per request
        const group = files.filter((f) => formatOf(f.name) === format);
        if (!group.length) continue;
        const payload = await Promise.all(group.map(async (f) => ({ name: f.name, content: await f.text() })));
        const report = await api("POST", "/articles/import", { format, files: payload });
        for (const key of ["created", "updated", "unchanged"]) total[key] += count(report[key]);
        total.rejected.push(...(report.rejected || []));
      }
    } catch (error) {
      failed = error; // reported below, after what did get imported
    }
    ui.importBtn.disabled = false;
    const summary = el("p", "editor-import-summary", t("editor.import.summary", { created: fmt(total.created),
      updated: fmt(total.updated), unchanged: fmt(total.unchanged), rejected: fmt(total.rejected.length) }));
    const rejected = el("ul", "editor-import-rejected");
    for (const r of total.rejected) rejected.append(el("li", null, `${r.location}: ${r.reason}`));
    ui.importReport.replaceChildren(summary, rejected);
    if (failed) fail(failed);
    if (total.created || total.updated) loadList();
  });

  // A new language redraws what this page drew with t(); the static parts follow data-text.
  function relanguage() {
    document.title = t("editor.title");
    fillFilters();
    renderList();
    updateButtons();
    if (state.article && !state.isNew) {
      const dirty = isDirty();
      const values = dirty ? formValues() : null;
      showArticle(state.article, !ui.conflict.hidden);
      if (values) {
        fillForm(Object.assign({ id: state.article.id }, values));
        updateButtons();
        schedulePreview();
      }
      loadHistory();
    } else if (state.isNew) {
      newHeading();
      statusBadge(ui.status, "new");
      showTranslations(null);
      ui.history.replaceChildren(el("li", "editor-none", t("editor.history.first_save")));
    }
    if (state.gapsLoaded) { ui.gaps.replaceChildren(...state.gaps.map(gapItem)); showGapsTotal(); }
    if (state.calibration !== undefined) showCalibration(state.calibration);
  }

  KefuConsole.start({ name: "editor", title: "editor.title",
    onStart: startApp, onEnd: loggedOut, onForbidden: notEditor, onLanguage: relanguage,
    confirmLogout: () => !isDirty() || window.confirm(t("editor.logout.confirm")) });
})();
