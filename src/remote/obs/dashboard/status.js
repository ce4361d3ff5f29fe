// The rivulet dashboard: polls /api/state and redraws. No library, no build step.
"use strict";

(() => {
  const POLL_MS = 400; // at least twice a second, even with the fetch's own time
  const STREAM_WINDOW_MS = 15000;
  const HISTORY_WINDOW_MS = 300000;
  const MIN_HISTORY_WINDOW_MS = 30000;
  const MAX_TASKS_PER_WORKER = 4000;
  const MAX_LANES = 12;

  const colors = {
    ink: "#1d2330",
    muted: "#667085",
    grid: "#e3e6eb",
    failed: "#d64545",
    lost: "#9aa1ad",
    series: { submitted: "#2f6fdf", finished: "#1f9d55", gathered: "#e08a1e", p50: "#2f6fdf", p99: "#8b5cf6" },
  };

  // Tasks seen so far, per worker (the server sends each worker's most recent ones).
  const tasksByWorker = new Map();
  let latest = null;
  let streamBars = [];

  const $ = (id) => document.getElementById(id);

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function fmtCount(n) {
    return Math.round(n).toLocaleString("en-US");
  }

  function fmtBytes(n) {
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) {
      n /= 1024;
      i += 1;
    }
    return `${i === 0 ? n : n.toFixed(1)} ${units[i]}`;
  }

  function fmtMs(ms) {
    if (ms === null || ms === undefined) return "–";
    if (ms < 1) return `${(ms * 1000).toFixed(0)} µs`;
    if (ms < 1000) return `${ms.toFixed(ms < 10 ? 2 : 1)} ms`;
    return `${(ms / 1000).toFixed(2)} s`;
  }

  // Two durations in the unit of the larger: "62.8 / 144 ms".
  function fmtMsPair(a, b) {
    if (a === null || b === null) return "–";
    const [scale, unit] = b < 1 ? [1000, "µs"] : b < 1000 ? [1, "ms"] : [0.001, "s"];
    const f = (v) => (v * scale).toFixed(v * scale < 10 ? 2 : v * scale < 100 ? 1 : 0);
    return `${f(a)} / ${f(b)} ${unit}`;
  }

  function fmtRate(r) {
    if (r >= 1000) return `${(r / 1000).toFixed(1)}k`;
    return r.toFixed(r < 10 ? 1 : 0);
  }

  function hue(name) {
    let h = 0;
    for (let i = 0; i < name.length; i += 1) h = (h * 31 + name.charCodeAt(i)) >>> 0;
    return h % 360;
  }

  function functionColor(name) {
    return `hsl(${hue(name)}, 55%, 55%)`;
  }

  function shortName(name) {
    const parts = name.split("::");
    return parts[parts.length - 1] || name;
  }

  // A canvas sized to its box, in device pixels; returns its context and CSS size.
  function prepare(canvas) {
    const ratio = window.devicePixelRatio || 1;
    const width = canvas.clientWidth;
    const height = canvas.clientHeight;
    if (canvas.width !== Math.round(width * ratio) || canvas.height !== Math.round(height * ratio)) {
      canvas.width = Math.round(width * ratio);
      canvas.height = Math.round(height * ratio);
    }
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);
    ctx.font = "11px system-ui, sans-serif";
    return { ctx, width, height };
  }

  function setLive(ok, why) {
    const live = $("live");
    live.dataset.state = ok ? "live" : "down";
    live.textContent = ok ? `live · up ${(latest.now_ms / 1000).toFixed(0)} s` : `not reachable (${why})`;
  }

  function renderTotals(s) {
    const inFlight = s.workers.reduce((sum, w) => sum + w.tasks_in_flight, 0);
    $("total-submitted").textContent = fmtCount(s.totals.submitted);
    $("total-finished").textContent = fmtCount(s.totals.finished);
    $("total-failed").textContent = fmtCount(s.totals.failed);
    $("total-failed").classList.toggle("nonzero", s.totals.failed > 0);
    $("total-in-flight").textContent = fmtCount(inFlight);
    $("total-gathered").textContent = fmtCount(s.totals.gathered);
    const last = s.throughput[s.throughput.length - 1];
    $("rate-now").textContent = last ? `${fmtRate(last.finished)}/s` : "–";
    const l = s.latency_now;
    $("latency-now").textContent = l.count ? fmtMsPair(l.p50_ms, l.p99_ms) : "–";
  }

  function renderWorkers(s) {
    const body = $("workers").tBodies[0];
    const rows = s.workers.map((w) => {
      const status = w.status || (w.connected ? "connected" : "lost");
      const row = el("tr", status === "connected" ? "" : status);
      row.dataset.worker = String(w.index);
      row.append(el("td", "", String(w.index)), el("td", "", w.addr));
      row.append(el("td", "status", status));
      const slots = el("td");
      const wrap = el("div", "slots");
      const bar = el("div", "bar");
      const fill = el("div", "fill");
      fill.style.width = `${w.slots ? (100 * w.busy_slots) / w.slots : 0}%`;
      bar.append(fill);
      wrap.append(bar, el("span", "", `${w.busy_slots} / ${w.slots}`));
      slots.append(wrap);
      row.append(slots);
      const cells = [
        fmtCount(w.tasks_in_flight),
        fmtCount(w.values_held),
        fmtBytes(w.bytes_held),
        fmtCount(w.finished),
        fmtCount(w.failed),
        fmtBytes(w.bytes_sent),
        fmtBytes(w.bytes_received),
      ];
      for (const text of cells) row.append(el("td", "num", text));
      return row;
    });
    if (rows.length === 0) {
      const row = el("tr", "empty");
      const cell = el("td", "", "no workers yet");
      cell.colSpan = 11;
      row.append(cell);
      rows.push(row);
    }
    body.replaceChildren(...rows);
  }

  function mergeTasks(s) {
    for (const task of s.tasks) {
      let list = tasksByWorker.get(task.worker);
      if (!list) {
        list = [];
        tasksByWorker.set(task.worker, list);
      }
      const newest = list.length ? list[list.length - 1].seq : -1;
      if (task.seq > newest) list.push(task);
    }
    const from = s.now_ms - STREAM_WINDOW_MS;
    for (const [worker, list] of tasksByWorker) {
      let drop = 0;
      while (drop < list.length && (list[drop].end_ms < from || list.length - drop > MAX_TASKS_PER_WORKER)) drop += 1;
      if (drop) tasksByWorker.set(worker, list.slice(drop));
    }
  }

  // Greedy lanes: each task goes to the first lane free at its start; beyond MAX_LANES, tasks
  // share the lane that frees first (they overlap, as queued tasks do).
  function assignLanes(tasks) {
    const ends = [];
    const placed = [];
    for (const task of [...tasks].sort((a, b) => a.start_ms - b.start_ms)) {
      let lane = ends.findIndex((end) => end <= task.start_ms);
      if (lane < 0 && ends.length < MAX_LANES) {
        lane = ends.length;
        ends.push(0);
      }
      if (lane < 0) lane = ends.indexOf(Math.min(...ends));
      ends[lane] = Math.max(ends[lane], task.end_ms);
      placed.push({ task, lane });
    }
    return { placed, lanes: Math.max(1, ends.length) };
  }

  function renderStream(s) {
    const canvas = $("stream");
    const workers = s.workers;
    const laidOut = workers.map((w) => ({ worker: w, ...assignLanes(tasksByWorker.get(w.index) || []) }));
    const gutter = 150;
    const axis = 22;
    const rowGap = 8;
    const laneHeight = (lanes) => Math.max(5, Math.min(18, 64 / lanes));
    const wanted = laidOut.reduce((h, r) => h + r.lanes * laneHeight(r.lanes) + rowGap, axis + 6);
    canvas.style.height = `${Math.max(120, wanted)}px`;
    const { ctx, width, height } = prepare(canvas);
    const plotWidth = width - gutter - 8;
    const from = s.now_ms - STREAM_WINDOW_MS;
    const x = (t) => gutter + ((t - from) / STREAM_WINDOW_MS) * plotWidth;

    // Time axis: a tick every second, labelled every five.
    ctx.strokeStyle = colors.grid;
    ctx.fillStyle = colors.muted;
    ctx.textAlign = "center";
    for (let ago = 0; ago <= STREAM_WINDOW_MS; ago += 1000) {
      const tx = x(s.now_ms - ago);
      ctx.beginPath();
      ctx.moveTo(tx, 0);
      ctx.lineTo(tx, height - axis);
      ctx.stroke();
      ctx.textAlign = ago === 0 ? "right" : "center";
      if (ago % 5000 === 0) ctx.fillText(ago === 0 ? "now" : `−${ago / 1000} s`, tx, height - 6);
    }

    streamBars = [];
    let top = 4;
    let bars = 0;
    for (const row of laidOut) {
      const lh = laneHeight(row.lanes);
      const rowHeight = row.lanes * lh;
      ctx.textAlign = "left";
      ctx.fillStyle = row.worker.connected ? colors.ink : colors.muted;
      ctx.fillText(`worker ${row.worker.index}${row.worker.connected ? "" : ` (${row.worker.status || "lost"})`}`, 4, top + 11);
      ctx.fillStyle = colors.muted;
      ctx.fillText(row.worker.addr, 4, top + 24);
      for (const { task, lane } of row.placed) {
        if (task.end_ms < from) continue;
        const x0 = Math.max(gutter, x(task.start_ms));
        const x1 = Math.max(x0 + 1.5, x(task.end_ms));
        const y0 = top + lane * lh + 1;
        const h = Math.max(2, lh - 2);
        ctx.fillStyle =
          task.outcome === "failed" ? colors.failed : task.outcome === "lost" ? colors.lost : functionColor(task.function);
        ctx.fillRect(x0, y0, x1 - x0, h);
        if (task.outcome !== "finished") {
          ctx.strokeStyle = colors.ink;
          ctx.lineWidth = 1;
          ctx.strokeRect(x0 + 0.5, y0 + 0.5, Math.max(1, x1 - x0 - 1), h - 1);
        }
        if (x1 - x0 > 60 && h >= 11) {
          ctx.fillStyle = "#fff";
          ctx.fillText(shortName(task.function), x0 + 4, y0 + h - 3, x1 - x0 - 8);
        }
        streamBars.push({ x0, x1, y0, y1: y0 + h, task, worker: row.worker });
        bars += 1;
      }
      top += rowHeight + rowGap;
      ctx.strokeStyle = colors.grid;
      ctx.beginPath();
      ctx.moveTo(0, top - rowGap / 2);
      ctx.lineTo(width, top - rowGap / 2);
      ctx.stroke();
    }
    canvas.dataset.bars = String(bars);
    canvas.dataset.drawnAt = String(s.now_ms);

    const names = new Set();
    for (const list of tasksByWorker.values()) for (const task of list) names.add(task.function);
    const legend = [...names].sort().map((name) => {
      const item = el("li", "", shortName(name));
      item.title = name;
      item.style.setProperty("--swatch", functionColor(name));
      return item;
    });
    const failed = el("li", "", "failed");
    failed.style.setProperty("--swatch", colors.failed);
    const lost = el("li", "", "lost with its worker");
    lost.style.setProperty("--swatch", colors.lost);
    $("legend").replaceChildren(...legend, failed, lost);
  }

  function niceMax(value) {
    if (!(value > 0)) return 1;
    const step = 10 ** Math.floor(Math.log10(value));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * step >= value * (1 - 1e-9)) return m * step;
    return 10 * step;
  }

  // A line chart of `series` ({name, color, points: [[t, v|null]]}) over the last minutes
  // (or less, while there is less history).
  function lineChart(canvas, now, series, format) {
    const { ctx, width, height } = prepare(canvas);
    const left = 66;
    const bottom = 20;
    const plotWidth = width - left - 8;
    const plotHeight = height - bottom - 22;
    let first = now;
    for (const s of series) if (s.points.length) first = Math.min(first, s.points[0][0]);
    const span = Math.min(HISTORY_WINDOW_MS, Math.max(MIN_HISTORY_WINDOW_MS, now - first));
    const from = now - span;
    let max = 0;
    for (const s of series) for (const [, v] of s.points) if (v !== null && v > max) max = v;
    max = niceMax(max * 1.1);
    const x = (t) => left + ((t - from) / span) * plotWidth;
    const y = (v) => 22 + plotHeight - (v / max) * plotHeight;

    ctx.strokeStyle = colors.grid;
    ctx.fillStyle = colors.muted;
    ctx.textAlign = "right";
    for (let i = 0; i <= 5; i += 1) {
      const v = (max * i) / 5;
      ctx.beginPath();
      ctx.moveTo(left, y(v));
      ctx.lineTo(width - 8, y(v));
      ctx.stroke();
      ctx.fillText(v === 0 ? "0" : format(v), left - 6, y(v) + 4);
    }
    ctx.textAlign = "center";
    const tick = span > 120000 ? 60000 : span > 60000 ? 20000 : 10000;
    for (let ago = 0; ago <= span; ago += tick) {
      const label = ago === 0 ? "now" : tick >= 60000 ? `−${ago / 60000} min` : `−${ago / 1000} s`;
      ctx.textAlign = ago === 0 ? "right" : "center";
      ctx.fillText(label, x(now - ago), height - 5);
    }

    let legendX = left;
    for (const s of series) {
      ctx.strokeStyle = s.color;
      ctx.lineWidth = 2;
      ctx.beginPath();
      let drawing = false;
      for (const [t, v] of s.points) {
        if (t < from || v === null) {
          drawing = false;
          continue;
        }
        if (drawing) ctx.lineTo(x(t), y(v));
        else ctx.moveTo(x(t), y(v));
        drawing = true;
      }
      ctx.stroke();
      ctx.lineWidth = 1;
      const last = s.points.length ? s.points[s.points.length - 1][1] : null;
      const label = `${s.name} ${last === null ? "–" : format(last)}`;
      ctx.fillStyle = s.color;
      ctx.fillRect(legendX, 6, 10, 10);
      ctx.fillStyle = colors.ink;
      ctx.textAlign = "left";
      ctx.fillText(label, legendX + 14, 15);
      legendX += ctx.measureText(label).width + 32;
    }
  }

  function renderCharts(s) {
    const pick = (points, key) => points.map((p) => [p.at_ms, p[key]]);
    lineChart(
      $("throughput"),
      s.now_ms,
      [
        { name: "submitted", color: colors.series.submitted, points: pick(s.throughput, "submitted") },
        { name: "finished", color: colors.series.finished, points: pick(s.throughput, "finished") },
        { name: "gathered", color: colors.series.gathered, points: pick(s.throughput, "gathered") },
      ],
      (v) => `${fmtRate(v)}/s`,
    );
    lineChart(
      $("latency"),
      s.now_ms,
      [
        { name: "p50", color: colors.series.p50, points: pick(s.latency, "p50_ms") },
        { name: "p99", color: colors.series.p99, points: pick(s.latency, "p99_ms") },
      ],
      fmtMs,
    );
  }

  function renderErrors(s) {
    const items = s.errors.map((e) => {
      const item = el("li");
      item.append(el("span", "when", `${(e.at_ms / 1000).toFixed(1)} s`));
      item.append(el("span", "what", e.what));
      const where = [];
      if (e.worker !== null) where.push(`worker ${e.worker}`);
      if (e.function) where.push(e.function);
      item.append(el("span", "", where.join(" · ")));
      item.append(el("pre", "", e.message));
      return item;
    });
    $("errors").replaceChildren(...(items.length ? items : [el("li", "none", "no errors")]));
  }

  function renderMembership(s) {
    const m = s.membership;
    const section = $("membership");
    if (!m || !m.name) {
      section.hidden = true;
      return;
    }
    section.hidden = false;
    $("membership-summary").textContent =
      `${m.name}: ${m.addresses} addresses at the last of ${fmtCount(m.resolutions)} resolutions · ` +
      `${m.joined} joined · ${m.left} left · ${m.unreachable} unreachable · ${m.resolve_failures} failed resolutions`;
    const items = m.events.slice(0, 20).map((e) => {
      const item = el("li", e.change);
      item.append(el("span", "when", `${(e.at_ms / 1000).toFixed(1)} s`));
      item.append(el("span", "what", e.change.replace("_", " ")));
      const who = e.worker !== null ? `worker ${e.worker} · ${e.addr}` : e.addr;
      item.append(el("span", "", who));
      if (e.detail) item.append(el("pre", "", e.detail));
      return item;
    });
    $("membership-events").replaceChildren(...(items.length ? items : [el("li", "none", "no changes")]));
  }

  function render(s) {
    renderTotals(s);
    renderWorkers(s);
    renderMembership(s);
    mergeTasks(s);
    renderStream(s);
    renderCharts(s);
    renderErrors(s);
  }

  async function poll() {
    const started = performance.now();
    try {
      const response = await fetch("/api/state", { cache: "no-store" });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      latest = await response.json();
      render(latest);
      setLive(true);
    } catch (error) {
      setLive(false, error.message);
    } finally {
      setTimeout(poll, Math.max(0, POLL_MS - (performance.now() - started)));
    }
  }

  function showTooltip(event) {
    const tooltip = $("tooltip");
    const canvas = $("stream");
    const box = canvas.getBoundingClientRect();
    const px = event.clientX - box.left;
    const py = event.clientY - box.top;
    const bar = streamBars.find((b) => px >= b.x0 - 1 && px <= b.x1 + 1 && py >= b.y0 && py <= b.y1);
    if (!bar) {
      tooltip.hidden = true;
      return;
    }
    const t = bar.task;
    tooltip.textContent =
      `${t.function} · ${fmtMs(t.end_ms - t.start_ms)} · worker ${bar.worker.index}` +
      (t.outcome === "finished" ? "" : ` · ${t.outcome}`);
    tooltip.hidden = false;
    tooltip.style.left = `${Math.min(px + 12, box.width - tooltip.offsetWidth - 4)}px`;
    tooltip.style.top = `${py + 14}px`;
  }

  window.addEventListener("DOMContentLoaded", () => {
    $("stream").addEventListener("mousemove", showTooltip);
    $("stream").addEventListener("mouseleave", () => {
      $("tooltip").hidden = true;
    });
    window.addEventListener("resize", () => latest && render(latest));
    poll();
  });
})();
