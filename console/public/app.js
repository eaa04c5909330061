// The Kactus web console: one page, hash routes, data from the JSON API under /api/ of the broker that served it.
// Every value from the cluster goes into the DOM as text (h() below), never as HTML: topic names, keys and values
// are user data.
import { LineChart, formatNumber } from './charts.js';

// ---------------------------------------------------------------- plumbing

function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on')) element.addEventListener(key.slice(2), value);
    else if (key === 'class') element.className = value;
    else element.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function api(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let json;
  try {
    json = text === '' ? null : JSON.parse(text);
  } catch {
    throw new ApiError(response.status, 'BAD_RESPONSE', text.slice(0, 200));
  }
  if (!response.ok) throw new ApiError(response.status, json?.error?.code ?? 'ERROR', json?.error?.message ?? response.statusText);
  return json;
}

const get = (path) => api('GET', path);

function setStatus(text, isError = false) {
  const status = document.getElementById('status');
  status.textContent = text;
  status.className = isError ? 'error' : '';
}

function errorBox(err) {
  return h('div', { class: 'error-box', 'data-testid': 'error' }, err instanceof ApiError ? `${err.code}: ${err.message}` : String(err));
}

function table(columns, rows, rowAttributes = () => ({})) {
  return h(
    'table',
    {},
    h('thead', {}, h('tr', {}, columns.map((c) => h('th', { class: c.num ? 'num' : undefined }, c.label)))),
    h('tbody', {}, rows.map((row) => h('tr', rowAttributes(row), columns.map((c) => h('td', { class: c.num ? 'num' : undefined }, c.cell(row)))))),
  );
}

function card(label, value, kind = '') {
  return h('div', { class: `card ${kind}` }, h('div', { class: 'value', 'data-testid': `card-${label.toLowerCase().replace(/[^a-z]+/g, '-')}` }, value), h('div', { class: 'label' }, label));
}

