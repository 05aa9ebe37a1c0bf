// The per-sample diff page, drawn from the one JSON blob (diff_data.py). Every text goes into the
// page through textContent (never innerHTML), so a model answer can never become markup or script.
// window.diffStatus = {total, matched, shown, done_ms} tells a browser test or benchmark the page is drawn.
(function () {
  "use strict";
  const t0 = performance.now();
  const D = JSON.parse(document.getElementById("diff-data").textContent);
  const S = D.samples;
  const status = window.diffStatus = {total: S.length, matched: 0, shown: 0, done_ms: null};
  const $ = (id) => document.getElementById(id);
  const el = (tag, cls, text) => {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  };
  const state = {st: "all", set: "", seg: "", check: "", q: "", sort: "change", page: 0, size: 25};
  let hay = null;  // lower-cased search text per sample, built on the first search

  function fill(sel, items) {
    for (const [value, label] of items) { const o = el("option", "", label); o.value = value; sel.appendChild(o); }
  }
  const c = D.counts;
  fill($("f-status"), [["all", `all (${S.length})`], ["changed", `changed (${S.length - c.unchanged})`],
    ["regressed", `regressed (${c.regressed})`], ["improved", `improved (${c.improved})`], ["mixed", `mixed (${c.mixed})`],
    ["unchanged", `unchanged (${c.unchanged})`], ["only_one", `in one run only (${c.only_one})`]]);
  fill($("f-set"), [["", "every eval set"]].concat(D.sets.map((s) => [s, s])));
  fill($("f-seg"), [["", "every segment"]].concat(D.segments.map((s, i) => [String(i), s])));
  fill($("f-check"), [["", "any check"]].concat(D.checks.map((s, i) => [String(i), s + " changed"])));

  function text(s) {
    return [s.id, s.set, s.input, s.expected, s.base.map((p) => p[0]).join(""), s.cand.map((p) => p[0]).join(""),
      s.checks.map((r) => r[3] + " " + r[6]).join(" ")].join("\n").toLowerCase();
  }

  function matches() {
    const q = state.q.trim().toLowerCase();
    if (q && !hay) hay = S.map(text);
    const seg = state.seg === "" ? -1 : Number(state.seg), chk = state.check === "" ? -1 : Number(state.check);
    const out = [];
    for (let i = 0; i < S.length; i++) {
      const s = S[i];
      if (state.st === "changed" ? s.st === "unchanged" : state.st !== "all" && s.st !== state.st) continue;
      if (state.set && s.set !== state.set) continue;
      if (seg >= 0 && s.seg !== seg) continue;
      if (chk >= 0 && !s.checks.some((r) => r[0] === chk && Math.abs(r[7]) > 1e-9)) continue;
      if (q && hay[i].indexOf(q) < 0) continue;
      out.push(i);
    }
    if (state.sort === "sim") out.sort((a, b) => S[a].sim - S[b].sim);
    else if (state.sort === "id") out.sort((a, b) => (S[a].set + S[a].id < S[b].set + S[b].id ? -1 : 1));
    return out;  // "change": the order of the data (regressed first, largest change first)
  }

  function verdict(pass, value) {
    if (pass === null && value === null) return ["", "absent"];
    if (pass === null) return [`${value}`, "score"];
    const v = value === null || value === pass ? "" : ` (${value})`;
    if (pass === 1) return ["pass" + v, "pass"];
    if (pass === 0) return ["fail" + v, "fail"];
    return [`${Math.round(pass * 100)}% pass${v}`, "partial"];
  }

  function answer(pieces, cls) {
    const pre = el("pre", "answer " + cls);
    for (const [t, changed] of pieces) pre.appendChild(changed ? el("mark", "chg", t) : document.createTextNode(t));
    if (!pieces.length) pre.appendChild(el("span", "note", "(no answer)"));
    return pre;
  }

  function card(s) {
    const div = el("div", "sample st-" + s.st);
    div.dataset.status = s.st;
    const h = el("div", "head");
    h.appendChild(el("span", "badge " + s.st, s.st.replace("_", " ")));
    h.appendChild(el("b", "sid", s.id));
    h.appendChild(el("span", "note", ` ${s.set} · segment ${D.segments[s.seg]} · text similarity ${s.sim} · change ${s.size}`));
    div.appendChild(h);
    const io = el("div", "cols");
    const inp = el("div"); inp.appendChild(el("div", "lbl", "input")); inp.appendChild(el("pre", "input", s.input));
    const exp = el("div"); exp.appendChild(el("div", "lbl", "expected")); exp.appendChild(el("pre", "expected", s.expected));
    io.appendChild(inp); io.appendChild(exp); div.appendChild(io);
    const ans = el("div", "cols");
    const a = el("div"); a.appendChild(el("div", "lbl", "baseline " + D.baseline)); a.appendChild(answer(s.base, "base"));
    const b = el("div"); b.appendChild(el("div", "lbl", "candidate " + D.candidate)); b.appendChild(answer(s.cand, "cand"));
    ans.appendChild(a); ans.appendChild(b); div.appendChild(ans);
    const tbl = el("table", "checks");
    const hr = el("tr");
    for (const x of ["check", "baseline", "candidate", "change", "baseline reason", "candidate reason"]) hr.appendChild(el("th", "", x));
    tbl.appendChild(hr);
    for (const r of s.checks) {
      const tr = el("tr", r[7] < -1e-9 ? "worse" : r[7] > 1e-9 ? "better" : "");
      tr.appendChild(el("td", "", D.checks[r[0]]));
      for (const [p, v] of [[r[1], r[2]], [r[4], r[5]]]) { const [t, k] = verdict(p, v); tr.appendChild(el("td", "v " + k, t)); }
      tr.appendChild(el("td", "num", r[7] === 0 ? "" : (r[7] > 0 ? "+" : "") + r[7]));
      tr.appendChild(el("td", "reason", r[3])); tr.appendChild(el("td", "reason", r[6]));
      tbl.appendChild(tr);
    }
    div.appendChild(tbl);
    return div;
  }

  function draw() {
    const m = matches();
    const pages = Math.max(1, Math.ceil(m.length / state.size));
    state.page = Math.min(state.page, pages - 1);
    const from = state.page * state.size, shown = m.slice(from, from + state.size);
    const list = $("samples");
    list.replaceChildren(...shown.map((i) => card(S[i])));
    $("pager-info").textContent = m.length ? `samples ${from + 1}-${from + shown.length} of ${m.length} (page ${state.page + 1} of ${pages})` : "no sample matches";
    $("prev").disabled = state.page === 0;
    $("next").disabled = state.page >= pages - 1;
    status.matched = m.length; status.shown = shown.length;
  }

  const on = (id, key, ev, conv) => $(id).addEventListener(ev || "change", (e) => {
    state[key] = conv ? conv(e.target.value) : e.target.value; state.page = 0; draw();
  });
  on("f-status", "st"); on("f-set", "set"); on("f-seg", "seg"); on("f-check", "check"); on("f-sort", "sort");
  on("f-size", "size", "change", Number);
  let timer = null;
  $("f-q").addEventListener("input", (e) => {
    clearTimeout(timer);
    timer = setTimeout(() => { state.q = e.target.value; state.page = 0; draw(); }, 150);
  });
  $("prev").addEventListener("click", () => { state.page--; draw(); window.scrollTo(0, 0); });
  $("next").addEventListener("click", () => { state.page++; draw(); window.scrollTo(0, 0); });
  draw();
  status.done_ms = performance.now() - t0;
})();
