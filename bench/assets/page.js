"use strict";
const DATA = JSON.parse(document.getElementById("sftbench-data").textContent);
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child instanceof Node ? child : String(child));
  return node;
}
const f3 = (x) => (x === null || x === undefined ? "-" : Number(x).toFixed(3));
const pts = (x) => (x >= 0 ? "+" : "") + (100 * x).toFixed(1);
const pText = (p) => (p === null || p === undefined ? "p n/a" : p < 0.001 ? "p<0.001" : "p=" + p.toFixed(3));
const COLUMNS = [
  ["model", "Model"], ["state", "State"], ["method", "Method"], ["mode", "Mode"], ["accuracy", "Accuracy [95% CI]"],
  ["macro_f1", "Macro-F1"], ["weighted_f1", "Weighted-F1"], ["invalid_rate", "Invalid"],
  ["diff_vs_base", "vs base"], ["diff_vs_baseline", "vs best baseline"], ["diff_vs_fewshot", "vs best in-context"],
  ["seed_count", "Seeds"], ["examples_per_s", "Ex/s"], ["device", "Device"],
];
const TEXT_KEYS = new Set(["model", "state", "method", "mode", "device"]);
function cellText(cells, key) {
  const value = cells[key];
  if (value === null || value === undefined) return "-";
  if (TEXT_KEYS.has(key)) return String(value);
  if (key === "invalid_rate") return (100 * value).toFixed(1) + "%";
  if (key === "examples_per_s") return Number(value).toFixed(1);
  if (key === "seed_count") return String(value);
  if (key.startsWith("diff_vs_")) {
    const p = cells["p" + key.slice(4)];
    return pts(value) + " [" + pts(cells[key + "_low"]) + ", " + pts(cells[key + "_high"]) + "]; " + pText(p);
  }
  let text = f3(value);
  if (cells[key + "_low"] !== null && cells[key + "_low"] !== undefined) text += " [" + f3(cells[key + "_low"]) + ", " + f3(cells[key + "_high"]) + "]";
  if (key === "accuracy" && cells.accuracy_sd !== null && cells.accuracy_sd !== undefined) text += " sd " + f3(cells.accuracy_sd);
  return text;
}
function rowLabel(task, id) {
  const row = task.rows.find((r) => r.id === id);
  if (row.state === "baseline") return row.model + " (baseline" + (row.train_size ? ", n=" + row.train_size : "") + ")";
  return row.model + " " + row.state + " " + row.method + " " + row.mode + (row.seed !== null ? " seed " + row.seed : "");
}

