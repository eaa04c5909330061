// A small line chart on a canvas: the last `points` samples of one or more series, redrawn on each push.
// No library: the console serves only its own files.
export class LineChart {
  constructor(canvas, { series, points = 120, unit = '' }) {
    this.canvas = canvas;
    this.series = series.map((s) => ({ ...s, values: [] }));
    this.points = points;
    this.unit = unit;
  }

  push(values) {
    this.series.forEach((s, i) => {
      s.values.push(values[i] ?? null);
      if (s.values.length > this.points) s.values.shift();
    });
    this.draw();
  }

  draw() {
    const canvas = this.canvas;
    const ratio = window.devicePixelRatio || 1;
    const width = canvas.clientWidth;
    const height = canvas.clientHeight;
    if (canvas.width !== width * ratio) canvas.width = width * ratio;
    if (canvas.height !== height * ratio) canvas.height = height * ratio;
    const g = canvas.getContext('2d');
    g.setTransform(ratio, 0, 0, ratio, 0, 0);
    g.clearRect(0, 0, width, height);
    const all = this.series.flatMap((s) => s.values).filter((v) => v !== null);
    const max = Math.max(1, ...all) * 1.1;
    const left = 56;
    g.strokeStyle = '#e4e7ec';
    g.fillStyle = '#667085';
    g.font = '11px system-ui, sans-serif';
    for (let i = 0; i <= 4; i++) {
      const y = 8 + ((height - 24) * i) / 4;
      g.beginPath();
      g.moveTo(left, y);
      g.lineTo(width, y);
      g.stroke();
      g.fillText(formatNumber(max * (1 - i / 4)) + this.unit, 0, y + 4);
    }
    for (const s of this.series) {
      g.strokeStyle = s.color;
      g.lineWidth = 1.5;
      g.beginPath();
      let started = false;
      s.values.forEach((v, i) => {
        if (v === null) return;
        const x = left + ((width - left) * i) / (this.points - 1);
        const y = 8 + (height - 24) * (1 - v / max);
        if (started) g.lineTo(x, y);
        else g.moveTo(x, y);
        started = true;
      });
      g.stroke();
    }
    let x = left;
    for (const s of this.series) {
      g.fillStyle = s.color;
      g.fillRect(x, height - 10, 10, 3);
      g.fillStyle = '#667085';
      g.fillText(s.label, x + 14, height - 5);
      x += 24 + g.measureText(s.label).width;
    }
  }
}

export function formatNumber(n) {
  if (n === null || n === undefined || Number.isNaN(n)) return '-';
  const abs = Math.abs(n);
  if (Number.isInteger(n) && abs < 1e4) return String(n);
  if (abs >= 1e9) return (n / 1e9).toFixed(1) + 'G';
  if (abs >= 1e6) return (n / 1e6).toFixed(1) + 'M';
  if (abs >= 1e4) return (n / 1e3).toFixed(0) + 'k';
  if (abs >= 1e3) return (n / 1e3).toFixed(1) + 'k';
  if (abs >= 10 || abs === 0) return n.toFixed(0);
  return n.toFixed(abs >= 1 ? 1 : 2);
}
