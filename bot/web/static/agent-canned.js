/* Kefu agent console: canned replies. Typing "/" at the start of the reply box lists the
 * matching ones (the conversation's language first); Enter, Tab or a click puts the reply,
 * filled in by the service for this handoff, in the box and attaches the articles it names.
 * The "Canned replies" panel adds, edits and deletes one's own (and, for admins, the shared).
 * Plain ES2020, no build step; every text is written with textContent (docs/handoff.md).
 */
(function () {
  "use strict";

  const { $, el, button, api, fail, clearError, t } = KefuConsole;
  const desk = window.KefuAgentDesk; // the open handoff and its attachments (agent.js)
  const MAX_SHOWN = 8;
  const state = { replies: null, menu: [], active: 0, editing: null };

  async function load() {
    try {
      state.replies = (await api("GET", "/canned-replies")).data;
    } catch (error) {
      state.replies = [];
      fail(error);
    }
    drawPanel();
    return state.replies;
  }

  // ---------------------------------------------------------------- the "/" menu

  function matches(query) {
    const handoff = desk.handoff();
    const language = handoff ? handoff.language : null;
    const q = query.toLowerCase();
    return (state.replies || [])
      .filter((r) => r.shortcut.startsWith(q) || r.title.toLowerCase().startsWith(q))
      .sort((a, b) => (a.language === language ? 0 : 1) - (b.language === language ? 0 : 1))
      .slice(0, MAX_SHOWN);
  }

  const menuOf = (field) => field.form && field.form.parentElement.querySelector(".agent-canned-menu");

  function closeMenu(field) {
    const menu = field && menuOf(field);
    if (menu) menu.remove();
    state.menu = [];
  }

  async function openMenu(field) {
    const query = /^\/([^\s]*)$/.exec(field.value);
    if (!query) { closeMenu(field); return; }
    if (state.replies === null) await load();
    state.menu = matches(query[1]);
    state.active = 0;
    drawMenu(field);
  }

  function drawMenu(field) {
    let menu = menuOf(field);
    if (!menu) {
      menu = el("ul", "agent-canned-menu");
      menu.setAttribute("role", "listbox");
      menu.setAttribute("aria-label", t("agent.canned.menu"));
      field.form.after(menu);
    }
    if (!state.menu.length) {
      menu.replaceChildren(el("li", "agent-canned-none", t("agent.canned.none")));
      return;
    }
    menu.replaceChildren(...state.menu.map((reply, index) => {
      const item = el("li", "agent-canned-option");
      item.setAttribute("role", "option");
      item.setAttribute("aria-selected", String(index === state.active));
      item.dataset.index = String(index);
      item.append(el("span", "agent-canned-shortcut", `/${reply.shortcut}`), el("span", "agent-canned-title", reply.title),
        el("span", "agent-canned-language", t(`agent.canned.language.${reply.language}`)));
      return item;
    }));
  }

  async function pick(field, reply) {
    const handoff = desk.handoff();
    closeMenu(field);
    if (!handoff || !reply) return;
    try {
      const rendered = await api("POST", `/handoffs/${handoff.id}/canned-replies/${reply.id}/render`);
      if (!desk.handoff() || desk.handoff().id !== handoff.id) return; // another handoff is on screen now
      const box = $(".agent-reply") || field;
      box.value = rendered.text;
      for (const article of rendered.articles) desk.attach({ id: article.article_id, title: article.title });
      box.focus();
      clearError();
    } catch (error) {
      fail(error);
    }
  }

  document.addEventListener("input", (event) => {
    if (event.target.matches(".agent-reply")) openMenu(event.target);
  });

  // Captured before agent.js sends on Enter: with the menu open, Enter picks.
  document.addEventListener("keydown", (event) => {
    const field = event.target;
    if (!field.matches || !field.matches(".agent-reply") || !menuOf(field) || event.isComposing) return;
    const count = state.menu.length;
    if (event.key === "Escape") closeMenu(field);
    else if ((event.key === "ArrowDown" || event.key === "ArrowUp") && count) {
      state.active = (state.active + (event.key === "ArrowDown" ? 1 : count - 1)) % count;
      drawMenu(field);
    } else if ((event.key === "Enter" || event.key === "Tab") && count && !event.shiftKey) {
      pick(field, state.menu[state.active]);
    } else return;
    event.preventDefault();
    event.stopPropagation();
  }, true);

  document.addEventListener("mousedown", (event) => {
    const option = event.target.closest && event.target.closest(".agent-canned-option");
    if (!option) return;
    event.preventDefault(); // the reply box keeps the focus
    const field = option.parentElement.parentElement.querySelector(".agent-reply");
    pick(field, state.menu[Number(option.dataset.index)]);
  });

  // ---------------------------------------------------------------- the panel

  const panel = $(".agent-canned");
  const form = $(".agent-canned-form");
  const isAdmin = () => Boolean(KefuConsole.user()) && KefuConsole.user().role === "admin";

  $(".agent-canned-toggle").addEventListener("click", () => {
    panel.hidden = !panel.hidden;
    if (!panel.hidden) load();
  });

  function drawPanel() {
    const list = $(".agent-canned-list");
    $(".agent-canned-shared-field").hidden = !isAdmin() || state.editing !== null;
    list.replaceChildren(...(state.replies || []).map((reply) => {
      const item = el("li", "agent-canned-item");
      item.dataset.id = String(reply.id);
      item.append(el("span", "agent-canned-shortcut", `/${reply.shortcut}`), el("span", "agent-canned-title", reply.title),
        el("span", "agent-canned-language", t(`agent.canned.language.${reply.language}`)));
      if (reply.shared) item.append(el("span", "agent-canned-badge", t("agent.canned.shared_badge")));
      if (reply.mine) {
        item.append(button("agent-canned-edit", t("agent.canned.edit")), button("agent-canned-delete", t("agent.canned.delete")));
      }
      return item;
    }));
  }

  function edit(reply) {
    state.editing = reply ? reply.id : null;
    form.elements.shortcut.value = reply ? reply.shortcut : "";
    form.elements.language.value = reply ? reply.language : KefuConsole.language();
    form.elements.title.value = reply ? reply.title : "";
    form.elements.body.value = reply ? reply.body : "";
    form.elements.shared.checked = false;
    $(".agent-canned-save", form).textContent = t(reply ? "agent.canned.update" : "agent.canned.add");
    drawPanel();
  }

  $(".agent-canned-list").addEventListener("click", async (event) => {
    const target = event.target.closest("button");
    if (!target) return;
    const id = Number(target.closest(".agent-canned-item").dataset.id);
    const reply = (state.replies || []).find((r) => r.id === id);
    if (target.matches(".agent-canned-edit")) edit(reply);
    else if (target.matches(".agent-canned-delete")) {
      try {
        await api("DELETE", `/canned-replies/${id}`);
        if (state.editing === id) edit(null);
        clearError();
      } catch (error) { fail(error); }
      load();
    }
  });

  $(".agent-canned-cancel").addEventListener("click", () => edit(null));

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = {
      shortcut: form.elements.shortcut.value.trim().toLowerCase(),
      language: form.elements.language.value,
      title: form.elements.title.value,
      body: form.elements.body.value,
    };
    try {
      if (state.editing === null) await api("POST", "/canned-replies", { ...body, shared: isAdmin() && form.elements.shared.checked });
      else await api("PATCH", `/canned-replies/${state.editing}`, body);
      edit(null);
      clearError();
    } catch (error) { fail(error); }
    load();
  });
})();
