// cairn's dashboard: the pages (see app.js for the helpers they use).
'use strict';

const writable = () => !cairn.session.read_only;

// "loss=0.1271, acc=0.93": numbers to 6 significant digits (a stored value may carry 17).
function metricsText(m) {
  return Object.entries(m || {}).map(([k, v]) => {
    const n = typeof v === 'number' ? v : (/^-?[0-9.]+(e[-+]?[0-9]+)?$/i.test(v) ? Number(v) : NaN);
    return `${k}=${isNaN(n) ? v : Number(n.toPrecision(6))}`;
  }).join(', ');
}

// ---- Model groups -------------------------------------------------------------------------

cairn.pages.groups = async (main) => {
  const data = await apiGet('groups');
  const table = dataTable([
    { key: 'group', label: 'Group', cell: (g) => link('#/groups/' + encodeURIComponent(g.group), g.group) },
    { key: 'versions', label: 'Versions', num: true },
    { key: 'latest', label: 'Latest', num: true },
    { key: 'approved', label: 'Approved', num: true },
    { key: 'aliases', label: 'Aliases', value: (g) => Object.keys(g.aliases).join(','),
      cell: (g) => Object.entries(g.aliases).map(([a, v]) => badge(`${a} → ${v}`, 'alias')) },
    { key: 'latest_ms', label: 'Last published', cell: (g) => fmtTime(g.latest_ms) },
  ], data.groups, { id: 'groups' });
  const filter = h('input', { placeholder: 'Filter groups', id: 'filter', oninput: () =>
    table.render(data.groups.filter((g) => g.group.includes(filter.value))) });
  main.replaceChildren(h('h1', {}, 'Model groups'), h('div', { class: 'toolbar' }, filter),
                       data.groups.length ? table.element : h('p', { class: 'muted' }, 'No models yet.'));
};

cairn.pages.group = async (main, group) => {
  const data = await apiGet('groups/' + encodeURIComponent(group));
  const vlink = (v) => link(`#/versions/${encodeURIComponent(group)}/${v}`, String(v));
  const table = dataTable([
    { key: 'version', label: 'Version', num: true, cell: (v) => vlink(v.version) },
    { key: 'approval', label: 'Approval', cell: (v) => badge(v.approval) },
    { key: 'aliases', label: 'Aliases', value: (v) => v.aliases.join(','),
      cell: (v) => v.aliases.map((a) => badge(a, 'alias')) },
    { key: 'size', label: 'Size', num: true, cell: (v) => fmtBytes(v.size) },
    { key: 'metrics', label: 'Metrics', value: (v) => metricsText(v.metrics), cell: (v) => metricsText(v.metrics) },
    { key: 'created_by', label: 'Created by' },
    { key: 'created_ms', label: 'Created', cell: (v) => fmtTime(v.created_ms) },
    { key: 'job', label: 'Training job', cell: (v) => v.job ? link('#/jobs/' + encodeURIComponent(v.job), v.job) : '' },
  ], data.versions, { id: 'versions', sortKey: 'version', desc: true });
  const text = h('input', { placeholder: 'Filter: alias, metric, user, job…', id: 'filter' });
  const approval = h('select', { id: 'approval-filter' }, ['', 'Approved', 'PendingManualApproval', 'Rejected']
    .map((a) => h('option', { value: a }, a || 'Any approval')));
  const refilter = () => table.render(data.versions.filter((v) =>
    (!approval.value || v.approval === approval.value) &&
    (!text.value || JSON.stringify(v).toLowerCase().includes(text.value.toLowerCase()))));
  text.addEventListener('input', refilter);
  approval.addEventListener('change', refilter);

  // Aliases: where each points, a rollback, and a form to move one.
  const aliases = {};
  data.versions.forEach((v) => v.aliases.forEach((a) => { aliases[a] = v.version; }));
  const status = h('span', { class: 'action-status' });
  const aliasRows = Object.entries(aliases).map(([a, v]) => h('tr', {},
    h('td', {}, badge(a, 'alias')), h('td', { class: 'num' }, vlink(v)),
    h('td', {}, writable() ? h('button', { type: 'button', class: 'rollback', 'data-alias': a,
      onclick: () => runAction(`Roll alias ${a} of ${group} back to where it pointed before?`,
                               'rollback', { group, alias: a }, status) }, 'Roll back') : '')));
  const aliasName = h('input', { id: 'alias-name', placeholder: 'alias (e.g. production)' });
  const aliasVersion = h('input', { id: 'alias-version', type: 'number', min: 1, placeholder: 'version' });
  const move = h('button', { type: 'button', id: 'alias-move', class: 'primary', onclick: () =>
    runAction(`Point ${group}@${aliasName.value} at version ${aliasVersion.value}?`, 'alias',
              { group, alias: aliasName.value, version: Number(aliasVersion.value) }, status) }, 'Move alias');
  main.replaceChildren(
    h('h1', {}, link('#/groups', 'Models'), ' / ', group),
    h('h2', {}, 'Aliases'),
    h('table', { id: 'aliases' }, h('thead', {}, h('tr', {}, h('th', {}, 'Alias'), h('th', { class: 'num' }, 'Version'), h('th', {}, ''))),
      h('tbody', {}, aliasRows)),
    writable() ? h('div', { class: 'toolbar' }, aliasName, aliasVersion, move, status) : '',
    h('h2', {}, `Versions (${data.versions.length})`),
    h('div', { class: 'toolbar' }, text, approval),
    table.element);
};

