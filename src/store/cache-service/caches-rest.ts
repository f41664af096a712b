// The repository's Actions caches through the GitHub REST API (`/repos/{owner}/{repo}/actions/caches`),
// which, unlike the cache service itself, can list entries and delete them. Used by purge (list,
// delete) and by restore-all-matches (list only: the entries are then fetched by exact key
// through the cache service).
// The API is told apart from github.com by GITHUB_API_URL, so GHES works the same way.
//
// Refusals are values, not exceptions the caller has to classify: no permission, a rate limit,
// a token the API does not take, or a service that stays unavailable after bounded retries.
import { Answer, describe, fetchWithTimeout, HttpError, jsonBody, withRetries } from './http.js';
import { shown } from '../../common/untrusted-text.js';

/** One entry as the API lists it; the times are epoch milliseconds. */
export interface CacheListing {
  id: number;
  key: string;
  version: string;
  /** The ref the entry was saved from: `refs/heads/<branch>` or `refs/pull/<n>/merge`. */
  ref: string;
  createdAt: number;
  lastAccessedAt: number;
  sizeInBytes: number;
}

export interface RestTarget {
  /** GITHUB_API_URL, e.g. https://api.github.com or https://ghes.example/api/v3. */
  apiUrl: string;
  /** `owner/repo`. */
  repository: string;
  token: string;
}

/** Why the API would not do what was asked; `kind` decides the advice the warning gives. */
export interface Refusal {
  kind: 'permission' | 'rate-limit' | 'auth' | 'unavailable' | 'malformed';
  message: string;
}

export const PER_PAGE = 100;
/** Pages read per prefix: 2,000 entries, far more than a 10 GB cache holds of multi-GB snapshots. */
export const MAX_PAGES = 20;

const API_VERSION = '2022-11-28';

function headers(t: RestTarget): Record<string, string> {
  return {
    accept: 'application/vnd.github+json',
    authorization: `Bearer ${t.token}`,
    'x-github-api-version': API_VERSION,
    'user-agent': 'runbox'
  };
}

function endpoint(t: RestTarget, rest: string): string {
  return `${t.apiUrl.replace(/\/+$/, '')}/repos/${t.repository}/actions/caches${rest}`;
}

/** A non-2xx answer as a refusal; 5xx are thrown (as HttpError) so that withRetries retries them. */
async function refusalOf(res: Answer, what: string, permission: 'read' | 'write' = 'write'): Promise<Refusal> {
  const body = (await res.text()).slice(0, 300);
  const said = body ? `: ${shown(body)}` : '';
  const limited = res.headers.get('x-ratelimit-remaining') === '0' || res.headers.has('retry-after');
  if (res.status === 429 || (res.status === 403 && limited)) {
    const reset = Number(res.headers.get('x-ratelimit-reset') ?? '');
    const retry = res.headers.get('retry-after');
    const when = retry ? `retry after ${retry} s` : Number.isFinite(reset) && reset > 0 ? `the limit resets at ${new Date(reset * 1000).toISOString()}` : 'try again later';
    return { kind: 'rate-limit', message: `${what}: the GitHub API rate limit is exhausted (HTTP ${res.status}; ${when})` };
  }
  if (res.status === 401) return { kind: 'auth', message: `${what}: the API does not accept the token (HTTP 401)${said}` };
  if (res.status === 403 || res.status === 404)
    return { kind: 'permission', message: `${what}: HTTP ${res.status}${said} (the token needs the 'actions: ${permission}' permission on this repository)` };
  return { kind: 'malformed', message: `${what}: HTTP ${res.status}${said}` };
}

async function request(t: RestTarget, method: 'GET' | 'DELETE', url: string, what: string): Promise<Answer | Refusal> {
  try {
    return await withRetries(what, async () => {
      const res = await fetchWithTimeout(url, { method, headers: headers(t) });
      if (res.status >= 500 && res.status !== 501) {
        throw new HttpError(res.status, `${what}: HTTP ${res.status}`);
      }
      return res;
    });
  } catch (e) {
    return { kind: 'unavailable', message: describe(e) };
  }
}

