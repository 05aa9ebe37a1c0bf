// The history report's charts, drawn in the browser from the one JSON blob (report_data.py).
// Every chart div gets data-rendered="1" once Plotly drew it; window.reportStatus counts them
// (total, rendered, done_ms) so a browser test or benchmark can tell when every chart is drawn.
(function () {
  "use strict";
  const D = JSON.parse(document.getElementById("report-data").textContent);
  const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf", "#393b79", "#ad494a", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd",
    "#e6550d", "#31a354", "#756bb1"];
  const DAY = 86400000;
  const EVENT_SYMBOL = {"release approved": "star", "config change": "diamond", "judge change": "square", "alert": "x"};
  // a version's colour comes from its name (FNV-1a hash), so it stays the same between builds whatever
  // other versions are added; production is always the first colour
  const fnv = (t) => { let h = 2166136261; for (let i = 0; i < t.length; i++) { h ^= t.charCodeAt(i); h = Math.imul(h, 16777619); } return h >>> 0; };
  const COLORS = D.versions.map((name) => (name === D.production ? PALETTE[0] : PALETTE[1 + (fnv(name) % (PALETTE.length - 1))]));
  const color = (v) => COLORS[v];
  // The versions drawn: production + the latest ones (D.visible), or every version with #all; the
  // version picker (#version-picker) adds / removes a version in every chart, a legend click in one.
  const DRAWN = new Set(window.location.hash === "#all" ? D.versions.map((_, i) => i) : (D.visible || []));
  const status = window.reportStatus = {total: 0, rendered: 0, traces: 0, done_ms: null, errors: []};

  // x values are epoch milliseconds (UTC midnight of each date): Plotly would parse a date string per point
  const DMS = D.dates.map((d) => Date.parse(d));

  function xs(s, n) {  // decode date indices: x0 + steps (dx) or consecutive days
    const out = new Array(n);
    let x = s.x0;
    for (let i = 0; i < n; i++) { out[i] = DMS[x]; if (i < n - 1) x += s.dx ? s.dx[i] : 1; }
    return out;
  }
  const scaled = (a, q) => a.map((v) => (v === null ? null : v * q));
  const ns = (n, len) => (Array.isArray(n) ? n : new Array(len).fill(n));

  function dateAxis(dates) {
    let lo = Infinity, hi = -Infinity;
    for (const t of dates) { if (t < lo) lo = t; if (t > hi) hi = t; }
    const axis = {type: "date", tickformat: "%Y-%m-%d", hoverformat: "%Y-%m-%d", automargin: true,
      range: [new Date(lo - DAY / 2).toISOString(), new Date(hi + DAY / 2).toISOString()]};
    if ((hi - lo) / DAY <= 14) axis.dtick = DAY;  // never hourly ticks
    return axis;
  }

  function eventTraces(versionsShown) {
    const ev = D.events.filter((e) => e.v === null || e.v === undefined || versionsShown.has(e.v));
    if (!ev.length) return {traces: [], shapes: []};
    const shapes = ev.filter((e) => e.kind !== "release approved").map((e) => ({type: "line", xref: "x", yref: "paper", x0: DMS[e.x], x1: DMS[e.x],
      y0: 0, y1: 1, line: {color: "#999", width: 1, dash: "dot"}}));
    const traces = [{type: "scatter", mode: "markers", name: "events", yaxis: "y2", legendgroup: "events",
      x: ev.map((e) => DMS[e.x]), y: ev.map(() => 0.96),
      marker: {symbol: ev.map((e) => EVENT_SYMBOL[e.kind] || "circle"), size: 9, color: "#555"},
      text: ev.map((e) => `${e.kind}: ${e.label}`), hovertemplate: "%{x}<br>%{text}<extra></extra>"}];
    return {traces, shapes};
  }

  function metricFigure(c) {
    const traces = [], pct = c.measure === "pass_rate";
    const fmt = pct ? ".1%" : ".4g";
    const shown = new Set(), allDates = [];
    for (const s of c.series.filter((s) => DRAWN.has(s.v))) {
      const n = s.y.length, x = xs(s, n), y = scaled(s.y, c.q), name = D.versions[s.v];
      const lo = y.map((v, i) => (v === null || s.lo[i] === null ? null : v - s.lo[i] * c.q));
      const hi = y.map((v, i) => (v === null || s.hi[i] === null ? null : v + s.hi[i] * c.q));
      const nn = ns(s.n, n);
      shown.add(s.v);
      allDates.push(...x);
      traces.push({type: "scatter", mode: "lines", x: x.concat(x.slice().reverse()),
        y: hi.concat(lo.slice().reverse()), fill: "toself", fillcolor: color(s.v), opacity: 0.15,
        line: {width: 0}, hoverinfo: "skip", legendgroup: name, showlegend: false, name: name + " 95% interval"});
      traces.push({type: "scatter", mode: n > 60 ? "lines" : "lines+markers", x: x, y: y, name: name,
        legendgroup: name, line: {color: color(s.v), width: 1.6}, marker: {size: 6},
        customdata: nn.map((v, i) => [v, lo[i], hi[i]]),
        hovertemplate: `%{x}<br>${name}${s.v === 0 && D.production ? " (production)" : ""}<br>${c.measure} %{y:${fmt}}` +
          `<br>95% interval [%{customdata[1]:${fmt}}, %{customdata[2]:${fmt}}]<br>n=%{customdata[0]}<extra></extra>`});
    }
    if (c.limits) {
      const L = c.limits, n = L.lcl.length, x = xs(L, n);
      for (const [key, label] of [["lcl", "production control limits (lower)"], ["ucl", "production control limits (upper)"]]) {
        traces.push({type: "scatter", mode: "lines", x: x, y: scaled(L[key], c.q), name: key === "lcl" ? "production control limits" : label,
          legendgroup: "limits", showlegend: key === "lcl", line: {color: "#e67e22", width: 1, dash: "dash", shape: "hv"},
          hovertemplate: `%{x}<br>${label} %{y:${fmt}}<br>${L.how}<extra></extra>`});
      }
    }
    if (c.alerts && c.alerts.length) {
      traces.push({type: "scatter", mode: "markers", name: "alerts", legendgroup: "alerts",
        x: c.alerts.map((a) => DMS[a.x]), y: c.alerts.map((a) => (a.y === null ? null : a.y * c.q)),
        marker: {symbol: "x", size: 11, color: "#c0392b", line: {width: 2}}, text: c.alerts.map((a) => a.text),
        hovertemplate: "%{x}<br>%{text}<extra></extra>"});
    }
    const ev = eventTraces(shown);
    const thr = c.thr || [];  // threshold lines of the latest runs: red when blocking
    for (const t of thr) {
      ev.shapes.push({type: "line", xref: "paper", x0: 0, x1: 1, yref: "y", y0: t.y, y1: t.y,
        line: {color: t.blocking ? "#c0392b" : "#7f8c8d", width: 1.2, dash: "dot"}});
    }
    const annotations = thr.map((t) => ({xref: "paper", x: 1, xanchor: "right", yref: "y", y: t.y, yanchor: "bottom",
      showarrow: false, font: {size: 10, color: t.blocking ? "#c0392b" : "#7f8c8d"},
      text: `threshold ${t.bound} ${Number(t.y)}${t.blocking ? " (blocking)" : ""}`}));
    return {traces: traces.concat(ev.traces), layout: {annotations,
      title: {text: `${c.suite}/${c.eval_set}: ${c.metric} (${c.measure.replace("_", " ")})`, font: {size: 14}, x: 0.01, xanchor: "left"},
      xaxis: dateAxis(allDates), yaxis: {tickformat: pct ? ".0%" : "", title: c.measure},
      yaxis2: {overlaying: "y", range: [0, 1], visible: false, fixedrange: true},
      shapes: ev.shapes, hovermode: "closest", margin: {l: 60, r: 10, t: 40, b: 40}, height: 360,
      legend: {orientation: "v", font: {size: 10}}}};
  }

  function opsFigure(c) {
    const traces = [], allDates = [];
    for (const s of c.series.filter((s) => DRAWN.has(s.v))) {
      const n = s.y.length, x = xs(s, n), name = D.versions[s.v];
      allDates.push(...x);
      traces.push({type: "scatter", mode: n > 60 ? "lines" : "lines+markers", x: x, y: scaled(s.y, c.q), name: name,
        legendgroup: name, line: {color: color(s.v), width: 1.5}, customdata: ns(s.n, n),
        hovertemplate: `%{x}<br>${name}<br>${c.title} %{y:.4g}<br>n=%{customdata}<extra></extra>`});
    }
    return {traces, layout: {title: {text: c.title, font: {size: 14}}, xaxis: dateAxis(allDates),
      yaxis: {tickformat: c.field.endsWith("_rate") ? ".1%" : ""}, height: 300,
      margin: {l: 60, r: 10, t: 40, b: 40}, legend: {font: {size: 10}}}};
  }

  function failureFigure(c, v) {
    const pv = c.versions.find((p) => p.v === v) || c.versions[0];
    const n = pv.counts[0].length, x = xs(pv, n);
    const area = n > 60;  // a year of bars is thousands of rectangles: stacked areas instead
    const traces = c.labels.map((label, i) => ({type: area ? "scatter" : "bar", x: x, y: pv.counts[i], name: label,
      stackgroup: area ? "f" : undefined, mode: area ? "lines" : undefined, line: area ? {width: 0.5} : undefined,
      hovertemplate: `%{x}<br>${label}: %{y} failed<extra></extra>`}));
    return {traces, layout: {barmode: "stack", title: {text: `${c.suite}/${c.eval_set}: failures of ${D.versions[pv.v]}`,
      font: {size: 14}}, xaxis: dateAxis(x), yaxis: {title: "failed samples / errors"}, height: 320,
      margin: {l: 60, r: 10, t: 40, b: 40}, legend: {font: {size: 10}}}};
  }

  const CONFIG = {displaylogo: false, responsive: true};
  const jobs = [];
  for (const c of D.charts) jobs.push([c.id, () => metricFigure(c)]);
  for (const c of D.ops) jobs.push([c.id, () => opsFigure(c)]);
  for (const c of D.failures) {
    const sel = document.getElementById(c.id + "-select");
    if (sel) sel.addEventListener("change", () => {
      const f = failureFigure(c, Number(sel.value));
      Plotly.react(c.id, f.traces, f.layout, CONFIG);
    });
    jobs.push([c.id, () => failureFigure(c, sel ? Number(sel.value) : c.versions[0].v)]);
  }
  status.total = jobs.length;
  const t0 = performance.now();

  // The version picker: one checkbox per version (its colour), checked = drawn in every chart.
  const picker = document.getElementById("version-picker");
  let redrawing = Promise.resolve();
  if (picker) {
    picker.innerHTML = D.versions.map((v, i) => `<label style="margin-right:.8em;white-space:nowrap">` +
      `<input type="checkbox" data-v="${i}"${DRAWN.has(i) ? " checked" : ""}> ` +
      `<span style="color:${color(i)}">\u25A0</span> ${v}${i === 0 && D.production ? " (production)" : ""}</label>`).join(" ");
    picker.addEventListener("change", (ev) => {
      const v = Number(ev.target.dataset.v);
      if (ev.target.checked) DRAWN.add(v); else DRAWN.delete(v);
      picker.dataset.redrawn = "0";
      redrawing = redrawing.then(async () => {  // metric and ops charts again, with the new set
        for (const [id, make] of jobs.slice(0, D.charts.length + D.ops.length)) {
          const f = make();
          await Plotly.react(id, f.traces, f.layout, CONFIG);
          document.getElementById(id).dataset.traces = String(f.traces.length);
        }
        picker.dataset.redrawn = "1";
      });
    });
  }

  async function drawAll() {
    for (const [id, make] of jobs) {
      const el = document.getElementById(id);
      const t1 = performance.now();
      try {
        const f = make();
        await Plotly.newPlot(el, f.traces, f.layout, CONFIG);
        el.dataset.ms = String(Math.round(performance.now() - t1));
        el.dataset.rendered = "1";
        el.dataset.traces = String(f.traces.length);
        status.traces += f.traces.length;
      } catch (e) {
        status.errors.push(`${id}: ${e}`);
      }
      status.rendered += 1;
      if (status.rendered % 4 === 0) await new Promise((r) => setTimeout(r, 0));  // keep the page responsive
    }
    status.done_ms = performance.now() - t0;
    document.body.dataset.chartsRendered = String(status.rendered);
  }
  drawAll();
})();