// ---- One version ----------------------------------------------------------------------------

function lineageGraph(v) {
  const g = v.graph;
  const node = (kind, title, ...lines) => h('div', { class: 'node ' + kind }, h('div', {}, title),
    lines.filter(Boolean).map((l) => h('div', { class: 'muted mono' }, l)));
  const columns = [];
  if (g.inputs.length)
    columns.push(['Inputs', g.inputs.map((i) => node('input', `${i.kind}: ${i.name}`, i.uri,
      i.sha256 ? 'sha256 ' + i.sha256.slice(0, 16) + '…' : ''))]);
  if (g.job)
    columns.push(['Training job', [node('job', link('#/jobs/' + encodeURIComponent(g.job.name), g.job.name), g.job.status)]]);
  columns.push(['Version', [node('version', `${v.group}:${v.version}`, v.approval)]]);
  const serving = g.aliases.map((a) => node('serving', badge(a, 'alias'), `${v.group}@${a}`))
    .concat(g.endpoints.map((e) => node('serving', link('#/endpoints/' + encodeURIComponent(e.endpoint), e.endpoint),
      `variant ${e.variant} (${e.status})`, `model ${e.model}`)));
  if (serving.length) columns.push(['Served by', serving]);
  const cols = columns.map(([title, nodes]) => h('div', { class: 'column' }, h('h3', {}, title), nodes));
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  svg.setAttribute('class', 'edges');
  const box = h('div', { class: 'lineage', id: 'lineage' }, svg, cols);
  // Edges from every node of a column to every node of the next, drawn once laid out.
  const draw = () => {
    svg.replaceChildren();
    const origin = box.getBoundingClientRect();
    for (let i = 0; i + 1 < cols.length; i++) {
      for (const a of cols[i].querySelectorAll('.node')) {
        for (const b of cols[i + 1].querySelectorAll('.node')) {
          const ra = a.getBoundingClientRect(), rb = b.getBoundingClientRect();
          const line = document.createElementNS('http://www.w3.org/2000/svg', 'line');
          line.setAttribute('x1', ra.right - origin.left + box.scrollLeft);
          line.setAttribute('y1', ra.top + ra.height / 2 - origin.top);
          line.setAttribute('x2', rb.left - origin.left + box.scrollLeft);
          line.setAttribute('y2', rb.top + rb.height / 2 - origin.top);
          svg.appendChild(line);
        }
      }
    }
  };
  requestAnimationFrame(draw);
  return box;
}

