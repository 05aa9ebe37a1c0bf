// The review page. Model text is only ever set with textContent (never innerHTML): hostile output stays text.
"use strict";
(function () {
  const params = new URLSearchParams(location.search);
  const token = params.get("token");
  if (token) history.replaceState(null, "", location.pathname); // keep the token out of the address bar
  const headers = token ? { "X-Review-Token": token } : {};
  let state = { items: [], total: 0, done: 0 };
  let index = 0, active = 0, labels = {}, verdict = null, preference = null;
  const PREF = { "1": "A", "2": "B", "0": "tie" };
  const pairwise = (it) => Boolean(it && it.kind === "pairwise");
  const $ = (id) => document.getElementById(id);
  const text = (v) => (v === null || v === undefined ? "" : typeof v === "string" ? v : JSON.stringify(v, null, 2));
  const el = (tag, content, cls) => {
    const e = document.createElement(tag);
    if (content !== undefined) e.textContent = content;
    if (cls) e.className = cls;
    return e;
  };

  async function load() {
    const r = await fetch("api/queue", { headers });
    if (!r.ok) {
      const answer = await r.json().catch(() => ({}));
      $("progress-text").textContent = "cannot load the queue: " + (answer.error || "HTTP " + r.status);
      return;
    }
    state = await r.json();
    if (index >= state.items.length) index = Math.max(0, state.items.length - 1);
    render();
  }

  function dims(item) {
    return Object.entries(item.scales || {}).map(([name, s]) => ({ name, lo: s[0], hi: s[1] }));
  }

  function render() {
    const open = state.items.length;
    $("progress-text").textContent = `${state.done} of ${state.total} labelled · ${open} open`;
    $("progress-bar").style.width = (state.total ? (100 * state.done) / state.total : 0) + "%";
    const list = $("item-list");
    list.replaceChildren();
    state.items.forEach((it, i) => {
      const li = el("li", it.review_id, i === index ? "current" : "");
      li.addEventListener("click", () => { index = i; reset(); render(); });
      list.appendChild(li);
    });
    $("empty").hidden = open > 0;
    $("detail").hidden = open === 0;
    if (!open) return;
    const it = state.items[index];
    $("item-id").textContent = it.review_id;
    $("item-meta").textContent = `queue ${it.queue} · suite ${text(it.suite)} · eval set ${text(it.eval_set)} · ` +
      `sample ${text(it.sample_id)} · repeat ${text(it.repeat)}` + (it.category ? ` · category ${it.category}` : "");
    $("reasons").replaceChildren(...(it.reasons || []).map((r) => el("li", r)));
    $("input").textContent = text(it.input);
    $("response").textContent = text(it.response_text);
    const pair = pairwise(it);  // two answers side by side and a preferred one
    $("answers").className = pair ? "pair" : "";
    $("answer-title").textContent = pair ? "Answer A (candidate)" : "Answer";
    $("baseline-box").hidden = !pair;
    $("baseline").textContent = pair ? text(it.baseline_text) : "";
    $("judge-pair").hidden = !pair;
    $("judge-pair").textContent = pair ? `judge prefers: ${text(it.judge_preference) || "no verdict"} · ${text(it.judge_reason)}` : "";
    $("judge").hidden = pair;
    $("expected").textContent = text(it.expected);
    const body = $("judge").tBodies[0];
    body.replaceChildren();
    for (const d of dims(it)) {
      const tr = el("tr");
      [d.name, text((it.judge_scores || {})[d.name]), text((it.judge_spread || {})[d.name]),
        text((it.thresholds || {})[d.name])].forEach((c) => tr.appendChild(el("td", c)));
      body.appendChild(tr);
    }
    $("cosine").textContent = it.cosine === null || it.cosine === undefined ? "" :
      `cosine ${Number(it.cosine).toFixed(3)} (${it.cosine_passed ? "passes" : "fails"} its threshold)`;
    const box = $("dims");
    box.replaceChildren();
    dims(it).forEach((d, i) => {
      const row = el("div", undefined, "dim" + (i === active ? " active" : ""));
      row.dataset.dim = d.name;
      row.appendChild(el("span", d.name, "name"));
      for (let v = d.lo; v <= d.hi; v++) {
        const caption = d.lo === 0 && d.hi === 1 ? (v ? "pass" : "fail") : String(v);
        const b = el("button", caption, labels[d.name] === v ? "chosen" : "");
        b.addEventListener("click", () => { active = i; choose(v); });
        row.appendChild(b);
      }
      box.appendChild(row);
    });
    if (pair) {  // the preferred answer (keys 1 / 2 / 0)
      const row = el("div", undefined, "dim preference active");
      row.appendChild(el("span", "preferred answer", "name"));
      for (const [key, v] of Object.entries(PREF)) {
        const b = el("button", `${v} (${key})`, preference === v ? "chosen" : "");
        b.dataset.preference = v;
        b.addEventListener("click", () => { preference = v; render(); });
        row.appendChild(b);
      }
      box.appendChild(row);
      return;
    }
    const whole = el("div", undefined, "dim verdict");  // the whole item: pass / fail (keys p / f)
    whole.appendChild(el("span", "whole item", "name"));
    for (const v of ["pass", "fail"]) {
      const b = el("button", v, verdict === v ? "chosen" : "");
      b.dataset.verdict = v;
      b.addEventListener("click", () => { verdict = verdict === v ? null : v; render(); });
      whole.appendChild(b);
    }
    whole.appendChild(el("span", it.judge_passed === null || it.judge_passed === undefined ? "" :
      `judge: ${it.judge_passed ? "pass" : "fail"}`, "meta"));
    box.appendChild(whole);
  }

  function reset() { active = 0; labels = {}; verdict = null; preference = null; $("notes").value = ""; $("status").textContent = ""; }

  function choose(v) {
    const ds = dims(state.items[index]);
    const d = ds[active];
    if (!d || v < d.lo || v > d.hi) return;
    labels[d.name] = v;
    if (active < ds.length - 1) active++;
    render();
  }

  async function save() {
    const it = state.items[index];
    if (!it) return;
    const status = $("status");
    if (!Object.keys(labels).length && !verdict && !preference) { status.textContent = "score a dimension or give a pass / fail verdict first"; status.className = "error"; return; }
    const r = await fetch("api/label", {
      method: "POST",
      headers: { ...headers, "Content-Type": "application/json" },
      body: JSON.stringify({ queue: it.queue, review_id: it.review_id, human_label: labels, human_verdict: verdict, human_preference: preference,
        human_notes: $("notes").value }),
    });
    const answer = await r.json().catch(() => ({}));
    if (!r.ok) { status.textContent = "not saved: " + (answer.error || "HTTP " + r.status); status.className = "error"; return; }
    reset();
    status.textContent = "saved " + answer.stored; status.className = "";
    await load();
  }

  function move(step) {
    if (!state.items.length) return;
    index = (index + step + state.items.length) % state.items.length;
    reset(); render();
  }

  document.addEventListener("keydown", (e) => {
    if (e.target instanceof HTMLTextAreaElement) { if (e.key === "Escape") e.target.blur(); return; }
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const ds = state.items.length ? dims(state.items[index]) : [];
    if (pairwise(state.items[index]) && PREF[e.key]) { preference = PREF[e.key]; render(); }
    else if (/^[0-9]$/.test(e.key)) choose(Number(e.key));
    else if ((e.key === "p" || e.key === "f") && ds[active] && ds[active].lo === 0 && ds[active].hi === 1) choose(e.key === "p" ? 1 : 0);
    else if (e.key === "p" || e.key === "f") { verdict = e.key === "p" ? "pass" : "fail"; render(); }  // the whole item
    else if (e.key === "ArrowDown") { active = Math.min(active + 1, ds.length - 1); render(); }
    else if (e.key === "ArrowUp") { active = Math.max(active - 1, 0); render(); }
    else if (e.key === "Enter") save();
    else if (e.key === "n" || e.key === "ArrowRight") move(1);
    else if (e.key === "b" || e.key === "ArrowLeft") move(-1);
    else return;
    e.preventDefault();
  });
  $("save").addEventListener("click", save);
  $("skip").addEventListener("click", () => move(1));
  load();
})();
