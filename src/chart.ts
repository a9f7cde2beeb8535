/**
 * A small SVG line-chart writer (no dependencies): one polyline with point markers per series, linear or log₂ x
 * axis, ticks and a legend; a series may be a scatter. Used for the scaling study's accuracy-vs-MACs chart (the
 * paper's Figure 8), the architecture search's candidates with their Pareto front, and a training run's curves.
 * Every marker carries its exact values (`data-series`, `data-x`, `data-y`), so programs read a chart's points
 * without inverting its pixel scale.
 */

/** One series of a chart. */
export interface ChartSeries {
  /** Legend name. */
  name: string;
  /** Points; drawn in x order. */
  points: { x: number; y: number }[];
  /** Join the points with a line; default true (false: a scatter, e.g. every candidate of a search). */
  connect?: boolean;
}

/** Options of {@link lineChartSvg}. */
export interface LineChartOptions {
  /** Title above the plot. */
  title: string;
  /** X-axis label. */
  xLabel: string;
  /** Y-axis label. */
  yLabel: string;
  /** The series. */
  series: ChartSeries[];
  /** Log₂ x axis (for MAC multiples); default false. */
  logX?: boolean;
  /** Size in pixels; default 640 x 420. */
  width?: number;
  /** Height; default 420. */
  height?: number;
  /** Pixels right of the plot for the legend (long series names need more); default 160. */
  legendWidth?: number;
}

/** Colours of the series in order (colour-blind friendly, Okabe–Ito). */
export const SERIES_COLOURS: readonly string[] = ['#0072B2', '#E69F00', '#009E73', '#D55E00', '#CC79A7', '#56B4E9', '#F0E442', '#000000'];