cairn.pages.version = async (main, group, number) => {
  const v = await apiGet(`versions/${encodeURIComponent(group)}/${encodeURIComponent(number)}`);
  const ref = `${v.group}:${v.version}`;
  const status = h('span', { class: 'action-status' });
  const approve = (s) => h('button', { type: 'button', id: s === 'Approved' ? 'approve' : 'reject',
    class: s === 'Approved' ? 'primary' : 'danger',
    onclick: () => runAction(`Set ${ref} to ${s}?`, 'approval', { version: ref, status: s }, status) },
    s === 'Approved' ? 'Approve' : 'Reject');
  const others = await apiGet('groups/' + encodeURIComponent(group));
  const against = h('select', { id: 'diff-against' }, others.versions.filter((o) => o.version !== v.version)
    .map((o) => h('option', { value: o.version }, `${group}:${o.version}`)));
  const compare = h('button', { type: 'button', id: 'diff-go', onclick: () => {
    location.hash = `#/diff/${encodeURIComponent(group + ':' + against.value)}/${encodeURIComponent(ref)}`; } }, 'Diff');
  const tensors = h('div', { id: 'tensors' }, h('p', { class: 'muted' }, 'Reading the weights…'));
  main.replaceChildren(
    h('h1', {}, link('#/groups', 'Models'), ' / ', link('#/groups/' + encodeURIComponent(group), group), ' / ',
      String(v.version), ' ', badge(v.approval), ...v.aliases.map((a) => badge(a, 'alias'))),
    writable() ? h('div', { class: 'toolbar' }, approve('Approved'), approve('Rejected'), status) : '',
    h('dl', { class: 'facts' },
      h('dt', {}, 'Created'), h('dd', {}, `${fmtTime(v.created_ms)} by ${v.created_by}`),
      h('dt', {}, 'Size'), h('dd', {}, `${fmtBytes(v.size)} in ${v.files} files`),
      h('dt', {}, 'Description'), h('dd', {}, v.description || ''),
      h('dt', {}, 'Metrics'), h('dd', {}, metricsText(v.metrics))),
    h('h2', {}, 'Lineage'), lineageGraph(v),
    others.versions.length > 1 ? h('div', { class: 'toolbar' }, 'Compare with', against, compare) : '',
    h('h2', {}, 'Files'),
    dataTable([
      { key: 'path', label: 'Path' },
      { key: 'size', label: 'Size', num: true, cell: (f) => fmtBytes(f.size) },
      { key: 'chunks', label: 'Chunks', num: true },
      { key: 'sha256', label: 'SHA-256', cell: (f) => h('code', {}, f.sha256) },
    ], v.file_list, { id: 'files' }).element,
    h('h2', {}, 'Tensors'), tensors,
    h('h2', {}, 'Lineage record'),
    dataTable([{ key: 'k', label: 'Key' }, { key: 'v', label: 'Value', cell: (r) => h('code', {}, r.v) }],
              Object.entries(v.lineage).map(([k, val]) => ({ k, v: val })), { id: 'lineage-record' }).element);
  apiGet(`tensors/${encodeURIComponent(group)}/${v.version}`).then((t) => {
    tensors.replaceChildren(
      t.tensors.length ? dataTable([
        { key: 'file', label: 'File' }, { key: 'name', label: 'Tensor' }, { key: 'dtype', label: 'Dtype' },
        { key: 'shape', label: 'Shape', value: (x) => x.shape.length, cell: (x) => '[' + x.shape.join(', ') + ']' },
        { key: 'bytes', label: 'Bytes', num: true, cell: (x) => fmtBytes(x.bytes) },
      ], t.tensors, { id: 'tensor-table', sortKey: 'name' }).element : h('p', { class: 'muted' }, 'No weight files.'),
      t.unreadable.map((u) => h('p', { class: 'muted' }, `${u.file}: ${u.error}`)));
  }, (e) => tensors.replaceChildren(h('p', { class: 'error' }, e.message)));
};

// Infinity sorts above every number, and a change that is not of values (added, removed, a new
// dtype or shape) above every value change: it is the bigger change.
const sortable = (v) => (v === null ? Number.MAX_VALUE * 2 : v === 'inf' ? Number.MAX_VALUE : v);

