// facereel web UI: add photos (drop, pick or search), review faces, render, watch.
import * as api from './api.js';

const $ = (sel) => document.querySelector(sel);
const state = { pid: null, items: [], config: null, renderJob: null, busy: new Set() };

// ---------------------------------------------------------------- errors
function showError(message) {
  const box = $('#error');
  box.textContent = message;
  box.hidden = false;
}
function clearError() { $('#error').hidden = true; $('#error').textContent = ''; }
// Runs a user action: clears the previous error unless `keep`, shows a failure as an error.
async function guard(fn, keep = false) {
  try {
    if (!keep) clearError();
    return await fn();
  } catch (e) {
    showError(e.message || String(e));
    return undefined;
  }
}

// ---------------------------------------------------------------- project
async function openProject() {
  const m = location.hash.match(/p=([0-9a-f]{32})/);
  if (m) {
    try {
      state.pid = m[1];
      await refresh(true);
      return;
    } catch (e) {
      if (e.status !== 404) throw e;
    }
  }
  const p = await api.createProject();
  state.pid = p.id;
  history.replaceState(null, '', `#p=${p.id}`);
  await refresh(true);
}

async function refresh(resume = false) {
  const p = await api.getProject(state.pid);
  state.items = p.items;
  state.order = p.order;
  state.analysing = p.jobs.some((j) => j.kind !== 'render' && (j.status === 'queued' || j.status === 'running'));
  renderGrid();
  renderHistory(p.jobs.filter((j) => j.kind === 'render'));
  // follow the jobs that run now (after a reload, or analyses queued by the server itself)
  for (const job of p.jobs) {
    if (job.status !== 'queued' && job.status !== 'running') continue;
    if (job.kind === 'render') followRender(job);
    else followAnalysis(job);
  }
  if (resume) {
    const last = p.jobs.find((j) => j.kind === 'render' && j.status === 'done' && j.result_url);
    if (last) showResult(last);
  }
}

// ---------------------------------------------------------------- adding photos
async function upload(files) {
  files = [...files];
  if (!files.length) return;
  const rejectedList = $('#rejected');
  rejectedList.replaceChildren();
  setStatus('#analysis', `Uploading ${files.length} photo${files.length > 1 ? 's' : ''}…`, 0, 1);
  try {
    clearError();
    const res = await api.uploadPhotos(state.pid, files);
    listRejected(res.rejected);
    await refresh();
    followAnalysis(res.job);
  } catch (e) {
    $('#analysis').hidden = true;
    if (e.body && e.body.rejected) listRejected(e.body.rejected);
    showError(`Upload refused: ${e.message}`);
  }
}

function listRejected(rejected) {
  const ul = $('#rejected');
  ul.replaceChildren(...(rejected || []).map((r) => {
    const li = document.createElement('li');
    li.textContent = r.error;
    return li;
  }));
}

async function followAnalysis(job) {
  if (state.busy.has(job.id)) return;
  state.busy.add(job.id);
  const label = job.kind === 'crawl' ? 'Searching' : 'Analysing';
  setStatus('#analysis', `${label}…`, 0, 1);
  const final = await api.followJob(job.id, (j) => {
    setStatus('#analysis', `${j.message || label}… ${j.total ? `${j.done}/${j.total}` : ''}`, j.done, j.total || 1);
  });
  state.busy.delete(job.id);
  $('#analysis').hidden = true;
  if (final.status === 'failed') showError(job.kind === 'crawl' ? `Search failed: ${final.error}` : `Analysis failed: ${final.error}`);
  else if (final.message) $('#search-hint').textContent = final.message;
  await guard(() => refresh(), true);
  const noFace = state.items.filter((i) => i.analyzed && !i.thumb_url);
  if (final.status === 'done' && noFace.length) {
    showError(`No face found in ${noFace.map((i) => i.filename).join(', ')}`);
  }
}

