// Charts on uPlot (loaded as the global `uPlot`): the stacked histogram of
// events per level, and the dashboards' time series.

export const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'];
const LEVEL_COLORS = { trace: '#8a8f98', debug: '#3d8bd9', info: '#2e9d5b', warn: '#d59a00', error: '#d43c3c', fatal: '#8e1b8e' };
const PALETTE = ['#0b5fff', '#d43c3c', '#2e9d5b', '#d59a00', '#8e1b8e', '#00a3a3', '#6b4fbb', '#ff7a00'];

function width(el) { return Math.max(300, el.clientWidth || el.parentElement.clientWidth || 800); }

// Replaces whatever chart `el` holds.
function mount(el, opts, data) {
  if (el._chart) el._chart.destroy();
  el.innerHTML = '';
  el._chart = new uPlot(opts, data, el);
  return el._chart;
}

// Stacked bars of counts per level. `onSelect(fromMs, toMs)` is called
// when a range is dragged on it.
export function histogramChart(el, hist, onSelect) {
  const present = LEVELS.filter((l) => hist.levels[l]);
  const n = hist.times.length;
  const cumulative = [];
  let running = new Array(n).fill(0);
  for (const level of present) {
    running = running.map((v, i) => v + (hist.levels[level][i] || 0));
    cumulative.push(running);
  }
  // The tallest stack is drawn first, each smaller one over it.
  const order = present.map((_, i) => i).reverse();
  const bars = uPlot.paths.bars({ size: [0.9, 40], align: 1 });
  const data = [hist.times, ...order.map((i) => cumulative[i])];
  const series = [{}, ...order.map((i) => ({
    label: present[i],
    fill: LEVEL_COLORS[present[i]],
    stroke: LEVEL_COLORS[present[i]],
    paths: bars,
    points: { show: false },
    value: (u, v, si, idx) => (idx == null ? '' : hist.levels[present[i]][idx] ?? 0),
  }))];
  const opts = {
    width: width(el), height: 160,
    cursor: { drag: { x: true, y: false, setScale: false } },
    scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(1, max)] } },
    axes: [{}, { size: 50 }],
    series,
    hooks: {
      setSelect: [(u) => {
        if (u.select.width < 3) return;
        const from = u.posToVal(u.select.left, 'x');
        const to = u.posToVal(u.select.left + u.select.width, 'x');
        u.setSelect({ width: 0 }, false);
        onSelect(Math.floor(from * 1000), Math.ceil(to * 1000));
      }],
    },
  };
  el.dataset.points = String(hist.times.length);
  el.dataset.total = String(cumulative.length ? cumulative[cumulative.length - 1].reduce((a, b) => a + b, 0) : 0);
  return mount(el, opts, data);
}

// One line per name; `pick(entry)` gives the values to plot.
export function lineChart(el, times, named, pick, { height = 200, percent = false } = {}) {
  const names = Object.keys(named);
  const data = [times, ...names.map((name) => pick(named[name]))];
  const series = [{}, ...names.map((name, i) => ({
    label: name,
    stroke: PALETTE[i % PALETTE.length],
    width: 1.5,
    spanGaps: false,
    value: (u, v) => (v == null ? '–' : percent ? (v * 100).toFixed(2) + '%' : v.toFixed(2)),
  }))];
  const opts = {
    width: width(el), height,
    scales: { x: { time: true } },
    axes: [{}, { size: 60, values: (u, vals) => vals.map((v) => (percent ? (v * 100).toFixed(1) + '%' : v)) }],
    series,
  };
  el.dataset.series = String(names.length);
  el.dataset.points = String(data.slice(1).reduce((a, s) => a + s.filter((v) => v != null).length, 0));
  return mount(el, opts, data);
}