cairn.pages.diff = async (main, a, b) => {
  const d = await apiGet(`diff/${encodeURIComponent(a)}/${encodeURIComponent(b)}`);
  const rows = [];
  d.files.forEach((f) => f.tensors.forEach((t) => rows.push({ file: f.path, ...t })));
  const changed = rows.filter((t) => t.rel_l2 !== null);
  const content = [
    h('h1', {}, `Diff ${d.a} → ${d.b}`),
    h('h2', {}, 'Files'),
    d.files.length ? dataTable([{ key: 'path', label: 'Path' }, { key: 'kind', label: 'Change', cell: (f) => badge(f.kind) }],
                               d.files, { id: 'diff-files' }).element : h('p', { class: 'muted' }, 'The versions hold the same files.'),
    h('h2', {}, 'Tensors'),
    rows.length ? dataTable([
      { key: 'file', label: 'File' }, { key: 'name', label: 'Tensor' },
      { key: 'kind', label: 'Change', cell: (t) => badge(t.kind) },
      { key: 'max_abs', label: 'max |b−a|', num: true, value: (t) => sortable(t.max_abs), cell: (t) => t.max_abs === null ? '' : fmtNumber(t.max_abs) },
      { key: 'rel_l2', label: 'relative L2', num: true, value: (t) => sortable(t.rel_l2), cell: (t) => t.rel_l2 === null ? '' : fmtNumber(t.rel_l2) },
      { key: 'detail', label: 'Detail' },
    ], rows, { id: 'diff-tensors', sortKey: 'rel_l2', desc: true }).element : h('p', { class: 'muted' }, 'No tensor changed.'),
  ];
  main.replaceChildren(...content);
  if (changed.length) {
    const canvas = h('canvas', { id: 'chart-rel-l2' });
    main.appendChild(h('div', { class: 'panel' }, h('h2', {}, 'Relative L2 change per tensor'), h('div', { class: 'chart-box' }, canvas)));
    cairn.charts.push(new Chart(canvas, { type: 'bar', data: {
      labels: changed.map((t) => t.name),
      datasets: [{ label: 'relative L2', backgroundColor: PALETTE[0], data: changed.map((t) => (t.rel_l2 === 'inf' ? null : t.rel_l2)) }] },
      options: { animation: false, maintainAspectRatio: false } }));
  }
};

// ---- Training jobs --------------------------------------------------------------------------

cairn.pages.jobs = async (main) => {
  const data = await apiGet('jobs');
  const picked = new Set();
  const compare = h('button', { type: 'button', id: 'compare', disabled: true, onclick: () => {
    location.hash = '#/compare/' + [...picked].map(encodeURIComponent).join(','); } }, 'Compare curves');
  const table = dataTable([
    { key: 'pick', label: '', value: (j) => j.name, cell: (j) => h('input', { type: 'checkbox', class: 'pick', 'data-job': j.name,
      onchange: (e) => { e.target.checked ? picked.add(j.name) : picked.delete(j.name); compare.disabled = picked.size < 2; } }) },
    { key: 'name', label: 'Job', cell: (j) => link('#/jobs/' + encodeURIComponent(j.name), j.name) },
    { key: 'status', label: 'Status', cell: (j) => [badge(j.status), ' ', h('span', { class: 'muted' }, j.secondary_status)] },
    { key: 'created_ms', label: 'Created', cell: (j) => fmtTime(j.created_ms) },
    { key: 'duration', label: 'Duration', value: (j) => (j.ended_ms || Date.now()) - j.created_ms,
      cell: (j) => fmtDuration((j.ended_ms || Date.now()) - j.created_ms) },
    { key: 'instances', label: 'Instances', num: true },
    { key: 'model_version', label: 'Version', cell: (j) => j.model_version ? link('#/versions/' + j.model_version.replace(':', '/'), j.model_version) : '' },
    { key: 'final_metrics', label: 'Final metrics', value: (j) => metricsText(j.final_metrics), cell: (j) => metricsText(j.final_metrics) },
  ], data.jobs, { id: 'jobs', sortKey: 'created_ms', desc: true });
  main.replaceChildren(h('h1', {}, 'Training jobs'), h('div', { class: 'toolbar' }, compare),
                       data.jobs.length ? table.element : h('p', { class: 'muted' }, 'No training jobs yet.'));
};

