// Charts as inline SVG: no script, no library, presentation attributes only (the admin CSP forbids inline
// styles). Every label is escaped here, because the result is embedded unescaped ({{{chart}}}).

/** One point of a chart: a category or a day, and its value. */
export interface ChartPoint {
  label: string;
  value: number;
}

/** What a chart shows. */
export interface ChartOptions {
  title: string;
  xTitle: string;
  yTitle: string;
  points: readonly ChartPoint[];
  /** How values are printed on the axis and in tooltips (default: up to two decimals). */
  format?: (value: number) => string;
}

const WIDTH = 640;
const HEIGHT = 280;
const M = { top: 34, right: 16, bottom: 62, left: 64 };
const PLOT_W = WIDTH - M.left - M.right;
const PLOT_H = HEIGHT - M.top - M.bottom;

/** Text made safe for SVG/HTML content and attribute values. */
export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}

function defaultFormat(value: number): string {
  return Number.isInteger(value) ? String(value) : value.toFixed(value < 1 ? 6 : 2).replace(/\.?0+$/, "");
}

/** A round axis maximum at or above `max` (1, 2, 2.5, 5 × a power of ten). */
function niceMax(max: number): number {
  if (!(max > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(max));
  for (const step of [1, 2, 2.5, 5, 10]) if (step * power >= max) return step * power;
  return 10 * power;
}

function shorten(label: string, max = 14): string {
  return label.length > max ? `${label.slice(0, max - 1)}…` : label;
}

function round(n: number): string {
  return (Math.round(n * 10) / 10).toString();
}

/** The frame shared by both chart kinds: title, axes, ticks, axis titles and x labels. */
function frame(options: ChartOptions, top: number, xOf: (i: number) => number, body: string): string {
  const format = options.format ?? defaultFormat;
  const parts: string[] = [];
  const id = `chart-${Math.abs(hash(options.title + options.points.length))}`;
  parts.push(
    `<svg class="chart" viewBox="0 0 ${WIDTH} ${HEIGHT}" role="img" aria-labelledby="${id}" xmlns="http://www.w3.org/2000/svg" font-family="system-ui, sans-serif" font-size="11">`,
    `<title id="${id}">${escapeXml(options.title)}</title>`,
    `<text x="${WIDTH / 2}" y="18" text-anchor="middle" font-size="14" font-weight="600" fill="#1d2430">${escapeXml(options.title)}</text>`,
  );
  for (let i = 0; i <= 4; i++) {
    const value = (top * i) / 4;
    const y = M.top + PLOT_H - (PLOT_H * i) / 4;
    parts.push(
      `<line x1="${M.left}" y1="${round(y)}" x2="${WIDTH - M.right}" y2="${round(y)}" stroke="#dfe3ea"/>`,
      `<text x="${M.left - 6}" y="${round(y + 4)}" text-anchor="end" fill="#5b6677">${escapeXml(format(value))}</text>`,
    );
  }
  parts.push(
    `<line x1="${M.left}" y1="${M.top}" x2="${M.left}" y2="${M.top + PLOT_H}" stroke="#5b6677"/>`,
    `<line x1="${M.left}" y1="${M.top + PLOT_H}" x2="${WIDTH - M.right}" y2="${M.top + PLOT_H}" stroke="#5b6677"/>`,
  );
  const n = options.points.length;
  const every = Math.max(1, Math.ceil(n / 10));
  options.points.forEach((p, i) => {
    if (i % every !== 0) return;
    parts.push(
      `<text x="${round(xOf(i))}" y="${M.top + PLOT_H + 16}" text-anchor="middle" fill="#5b6677">${escapeXml(shorten(p.label))}</text>`,
    );
  });
  parts.push(
    body,
    `<text x="${M.left + PLOT_W / 2}" y="${HEIGHT - 10}" text-anchor="middle" fill="#5b6677">${escapeXml(options.xTitle)}</text>`,
    `<text transform="translate(14 ${M.top + PLOT_H / 2}) rotate(-90)" text-anchor="middle" fill="#5b6677">${escapeXml(options.yTitle)}</text>`,
  );
  if (n === 0 || options.points.every((p) => p.value === 0)) {
    parts.push(`<text x="${M.left + PLOT_W / 2}" y="${M.top + PLOT_H / 2}" text-anchor="middle" fill="#5b6677">No data in this period</text>`);
  }
  parts.push("</svg>");
  return parts.join("");
}

function hash(text: string): number {
  let h = 0;
  for (let i = 0; i < text.length; i++) h = (h * 31 + text.charCodeAt(i)) | 0;
  return h;
}

/** A bar chart (categories or days) with a value axis, axis titles and a tooltip per bar. */
export function barChart(options: ChartOptions): string {
  const format = options.format ?? defaultFormat;
  const top = niceMax(Math.max(0, ...options.points.map((p) => p.value)));
  const slot = PLOT_W / Math.max(1, options.points.length);
  const barW = Math.max(2, Math.min(48, slot * 0.7));
  const xOf = (i: number) => M.left + slot * i + slot / 2;
  const bars = options.points
    .map((p, i) => {
      const h = (Math.max(0, p.value) / top) * PLOT_H;
      return (
        `<rect x="${round(xOf(i) - barW / 2)}" y="${round(M.top + PLOT_H - h)}" width="${round(barW)}" height="${round(h)}" fill="#2d5bd7">` +
        `<title>${escapeXml(`${p.label}: ${format(p.value)}`)}</title></rect>`
      );
    })
    .join("");
  return frame(options, top, xOf, bars);
}

/** A line chart (a value per day or week) with points, a value axis and axis titles. */
export function lineChart(options: ChartOptions): string {
  const format = options.format ?? defaultFormat;
  const top = niceMax(Math.max(0, ...options.points.map((p) => p.value)));
  const n = options.points.length;
  const xOf = (i: number) => M.left + (n <= 1 ? PLOT_W / 2 : (PLOT_W * i) / (n - 1));
  const yOf = (v: number) => M.top + PLOT_H - (Math.max(0, v) / top) * PLOT_H;
  const path = options.points.map((p, i) => `${i === 0 ? "M" : "L"}${round(xOf(i))} ${round(yOf(p.value))}`).join(" ");
  const dots = options.points
    .map((p, i) => `<circle cx="${round(xOf(i))}" cy="${round(yOf(p.value))}" r="3" fill="#2d5bd7"><title>${escapeXml(`${p.label}: ${format(p.value)}`)}</title></circle>`)
    .join("");
  const body = n > 0 ? `<path d="${path}" fill="none" stroke="#2d5bd7" stroke-width="2"/>${dots}` : "";
  return frame(options, top, xOf, body);
}
