// Monitor: CPU, memory and HTTP requests of the build's server, sampled every 2 seconds, as
// three charts.
import { get, el, say } from './api.js';
import { buildPicker } from './branch.js';

const SVG = 'http://www.w3.org/2000/svg';
const KEEP = 90;

function chart(title, unit) {
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', '0 0 300 100');
  svg.setAttribute('class', 'chart');
  svg.setAttribute('role', 'img');
  const line = document.createElementNS(SVG, 'polyline');
  line.setAttribute('fill', 'none');
  line.setAttribute('stroke', '#5b3f8c');
  line.setAttribute('stroke-width', '2');
  svg.append(line);
  const value = el('strong', {}, '–');
  const box = el('figure', { class: 'card' }, el('figcaption', {}, `${title}: `, value), svg);
  return {
    box,
    draw(points) {
      const max = Math.max(1e-9, ...points);
      line.setAttribute('points', points.map((p, i) => `${(i * 300) / (KEEP - 1)},${98 - (p / max) * 96}`).join(' '));
      const last = points[points.length - 1];
      value.textContent = last === undefined ? '–' : `${last.toFixed(unit === '%' ? 1 : 0)} ${unit} (peak ${max.toFixed(unit === '%' ? 1 : 0)})`;
      svg.setAttribute('aria-label', `${title} ${value.textContent}`);
    },
  };
}

export function render(root, ctx) {
  const message = el('div');
  const cpu = chart('CPU', '%');
  const memory = chart('Memory', 'MiB');
  const requests = chart('HTTP requests', 'req/min');
  let buildId = ctx.buildId;
  let previous = null;
  let cpuPoints = [];
  let memoryPoints = [];
  let requestPoints = [];
  async function sample() {
    try {
      const s = await get(`/api/builds/${buildId}/monitor`);
      if (previous && s.pid === previous.pid) {
        const seconds = Math.max(0.001, (s.at_ms - previous.at_ms) / 1000);
        cpuPoints.push((100 * (s.cpu_seconds - previous.cpu_seconds)) / seconds);
        requestPoints.push((60 * Math.max(0, s.http_requests - previous.http_requests)) / seconds);
      }
      memoryPoints.push(s.rss_bytes / 1048576);
      previous = s;
      cpuPoints = cpuPoints.slice(-KEEP); memoryPoints = memoryPoints.slice(-KEEP); requestPoints = requestPoints.slice(-KEEP);
      cpu.draw(cpuPoints); memory.draw(memoryPoints); requests.draw(requestPoints);
      say(message, '');
    } catch (e) { say(message, e.missing ? 'Monitoring is not available on this server.' : e); }
  }
  const timer = setInterval(sample, 2000);
  root.replaceChildren(el('div', { class: 'toolbar' }, buildPicker(ctx, (id) => {
    buildId = id; previous = null; cpuPoints = []; memoryPoints = []; requestPoints = []; sample();
  })), message, el('div', { class: 'charts' }, cpu.box, memory.box, requests.box));
  sample();
  return () => clearInterval(timer);
}