// One chart per metric name; each job a dataset. x: the point's step (1, 2, ... in the order the
// values were logged) or seconds since the job was created.
const pointsOf = (j, name, x) => j.series[name].map(([t, v], i) =>
  ({ x: x === 'time' ? (t - j.created_ms) / 1000 : i + 1, y: v }));

function metricCharts(jobs, x) {
  const names = [...new Set(jobs.flatMap((j) => Object.keys(j.series)))].sort();
  return names.map((name) => lineChart('chart-' + name, name, jobs.filter((j) => j.series[name]).map((j) => ({
    label: jobs.length > 1 ? j.name : name, data: pointsOf(j, name, x),
  })), x === 'time' ? 'seconds since the job was created' : 'step').panel);
}

// The charts' grid with a choice of x axis; redraws in place.
function chartGrid(jobs) {
  const grid = h('div', { class: 'grid', id: 'charts' });
  const axis = h('select', { id: 'x-axis' }, h('option', { value: 'step' }, 'x: step'),
                 h('option', { value: 'time' }, 'x: seconds'));
  const draw = () => {
    cairn.charts = cairn.charts.filter((c) => { if (grid.contains(c.canvas)) { c.destroy(); return false; } return true; });
    const charts = metricCharts(jobs, axis.value);
    grid.replaceChildren(...(charts.length ? charts : [h('p', { class: 'muted' }, 'No metric values yet.')]));
  };
  axis.addEventListener('change', draw);
  draw();
  return { toolbar: h('div', { class: 'toolbar' }, axis), grid, axis };
}

cairn.pages.job = async (main, name) => {
  const j = await apiGet(`jobs/${encodeURIComponent(name)}?log_lines=200`);
  const status = h('span', { class: 'action-status' });
  const running = j.status === 'InProgress';
  const log = h('pre', { class: 'log', id: 'log' });
  const showLog = (lines) => {
    log.textContent = lines.map((l) => `[${l.host}] ${l.line}`).join('\n');
    log.scrollTop = log.scrollHeight;
  };
  showLog(j.log);
  const charts = chartGrid([j]);
  main.replaceChildren(
    h('h1', {}, link('#/jobs', 'Training jobs'), ' / ', j.name, ' ', badge(j.status), ' ',
      h('span', { class: 'muted', id: 'secondary' }, j.secondary_status !== j.status ? j.secondary_status : '')),
    writable() && running ? h('div', { class: 'toolbar' }, h('button', { type: 'button', id: 'stop', class: 'danger',
      onclick: () => runAction(`Stop training job ${j.name}?`, `jobs/${encodeURIComponent(j.name)}/stop`, {}, status) }, 'Stop job'), status) : '',
    j.failure_reason ? h('p', { class: 'error' }, j.failure_reason) : '',
    h('dl', { class: 'facts' },
      h('dt', {}, 'Created'), h('dd', {}, fmtTime(j.created_ms)),
      h('dt', {}, 'Instances'), h('dd', {}, String(j.instances) + (j.scheduler_job ? ` (${j.scheduler_job})` : '')),
      h('dt', {}, 'Model'), h('dd', {}, j.model_version ? link('#/versions/' + j.model_version.replace(':', '/'), j.model_version) : ''),
      h('dt', {}, 'Hyperparameters'), h('dd', {}, h('code', {}, JSON.stringify(j.hyperparameters))),
      h('dt', {}, 'Final metrics'), h('dd', {}, metricsText(j.final_metrics))),
    h('h2', {}, 'Metrics'), charts.toolbar, charts.grid,
    h('h2', {}, 'Status transitions'),
    dataTable([
      { key: 'status', label: 'Status' }, { key: 'message', label: 'Message' },
      { key: 'start_ms', label: 'Started', cell: (t) => fmtTime(t.start_ms) },
      { key: 'end_ms', label: 'Ended', cell: (t) => fmtTime(t.end_ms) },
    ], j.transitions, { id: 'transitions', sortKey: 'start_ms' }).element,
    h('h2', {}, 'Log (last 200 lines)'), log);
  const secondary = main.querySelector('#secondary');
  if (running) every(main, 2000, async (current) => {
    const now = await apiGet(`jobs/${encodeURIComponent(name)}?log_lines=200`);
    if (!current()) return;
    showLog(now.log);
    secondary.textContent = now.secondary_status !== now.status ? now.secondary_status : '';
    for (const metric of Object.keys(now.series)) {
      const chart = cairn.charts.find((c) => c.canvas.id === 'chart-' + metric);
      if (!chart) { await route(); return; }  // a new series: draw the page again
      chart.data.datasets[0].data = pointsOf(now, metric, charts.axis.value);
      chart.update();
    }
    if (now.status !== 'InProgress') await route();
  });
};

