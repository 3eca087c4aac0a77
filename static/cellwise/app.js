// cellwise operator pages: CSRF for htmx requests, and uPlot charts described by JSON.
(function () {
  function cookie(name) {
    const match = document.cookie.match(new RegExp("(?:^|; )" + name + "=([^;]*)"));
    return match ? decodeURIComponent(match[1]) : "";
  }
  document.addEventListener("htmx:configRequest", function (event) {
    event.detail.headers["X-CSRFToken"] = cookie("csrftoken");
  });

  const palette = ["#1d4ed8", "#b45309", "#047857", "#7c3aed", "#be123c", "#0e7490", "#4d7c0f", "#6b7280"];

  // <div data-chart="ID"> reads <script id="ID" type="application/json"> with
  // {x: [...], time: bool, yLabel, series: [{label, values, color?, dash?, width?, points_only?, stepped?}],
  //  bands?: [{upper, lower, fill}]} (upper/lower: indexes into series; the area between is filled).
  // A stepped series holds each value until its next point (a baseline since its election).
  function render(el) {
    if (el.dataset.rendered || typeof uPlot === "undefined") return;
    const source = document.getElementById(el.dataset.chart);
    if (!source) return;
    const spec = JSON.parse(source.textContent);
    el.dataset.rendered = "1";
    const series = [{ label: spec.xLabel || "time" }].concat(spec.series.map(function (s, i) {
      const color = s.color || palette[i % palette.length];
      const line = {
        label: s.label, stroke: color, width: s.points_only ? 0 : (s.width || 2), dash: s.dash, spanGaps: !s.stepped,
        points: { show: !!s.points_only || (!s.stepped && spec.x.length < 40), size: s.points_only ? 10 : 5,
                  fill: color },
      };
      if (s.stepped) line.paths = uPlot.paths.stepped({ align: 1 });
      return line;
    }));
    const options = {
      width: Math.max(280, el.clientWidth || 600), height: spec.height || 260, series: series,
      scales: { x: spec.x.length === 1  // one point: give the axis some width around it
        ? { time: spec.time !== false, range: [spec.x[0] - 3600, spec.x[0] + 3600] }
        : { time: spec.time !== false } },
      axes: [{ label: spec.xAxis || "" }, { label: spec.yLabel || "", size: 60 }],
    };
    if (spec.bands) {  // uPlot counts the x series first
      options.bands = spec.bands.map(function (b) { return { series: [b.upper + 1, b.lower + 1], fill: b.fill }; });
    }
    new uPlot(options, [spec.x].concat(spec.series.map(function (s) { return s.values; })), el);
  }
  function renderAll(root) {
    (root.querySelectorAll ? root : document).querySelectorAll("[data-chart]").forEach(render);
    if (root.dataset && root.dataset.chart) render(root);
  }
  document.addEventListener("DOMContentLoaded", function () { renderAll(document); });
  document.addEventListener("htmx:load", function (event) { renderAll(event.detail.elt); });
})();
