// "Compare any two versions": candidate and baseline pickers, each at any date it was scored (pair_index.py).
// A written per-sample diff of the pair is linked; any other pair shows the command that writes it, and a
// link that builds it at once when the page is served by `eval-pipeline view --serve` (it answers /api/view).
// Text goes in through textContent only. The chosen pair is announced as a "pairchange" event on
// #pair-picker (detail {c, cd, b, bd}), which the report's comparison table listens to.
(function () {
  "use strict";
  const root = document.getElementById("pair-picker");
  const blob = document.getElementById("pair-data");
  if (!root || !blob) return;
  const P = JSON.parse(blob.textContent);
  const versions = Object.keys(P.runs).sort();
  if (versions.length < 1) { root.textContent = "No scored runs to compare."; return; }
  const el = (tag, attrs, text) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = String(text);
    return e;
  };
  const def = P.here || P.default || {};
  const pick = (v, fallback) => (v && P.runs[v] ? v : fallback);
  const c0 = pick(def.c, versions[versions.length - 1]);
  const b0 = pick(def.b, versions.find((v) => v !== c0) || c0);

  function versionSelect(id, value, label) {
    const s = el("select", {id: id, title: label});
    for (const v of versions) { const o = el("option", {value: v}, v); if (v === value) o.selected = true; s.appendChild(o); }
    return s;
  }
  function fillDates(sel, v, value) {
    sel.replaceChildren();
    const dates = P.runs[v] || [];
    for (const d of dates.slice().reverse()) { const o = el("option", {value: d}, d); sel.appendChild(o); }
    sel.value = dates.includes(value) ? value : dates[dates.length - 1];
  }
  const cSel = versionSelect("pick-c", c0, "candidate"), bSel = versionSelect("pick-b", b0, "baseline");
  const cDate = el("select", {id: "pick-cd", title: "candidate's date"});
  const bDate = el("select", {id: "pick-bd", title: "baseline's date"});
  fillDates(cDate, c0, def.cd);
  fillDates(bDate, b0, def.bd);
  const out = el("span", {id: "pair-result", class: "note"});
  root.replaceChildren(el("b", {}, "Compare "), cSel, el("span", {}, " at "), cDate, el("span", {}, " against "),
    bSel, el("span", {}, " at "), bDate, el("span", {}, " "), out);

  let live = false;  // served by `eval-pipeline view --serve`: any pair's diff is built on request
  const current = () => ({c: cSel.value, cd: cDate.value, b: bSel.value, bd: bDate.value});

  function show() {
    const p = current();
    out.replaceChildren();
    const hit = P.diffs.find((d) => d.c === p.c && d.cd === p.cd && d.b === p.b && d.bd === p.bd);
    const here = P.here && P.here.c === p.c && P.here.cd === p.cd && P.here.b === p.b && P.here.bd === p.bd;
    if (here) {
      out.appendChild(el("span", {}, "(this page)"));
    } else if (hit) {
      out.appendChild(el("a", {href: hit.href, id: "pair-link"}, "sample by sample"));
    } else {
      const cmd = `eval-pipeline diff ${p.c}@${p.cd} ${p.b}@${p.bd}`;
      if (live) {
        const q = new URLSearchParams({candidate: `${p.c}@${p.cd}`, baseline: `${p.b}@${p.bd}`});
        out.appendChild(el("a", {href: `/diff?${q}`, id: "pair-link"}, "sample by sample (built now)"));
        out.appendChild(el("span", {}, " · "));
      } else {
        out.appendChild(el("span", {}, "per-sample diff not written yet: "));
      }
      out.appendChild(el("code", {id: "pair-command"}, cmd));
    }
    root.dataset.pair = JSON.stringify(p);
    root.dispatchEvent(new CustomEvent("pairchange", {detail: p}));
  }
  cSel.addEventListener("change", () => { fillDates(cDate, cSel.value, cDate.value); show(); });
  bSel.addEventListener("change", () => { fillDates(bDate, bSel.value, bDate.value); show(); });
  cDate.addEventListener("change", show);
  bDate.addEventListener("change", show);
  window.pairPicker = {current, show};
  if (location.protocol === "http:" || location.protocol === "https:") {
    fetch("/api/view", {cache: "no-store"}).then((r) => (r.ok ? r.json() : null)).then((j) => {
      if (j && j.diff_on_request) { live = true; show(); }
    }).catch(() => {});
  }
  show();
})();