cairn.pages.compare = async (main, names) => {
  const jobs = await Promise.all(names.split(',').map((n) => apiGet(`jobs/${encodeURIComponent(n)}?log_lines=0`)));
  const charts = chartGrid(jobs);
  main.replaceChildren(h('h1', {}, link('#/jobs', 'Training jobs'), ' / compare'),
    h('p', {}, jobs.map((j) => [link('#/jobs/' + encodeURIComponent(j.name), j.name), ' ', badge(j.status), ' '])),
    charts.toolbar, charts.grid);
};

// ---- Endpoints ------------------------------------------------------------------------------

cairn.pages.endpoints = async (main) => {
  const data = await apiGet('endpoints');
  main.replaceChildren(h('h1', {}, 'Endpoints'), data.endpoints.length ? dataTable([
    { key: 'name', label: 'Endpoint', cell: (e) => link('#/endpoints/' + encodeURIComponent(e.name), e.name) },
    { key: 'status', label: 'Status', cell: (e) => badge(e.status) },
    { key: 'config', label: 'Configuration' },
    { key: 'modified_ms', label: 'Last modified', cell: (e) => fmtTime(e.modified_ms) },
  ], data.endpoints, { id: 'endpoints' }).element : h('p', { class: 'muted' }, 'No endpoints.'));
};