function isRefusal(v: unknown): v is Refusal {
  return typeof v === 'object' && v !== null && 'kind' in v && 'message' in v && !(v instanceof Answer);
}

function parseTime(v: unknown): number {
  const ms = typeof v === 'string' ? Date.parse(v) : NaN;
  return Number.isFinite(ms) ? ms : NaN;
}

/** One listed entry, checked field by field; undefined when a field is missing or of the wrong type. */
function listing(raw: unknown): CacheListing | undefined {
  const o = raw as Record<string, unknown> | null;
  if (!o || typeof o !== 'object') return undefined;
  const { id, key, version, ref, size_in_bytes: size } = o;
  const createdAt = parseTime(o.created_at);
  const lastAccessedAt = parseTime(o.last_accessed_at);
  if (typeof id !== 'number' || !Number.isSafeInteger(id) || typeof key !== 'string' || typeof version !== 'string' || typeof ref !== 'string') return undefined;
  if (typeof size !== 'number' || !Number.isFinite(size) || Number.isNaN(createdAt) || Number.isNaN(lastAccessedAt)) return undefined;
  return { id, key, version, ref, createdAt, lastAccessedAt, sizeInBytes: size };
}

/**
 * Every entry whose key starts with `prefix` (the API's `key` filter matches a prefix) and, when
 * given, saved from `ref`. `permission` is what the caller's use needs (purge: write, a listing
 * alone: read), named when the API refuses. Pages are read until the API's total_count is reached, a page comes
 * back empty, or MAX_PAGES were read (then `truncated`).
 */
export async function listCaches(t: RestTarget, prefix: string, ref?: string, permission: 'read' | 'write' = 'write'): Promise<{ entries: CacheListing[]; truncated: boolean } | Refusal> {
  const entries: CacheListing[] = [];
  for (let page = 1; page <= MAX_PAGES; page++) {
    const q = new URLSearchParams({ key: prefix, ...(ref ? { ref } : {}), per_page: String(PER_PAGE), page: String(page) });
    const what = `listing the caches for ${shown(prefix)} (page ${page})`;
    const res = await request(t, 'GET', endpoint(t, `?${q.toString()}`), what);
    if (isRefusal(res)) return res;
    if (!res.ok) return refusalOf(res, what, permission);
    let body: unknown;
    try {
      body = await jsonBody(res, what);
    } catch (e) {
      return { kind: 'malformed', message: describe(e) };
    }
    const o = body as { total_count?: unknown; actions_caches?: unknown } | null;
    if (!o || typeof o.total_count !== 'number' || !Array.isArray(o.actions_caches)) return { kind: 'malformed', message: `${what}: the answer has no total_count and actions_caches` };
    const got = o.actions_caches.map(listing);
    if (got.some((e) => e === undefined)) return { kind: 'malformed', message: `${what}: an entry lacks id, key, version, ref, created_at, last_accessed_at or size_in_bytes` };
    entries.push(...(got as CacheListing[]));
    if (got.length === 0 || entries.length >= o.total_count) return { entries, truncated: false };
  }
  return { entries, truncated: true };
}

/** Deletes one entry by id: 'deleted', 'gone' (404: deleted meanwhile, by another job or the service), or the refusal. */
export async function deleteCache(t: RestTarget, id: number): Promise<'deleted' | 'gone' | Refusal> {
  const what = `deleting cache entry ${id}`;
  const res = await request(t, 'DELETE', endpoint(t, `/${id}`), what);
  if (isRefusal(res)) return res;
  // A 404 after a successful listing is the entry going away in between; a missing permission
  // shows as 403 (or as 404 on the listing itself).
  if (res.ok || res.status === 404) {
    return res.ok ? 'deleted' : 'gone';
  }
  return refusalOf(res, what);
}

export { isRefusal };
