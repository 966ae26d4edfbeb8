// Historical dashboard charts (Chart.js, served locally). Data comes from json_script, so no
// value is ever parsed as HTML. Colours follow the colour-blind-safe palette in app.css, and
// each chart has the same figures in a table next to it.
import {readJSON} from "./live.js";

const data = readJSON("chart-data");
const css = getComputedStyle(document.documentElement);
const colour = (slug) => css.getPropertyValue(`--s-${slug}`).trim() || "#888";
// Patterns would need a plugin; instead negative levels get a dashed border as a second cue.
const dash = (value) => (value < 0 ? [4, 3] : []);

function stacked(canvas, series) {
  if (!canvas || !series || !series.labels.length) {
    if (canvas) canvas.replaceWith(Object.assign(document.createElement("p"), {className: "hint", textContent: "No data in this range."}));
    return;
  }
  new Chart(canvas, {
    type: "bar",
    data: {
      labels: series.labels,
      datasets: data.levels.map((level) => ({
        label: level.label,
        data: series.counts[String(level.value)],
        backgroundColor: colour(level.slug),
        borderColor: "#1b1f24",
        borderWidth: level.value < 0 ? 1 : 0,
        borderDash: dash(level.value),
      })),
    },
    options: {
      responsive: true, maintainAspectRatio: false, animation: false,
      scales: {x: {stacked: true}, y: {stacked: true, beginAtZero: true, ticks: {precision: 0}}},
      plugins: {legend: {position: "bottom", labels: {boxWidth: 12}}},
    },
  });
}

if (window.Chart && data) {
  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  stacked(document.getElementById("chart-time"), data.over_time);
  for (const canvas of document.querySelectorAll("canvas[data-series]")) stacked(canvas, data[canvas.dataset.series]);
  const startEnd = document.getElementById("chart-startend");
  if (data.start_end.labels.length && data.start_end.start.some((v) => v !== null)) {
    new Chart(startEnd, {
      type: "bar",
      data: {
        labels: data.start_end.labels,
        datasets: [
          {label: "At start", data: data.start_end.start, backgroundColor: colour("slightly_negative")},
          {label: "At end", data: data.start_end.end, backgroundColor: colour("positive")},
        ],
      },
      options: {responsive: true, maintainAspectRatio: false, animation: false,
        scales: {y: {min: -3, max: 3, ticks: {stepSize: 1}}}, plugins: {legend: {position: "bottom"}}},
    });
  } else {
    startEnd.replaceWith(Object.assign(document.createElement("p"), {className: "hint", textContent: "No data in this range."}));
  }
}
