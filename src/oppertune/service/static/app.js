/* OPPerTune dashboard: plain JavaScript, no build step.
 *
 * Two pages, chosen by the URL's hash: the tuners list (#/) and a tuner (#/tuners/ID). Data come
 * from the service's /v1/dashboard endpoints, polled while the tab is visible; charts are drawn
 * with the vendored uPlot from data the server has already downsampled. The API key (when the
 * server asks for one) lives in sessionStorage and travels only in the Authorization header.
 * Every value from the server reaches the page through textContent or attributes, never as HTML.
 */
"use strict";
(function () {
  const KEY_STORAGE = "oppertune.apiKey";
  const LIST_POLL_MS = 5000;
  const TUNER_POLL_MS = 2000;
  const STATUS_TEXT = { exploring: "exploring", frozen: "frozen", rolled_back: "rolled back" };
  // The rail events' colours: custom properties --k-KIND of the server's events.css (one list, in oppertune.charts).
  const rootStyle = getComputedStyle(document.documentElement);
  const kindColour = (kind) => rootStyle.getPropertyValue("--k-" + kind).trim() || "#444";
  const BAND_COLOURS = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1",
    "#ff9da7", "#9c755f", "#bab0ac"];
  const number = new Intl.NumberFormat(undefined, { maximumSignificantDigits: 4 });
  const integer = new Intl.NumberFormat();

  // For tests and the benchmark: how long the last renders took (ms) and how many happened.
  const probe = (window.oppertuneDashboard = { timings: {}, renders: 0, polls: 0 });

  const main = document.getElementById("main");
  const login = document.getElementById("login");
  const loginForm = document.getElementById("login-form");
  const loginKey = document.getElementById("login-key");
  const loginError = document.getElementById("login-error");
  const logout = document.getElementById("logout");
  const live = document.getElementById("live");
  const crumbs = document.getElementById("crumbs");
  let view = null;

  // ------------------------------------------------------------------ helpers
  function h(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(props || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (name === "class") node.className = value;
      else if (name === "text") node.textContent = value;
      else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child !== null && child !== undefined && child !== false) node.append(child);  // strings become text
    }
    return node;
  }
  const fmt = (v) => (v === null || v === undefined ? "—" : number.format(v));
  const pct = (v) => (v === null || v === undefined ? "—" : Math.round(v * 100) + "%");
  const value = (v) => (typeof v === "number" ? number.format(v) : JSON.stringify(v));
  const since = (iso) => {
    const seconds = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
    if (seconds < 60) return Math.round(seconds) + " s ago";
    if (seconds < 3600) return Math.round(seconds / 60) + " min ago";
    if (seconds < 86400) return Math.round(seconds / 3600) + " h ago";
    return Math.round(seconds / 86400) + " d ago";
  };
  const badge = (status) => h("span", { class: "badge " + status, text: STATUS_TEXT[status] || status });
  const chips = (object) =>
    Object.entries(object || {}).map(([k, v]) => h("span", { class: "chip", text: k + " = " + value(v) }));
  const contextLabel = (context, id) => {
    const entries = Object.entries(context || {});
    if (entries.length) return entries.map(([k, v]) => k + "=" + value(v)).join(", ");
    return id ? "id " + id : "(no context)";
  };
  function table(headers, rows) {
    return h("table", null,
      h("thead", null, h("tr", null, headers.map(([text, cls]) => h("th", { class: cls, text })))),
      h("tbody", null, rows));
  }
  function setLive(text, error) {
    live.textContent = text;
    live.classList.toggle("error", Boolean(error));
  }

  // ------------------------------------------------------------------ the API
  class AuthError extends Error {}

  async function api(path, method) {
    const headers = { Accept: "application/json" };
    const key = sessionStorage.getItem(KEY_STORAGE);
    if (key) headers.Authorization = "Bearer " + key;
    const response = await fetch(path, { method: method || "GET", headers, cache: "no-store", credentials: "omit" });
    if (response.ok) return response.status === 204 ? null : response.json();
    let detail = response.statusText || "HTTP " + response.status;
    try {
      detail = (await response.json()).detail || detail;
    } catch (_) { /* not JSON */ }
    throw response.status === 401 ? new AuthError(detail) : new Error(detail);
  }

  function failed(error) {
    if (error instanceof AuthError) {
      const hadKey = sessionStorage.getItem(KEY_STORAGE) !== null;
      sessionStorage.removeItem(KEY_STORAGE);
      showLogin(hadKey ? "The server refused this key: " + error.message : "");
      return;
    }
    setLive("update failed: " + error.message, true);
  }

  // Calls load() now and every `interval` ms (skipped while the tab is hidden); now() reloads at once.
  function poller(load, interval) {
    let timer = null;
    let stopped = false;
    let busy = false;
    let again = false;
    let first = true;
    async function run() {
      clearTimeout(timer);
      if (stopped) return;
      if (busy) {
        again = true;
        return;
      }
      busy = true;
      do {
        again = false;
        if (first || !document.hidden) {
          first = false;
          try {
            await load();
            probe.polls += 1;
            setLive("live · updated " + new Date().toLocaleTimeString());
          } catch (error) {
            if (!stopped) failed(error);
          }
        }
      } while (again && !stopped);
      busy = false;
      if (!stopped) timer = setTimeout(run, interval);
    }
    const visible = () => document.hidden || run();
    document.addEventListener("visibilitychange", visible);
    run();
    return {
      now: run,
      get stopped() { return stopped; },
      stop() {
        stopped = true;
        clearTimeout(timer);
        document.removeEventListener("visibilitychange", visible);
      },
    };
  }

  // ------------------------------------------------------------------ login and routing
  function showLogin(message) {
    if (view) view.stop();
    view = null;
    main.replaceChildren();
    crumbs.replaceChildren();
    setLive("");
    logout.hidden = true;
    login.hidden = false;
    loginError.textContent = message || "";
    loginKey.focus();
  }

  loginForm.addEventListener("submit", (event) => {
    event.preventDefault();  // never a real submission: the key must not travel in a URL or a body
    const key = loginKey.value.trim();
    loginKey.value = "";
    if (!key) return;
    sessionStorage.setItem(KEY_STORAGE, key);
    route();
  });

  logout.addEventListener("click", () => {
    sessionStorage.removeItem(KEY_STORAGE);
    route();
  });

  function route() {
    if (view) view.stop();
    login.hidden = true;
    logout.hidden = sessionStorage.getItem(KEY_STORAGE) === null;
    const match = /^#\/tuners\/([A-Za-z0-9_.-]{1,64})$/.exec(location.hash);
    view = match ? tunerPage(match[1]) : listPage();
  }

  // ------------------------------------------------------------------ the tuners list
  const COLUMNS = [
    ["name", "Name", ""], ["algorithm", "Algorithm", ""], ["iteration", "Rounds", "num"],
    ["last_reward", "Current reward", "num"], ["best_reward", "Best reward", "num"],
    ["updated_at", "Last activity", ""], ["status", "Status", ""],
  ];

  function listPage() {
    const query = { q: "", status: "", sort: "updated_at", order: "desc", limit: 100, offset: 0 };
    crumbs.replaceChildren("Tuners");
    const search = h("input", { id: "filter-name", type: "search", placeholder: "Filter by name", "aria-label": "Filter by name" });
    const status = h("select", { id: "filter-status", "aria-label": "Status" },
      h("option", { value: "", text: "every status" }),
      Object.entries(STATUS_TEXT).map(([k, text]) => h("option", { value: k, text })));
    const size = h("select", { id: "page-size", "aria-label": "Rows per page" },
      [100, 500, 1000].map((n) => h("option", { value: n, text: n + " per page" })));
    const counts = h("div", { class: "counts muted", id: "counts" });
    const head = h("tr");
    const body = h("tbody");
    const grid = h("table", { id: "tuners" }, h("thead", null, head), body);
    const prev = h("button", { type: "button", id: "prev", text: "← Previous" });
    const next = h("button", { type: "button", id: "next", text: "Next →" });
    const position = h("span", { class: "muted", id: "position" });

    for (const [key, label, cls] of COLUMNS) {
      const button = h("button", { type: "button", text: label, "data-sort": key });
      button.addEventListener("click", () => {
        if (query.sort === key) query.order = query.order === "asc" ? "desc" : "asc";
        else query.order = ["name", "algorithm", "status"].includes(key) ? "asc" : "desc";
        query.sort = key;
        query.offset = 0;
        poll.now();
      });
      head.append(h("th", { class: cls, "data-key": key }, button));
    }
    let debounce = null;
    search.addEventListener("input", () => {
      clearTimeout(debounce);
      debounce = setTimeout(() => {
        query.q = search.value.trim();
        query.offset = 0;
        poll.now();
      }, 250);
    });
    status.addEventListener("change", () => { query.status = status.value; query.offset = 0; poll.now(); });
    size.addEventListener("change", () => { query.limit = Number(size.value); query.offset = 0; poll.now(); });
    prev.addEventListener("click", () => { query.offset = Math.max(0, query.offset - query.limit); poll.now(); });
    next.addEventListener("click", () => { query.offset += query.limit; poll.now(); });

    main.replaceChildren(h("section", { class: "card" },
      h("div", { class: "toolbar" }, h("h1", { class: "grow", text: "Tuners" }), counts),
      h("div", { class: "toolbar" }, search, status, size),
      grid,
      h("div", { class: "pager" }, prev, next, position)));

    function render(data) {
      for (const th of head.children) {
        const key = th.dataset.key;
        th.setAttribute("aria-sort", key === query.sort ? (query.order === "asc" ? "ascending" : "descending") : "none");
      }
      counts.replaceChildren(
        h("span", { text: integer.format(data.counts.exploring + data.counts.frozen + data.counts.rolled_back) + " tuners" }),
        ...Object.entries(STATUS_TEXT).map(([k, text]) => h("span", null, badge(k), " " + integer.format(data.counts[k]))));
      const rows = document.createDocumentFragment();
      for (const t of data.items) {
        rows.append(h("tr", { "data-id": t.id },
          h("td", null, h("a", { href: "#/tuners/" + encodeURIComponent(t.id), text: t.name })),
          h("td", { text: t.algorithm }),
          h("td", { class: "num", text: integer.format(t.iteration) }),
          h("td", { class: "num", text: fmt(t.last_reward) }),
          h("td", { class: "num", text: fmt(t.best_reward) }),
          h("td", { title: t.updated_at, text: since(t.updated_at) }),
          h("td", null, badge(t.status), t.rails ? "" : h("span", { class: "muted", text: " no rails" }))));
      }
      body.replaceChildren(rows);
      if (!data.items.length) body.append(h("tr", null, h("td", { colspan: 7, class: "empty", text: "No tuners match." })));
      const last = query.offset + data.items.length;
      position.textContent = data.total ? `${integer.format(query.offset + 1)}–${integer.format(last)} of ${integer.format(data.total)}` : "";
      prev.disabled = query.offset === 0;
      next.disabled = last >= data.total;
      grid.dataset.rows = String(data.items.length);
      grid.dataset.total = String(data.total);
    }

    const poll = poller(async () => {
      const params = new URLSearchParams({ sort: query.sort, order: query.order, limit: query.limit, offset: query.offset });
      if (query.q) params.set("q", query.q);
      if (query.status) params.set("status", query.status);
      const started = performance.now();
      const data = await api("v1/dashboard/tuners?" + params);
      if (poll.stopped) return;
      const fetched = performance.now();
      render(data);
      void grid.offsetHeight;  // lay the table out inside the measurement
      const done = performance.now();
      probe.renders += 1;
      probe.timings.list = { fetch: fetched - started, render: done - fetched, total: done - started, rows: data.items.length };
      grid.dataset.renders = String(probe.renders);
    }, LIST_POLL_MS);
    return poll;
  }

  // ------------------------------------------------------------------ charts (uPlot)
  function stepsAt(x, steps) {
    // The value of piecewise-constant steps [{round, value}] at each x (null before the first step).
    const out = new Array(x.length).fill(null);
    let j = -1;
    for (let i = 0; i < x.length; i++) {
      while (j + 1 < steps.length && steps[j + 1].round <= x[i]) j++;
      if (j >= 0) out[i] = steps[j].value;
    }
    return out;
  }

  function markerPlugin(ref) {
    // The rails' events: a dashed line across the chart for the major ones (the server says which: a regression,
    // collapse, rollback, drift, freeze or resume); a short tick at the top for the routine ones.
    return {
      hooks: {
        draw: [(u) => {
          const { ctx, bbox } = u;
          const px = devicePixelRatio;
          ctx.save();
          for (const event of ref.events) {
            const x = Math.round(u.valToPos(event.round, "x", true));
            if (x < bbox.left || x > bbox.left + bbox.width) continue;
            const major = event.major;
            ctx.strokeStyle = kindColour(event.kind);
            ctx.lineWidth = (major ? 1.5 : 2) * px;
            ctx.setLineDash(major ? [4 * px, 3 * px] : []);
            ctx.beginPath();
            ctx.moveTo(x, bbox.top);
            ctx.lineTo(x, major ? bbox.top + bbox.height : bbox.top + 8 * px);
            ctx.stroke();
          }
          ctx.restore();
        }],
      },
    };
  }

  function rewardChart(charts) {
    const ref = { events: charts.events };
    const stepped = uPlot.paths.stepped({ align: 1 });
    const envelope = charts.downsampled;  // min and max differ from the mean only in buckets of several rounds
    const series = [
      { label: "round" },
      { label: envelope ? "reward (mean)" : "reward", stroke: "#2f6fde", width: 1.5,
        points: { show: !envelope && charts.points <= 150 } },
      ...(envelope ? [{ label: "min", stroke: "rgba(47,111,222,.35)", width: 1 },
        { label: "max", stroke: "rgba(47,111,222,.35)", width: 1 }] : []),
      { label: "best so far", stroke: "#1f8a4c", width: 2, paths: stepped },
      { label: "baseline", stroke: "#555", width: 1.5, dash: [6, 4], paths: stepped },
      { label: "violation threshold", stroke: "#d62728", width: 1, dash: [2, 4], paths: stepped },
    ];
    const data = (c) => [c.x, c.reward.mean, ...(envelope ? [c.reward.min, c.reward.max] : []), c.best,
      stepsAt(c.x, c.baseline), stepsAt(c.x, c.threshold)];
    return {
      ref, data, series,
      options: { height: 300, bands: envelope ? [{ series: [3, 2], fill: "rgba(47,111,222,.12)" }] : [],
        plugins: [markerPlugin(ref)], axes: [{ label: "round" }, {}] },
    };
  }

  function numericChart(p) {
    return {
      data: (c) => { const q = c.parameters.find((s) => s.name === p.name); return [c.x, q.mean, q.min, q.max]; },
      series: [{ label: "round" }, { label: p.name, stroke: "#6a3d9a", width: 1.5 },
        { label: "min", stroke: "rgba(106,61,154,.3)", width: 1 }, { label: "max", stroke: "rgba(106,61,154,.3)", width: 1 }],
      options: { height: 150, bands: [{ series: [3, 2], fill: "rgba(106,61,154,.12)" }],
        scales: { y: { range: [p.min_value, p.max_value] } } },
    };
  }

  function bandsChart(categories, pick, height) {
    // Categorical values as stacked bands: the share of each category in each bucket of rounds.
    let current = null;
    const series = [{ label: "round" }];
    const bands = [];
    categories.forEach((category, k) => {
      const colour = BAND_COLOURS[k % BAND_COLOURS.length];
      series.push({
        label: String(category), stroke: colour, width: 0, fill: k === 0 ? colour + "cc" : undefined,
        value: (u, v, si, i) => (i === null ? "—" : pct(pick(current).shares[k][i])),
      });
      if (k > 0) bands.push({ series: [k + 1, k], fill: colour + "cc" });
    });
    return {
      data: (c) => {
        current = c;
        const shares = pick(c).shares;
        const out = [c.x];
        let running = new Array(c.x.length).fill(0);
        for (const row of shares) {
          running = running.map((s, i) => s + row[i]);
          out.push(running);
        }
        return out;
      },
      series,
      options: { height, bands, scales: { y: { range: [0, 1] } }, axes: [{}, { values: (u, ticks) => ticks.map(pct) }] },
    };
  }

  class Chart {
    // A uPlot chart whose data are replaced on every update; rebuilt only when its shape changes.
    constructor(container, spec, charts, sync) {
      this.container = container;
      this.spec = spec;
      const base = {
        width: Math.max(300, container.clientWidth),
        scales: { x: { time: false } },
        cursor: { sync: { key: sync } },
        legend: { live: true },
        series: spec.series,
      };
      const options = { ...base, ...spec.options, scales: { ...base.scales, ...(spec.options.scales || {}) } };
      this.plot = new uPlot(options, spec.data(charts), container);
      this.mark(charts);
    }
    update(charts) {
      if (this.spec.ref) this.spec.ref.events = charts.events;
      this.plot.setData(this.spec.data(charts));
      this.mark(charts);
    }
    mark(charts) {
      this.container.dataset.points = String(this.plot.data[0].length);
      this.container.dataset.rounds = String(charts.rounds);
    }
    resize() {
      this.plot.setSize({ width: Math.max(300, this.container.clientWidth), height: this.plot.height });
    }
    destroy() {
      this.plot.destroy();
    }
  }

  // ------------------------------------------------------------------ a tuner
  function tunerPage(id) {
    const path = "v1/dashboard/tuners/" + encodeURIComponent(id);
    const state = { context: null, key: null, shape: null, charts: [], data: null };
    crumbs.replaceChildren(h("a", { href: "#/", text: "Tuners" }), " / ", h("span", { id: "crumb-name", text: id }));
    const root = h("div", { id: "tuner", "data-id": id });
    const headCard = h("section", { class: "card" });
    const chartCard = h("section", { class: "card" });
    const contextPick = h("select", { id: "context", "aria-label": "Context" });
    const rewardBox = h("div", { class: "chart", id: "chart-reward" });
    const kinds = h("div", { class: "legend-kinds", id: "event-kinds" });
    const paramBox = h("div", { id: "chart-parameters" });
    const servedBox = h("div", { id: "chart-served" });
    const chartNote = h("span", { class: "muted", id: "chart-note" });
    const message = h("p", { class: "muted", id: "action-message", role: "status" });
    const eventsCard = h("section", { class: "card", id: "events" });
    const contextsCard = h("section", { class: "card", id: "contexts" });
    const routingCard = h("section", { class: "card", id: "routing", hidden: true });
    const requestsCard = h("section", { class: "card", id: "requests" });
    const recentCard = h("section", { class: "card", id: "recent" });
    chartCard.append(
      h("div", { class: "chart-title" }, h("span", { text: "Reward per round" }), h("span", null, chartNote, " ", contextPick)),
      rewardBox, kinds, paramBox, servedBox);
    root.append(headCard, message, chartCard, h("div", { class: "grid2" }, eventsCard, contextsCard), routingCard,
      h("div", { class: "grid2" }, requestsCard, recentCard));
    main.replaceChildren(root);

    contextPick.addEventListener("change", () => {
      state.context = contextPick.value === "*" ? null : contextPick.value;
      poll.now();
    });
    const onResize = () => state.charts.forEach((c) => c.resize());
    window.addEventListener("resize", onResize);

    async function act(action) {
      const name = state.data ? state.data.tuner.name : id;
      const what = { freeze: "stop exploring and serve the best-known configuration",
        resume: "explore again (from a halved exploration)", rollback: "serve the best-known configuration for the cooldown" };
      if (!window.confirm(`${action[0].toUpperCase() + action.slice(1)} "${name}": ${what[action]}?`)) return;
      try {
        const answer = await api(`v1/tuners/${encodeURIComponent(id)}/${action}`, "POST");
        message.replaceChildren(`${action}: now ${STATUS_TEXT[answer.status]}, serving `, ...chips(answer.configuration));
      } catch (error) {
        if (error instanceof AuthError) return failed(error);
        message.textContent = `${action} failed: ${error.message}`;
      }
      poll.now();
    }

    function renderHead(d) {
      const t = d.tuner;
      crumbs.querySelector("#crumb-name").textContent = t.name;
      document.title = t.name + " · OPPerTune";
      const rails = d.rails;
      const buttons = ["freeze", "resume", "rollback"].map((action) => {
        const disabled = !rails || (action === "freeze" && t.status === "frozen") ||
          (action === "resume" && t.status === "exploring") || (action === "rollback" && t.status === "rolled_back");
        return h("button", { type: "button", id: "action-" + action, class: action === "rollback" ? "danger" : "",
          disabled, title: rails ? null : "This tuner has no safety rails", text: action[0].toUpperCase() + action.slice(1),
          onclick: () => act(action) });
      });
      const facts = [
        ["Rounds", integer.format(t.iteration), "fact-rounds"],
        ["Current reward", fmt(t.last_reward), "fact-last"],
        ["Best reward", fmt(t.best_reward), "fact-best"],
        ["Last activity", since(t.updated_at), "fact-activity"],
        ["Contexts", integer.format(d.contexts.total), "fact-contexts"],
      ];
      if (rails) facts.push(["Exploration", pct(rails.exploration_scale), "fact-scale"]);
      headCard.replaceChildren(h("div", { class: "head" },
        h("div", { class: "title" },
          h("h1", null, t.name, " ", h("span", { id: "status", "data-status": t.status }, badge(t.status))),
          h("div", { class: "muted" }, t.algorithm, " · ", h("code", { text: t.id }),
            rails ? "" : " · no safety rails"),
          h("div", { class: "facts" }, facts.map(([label, text, fid]) =>
            h("div", null, h("span", { class: "muted", text: label }), h("b", { id: fid, text }))))),
        h("div", { class: "actions" }, buttons)));
    }

    function renderCharts(d) {
      const c = d.charts;
      const shape = JSON.stringify([c.downsampled, c.parameters.map((p) => [p.name, p.type]), Boolean(c.served_by)]);
      const sync = "oppertune-" + id;
      if (shape !== state.shape) {
        state.charts.forEach((chart) => chart.destroy());
        rewardBox.replaceChildren();
        paramBox.replaceChildren();
        servedBox.replaceChildren();
        state.charts = [new Chart(rewardBox, rewardChart(c), c, sync)];
        for (const p of c.parameters) {
          const box = h("div", { class: "chart", "data-parameter": p.name });
          paramBox.append(h("div", { class: "chart-title", text: p.name + (p.type === "categorical" ? " (share of rounds)" : "") }), box);
          const spec = p.type === "numeric" ? numericChart(p) : bandsChart(p.categories, (x) => x.parameters.find((q) => q.name === p.name), 130);
          state.charts.push(new Chart(box, spec, c, sync));
        }
        if (c.served_by) {
          const box = h("div", { class: "chart", id: "chart-served-by" });
          servedBox.append(h("div", { class: "chart-title", text: "Served by (safety rails)" }), box);
          state.charts.push(new Chart(box, bandsChart(c.served_by.categories, (x) => x.served_by, 120), c, sync));
        }
        state.shape = shape;
      } else {
        state.charts.forEach((chart) => chart.update(c));
      }
      rewardBox.dataset.events = String(c.events.length);
      chartNote.textContent = `${integer.format(c.rounds)} rounds` +
        (c.downsampled ? ` in ${integer.format(c.points)} buckets (line: mean, band: min–max)` : "");
      kinds.replaceChildren(...Object.entries(c.event_counts).map(([kind, count]) =>
        h("span", null, h("i", { class: "k-" + kind }), `${kind} ${integer.format(count)}`)));
      if (d.rails && !c.baseline.length && d.contexts.total > 1 && c.context_id === null) {
        kinds.append(h("span", { class: "muted", text: "choose a context to see its baseline" }));
      }
      const options = [h("option", { value: "*", text: "all contexts" })];
      for (const item of d.contexts.items) {
        options.push(h("option", { value: item.context_id, text: contextLabel(item.context, item.context_id) }));
      }
      contextPick.replaceChildren(...options);
      contextPick.value = state.context === null ? "*" : state.context;
      contextPick.hidden = d.contexts.total <= 1 && state.context === null;
    }

    function renderTables(d) {
      const rails = d.rails;
      const known = new Map(d.contexts.items.map((item) => [item.context_id, item.context]));
      const eventContext = (id) => (!id ? "all" : known.has(id) ? contextLabel(known.get(id), id) : id.slice(0, 12));
      eventsCard.replaceChildren(h("h2", { text: "Safety-rail events" }), !rails
        ? h("p", { class: "empty", text: "This tuner has no safety rails." })
        : !rails.events.length ? h("p", { class: "empty", text: "No events yet." })
          : h("div", { class: "scroll" }, table([["Round", "num"], ["Event"], ["Context"], ["Reason"]],
            rails.events.map((e) => h("tr", null, h("td", { class: "num", text: integer.format(e.round + 1) }),
              h("td", null, h("span", { class: "badge k-" + e.kind, text: e.kind })),
              h("td", { class: "wrap", text: eventContext(e.context_id) }),
              h("td", { class: "wrap", text: e.reason }))))));

      const items = d.contexts.items;
      contextsCard.replaceChildren(h("h2", { text: "Best configuration per context" }),
        d.contexts.total > items.length ? h("p", { class: "muted", text: `the ${items.length} busiest of ${d.contexts.total} contexts` }) : "",
        !items.length ? h("p", { class: "empty", text: "No rounds yet." })
          : h("div", { class: "scroll" }, table([["Context"], ["Rounds", "num"], ["Best", "num"], ["Configuration"]],
            items.map((item) => h("tr", null, h("td", { class: "wrap", text: contextLabel(item.context, item.context_id) }),
              h("td", { class: "num", text: integer.format(item.rounds) }),
              h("td", { class: "num", text: fmt(item.best_reward) }),
              h("td", { class: "wrap" }, item.best_configuration ? chips(item.best_configuration) : "—"))))));

      routingCard.hidden = !d.routing;
      if (d.routing) {
        const r = d.routing;
        routingCard.replaceChildren(h("h2", { text: `AutoScope routing (height ${r.height}, ${r.leaves.length} leaves)` }),
          h("p", { class: "muted", text: "Which contexts each leaf serves now, and the leaf's centre of exploration." }),
          ...r.leaves.map((leaf) => h("div", { class: "leaf", "data-leaf": leaf.leaf },
            h("b", { text: `Leaf ${leaf.leaf}` }), " ",
            leaf.contexts.length ? leaf.contexts.map((c) => h("span", { class: "chip routed", text: contextLabel(c.context, c.context_id) + ` (${integer.format(c.rounds)})` }))
              : h("span", { class: "muted", text: "no context" }),
            h("div", { class: "muted" }, "centre: ", leaf.center ? chips(leaf.center) : "—"))),
          h("details", null, h("summary", { text: "Splits" }), table([["Node", "num"], ["Depth", "num"], ["Left"], ["Right"]],
            r.splits.map((s) => h("tr", null, h("td", { class: "num", text: s.node }), h("td", { class: "num", text: s.depth }),
              h("td", { class: "wrap", text: Object.entries(s.categorical).map(([f, v]) => f + ": " + v.left.join(", ")).join("; ") }),
              h("td", { class: "wrap", text: Object.entries(s.categorical).map(([f, v]) => f + ": " + v.right.join(", ")).join("; ") +
                Object.entries(s.numeric).map(([f, w]) => ` ${f}·${number.format(w)}`).join("") }))))));
      }

      requestsCard.replaceChildren(h("h2", { text: "Open requests and stored rewards" }),
        !d.requests.length ? h("p", { class: "empty", text: "No open round." })
          : h("div", { class: "scroll" }, table([["Request"], ["Context"], ["Configuration"], ["Reward", "num"], ["Served by"]],
            d.requests.slice().reverse().map((q) => h("tr", null, h("td", null, h("code", { text: q.id.slice(0, 12) })),
              h("td", { class: "wrap", text: contextLabel(q.context, q.context_id) }),
              h("td", { class: "wrap" }, chips(q.prediction)),
              h("td", { class: "num", text: q.reward === null ? "waiting" : fmt(q.reward) }),
              h("td", { text: q.metadata ? q.metadata.served_by : "" }))))));

      recentCard.replaceChildren(h("h2", { text: "Recent rounds" }),
        !d.recent.length ? h("p", { class: "empty", text: "No closed round yet." })
          : h("div", { class: "scroll" }, table([["Round", "num"], ["Context"], ["Reward", "num"], ["Rewards stored", "num"], ["Served by"], ["Closed"]],
            d.recent.map((r) => h("tr", null, h("td", { class: "num", text: integer.format(r.round) }),
              h("td", { class: "wrap", text: contextLabel(r.context, r.context_id) }),
              h("td", { class: "num", text: fmt(r.reward) }),
              h("td", { class: "num", text: integer.format(r.n_rewards) }),
              h("td", { text: r.metadata ? r.metadata.served_by : "" }),
              h("td", { title: r.at, text: since(r.at) }))))));
    }

    const poll = poller(async () => {
      const points = Math.min(1500, Math.max(200, Math.round(rewardBox.clientWidth || 800)));
      const params = new URLSearchParams({ points });
      if (state.context !== null) params.set("context_id", state.context);
      const started = performance.now();
      const d = await api(path + "?" + params);
      if (poll.stopped) return;
      const fetched = performance.now();
      const key = `${d.version}|${state.context}|${points}`;
      if (key === state.key) {
        const activity = document.getElementById("fact-activity");
        if (activity) activity.textContent = since(d.tuner.updated_at);
        return;
      }
      state.key = key;
      state.data = d;
      renderHead(d);
      renderCharts(d);
      renderTables(d);
      void root.offsetHeight;  // lay the page out inside the measurement
      const done = performance.now();
      probe.renders += 1;
      probe.timings.tuner = { fetch: fetched - started, render: done - fetched, total: done - started,
        points: d.charts.points, rounds: d.charts.rounds };
      root.dataset.requested = String(points);
      root.dataset.version = String(d.version);
      root.dataset.iteration = String(d.tuner.iteration);
      root.dataset.renders = String(probe.renders);
    }, TUNER_POLL_MS);

    return {
      get stopped() { return poll.stopped; },
      now: poll.now,
      stop() {
        poll.stop();
        window.removeEventListener("resize", onResize);
        state.charts.forEach((chart) => chart.destroy());
      },
    };
  }

  window.addEventListener("hashchange", route);
  route();
})();