function bytes(n) {
  if (n === null || n === undefined) return '-';
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = n / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(value >= 10 ? 0 : 1)} ${units[unit]}`;
}

const list = (ids) => (ids.length === 0 ? '-' : ids.join(', '));
const encode = encodeURIComponent;

// ---------------------------------------------------------------- live data: refreshed every second while a page shows it

let refreshTimer = null;
let pageToken = 0;

/** Shows `render()` now and every `everyMs` until the route changes; a failed refresh keeps the last view. */
function live(render, everyMs = 1000) {
  const token = pageToken;
  const tick = async () => {
    if (token !== pageToken) return;
    try {
      await render();
      setStatus(`updated ${new Date().toLocaleTimeString()}`);
    } catch (err) {
      setStatus(err instanceof ApiError ? `${err.code}: ${err.message}` : String(err), true);
    }
    if (token === pageToken) refreshTimer = setTimeout(tick, everyMs);
  };
  return tick();
}

function mount(...children) {
  const page = document.getElementById('page');
  page.replaceChildren(...children);
}

/** Replaces the content of `slot` (a stable element) so forms above it keep their input while data refreshes. */
function fill(slot, ...children) {
  slot.replaceChildren(...children);
}

// ---------------------------------------------------------------- cluster

/** The cluster's produce rate from two reads of every partition's end offset, across all brokers. */
class ThroughputSampler {
  constructor() {
    this.last = null;
  }
  async sample() {
    const now = await get('/api/offsets');
    const total = now.topics.reduce((sum, t) => sum + (t.offsets ?? []).reduce((a, b) => a + Math.max(0, b), 0), 0);
    const previous = this.last;
    this.last = { atMs: now.atMs, total };
    if (previous === null || now.atMs <= previous.atMs) return null;
    return (Math.max(0, total - previous.total) * 1000) / (now.atMs - previous.atMs);
  }
}

async function clusterPage() {
  const summary = h('div', {});
  const charts = h('div', { class: 'charts' });
  const throughputCanvas = h('canvas', { 'data-testid': 'chart-throughput' });
  const latencyCanvas = h('canvas', { 'data-testid': 'chart-latency' });
  const throughputValue = h('span', { 'data-testid': 'throughput-now' }, '-');
  const latencyValue = h('span', { 'data-testid': 'latency-now' }, '-');
  charts.append(
    h('div', { class: 'chart' }, h('div', { class: 'title' }, h('span', {}, 'Records produced per second (cluster)'), throughputValue), throughputCanvas),
    h('div', { class: 'chart' }, h('div', { class: 'title' }, h('span', {}, 'Produce latency on this broker (ms, clients\' requests)'), latencyValue), latencyCanvas),
  );
  mount(h('h1', {}, 'Cluster'), summary, charts);
  const throughput = new LineChart(throughputCanvas, { series: [{ label: 'records/s', color: '#2f6f4f' }] });
  const latency = new LineChart(latencyCanvas, { series: [{ label: 'produce p99', color: '#b54708' }, { label: 'produce p50', color: '#2f6f4f' }], unit: '' });
  const sampler = new ThroughputSampler();
  let slow = 0;
  await live(async () => {
    const [rate, stats] = await Promise.all([sampler.sample(), get('/api/stats').catch(() => null)]);
    if (rate !== null) {
      throughput.push([rate]);
      throughputValue.textContent = `${formatNumber(rate)}/s`;
    }
    if (stats !== null) {
      latency.push([stats.produceP99Ms, stats.produceP50Ms]);
      latencyValue.textContent = stats.produceP99Ms === null ? '-' : `produce p99 ${formatNumber(stats.produceP99Ms)} ms`;
    }
    // The cluster view costs a few admin requests: every 3 s is enough for it, the charts go every second.
    if (slow++ % 3 !== 0) return;
    const cluster = await get('/api/cluster');
    const voters = new Set(cluster.quorum.voters.map((v) => v.brokerId));
    fill(
      summary,
      h(
        'div',
        { class: 'cards' },
        card('Brokers', cluster.brokers.length),
        card('Active controller', cluster.controllerId < 0 ? 'none' : cluster.controllerId, cluster.controllerId < 0 ? 'bad' : ''),
        card('Topics', cluster.topics),
        card('Partitions', cluster.partitions),
        card('Under-replicated', cluster.underReplicated, cluster.underReplicated > 0 ? 'warn' : ''),
        card('Under min ISR', cluster.underMinIsr, cluster.underMinIsr > 0 ? 'bad' : ''),
        card('Offline', cluster.offline, cluster.offline > 0 ? 'bad' : ''),
      ),
      h('h2', {}, 'Brokers'),
      table(
        [
          { label: 'ID', cell: (b) => b.brokerId },
          { label: 'Address', cell: (b) => `${b.host}:${b.port}` },
          { label: 'Rack', cell: (b) => b.rack ?? '-' },
          { label: 'Role', cell: (b) => (b.brokerId === cluster.controllerId ? h('span', { class: 'badge' }, 'active controller') : voters.has(b.brokerId) ? 'voter' : cluster.quorum.observers.includes(b.brokerId) ? 'observer' : 'broker') },
        ],
        cluster.brokers,
        (b) => ({ 'data-testid': `broker-${b.brokerId}` }),
      ),
      h('h2', {}, `Metadata quorum: leader ${cluster.quorum.leaderId ?? 'none'}, term ${cluster.quorum.term}, ${cluster.quorum.answering}/${cluster.quorum.named} voters answering`),
      table(
        [
          { label: 'Voter', cell: (v) => v.brokerId },
          { label: 'Role', cell: (v) => (v.reachable ? v.role : h('span', { class: 'badge bad' }, 'unreachable')) },
          { label: 'Term', num: true, cell: (v) => v.term },
          { label: 'Commit index', num: true, cell: (v) => v.commitIndex },
          { label: 'Applied', num: true, cell: (v) => v.appliedIndex },
          { label: 'Last index', num: true, cell: (v) => v.lastIndex },
          { label: 'Lag', num: true, cell: (v) => (v.lag === null ? '-' : v.lag) },
        ],
        cluster.quorum.voters,
      ),
    );
  });
}

// ---------------------------------------------------------------- topics

function partitionRowAttributes(p) {
  return { class: p.offline ? 'offline' : p.underReplicated ? 'under-replicated' : '', 'data-testid': `partition-${p.partition}`, 'data-under-replicated': p.underReplicated ? 'true' : 'false' };
}

async function topicsPage() {
  const slot = h('div', {});
  const formError = h('div', {});
  const nameInput = h('input', { name: 'name', required: true, placeholder: 'orders', 'data-testid': 'create-name' });
  const partitionsInput = h('input', { name: 'partitions', type: 'number', min: 1, placeholder: 'default' });
  const factorInput = h('input', { name: 'replicationFactor', type: 'number', min: 1, placeholder: 'default' });
  const create = h(
    'form',
    {
      class: 'inline',
      'data-testid': 'create-topic',
      onsubmit: async (event) => {
        event.preventDefault();
        fill(formError);
        try {
          const body = { name: nameInput.value.trim() };
          if (partitionsInput.value !== '') body.partitions = Number(partitionsInput.value);
          if (factorInput.value !== '') body.replicationFactor = Number(factorInput.value);
          await api('POST', '/api/topics', body);
          nameInput.value = '';
          await render();
        } catch (err) {
          fill(formError, errorBox(err));
        }
      },
    },
    h('label', {}, 'Topic', nameInput),
    h('label', {}, 'Partitions', partitionsInput),
    h('label', {}, 'Replication factor', factorInput),
    h('button', { type: 'submit' }, 'Create topic'),
  );
  const internalBox = h('input', { type: 'checkbox', onchange: () => render() });
  const render = async () => {
    const topics = await get(`/api/topics${internalBox.checked ? '?internal=true' : ''}`);
    fill(
      slot,
      table(
        [
          { label: 'Topic', cell: (t) => h('a', { href: `#/topics/${encode(t.name)}` }, t.name) },
          { label: 'Partitions', num: true, cell: (t) => t.partitions.length },
          { label: 'Replicas', num: true, cell: (t) => t.partitions[0]?.replicas.length ?? '-' },
          { label: 'Under-replicated', num: true, cell: (t) => { const n = t.partitions.filter((p) => p.underReplicated).length; return n > 0 ? h('span', { class: 'badge warn' }, n) : 0; } },
          { label: 'Offline', num: true, cell: (t) => { const n = t.partitions.filter((p) => p.offline).length; return n > 0 ? h('span', { class: 'badge bad' }, n) : 0; } },
          { label: 'Messages', num: true, cell: (t) => formatNumber(t.messages) },
          { label: 'Size', num: true, cell: (t) => bytes(t.sizeBytes) },
        ],
        topics,
        (t) => ({ 'data-testid': `topic-${t.name}`, class: t.partitions.some((p) => p.offline) ? 'offline' : t.partitions.some((p) => p.underReplicated) ? 'under-replicated' : '' }),
      ),
    );
  };
  mount(h('h1', {}, 'Topics'), create, formError, h('p', {}, h('label', {}, internalBox, ' show internal topics')), slot);
  await live(render, 2000);
}