function setStatus(sel, text, done, total) {
  const box = $(sel);
  box.hidden = false;
  box.querySelector('span').textContent = text;
  const bar = box.querySelector('progress');
  bar.max = Math.max(total, 1);
  bar.value = Math.min(done, bar.max);
}

// ---------------------------------------------------------------- the grid
function renderGrid() {
  const grid = $('#grid');
  const items = [...state.items].sort((a, b) => a.position - b.position);
  grid.replaceChildren(...items.map(card));
  $('#empty').hidden = items.length > 0;
  const used = items.filter((i) => !i.excluded && i.thumb_url).length;
  $('#count').textContent = items.length ? `${used} of ${items.length} used` : '';
  $('#order-hint').textContent = orderText(state.order, items.length);
  const stuck = items.filter((i) => i.state !== 'done').length;
  $('#retry-analysis').hidden = !(stuck && !state.analysing);
  $('#retry-analysis').textContent = `Analyse ${stuck} photo${stuck === 1 ? '' : 's'} again`;
}

// Says how the sequence is ordered (as the CLI does: date when known, then typed age, then estimate).
function orderText(order, n) {
  if (!order || !n) return '';
  if (order.by === 'hand') return 'Ordered by hand (drag faces to reorder; "Sort by date/age" undoes it).';
  const s = order.sources || {};
  const parts = [];
  if (s.date) parts.push(`${s.date} by the date the photo was taken (EXIF)`);
  if (s.user) parts.push(`${s.user} by the age you entered`);
  if (s.estimate) parts.push(`${s.estimate} by estimated age`);
  return `Ordered by ${order.by === 'date' ? 'date' : 'age'}: ${parts.join(', ')}.`;
}

const FLAG_TEXT = {
  other_person: 'another person?', duplicate: 'duplicate', no_face: 'no face found',
  face_too_small: 'face too small', unreadable: 'unreadable',
};

function card(item) {
  const li = document.createElement('li');
  li.className = 'card';
  li.dataset.id = item.id;
  if (item.recommended_remove) li.classList.add('recommend');
  if (item.excluded) li.classList.add('excluded');
  li.draggable = true;

  if (item.thumb_url) {
    const img = document.createElement('img');
    img.src = item.thumb_url;
    img.alt = `aligned face from ${item.filename}`;
    img.draggable = false;
    li.append(img);
  } else {
    const ph = document.createElement('div');
    ph.className = 'noface';
    if (item.state === 'failed') {
      ph.classList.add('failed');
      ph.textContent = item.error || 'analysis failed';
    } else {
      ph.textContent = item.analyzed ? (item.error || 'no face found') : 'analysing…';
    }
    li.append(ph);
  }
  const name = document.createElement('div');
  name.className = 'name';
  name.textContent = item.filename;
  name.title = item.source_url || item.filename;
  const flags = document.createElement('div');
  flags.className = 'flags';
  flags.textContent = item.recommended_remove
    ? `recommended to remove: ${item.flags.map((f) => FLAG_TEXT[f] || f).join(', ') || 'no face'}` : '';
  if (item.excluded_by === 'recommendation') flags.textContent += ' — left out of the render';

  const label = document.createElement('label');
  label.textContent = 'age ';
  const age = document.createElement('input');
  age.type = 'number'; age.min = 0; age.max = 130; age.step = 1; age.className = 'age';
  age.value = item.age === null ? '' : Math.round(item.age);
  age.title = item.age_estimated === null ? '' : `estimated ${item.age_estimated}`;
  if (item.age_source === 'date') {
    // the photo's date decides its place; the age shown is on the same axis as the others
    age.disabled = true;
    age.title = `from the date it was taken (${(item.exif_date || '').slice(0, 10)})`;
  }
  const source = document.createElement('span');
  source.className = 'age-source';
  source.textContent = { date: ' (date)', user: ' (yours)', estimate: ' (estimated)' }[item.age_source] || '';
  age.addEventListener('change', () => guard(async () => {
    const v = age.value.trim();
    await api.patchItem(state.pid, item.id, v === '' ? { reset_age: true } : { age: Number(v) });
    await refresh();
  }));
  label.append(age, source);

  const remove = document.createElement('button');
  remove.type = 'button';
  remove.className = 'remove';
  remove.textContent = item.excluded ? 'Include' : 'Remove';
  remove.title = item.excluded ? 'Put this photo back into the render' : 'Leave this photo out of the render';
  remove.addEventListener('click', () => guard(async () => {
    await api.patchItem(state.pid, item.id, { excluded: !item.excluded });
    await refresh();
  }));

  li.append(name, flags, label, remove);

  li.addEventListener('dragstart', (ev) => {
    ev.dataTransfer.setData('text/plain', item.id);
    ev.dataTransfer.effectAllowed = 'move';
    li.classList.add('dragging');
  });
  li.addEventListener('dragend', () => li.classList.remove('dragging'));
  li.addEventListener('dragover', (ev) => { ev.preventDefault(); li.classList.add('drop-target'); });
  li.addEventListener('dragleave', () => li.classList.remove('drop-target'));
  li.addEventListener('drop', (ev) => {
    ev.preventDefault();
    li.classList.remove('drop-target');
    const moved = ev.dataTransfer.getData('text/plain');
    if (!moved || moved === item.id) return;
    guard(async () => {
      await api.patchItem(state.pid, moved, { position: item.position });
      await refresh();
    });
  });
  return li;
}

