// The ops console's only script: draw each <canvas data-chart='{Chart.js config}'>, and
// add rows to the what-if table. No inline scripts (the pages' CSP forbids them).
"use strict";

function drawCharts() {
  if (typeof Chart === "undefined") {
    return;
  }
  Chart.defaults.animation = false;
  Chart.defaults.maintainAspectRatio = false;
  Chart.defaults.font.size = 12;
  document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
    try {
      new Chart(canvas, JSON.parse(canvas.dataset.chart));
      canvas.dataset.drawn = "true";
    } catch (error) {
      canvas.dataset.drawn = "failed";
      const note = document.createElement("p");
      note.className = "errors";
      note.textContent = "This chart could not be drawn: " + error.message;
      canvas.parentNode.appendChild(note);
    }
  });
}

function addRows() {
  document.querySelectorAll("[data-adds-row-to]").forEach(function (button) {
    button.addEventListener("click", function () {
      const body = document.querySelector("#" + button.dataset.addsRowTo + " tbody");
      const last = body.querySelector("tr:last-child");
      const row = last.cloneNode(true);
      row.querySelectorAll("input").forEach(function (input) { input.value = ""; });
      body.appendChild(row);
      row.querySelector("input").focus();
    });
  });
}

document.addEventListener("DOMContentLoaded", function () {
  drawCharts();
  addRows();
});