async function topicPage(name) {
  const slot = h('div', {});
  const actions = h('div', {});
  const configsSlot = h('div', {});
  const errorSlot = h('div', {});
  const countInput = h('input', { type: 'number', min: 1, placeholder: 'new count' });
  const guarded = (action) => async (event) => {
    event?.preventDefault?.();
    fill(errorSlot);
    try {
      await action();
    } catch (err) {
      fill(errorSlot, errorBox(err));
    }
  };
  actions.append(
    h(
      'form',
      { class: 'inline', onsubmit: guarded(async () => { await api('POST', `/api/topics/${encode(name)}/partitions`, { count: Number(countInput.value) }); await render(); }) },
      h('label', {}, 'Partitions', countInput),
      h('button', { type: 'submit', class: 'secondary' }, 'Add partitions'),
      h('a', { href: `#/messages?topic=${encode(name)}` }, 'Browse messages'),
      h('button', { type: 'button', class: 'danger', 'data-testid': 'delete-topic', onclick: guarded(async () => { if (!confirm(`Delete topic ${name} and all its records?`)) return; await api('DELETE', `/api/topics/${encode(name)}`); location.hash = '#/topics'; }) }, 'Delete topic'),
    ),
  );
  let configsShown = false;
  const render = async () => {
    const topic = await get(`/api/topics/${encode(name)}`);
    fill(
      slot,
      h('div', { class: 'cards' }, card('Partitions', topic.partitions.length), card('min.insync.replicas', topic.minInsyncReplicas), card('Messages', formatNumber(topic.messages)), card('Size (leaders)', bytes(topic.sizeBytes)), card('Under-replicated', topic.partitions.filter((p) => p.underReplicated).length, topic.partitions.some((p) => p.underReplicated) ? 'warn' : '')),
      table(
        [
          { label: 'Partition', cell: (p) => p.partition },
          { label: 'Leader', cell: (p) => (p.leader < 0 ? h('span', { class: 'badge bad' }, 'none') : p.leader) },
          { label: 'Replicas', cell: (p) => list(p.replicas) },
          { label: 'ISR', cell: (p) => list(p.isr) },
          { label: 'Offline replicas', cell: (p) => list(p.offlineReplicas) },
          { label: 'Status', cell: (p) => (p.offline ? h('span', { class: 'badge bad' }, 'offline') : p.underMinIsr ? h('span', { class: 'badge bad' }, 'under min ISR') : p.underReplicated ? h('span', { class: 'badge warn' }, 'under-replicated') : h('span', { class: 'badge' }, 'ok')) },
          { label: 'Log start', num: true, cell: (p) => p.logStartOffset ?? '-' },
          { label: 'High watermark', num: true, cell: (p) => p.highWatermark ?? '-' },
          { label: 'Size', num: true, cell: (p) => bytes(p.sizeBytes) },
          { label: 'Replica log ends', cell: (p) => p.replicaLogs.map((r) => `${r.brokerId}: ${r.logEndOffset}`).join(', ') || '-' },
        ],
        topic.partitions,
        partitionRowAttributes,
      ),
    );
    // The configs table holds edits in progress: it is drawn once, and again only after a change.
    if (!configsShown) {
      configsShown = true;
      renderConfigs(topic.configs);
    }
  };
  const renderConfigs = (configs) => {
    const inputs = new Map();
    fill(
      configsSlot,
      h('h2', {}, 'Configs'),
      table(
        [
          { label: 'Name', cell: (c) => c.name },
          { label: 'Value', cell: (c) => { const input = h('input', { value: c.value, size: 24, disabled: c.readOnly, 'data-testid': `config-${c.name}` }); inputs.set(c.name, input); return input; } },
          { label: 'Source', cell: (c) => c.source },
          { label: '', cell: (c) => (c.readOnly ? '' : h('span', {}, h('button', { class: 'secondary', onclick: guarded(async () => { await api('POST', `/api/topics/${encode(name)}/configs`, { set: { [c.name]: inputs.get(c.name).value } }); await reloadConfigs(); }) }, 'Set'), ' ', c.isDefault ? '' : h('button', { class: 'secondary', onclick: guarded(async () => { await api('POST', `/api/topics/${encode(name)}/configs`, { delete: [c.name] }); await reloadConfigs(); }) }, 'Revert'))) },
        ],
        configs,
      ),
    );
  };
  const reloadConfigs = async () => renderConfigs((await get(`/api/topics/${encode(name)}`)).configs);
  mount(h('h1', {}, `Topic ${name}`), actions, errorSlot, slot, configsSlot);
  await live(render, 2000);
}