// ---------------------------------------------------------------- render
function settings() {
  const f = $('#settings');
  const s = {
    engine: f.engine.value,
    frames: Number(f.frames.value),
    opacity: Number(f.opacity.value),
    size: Number(f.size.value),
    fps: Number(f.fps.value),
    format: f.format.value,
  };
  if (s.engine === 'latent') {
    if (f.generator.value) s.generator = f.generator.value;
    if (f.method.value) s.method = f.method.value;
  }
  return s;
}

// Generator and inversion method choices exist only where their weights are installed.
function setupLatent(latent) {
  const gens = (latent && latent.generators) || [];
  const methods = (latent && latent.methods) || {};
  $('#generator').replaceChildren(...gens.map((g) => new Option(g, g)));
  $('#method').replaceChildren(...Object.entries(methods).map(([m, ok]) => {
    const o = new Option(ok ? m : `${m} (weights not installed)`, m);
    o.disabled = !ok;
    return o;
  }));
  const firstOk = Object.entries(methods).find(([, ok]) => ok);
  if (firstOk) $('#method').value = firstOk[0];
  const toggle = () => {
    const on = $('#engine').value === 'latent';
    document.querySelectorAll('.latent-only').forEach((el) => { el.hidden = !on; });
  };
  $('#engine').addEventListener('change', toggle);
  toggle();
}

async function followRender(job) {
  if (state.busy.has(job.id)) return;
  state.busy.add(job.id);
  state.renderJob = job.id;
  $('#render-button').disabled = true;
  $('#cancel-button').hidden = false;
  setStatus('#render-status', 'Rendering…', 0, 1);
  const final = await api.followJob(job.id, (j) => {
    setStatus('#render-status', `${j.status === 'queued' ? 'Waiting for a worker' : (j.message || 'Rendering')}… ${j.total ? `${j.done}/${j.total}` : ''}`,
      j.done, j.total || 1);
  });
  state.busy.delete(job.id);
  state.renderJob = null;
  $('#render-button').disabled = false;
  $('#cancel-button').hidden = true;
  $('#render-status').hidden = true;
  if (final.status === 'done') showResult(final);
  else if (final.status === 'failed') showError(`Render failed: ${final.error}`);
  else showError('Render cancelled.');
  await guard(() => refresh(), true);
}

function showResult(job) {
  const url = job.result_url;
  if (!url) return;
  const video = $('#result-video');
  const gif = $('#result-gif');
  $('#result').hidden = false;
  if ((job.content_type || '').startsWith('video/')) {
    gif.hidden = true;
    video.hidden = false;
    video.src = url;
    video.load();
  } else {
    video.hidden = true;
    video.removeAttribute('src');
    gif.hidden = false;
    gif.src = url;
  }
  const a = $('#download');
  a.href = `${url}?download=1`;
  a.textContent = `Download (${job.settings.format || ''}, ${job.settings.size || ''} px)`;
}