// What changes while an endpoint is watched: variants and instances, the deployment, its alarms.
function endpointState(data) {
  const e = data.endpoint;
  const variants = (e.ProductionVariants || []).map((v) => ({ ...v, model: data.models[v.VariantName] }));
  const pending = e.PendingDeploymentSummary;
  const instances = (v) => (v.Instances || []).map((i) =>
    h('div', {}, badge(i.Health || 'Unknown'), ' ', h('code', {}, [i.InstanceId, i.Node, i.Address].filter(Boolean).join(' '))));
  return [
    h('h1', {}, link('#/endpoints', 'Endpoints'), ' / ', e.EndpointName, ' ', badge(e.EndpointStatus)),
    e.FailureReason ? h('p', { class: 'error' }, e.FailureReason) : '',
    e.CairnOwnerUrl ? h('p', { class: 'muted', id: 'owner' }, 'Another cairn server runs this endpoint: its instances and deployment steps are on ',
      h('a', { href: `${e.CairnOwnerUrl}/ui/#/endpoints/${encodeURIComponent(e.EndpointName)}` }, e.CairnOwnerUrl)) : '',
    h('dl', { class: 'facts' }, h('dt', {}, 'Configuration'), h('dd', {}, e.EndpointConfigName || '')),
    h('h2', {}, 'Production variants'),
    dataTable([
      { key: 'VariantName', label: 'Variant' },
      { key: 'model', label: 'Model', value: (v) => v.model?.ref, cell: (v) => v.model ? [v.model.model, ' ', h('code', {}, v.model.ref)] : '' },
      { key: 'CurrentWeight', label: 'Weight', num: true, value: (v) => v.CurrentWeight ?? v.InitialVariantWeight,
        cell: (v) => fmtNumber(v.CurrentWeight ?? v.InitialVariantWeight ?? 1) + (v.DesiredWeight !== undefined && v.DesiredWeight !== v.CurrentWeight ? ` → ${fmtNumber(v.DesiredWeight)}` : '') },
      { key: 'CurrentInstanceCount', label: 'Instances', num: true, value: (v) => v.CurrentInstanceCount ?? v.InitialInstanceCount,
        cell: (v) => String(v.CurrentInstanceCount ?? v.InitialInstanceCount ?? '') },
      { key: 'Instances', label: 'Instance health', value: (v) => (v.Instances || []).length, cell: instances },
      { key: 'LoadBalancerUrl', label: 'Load balancer', cell: (v) => v.LoadBalancerUrl ? h('code', {}, v.LoadBalancerUrl) : '' },
    ], variants, { id: 'variants' }).element,
    h('h2', {}, 'Deployment'),
    pending ? h('div', { class: 'panel', id: 'deployment' },
      h('p', {}, `Deploying ${pending.EndpointConfigName} `, badge('Updating'),
        ` since ${fmtTime((pending.StartTime || 0) * 1000)}`),
      dataTable([
        { key: 'VariantName', label: 'New variant' },
        { key: 'step', label: 'Step', value: (v) => v.VariantStatus?.[0]?.StatusMessage,
          cell: (v) => [badge(v.VariantStatus?.[0]?.Status || ''), ' ', v.VariantStatus?.[0]?.StatusMessage || ''] },
        { key: 'CurrentWeight', label: 'Weight now', num: true, cell: (v) => fmtNumber(v.CurrentWeight) },
        { key: 'CurrentInstanceCount', label: 'Instances', num: true },
      ], pending.ProductionVariants || [], { id: 'deployment-steps' }).element)
      : h('p', { class: 'muted', id: 'deployment' }, 'No deployment in progress.'),
    e.LastDeploymentConfig ? h('p', { class: 'muted' }, 'Deployment configuration: ',
      h('code', {}, JSON.stringify(e.LastDeploymentConfig))) : '',
    data.alarms.length ? dataTable([
      { key: 'name', label: 'Alarm' }, { key: 'state', label: 'State', cell: (a) => badge(a.state) },
      { key: 'reason', label: 'Reason' }], data.alarms, { id: 'alarms' }).element : '',
  ];
}

function endpointSeries(s) {
  const xs = s.t_ms.map((t) => (t - s.t_ms[s.t_ms.length - 1]) / 1000);
  const set = (label, ys) => ({ label, data: ys.map((y, i) => ({ x: xs[i], y })) });
  return {
    rps: [set('requests/s', s.requests_per_s)],
    errors: [set('4xx', s.errors_4xx), set('5xx', s.errors_5xx)],
    latency: [set('p50 ms', s.p50_ms), set('p99 ms', s.p99_ms)],
  };
}

cairn.pages.endpoint = async (main, name) => {
  const data = await apiGet('endpoints/' + encodeURIComponent(name));
  const state = h('div', { id: 'endpoint-state' }, endpointState(data));
  const charts = [];
  if (data.series.t_ms) {
    const s = endpointSeries(data.series);
    charts.push(lineChart('chart-rps', 'Requests per second', s.rps, 'seconds ago'));
    charts.push(lineChart('chart-errors', 'Errors per 10 s', s.errors, 'seconds ago'));
    charts.push(lineChart('chart-latency', 'Model latency (ms)', s.latency, 'seconds ago'));
  }
  main.replaceChildren(state, h('h2', {}, 'Traffic (last 15 minutes, per 10 s)'),
    charts.length ? h('div', { class: 'grid' }, charts.map((c) => c.panel)) : h('p', { class: 'muted' }, 'No metrics.'));
  every(main, 5000, async (current) => {
    const now = await apiGet('endpoints/' + encodeURIComponent(name));
    if (!current()) return;
    state.replaceChildren(...endpointState(now));
    if (!charts.length) return;
    const s = endpointSeries(now.series);
    [s.rps, s.errors, s.latency].forEach((sets, i) => {
      sets.forEach((set, k) => { charts[i].chart.data.datasets[k].data = set.data; });
      charts[i].chart.update();
    });
  });
};