// ---------------------------------------------------------------- consumer groups

async function groupsPage() {
  const slot = h('div', {});
  mount(h('h1', {}, 'Consumer groups'), slot);
  await live(async () => {
    const groups = await get('/api/groups');
    fill(
      slot,
      groups.length === 0
        ? h('p', { class: 'note' }, 'No consumer groups yet.')
        : table(
            [
              { label: 'Group', cell: (g) => h('a', { href: `#/groups/${encode(g.groupId)}` }, g.groupId) },
              { label: 'State', cell: (g) => g.state },
              { label: 'Protocol type', cell: (g) => g.protocolType || '-' },
            ],
            groups,
            (g) => ({ 'data-testid': `group-${g.groupId}` }),
          ),
    );
  }, 2000);
}

async function groupPage(groupId) {
  const slot = h('div', {});
  const planSlot = h('div', {});
  const topicInput = h('input', { required: true, placeholder: 'topic', 'data-testid': 'reset-topic' });
  const toSelect = h('select', { 'data-testid': 'reset-to' }, ['earliest', 'latest', 'current', 'offset', 'timestamp', 'shiftBy'].map((v) => h('option', { value: v }, v)));
  const argumentInput = h('input', { placeholder: 'N / ms since epoch', size: 16 });
  const run = async (execute) => {
    fill(planSlot);
    try {
      const kind = toSelect.value;
      const to = ['earliest', 'latest', 'current'].includes(kind) ? kind : { [kind]: Number(argumentInput.value) };
      const plan = await api('POST', `/api/groups/${encode(groupId)}/reset-offsets`, { topic: topicInput.value.trim(), to, execute });
      fill(
        planSlot,
        h('h2', {}, execute ? 'Offsets committed' : 'Dry run: nothing committed'),
        table(
          [
            { label: 'Topic', cell: (r) => r.topic },
            { label: 'Partition', num: true, cell: (r) => r.partition },
            { label: 'Current offset', num: true, cell: (r) => r.currentOffset ?? '-' },
            { label: 'New offset', num: true, cell: (r) => r.newOffset },
          ],
          plan.partitions,
        ),
      );
    } catch (err) {
      fill(planSlot, errorBox(err));
    }
  };
  const reset = h(
    'form',
    { class: 'inline', 'data-testid': 'reset-offsets', onsubmit: (event) => { event.preventDefault(); void run(false); } },
    h('label', {}, 'Topic', topicInput),
    h('label', {}, 'Reset to', toSelect),
    h('label', {}, 'Offset / time / shift', argumentInput),
    h('button', { type: 'submit', class: 'secondary', 'data-testid': 'reset-dry-run' }, 'Dry run'),
    h('button', { type: 'button', class: 'danger', 'data-testid': 'reset-execute', onclick: () => { if (confirm(`Commit new offsets for group ${groupId}?`)) void run(true); } }, 'Execute'),
  );
  mount(h('h1', {}, `Consumer group ${groupId}`), slot, h('h2', {}, 'Reset offsets'), h('p', { class: 'note' }, 'The group must have no members (stop its consumers first). A dry run shows the plan and commits nothing.'), reset, planSlot);
  await live(async () => {
    const group = await get(`/api/groups/${encode(groupId)}`);
    fill(
      slot,
      h('div', { class: 'cards' }, card('State', group.state), card('Members', group.members.length), card('Total lag', group.totalLag ?? '-', group.totalLag > 0 ? 'warn' : '')),
      h('h2', {}, 'Members'),
      group.members.length === 0
        ? h('p', { class: 'note' }, 'No members.')
        : table(
            [
              { label: 'Member', cell: (m) => m.memberId },
              { label: 'Client', cell: (m) => m.clientId },
              { label: 'Host', cell: (m) => m.clientHost },
              { label: 'Assignment', cell: (m) => m.assignment.map((p) => `${p.topic}-${p.partition}`).join(', ') || '-' },
            ],
            group.members,
          ),
      h('h2', {}, 'Offsets and lag'),
      table(
        [
          { label: 'Topic', cell: (r) => r.topic },
          { label: 'Partition', num: true, cell: (r) => r.partition },
          { label: 'Committed offset', num: true, cell: (r) => r.currentOffset ?? '-' },
          { label: 'Log end offset', num: true, cell: (r) => r.logEndOffset ?? '-' },
          { label: 'Lag', num: true, cell: (r) => h('span', { 'data-testid': `lag-${r.topic}-${r.partition}` }, r.lag ?? '-') },
          { label: 'Owner', cell: (r) => (r.memberId === null ? '-' : `${r.clientId} (${r.host})`) },
        ],
        group.partitions,
      ),
      h('p', { class: 'note', 'data-testid': 'total-lag' }, group.totalLag === null ? 'total lag - (nothing committed yet)' : `total lag ${group.totalLag}`),
    );
  }, 1000);
}

