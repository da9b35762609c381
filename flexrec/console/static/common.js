// Shared helpers for the console pages: API calls with the CSRF header, formatting, DOM building.

const meta = (name) => document.querySelector(`meta[name="${name}"]`)?.content ?? ''

export const base = meta('console-base')
export const csrfToken = meta('csrf-token')

/** Call the console API; throws an Error carrying the server's message on a non-2xx answer. */
export async function api(path, { method = 'GET', body } = {}) {
  const headers = { Accept: 'application/json' }
  if (method !== 'GET') {
    headers['X-CSRF-Token'] = csrfToken
    headers['Content-Type'] = 'application/json'
  }
  const response = await fetch(`${base}${path}`, {
    method,
    headers,
    credentials: 'same-origin',
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  if (response.status === 401) {
    window.location.assign(`${base}/login?next=${encodeURIComponent(location.pathname + location.search)}`)
    throw new Error('Signed out')
  }
  const data = await response.json().catch(() => ({}))
  if (!response.ok) {
    // FastAPI's own shape is {detail}; the service app reshapes errors to {error, message}.
    const detail = typeof data.detail === 'string' ? data.detail : data.message || `HTTP ${response.status}`
    const error = new Error(detail)
    error.status = response.status
    throw error
  }
  return data
}

/** "m:ss" (or "h:mm:ss") for a number of seconds. */
export function clock(seconds) {
  const s = Math.max(0, Math.floor(seconds || 0))
  const h = Math.floor(s / 3600)
  const m = Math.floor((s % 3600) / 60)
  const ss = String(s % 60).padStart(2, '0')
  return h ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`
}

/** Seconds from "90", "1:30", "1:02:03" or "12.5"; NaN when unreadable. */
export function parseClock(text) {
  const parts = String(text).trim().split(':')
  if (!parts.length || parts.some((p) => p === '' || Number.isNaN(Number(p)))) return NaN
  return parts.reduce((total, part) => total * 60 + Number(part), 0)
}

export const dash = '–'

export function number(value, digits = 0, suffix = '') {
  return value === null || value === undefined ? dash : `${Number(value).toFixed(digits)}${suffix}`
}

export function dateTime(iso) {
  if (!iso) return dash
  const d = new Date(iso)
  return d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' })
}

/** Build an element: el('td', {class: 'num'}, 'text', child). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag)
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue
    if (key === 'dataset') Object.assign(node.dataset, value)
    else node.setAttribute(key, value === true ? '' : String(value))
  }
  for (const child of children) {
    if (child !== null && child !== undefined) node.append(child)
  }
  return node
}
