// Thin client of the facereel HTTP API (see /openapi.json).

export class ApiError extends Error {
  constructor(message, status) { super(message); this.status = status; }
}

async function parse(res) {
  const type = res.headers.get('content-type') || '';
  const body = type.includes('application/json') ? await res.json() : await res.text();
  if (!res.ok) {
    let msg = typeof body === 'string' ? body : body.detail;
    if (Array.isArray(msg)) msg = msg.map((d) => `${(d.loc || []).slice(1).join('.')}: ${d.msg}`).join('; ');
    const err = new ApiError(msg || `HTTP ${res.status}`, res.status);
    err.body = body;
    throw err;
  }
  return body;
}

export async function request(method, url, json) {
  const opts = { method, headers: {} };
  if (json !== undefined) {
    opts.headers['Content-Type'] = 'application/json';
    opts.body = JSON.stringify(json);
  }
  let res;
  try {
    res = await fetch(url, opts);
  } catch (e) {
    throw new ApiError(`the server cannot be reached (${e.message})`, 0);
  }
  if (res.status === 204) return null;
  return parse(res);
}

export const getConfig = () => request('GET', '/api/config');
export const createProject = () => request('POST', '/api/projects', { name: '' });
export const getProject = (pid) => request('GET', `/api/projects/${pid}`);
export const deleteProject = (pid) => request('DELETE', `/api/projects/${pid}`);
export const patchItem = (pid, iid, patch) => request('PATCH', `/api/projects/${pid}/items/${iid}`, patch);
export const analyseAgain = (pid) => request('POST', `/api/projects/${pid}/analyze`);
export const sortByAge = (pid) => request('POST', `/api/projects/${pid}/sort-by-age`);
export const crawl = (pid, name) => request('POST', `/api/projects/${pid}/crawl`, { name });
export const startRender = (pid, settings) => request('POST', `/api/projects/${pid}/renders`, settings);
export const renders = (pid) => request('GET', `/api/projects/${pid}/renders`);
export const cancelJob = (jid) => request('POST', `/api/jobs/${jid}/cancel`);
export const getJob = (jid) => request('GET', `/api/jobs/${jid}`);

export async function uploadPhotos(pid, files) {
  const form = new FormData();
  for (const f of files) form.append('files', f, f.name);
  let res;
  try {
    res = await fetch(`/api/projects/${pid}/photos`, { method: 'POST', body: form });
  } catch (e) {
    throw new ApiError(`upload failed: the server cannot be reached (${e.message})`, 0);
  }
  return parse(res);
}

// Follows a job with Server-Sent Events; resolves with the final job, calls onProgress(job).
export function followJob(jid, onProgress) {
  return new Promise((resolve) => {
    const es = new EventSource(`/api/jobs/${jid}/events`);
    let finished = false;
    const finish = (job) => { if (!finished) { finished = true; es.close(); resolve(job); } };
    es.addEventListener('progress', (ev) => onProgress && onProgress(JSON.parse(ev.data)));
    for (const kind of ['done', 'failed', 'cancelled']) {
      es.addEventListener(kind, (ev) => finish(JSON.parse(ev.data)));
    }
    es.addEventListener('error', async () => {
      // stream dropped (server restart, proxy): fall back to one poll
      if (finished) return;
      es.close();
      try {
        let job = await getJob(jid);
        while (job.status === 'queued' || job.status === 'running') {
          onProgress && onProgress(job);
          await new Promise((r) => setTimeout(r, 1000));
          job = await getJob(jid);
        }
        finish(job);
      } catch (e) {
        finish({ id: jid, status: 'failed', error: e.message });
      }
    });
  });
}