// ---------------------------------------------------------------- the table and a line's detail
function tableView(task, box) {
  const state = { sort: null, descending: false, filters: { state: "", mode: "", method: "", seeds: "all" }, each: false };
  const filters = el("div", { class: "filters" });
  for (const key of ["state", "mode", "method"]) {
    const values = [...new Set(task.table.map((e) => String(e.cells[key])))].sort();
    const select = el("select", { "data-filter": key, onchange: (e) => { state.filters[key] = e.target.value; draw(); } }, el("option", { value: "" }, "any " + key));
    for (const value of values) select.append(el("option", { value: value }, value));
    filters.append(el("label", {}, key + " ", select));
  }
  const seeds = el("select", { "data-filter": "seeds", onchange: (e) => { state.filters.seeds = e.target.value; draw(); } },
    el("option", { value: "all" }, "every line"), el("option", { value: "means" }, "means over seeds"), el("option", { value: "single" }, "single runs"));
  filters.append(el("label", {}, "seeds ", seeds));
  const each = el("input", { type: "checkbox", "data-filter": "each", onchange: (e) => { state.each = e.target.checked; draw(); } });
  filters.append(el("label", {}, each, " each seed's line"));
  const table = el("table", { class: "results" });
  const detail = el("div", { class: "detail" });
  box.append(filters, table, el("p", { class: "note" }, "The lines of results.csv: a line with Seeds is the mean over its seeds (each seed's own line below it with 'each seed's line'). Click a line for its detail."), detail);
  function shown() {
    let entries = task.table.filter((e) => state.each || !e.of_seeds);
    for (const key of ["state", "mode", "method"]) if (state.filters[key]) entries = entries.filter((e) => String(e.cells[key]) === state.filters[key]);
    if (state.filters.seeds === "means") entries = entries.filter((e) => e.seed_rows || e.of_seeds);
    if (state.filters.seeds === "single") entries = entries.filter((e) => !e.seed_rows && !e.of_seeds);
    if (state.sort) {
      const key = state.sort;
      entries = [...entries].sort((a, b) => {
        const x = a.cells[key], y = b.cells[key];
        const order = x === y ? 0 : x === null || x === undefined ? 1 : y === null || y === undefined ? -1 : x < y ? -1 : 1;
        return state.descending ? -order : order;
      });
    }
    return entries;
  }
  function draw() {
    table.replaceChildren();
    const head = el("tr");
    for (const [key, title] of COLUMNS) head.append(el("th", { "data-key": key, onclick: () => { state.descending = state.sort === key ? !state.descending : false; state.sort = key; draw(); } },
      title + (state.sort === key ? (state.descending ? " \u25bc" : " \u25b2") : "")));
    table.append(el("thead", {}, head));
    const body = el("tbody");
    for (const entry of shown()) {
      const line = el("tr", { class: entry.of_seeds ? "seed" : "", "data-row": entry.row || "", onclick: () => openDetail(task, entry, detail, body, line) });
      for (const [key] of COLUMNS) line.append(el("td", { class: TEXT_KEYS.has(key) ? "" : "num", "data-key": key, "data-value": entry.cells[key] === null || entry.cells[key] === undefined ? "" : String(entry.cells[key]) }, cellText(entry.cells, key)));
      body.append(line);
    }
    table.append(body);
  }
  draw();
}
function openDetail(task, entry, detail, body, line) {
  for (const other of body.children) other.classList.remove("picked");
  line.classList.add("picked");
  detail.replaceChildren();
  if (entry.seed_rows) {
    detail.append(el("h3", {}, "Mean over " + entry.seed_rows.length + " seeds"),
      el("p", { class: "note" }, "A confusion matrix, the answers and the curves belong to one seed; each seed's line opens its own."));
    const list = el("ul");
    for (const id of entry.seed_rows) {
      const row = task.rows.find((r) => r.id === id);
      list.append(el("li", {}, "seed " + row.seed + ": accuracy " + f3(row.accuracy) + " (" + row.run + ")"));
    }
    detail.append(list);
    return;
  }
  const row = task.rows.find((r) => r.id === entry.row);
  detail.append(el("h3", {}, rowLabel(task, row.id)));
  const facts = el("ul");
  if (row.run) facts.append(el("li", {}, "run folder: " + row.run));
  if (row.seed !== null) facts.append(el("li", {}, "seed " + row.seed + " of " + row.seeds.join(", ") + " (its own confusion matrix and answers)"));
  if (row.sweep) facts.append(el("li", {}, (row.not_chosen ? "not chosen" : "chosen") + " on val among " + row.sweep.settings.length + " settings by " + row.sweep.metric.replace("eval_", "val ") + ": " +
    row.sweep.settings.map((s) => Object.entries(s.settings).map(([k, v]) => k + "=" + v).join(", ") + " " + f3(s[row.sweep.metric])).join("; ")));
  if (row.baseline_input) facts.append(el("li", {}, "saw: " + row.baseline_input));
  if (row.shared_trunk_layers) facts.append(el("li", {}, "layers 0-" + (row.shared_trunk_layers - 1) + " computed once, by the base model's pass (shared trunk)"));
  detail.append(facts);
  const records = el("div", { class: "cell-records" });
  if (row.confusion) detail.append(el("h4", {}, "Confusion matrix (rows: gold; columns: answer; a cell lists its records)"), confusion(task, row, records), records);
  if (row.per_class) {
    const scores = el("table", { class: "per-class" }, el("tr", {}, el("th", {}, "label"), el("th", {}, "precision"), el("th", {}, "recall"), el("th", {}, "F1"), el("th", {}, "support")));
    for (const label of task.labels) {
      const s = row.per_class[label];
      scores.append(el("tr", {}, el("td", {}, label), el("td", { class: "num" }, f3(s.precision)), el("td", { class: "num" }, f3(s.recall)), el("td", { class: "num" }, f3(s.f1)), el("td", { class: "num" }, s.support)));
    }
    detail.append(el("h4", {}, "Per-class scores"), scores);
  }
  const curves = row.curves || {};
  if ((curves.train || []).length) detail.append(el("h4", {}, "Loss per epoch (train: line; eval: dots)"), chart([["train", curves.train, false], ["eval", curves.eval || [], true]], true));
  if ((curves.accuracy || []).length) detail.append(el("h4", {}, "Label accuracy on the val records at each evaluation"), chart([["val accuracy", curves.accuracy, true]], false));
}
function confusion(task, row, records) {
  const names = [...task.labels];
  const invalid = row.confusion.some((line) => line[line.length - 1] > 0);
  if (invalid) names.push("invalid");
  const table = el("table", { class: "confusion" });
  const head = el("tr", {}, el("th", {}, "gold \\ answer"));
  for (const name of names) head.append(el("th", {}, name));
  table.append(head);
  task.labels.forEach((gold, g) => {
    const line = el("tr", {}, el("th", {}, gold));
    names.forEach((answer, a) => {
      const count = row.confusion[g][a];
      line.append(el("td", { class: "num" }, el("button", { class: "cell", "data-gold": g, "data-answer": a, onclick: () => listCell(task, row, g, a, records) }, count)));
    });
    table.append(line);
  });
  return table;
}
function answerIndex(task, row, i) {
  const answer = row.answers[i];
  return answer < 0 ? task.labels.length : answer;
}
function listCell(task, row, g, a, records) {
  const chosen = task.records.filter((r, i) => r.gold === g && answerIndex(task, row, i) === a);
  records.replaceChildren(el("p", { class: "listed" }, chosen.length + " record(s) with gold " + task.labels[g] + " answered " + (a < task.labels.length ? task.labels[a] : "invalid")), recordTable(task, chosen, [row]));
}
function chart(series, logScale) {
  const width = 520, height = 200, pad = 34;
  const points = series.flatMap(([, values]) => values);
  if (!points.length) return el("p", {}, "no curve");
  const xs = points.map((p) => p[0]), ys = points.map((p) => (logScale ? Math.log10(Math.max(p[1], 1e-6)) : p[1]));
  const [x0, x1] = [Math.min(...xs), Math.max(...xs) || 1], [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  const sx = (x) => pad + ((x - x0) / (x1 - x0 || 1)) * (width - 2 * pad);
  const sy = (y) => height - pad - ((y - y0) / (y1 - y0 || 1)) * (height - 2 * pad);
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("width", width); svg.setAttribute("height", height);
  const colors = ["#2f6fb0", "#c2410c", "#15803d"];
  series.forEach(([name, values, dots], k) => {
    const ysOf = values.map((p) => (logScale ? Math.log10(Math.max(p[1], 1e-6)) : p[1]));
    if (!dots) {
      const line = document.createElementNS(ns, "polyline");
      line.setAttribute("points", values.map((p, i) => sx(p[0]) + "," + sy(ysOf[i])).join(" "));
      line.setAttribute("fill", "none"); line.setAttribute("stroke", colors[k]);
      svg.append(line);
    }
    values.forEach((p, i) => {
      const dot = document.createElementNS(ns, "circle");
      dot.setAttribute("cx", sx(p[0])); dot.setAttribute("cy", sy(ysOf[i])); dot.setAttribute("r", dots ? 3 : 1.5); dot.setAttribute("fill", colors[k]);
      const tip = document.createElementNS(ns, "title"); tip.textContent = name + ": epoch " + p[0] + ", " + p[1].toFixed(4);
      dot.append(tip); svg.append(dot);
    });
    const legend = document.createElementNS(ns, "text");
    legend.setAttribute("x", width - pad - 90); legend.setAttribute("y", 14 + 14 * k); legend.setAttribute("fill", colors[k]); legend.setAttribute("font-size", "11");
    legend.textContent = name; svg.append(legend);
  });
  for (const [y, label] of [[y0, logScale ? Math.pow(10, y0).toFixed(3) : y0.toFixed(3)], [y1, logScale ? Math.pow(10, y1).toFixed(3) : y1.toFixed(3)]]) {
    const text = document.createElementNS(ns, "text");
    text.setAttribute("x", 2); text.setAttribute("y", sy(y) + 4); text.setAttribute("font-size", "10"); text.textContent = label; svg.append(text);
  }
  return svg;
}

// ---------------------------------------------------------------- the records and two rows side by side
function recordTable(task, records, rows, limit) {
  const table = el("table", { class: "records" });
  const head = el("tr", {}, el("th", {}, "id"), el("th", {}, "text"), el("th", {}, "gold"));
  for (const row of rows) head.append(el("th", {}, rowLabel(task, row.id)));
  table.append(head);
  for (const record of records.slice(0, limit || 200)) {
    const i = task.records.indexOf(record);
    const line = el("tr", { "data-id": record.id }, el("td", {}, record.id), el("td", { class: "text" }, record.text), el("td", {}, task.labels[record.gold]));
    for (const row of rows) {
      const a = answerIndex(task, row, i);
      line.append(el("td", { class: a === record.gold ? "right" : "wrong" }, (a < task.labels.length ? task.labels[a] : "invalid") + (a === record.gold ? " \u2713" : " \u2717")));
    }
    table.append(line);
  }
  return table;
}
function singleRows(task) {
  return task.rows.filter((r) => r.answers);
}
function recordsView(task, box) {
  const rows = singleRows(task);
  const picked = new Set(rows.filter((r, i) => i === 0 || r.state === "fine-tuned").slice(0, 2).map((r) => r.id));
  const state = { gold: "", answer: "", right: "", search: "" };
  const models = el("div", { class: "models" });
  for (const row of rows) {
    const box = el("input", { type: "checkbox", "data-model": row.id, onchange: (e) => { if (e.target.checked) picked.add(row.id); else picked.delete(row.id); draw(); } });
    box.checked = picked.has(row.id);
    models.append(el("label", { style: "display:inline-block;margin-right:10px" }, box, " " + rowLabel(task, row.id)));
  }
  const labelOptions = (first) => [el("option", { value: "" }, first), ...task.labels.map((l, i) => el("option", { value: String(i) }, l))];
  const filters = el("div", { class: "filters" },
    el("label", {}, "gold ", el("select", { "data-filter": "gold", onchange: (e) => { state.gold = e.target.value; draw(); } }, ...labelOptions("any"))),
    el("label", {}, "answer of the first model ", el("select", { "data-filter": "answer", onchange: (e) => { state.answer = e.target.value; draw(); } }, ...labelOptions("any"), el("option", { value: String(task.labels.length) }, "invalid"))),
    el("label", {}, "first model ", el("select", { "data-filter": "right", onchange: (e) => { state.right = e.target.value; draw(); } }, el("option", { value: "" }, "right or wrong"), el("option", { value: "1" }, "right"), el("option", { value: "0" }, "wrong"))),
    el("label", {}, "text ", el("input", { type: "search", "data-filter": "search", oninput: (e) => { state.search = e.target.value.toLowerCase(); draw(); } })));
  const count = el("p", { class: "count" });
  const list = el("div");
  box.append(el("h4", {}, "Models"), models, filters, count, list);
  function draw() {
    const chosen = rows.filter((r) => picked.has(r.id));
    const first = chosen[0];
    let records = task.records;
    if (state.gold !== "") records = records.filter((r) => r.gold === Number(state.gold));
    if (first && state.answer !== "") records = records.filter((r) => answerIndex(task, first, task.records.indexOf(r)) === Number(state.answer));
    if (first && state.right !== "") records = records.filter((r) => first.correct[task.records.indexOf(r)] === state.right);
    if (state.search) records = records.filter((r) => r.text.toLowerCase().includes(state.search));
    count.textContent = records.length + " of " + task.records.length + " records" + (records.length > 200 ? " (the first 200 shown)" : "");
    list.replaceChildren(recordTable(task, records, chosen));
  }
  draw();
}
function versusView(task, box) {
  const rows = singleRows(task);
  const best = (state) => rows.filter((r) => r.state.startsWith(state)).sort((a, b) => b.accuracy - a.accuracy)[0];
  const options = () => rows.map((r) => el("option", { value: r.id }, rowLabel(task, r.id)));
  const a = el("select", { "data-versus": "a", onchange: draw }, ...options());
  const b = el("select", { "data-versus": "b", onchange: draw }, ...options());
  a.value = (best("fine-tuned") || rows[0]).id;
  b.value = (best("baseline") || rows[rows.length - 1]).id;
  const out = el("div", { class: "versus" });
  box.append(el("div", { class: "filters" }, el("label", {}, "A ", a), el("label", {}, "B ", b)), out);
  function draw() {
    out.replaceChildren();
    if (a.value === b.value) { out.append(el("p", {}, "Choose two different rows.")); return; }
    const ra = task.rows.find((r) => r.id === a.value), rb = task.rows.find((r) => r.id === b.value);
    let stats = task.pairs[ra.id + "\t" + rb.id], flip = false;
    if (!stats) { stats = task.pairs[rb.id + "\t" + ra.id]; flip = true; }
    const onlyA = task.records.filter((r, i) => ra.correct[i] === "1" && rb.correct[i] === "0");
    const onlyB = task.records.filter((r, i) => ra.correct[i] === "0" && rb.correct[i] === "1");
    const both = task.records.filter((r, i) => ra.correct[i] === "1" && rb.correct[i] === "1").length;
    const shownA = flip ? stats.only_b : stats.only_a, shownB = flip ? stats.only_a : stats.only_b;
    const difference = flip ? -stats.difference : stats.difference;
    const [low, high] = flip ? [-stats.interval[1], -stats.interval[0]] : stats.interval;
    out.append(el("p", { class: "summary" },
      el("span", { "data-count": "only-a" }, shownA), " records only A got right, ",
      el("span", { "data-count": "only-b" }, shownB), " only B, " + both + " both, " + (task.records.length - shownA - shownB - both) + " neither. ",
      "Accuracy difference A - B: ", el("span", { "data-stat": "difference" }, pts(difference) + " points [" + pts(low) + ", " + pts(high) + "]"),
      " (Tango's 95% interval); exact McNemar ", el("span", { "data-stat": "p" }, pText(stats.p)), "."));
    out.append(el("h4", {}, "Only A right (" + onlyA.length + ")"), recordTable(task, onlyA, [ra, rb], 1000));
    out.append(el("h4", {}, "Only B right (" + onlyB.length + ")"), recordTable(task, onlyB, [ra, rb], 1000));
  }
  draw();
}
function figuresView(task, box) {
  const names = { learning_curve: "Learning curve", sweep: "Settings chosen on validation", loss_curves: "Loss curves" };
  for (const [stem, uri] of Object.entries(task.figures)) box.append(el("h4", {}, names[stem] || stem), el("img", { src: uri, alt: stem }));
  if (!Object.keys(task.figures).length) box.append(el("p", {}, "No figures for this task."));
}

// ---------------------------------------------------------------- the page
const VIEWS = [["table", "Table", tableView], ["records", "Records", recordsView], ["versus", "Model vs model", versusView], ["figures", "Figures", figuresView]];
function showTask(task) {
  const main = document.getElementById("main");
  main.replaceChildren();
  main.append(el("h2", {}, task.name), el("p", { class: "note" }, "n = " + task.n + (task.n < task.test_size ? " of the " + task.test_size : ", the whole test split of " + task.test_size) + " test records; labels: " + task.labels.join(", ")));
  const bar = el("div", { class: "views" });
  const box = el("section");
  main.append(bar, box);
  for (const [key, title, view] of VIEWS) {
    bar.append(el("button", { "data-view": key, onclick: (e) => { for (const b of bar.children) b.classList.remove("on"); e.target.classList.add("on"); box.replaceChildren(); view(task, box); } }, title));
  }
  bar.firstChild.click();
}
document.getElementById("title").textContent = DATA.title;
const nav = document.getElementById("tasks");
for (const task of DATA.tasks) nav.append(el("button", { "data-task": task.name, onclick: (e) => { for (const b of nav.children) b.classList.remove("on"); e.target.classList.add("on"); showTask(task); } }, task.name));
nav.firstChild.click();
