// The report's "compare any two versions" table: for the pair chosen in #pair-picker (pair_picker.js), every
// charted metric's value of both runs (95% interval, n) and the difference with its MOVER 95% interval
// (Newcombe's method for two Wilson intervals; Zou & Donner for t intervals): lo = d - sqrt((a-la)^2 + (ub-b)^2),
// hi = d + sqrt((ua-a)^2 + (b-lb)^2). Unpaired: it ignores that both runs answer the same samples, so it is wider
// than the paired test of the regression report; it is descriptive, never a gate. Labels: worse / better when the
// interval excludes 0, "no change" when it lies within +-the minimum effect of the regression config, else
// "inconclusive". Text goes in through textContent only; window.compareStatus = {rows, pair} for tests.
(function () {
  "use strict";
  const picker = document.getElementById("pair-picker");
  const table = document.getElementById("compare-table");
  if (!picker || !table) return;
  const D = JSON.parse(document.getElementById("report-data").textContent);
  const dateIdx = new Map(D.dates.map((d, i) => [d, i]));
  const verIdx = new Map(D.versions.map((v, i) => [v, i]));
  const status = window.compareStatus = {rows: 0, pair: null};

  function point(c, v, x) {  // {y, lo, hi, n} of version v on date index x in chart c, or null
    const s = c.series.find((t) => t.v === v);
    if (!s) return null;
    let at = s.x0;
    for (let i = 0; i < s.y.length; i++) {
      if (at === x) {
        if (s.y[i] === null) return null;
        const y = s.y[i] * c.q;
        return {y, lo: s.lo[i] === null ? null : y - s.lo[i] * c.q, hi: s.hi[i] === null ? null : y + s.hi[i] * c.q,
          n: Array.isArray(s.n) ? s.n[i] : s.n};
      }
      if (at > x) return null;
      at += s.dx ? (s.dx[i] === undefined ? 1 : s.dx[i]) : 1;
    }
    return null;
  }
  const pct = (c) => c.measure === "pass_rate";
  const fmt = (c, v) => (v === null || v === undefined || Number.isNaN(v) ? "" : pct(c) ? `${(v * 100).toFixed(1)}%` : Number(v).toPrecision(4));
  const fmtD = (c, v) => (pct(c) ? `${v >= 0 ? "+" : ""}${(v * 100).toFixed(1)} pts` : `${v >= 0 ? "+" : ""}${Number(v).toPrecision(3)}`);
  const el = (tag, cls, text) => { const e = document.createElement(tag); if (cls) e.className = cls; if (text !== undefined) e.textContent = String(text); return e; };

  function label(c, d, lo, hi) {
    const sign = c.lower ? -1 : 1;
    if (lo > 0 || hi < 0) return (d * sign > 0) ? "better" : "worse";
    if (c.me !== undefined && c.me !== null && -c.me <= lo && hi <= c.me) return "no change";
    return "inconclusive";
  }
  const CLS = {worse: "regression", better: "improvement", "no change": "no_change", inconclusive: "inconclusive"};

  function draw(p) {
    const cv = verIdx.get(p.c), bv = verIdx.get(p.b), cx = dateIdx.get(p.cd), bx = dateIdx.get(p.bd);
    const body = table.querySelector("tbody");
    body.replaceChildren();
    let rows = 0;
    for (const c of D.charts) {
      const a = point(c, cv, cx), b = point(c, bv, bx);
      if (!a || !b) continue;
      const tr = el("tr", "compare-row");
      const link = el("a", "", `${c.suite}/${c.eval_set}`); link.href = `#${c.id}`;
      const first = el("td"); first.appendChild(link); tr.appendChild(first);
      tr.appendChild(el("td", "", c.metric));
      tr.appendChild(el("td", "", c.measure.replace("_", " ")));
      const run = (r) => (r.lo === null || r.hi === null ? `${fmt(c, r.y)} (no interval) n=${r.n}` : `${fmt(c, r.y)} [${fmt(c, r.lo)}, ${fmt(c, r.hi)}] n=${r.n}`);
      tr.appendChild(el("td", "num", run(a)));
      tr.appendChild(el("td", "num", run(b)));
      const d = a.y - b.y;
      if (a.lo === null || b.lo === null || a.hi === null || b.hi === null) {
        tr.appendChild(el("td", "num", `${fmtD(c, d)} (no interval)`));
        tr.appendChild(el("td", "insufficient_data", "no interval"));
      } else {
        const lo = d - Math.sqrt((a.y - a.lo) ** 2 + (b.hi - b.y) ** 2);
        const hi = d + Math.sqrt((a.hi - a.y) ** 2 + (b.y - b.lo) ** 2);
        const lab = label(c, d, lo, hi);
        tr.appendChild(el("td", "num", `${fmtD(c, d)} [${fmtD(c, lo)}, ${fmtD(c, hi)}]`));
        tr.appendChild(el("td", CLS[lab], lab));
      }
      body.appendChild(tr);
      rows += 1;
    }
    const note = document.getElementById("compare-empty");
    if (note) note.textContent = rows ? "" : `No charted metric has a run of both ${p.c} on ${p.cd} and ${p.b} on ${p.bd}.`;
    status.rows = rows;
    status.pair = p;
  }
  picker.addEventListener("pairchange", (ev) => draw(ev.detail));
  if (picker.dataset.pair) draw(JSON.parse(picker.dataset.pair));
})();