// ---------------------------------------------------------------- messages

function hexOf(base64) {
  const raw = atob(base64);
  let out = '';
  for (let i = 0; i < raw.length; i++) out += raw.charCodeAt(i).toString(16).padStart(2, '0') + (i % 2 === 1 ? ' ' : '');
  return out.trim();
}

function showBytes(value, format) {
  if (value === null) return h('span', { class: 'note' }, 'null');
  if (format === 'hex' || value.text === null) return h('pre', { class: 'value' }, hexOf(value.base64));
  if (format === 'json') {
    try {
      return h('pre', { class: 'value' }, JSON.stringify(JSON.parse(value.text), null, 2));
    } catch {
      return h('pre', { class: 'value' }, value.text);
    }
  }
  return h('pre', { class: 'value' }, value.text);
}

async function messagesPage(query) {
  const topics = await get('/api/topics?internal=false');
  const topicSelect = h('select', { 'data-testid': 'browse-topic' }, topics.map((t) => h('option', { value: t.name, selected: t.name === query.get('topic') }, t.name)));
  const partitionInput = h('input', { type: 'number', min: 0, value: query.get('partition') ?? '0', size: 4, 'data-testid': 'browse-partition' });
  const fromSelect = h('select', { 'data-testid': 'browse-from' }, [['latest', 'latest N'], ['earliest', 'earliest'], ['offset', 'from offset'], ['time', 'from time']].map(([v, label]) => h('option', { value: v }, label)));
  const fromInput = h('input', { placeholder: 'offset or 2026-12-08T10:00:00Z', size: 24 });
  const limitInput = h('input', { type: 'number', min: 1, max: 500, value: '50', size: 4 });
  const formatSelect = h('select', { 'data-testid': 'browse-format' }, ['text', 'json', 'hex'].map((v) => h('option', { value: v }, v)));
  const slot = h('div', {});
  const read = async () => {
    fill(slot, h('p', { class: 'note' }, 'Reading...'));
    try {
      let from = fromSelect.value;
      if (from === 'offset') from = String(Number(fromInput.value));
      else if (from === 'time') from = `time:${Date.parse(fromInput.value)}`;
      const answer = await get(`/api/topics/${encode(topicSelect.value)}/messages?partition=${encode(partitionInput.value)}&from=${encode(from)}&limit=${encode(limitInput.value)}`);
      const format = formatSelect.value;
      fill(
        slot,
        h('p', { class: 'note' }, `${answer.topic}-${answer.partition}: offsets ${answer.logStartOffset} to ${answer.highWatermark - 1}; ${answer.records.length} records from ${answer.startOffset}`),
        table(
          [
            { label: 'Offset', num: true, cell: (r) => r.offset },
            { label: 'Timestamp', cell: (r) => new Date(r.timestamp).toISOString() },
            { label: 'Key', cell: (r) => showBytes(r.key, format) },
            { label: 'Value', cell: (r) => showBytes(r.value, format) },
            { label: 'Headers', cell: (r) => (r.headers.length === 0 ? '-' : h('div', {}, r.headers.map((hd) => h('div', {}, `${hd.key}: `, showBytes(hd.value, format))))) },
          ],
          answer.records,
          (r) => ({ 'data-testid': `record-${r.offset}` }),
        ),
      );
    } catch (err) {
      fill(slot, errorBox(err));
    }
  };
  mount(
    h('h1', {}, 'Messages'),
    h(
      'form',
      { class: 'inline', 'data-testid': 'browse', onsubmit: (event) => { event.preventDefault(); void read(); } },
      h('label', {}, 'Topic', topicSelect),
      h('label', {}, 'Partition', partitionInput),
      h('label', {}, 'Read', fromSelect),
      h('label', {}, 'Offset / time', fromInput),
      h('label', {}, 'N', limitInput),
      h('label', {}, 'Show as', formatSelect),
      h('button', { type: 'submit', 'data-testid': 'browse-read' }, 'Read'),
    ),
    slot,
  );
  formatSelect.addEventListener('change', () => void read());
  if (topics.length > 0 && query.get('topic') !== null) await read();
}

// ---------------------------------------------------------------- routing

async function route() {
  pageToken += 1;
  if (refreshTimer !== null) clearTimeout(refreshTimer);
  const hash = location.hash.replace(/^#/, '') || '/cluster';
  const [path, search = ''] = hash.split('?');
  const parts = path.split('/').filter((p) => p !== '').map(decodeURIComponent);
  for (const link of document.querySelectorAll('nav a')) link.classList.toggle('active', link.dataset.nav === parts[0]);
  try {
    if (parts[0] === 'topics' && parts.length === 2) await topicPage(parts[1]);
    else if (parts[0] === 'topics') await topicsPage();
    else if (parts[0] === 'groups' && parts.length === 2) await groupPage(parts[1]);
    else if (parts[0] === 'groups') await groupsPage();
    else if (parts[0] === 'messages') await messagesPage(new URLSearchParams(search));
    else await clusterPage();
  } catch (err) {
    mount(errorBox(err));
  }
}

window.addEventListener('hashchange', () => void route());
void route();