function renderHistory(jobs) {
  $('#history').replaceChildren(...jobs.map((j) => {
    const li = document.createElement('li');
    li.className = j.status;
    const s = j.settings || {};
    const when = new Date(j.created * 1000).toLocaleTimeString();
    const text = `${when} · ${s.engine} · ${s.size}px · ${s.frames} frames · ${s.format} — ${j.status}`;
    if (j.result_url) {
      const a = document.createElement('a');
      a.href = '#';
      a.textContent = text;
      a.addEventListener('click', (ev) => { ev.preventDefault(); showResult(j); });
      li.append(a);
    } else {
      li.textContent = j.error ? `${text}: ${j.error}` : text;
    }
    return li;
  }));
}

// ---------------------------------------------------------------- wiring
function wire() {
  const dz = $('#dropzone');
  dz.addEventListener('dragover', (ev) => { if (ev.dataTransfer.types.includes('Files')) { ev.preventDefault(); dz.classList.add('over'); } });
  dz.addEventListener('dragleave', () => dz.classList.remove('over'));
  dz.addEventListener('drop', (ev) => {
    if (!ev.dataTransfer.files.length) return;
    ev.preventDefault();
    dz.classList.remove('over');
    upload(ev.dataTransfer.files);
  });
  // a photo dropped beside the drop zone must not replace the page
  window.addEventListener('dragover', (ev) => ev.preventDefault());
  window.addEventListener('drop', (ev) => {
    ev.preventDefault();
    if (ev.dataTransfer && ev.dataTransfer.files.length && !dz.contains(ev.target)) upload(ev.dataTransfer.files);
  });
  $('#file-input').addEventListener('change', (ev) => { upload(ev.target.files); ev.target.value = ''; });

  $('#search-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const name = $('#search-name').value.trim();
    if (!name) return;
    guard(async () => { followAnalysis(await api.crawl(state.pid, name)); });
  });

  $('#settings').addEventListener('submit', (ev) => {
    ev.preventDefault();
    guard(async () => { followRender(await api.startRender(state.pid, settings())); });
  });
  $('#cancel-button').addEventListener('click', () => guard(async () => {
    if (state.renderJob) await api.cancelJob(state.renderJob);
  }));
  $('#retry-analysis').addEventListener('click', () => guard(async () => {
    followAnalysis(await api.analyseAgain(state.pid));
    await refresh();
  }));
  $('#sort-age').addEventListener('click', () => guard(async () => { await api.sortByAge(state.pid); await refresh(); }));
  $('#new-project').addEventListener('click', () => guard(async () => {
    history.replaceState(null, '', location.pathname);
    $('#result').hidden = true;
    await openProject();
  }));
  $('#delete-project').addEventListener('click', () => guard(async () => {
    if (!confirm('Delete this project, its photos and its renders?')) return;
    await api.deleteProject(state.pid);
    history.replaceState(null, '', location.pathname);
    $('#result').hidden = true;
    await openProject();
  }));
}

async function main() {
  wire();
  await guard(async () => {
    state.config = await api.getConfig();
    const c = state.config;
    $('#limits').textContent = `JPEG, PNG, WebP… up to ${Math.round(c.max_upload_bytes / 1048576)} MiB and ${Math.round(c.max_pixels / 1e6)} MP each`;
    if (!c.crawl_enabled) {
      $('#search-button').disabled = true;
      $('#search-hint').textContent = 'Name search is not configured on this server.';
    }
    const latent = $('#engine').querySelector('option[value="latent"]');
    if (!c.engines.latent) { latent.disabled = true; latent.textContent += ' — weights not installed'; }
    setupLatent(c.latent);
    $('#frames').max = c.max_frames;
    $('#fps').max = c.max_fps;
    await openProject();
  });
}

main();