/** Escapes text for SVG content and attributes. */
export function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Evenly spaced "nice" tick values covering [low, high]. */
export function niceTicks(low: number, high: number, count = 5): number[] {
  if (!(Number.isFinite(low) && Number.isFinite(high))) return [];
  if (high === low) return [low];
  const raw = (high - low) / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) ?? 10 * magnitude;
  const ticks: number[] = [];
  for (let v = Math.ceil(low / step) * step; v <= high + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

function formatTick(value: number): string {
  const abs = Math.abs(value);
  if (abs >= 1e9) return `${Number((value / 1e9).toPrecision(3))}G`;
  if (abs >= 1e6) return `${Number((value / 1e6).toPrecision(3))}M`;
  if (abs >= 1e3) return `${Number((value / 1e3).toPrecision(3))}k`;
  return String(Number(value.toPrecision(3)));
}

/** Several charts of one width stacked top to bottom in one SVG document (curves of different units: loss, accuracy, learning rate). */
export function stackedChartsSvg(charts: readonly LineChartOptions[]): string {
  const width = Math.max(...charts.map((c) => c.width ?? 640));
  let y = 0;
  const parts: string[] = [];
  for (const chart of charts) {
    const height = chart.height ?? 420;
    // Nested <svg> elements: each chart keeps its own coordinates, placed at its offset.
    parts.push(lineChartSvg(chart).replace('<svg xmlns="http://www.w3.org/2000/svg"', `<svg x="0" y="${y}"`).trimEnd());
    y += height;
  }
  return [`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y}" viewBox="0 0 ${width} ${y}">`, ...parts, '</svg>'].join('\n') + '\n';
}

/** Renders the chart as a standalone SVG document. */
export function lineChartSvg(options: LineChartOptions): string {
  const width = options.width ?? 640;
  const height = options.height ?? 420;
  const margin = { left: 70, right: options.legendWidth ?? 160, top: 40, bottom: 55 };
  const plotW = width - margin.left - margin.right;
  const plotH = height - margin.top - margin.bottom;
  const all = options.series.flatMap((s) => s.points).filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y) && (!options.logX || p.x > 0));
  const tx = (x: number): number => (options.logX ? Math.log2(x) : x);
  let [xMin, xMax] = all.length ? [Math.min(...all.map((p) => tx(p.x))), Math.max(...all.map((p) => tx(p.x)))] : [0, 1];
  let [yMin, yMax] = all.length ? [Math.min(...all.map((p) => p.y)), Math.max(...all.map((p) => p.y))] : [0, 1];
  if (xMax === xMin) [xMin, xMax] = [xMin - 1, xMax + 1];
  if (yMax === yMin) [yMin, yMax] = [yMin - 0.05, yMax + 0.05];
  const padY = (yMax - yMin) * 0.08;
  yMin -= padY;
  yMax += padY;
  const px = (x: number): number => margin.left + ((tx(x) - xMin) / (xMax - xMin)) * plotW;
  const py = (y: number): number => margin.top + (1 - (y - yMin) / (yMax - yMin)) * plotH;
  const f = (v: number): string => v.toFixed(1);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect x="0" y="0" width="${width}" height="${height}" fill="white"/>`,
    `<text x="${f(margin.left + plotW / 2)}" y="22" text-anchor="middle" font-size="15">${escapeXml(options.title)}</text>`,
    `<rect x="${margin.left}" y="${margin.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#444"/>`,
  ];
  const xTicks = options.logX
    ? Array.from({ length: Math.floor(xMax) - Math.ceil(xMin) + 1 }, (_, i) => 2 ** (Math.ceil(xMin) + i))
    : niceTicks(xMin, xMax);
  for (const t of xTicks) {
    const x = px(t);
    out.push(`<line x1="${f(x)}" y1="${margin.top + plotH}" x2="${f(x)}" y2="${margin.top + plotH + 5}" stroke="#444"/>`);
    out.push(`<text x="${f(x)}" y="${margin.top + plotH + 18}" text-anchor="middle">${escapeXml(formatTick(t))}</text>`);
  }
  for (const t of niceTicks(yMin, yMax)) {
    const y = py(t);
    out.push(`<line x1="${margin.left - 5}" y1="${f(y)}" x2="${margin.left + plotW}" y2="${f(y)}" stroke="#ddd"/>`);
    out.push(`<text x="${margin.left - 8}" y="${f(y + 4)}" text-anchor="end">${escapeXml(formatTick(t))}</text>`);
  }
  out.push(`<text x="${f(margin.left + plotW / 2)}" y="${height - 12}" text-anchor="middle">${escapeXml(options.xLabel)}</text>`);
  out.push(`<text x="16" y="${f(margin.top + plotH / 2)}" text-anchor="middle" transform="rotate(-90 16 ${f(margin.top + plotH / 2)})">${escapeXml(options.yLabel)}</text>`);
  options.series.forEach((series, i) => {
    const colour = SERIES_COLOURS[i % SERIES_COLOURS.length]!;
    const points = series.points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y) && (!options.logX || p.x > 0)).sort((a, b) => a.x - b.x);
    const connect = series.connect ?? true;
    if (connect && points.length > 1) out.push(`<polyline fill="none" stroke="${colour}" stroke-width="2" points="${points.map((p) => `${f(px(p.x))},${f(py(p.y))}`).join(' ')}"/>`);
    for (const p of points) {
      out.push(`<circle cx="${f(px(p.x))}" cy="${f(py(p.y))}" r="4" fill="${colour}" data-series="${escapeXml(series.name)}" data-x="${p.x}" data-y="${p.y}"><title>${escapeXml(`${series.name}: x=${formatTick(p.x)}, y=${p.y.toFixed(4)}`)}</title></circle>`);
    }
    const ly = margin.top + 10 + i * 20;
    if (connect) out.push(`<line x1="${width - margin.right + 15}" y1="${ly}" x2="${width - margin.right + 40}" y2="${ly}" stroke="${colour}" stroke-width="2"/>`);
    else out.push(`<circle cx="${width - margin.right + 27}" cy="${ly}" r="4" fill="${colour}"/>`);
    out.push(`<text x="${width - margin.right + 46}" y="${ly + 4}">${escapeXml(series.name)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}
