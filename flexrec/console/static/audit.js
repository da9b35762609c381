// Audit log: filters live in the URL query (bookmarkable); the CSV link exports the same filter.
import { api, base, dash, el } from './common.js'

const form = document.getElementById('audit-filters')
const tbody = document.querySelector('#audit tbody')
const status = document.getElementById('audit-status')
const pageInfo = document.getElementById('page-info')
const prev = document.getElementById('prev-page')
const next = document.getElementById('next-page')
const exportLink = document.getElementById('export-csv')
const actionSelect = document.getElementById('action')
const PAGE = 50

let params = new URLSearchParams(location.search)
let offset = Math.max(0, Number(params.get('offset')) || 0)

function formParams() {
  const out = new URLSearchParams()
  for (const field of form.elements) {
    if (field.name && field.value.trim() !== '') out.set(field.name, field.value.trim())
  }
  return out
}

function fillForm() {
  for (const field of form.elements) {
    if (field.name && field.tagName !== 'SELECT') field.value = params.get(field.name) ?? ''
  }
}

function details(detail) {
  const parts = Object.entries(detail || {})
    .filter(([key]) => key !== 'user_agent')
    .map(([key, value]) => `${key}: ${typeof value === 'object' ? JSON.stringify(value) : value}`)
  return parts.length ? parts.join(' · ') : dash
}

function row(entry) {
  const recording = entry.recording_sid
    ? el('a', { href: `${base}/recordings/${entry.recording_sid}` }, entry.recording_sid)
    : dash
  return el(
    'tr',
    { dataset: { action: entry.action } },
    el('td', {}, entry.at.replace('T', ' ').replace(/\.\d+Z$|Z$/, '')),
    el('td', {}, entry.actor),
    el('td', {}, el('span', { class: `dir action-${entry.action}` }, entry.action.replaceAll('_', ' '))),
    el('td', { class: 'sid' }, recording),
    el('td', {}, entry.ip || dash),
    el('td', { class: 'detail' }, details(entry.detail)),
  )
}

function fillActions(actions) {
  const chosen = params.get('action') || ''
  actionSelect.replaceChildren(
    el('option', { value: '' }, 'Any'),
    ...actions.map((a) => el('option', { value: a, selected: a === chosen }, a.replaceAll('_', ' '))),
  )
}

async function load() {
  const query = new URLSearchParams(params)
  query.set('limit', String(PAGE))
  query.set('offset', String(offset))
  history.replaceState(null, '', `${location.pathname}?${query}`)
  const csv = new URLSearchParams(params)
  exportLink.href = `${base}/api/audit.csv?${csv}`
  status.textContent = 'Loading…'
  try {
    const data = await api(`/api/audit?${query}`)
    fillActions(data.actions)
    tbody.replaceChildren(...data.items.map(row))
    if (!data.items.length) tbody.append(el('tr', {}, el('td', { colspan: 6, class: 'empty' }, 'No entries match these filters.')))
    const last = Math.min(data.total, offset + data.items.length)
    status.textContent = `${data.total} entr${data.total === 1 ? 'y' : 'ies'} found`
    pageInfo.textContent = data.total ? `${offset + 1}–${last} of ${data.total}` : ''
    prev.disabled = offset <= 0
    next.disabled = last >= data.total
  } catch (error) {
    status.textContent = `Could not load the audit log: ${error.message}`
  }
}

form.addEventListener('submit', (event) => {
  event.preventDefault()
  params = formParams()
  offset = 0
  load()
})
form.addEventListener('reset', () => setTimeout(() => { params = new URLSearchParams(); offset = 0; load() }))
prev.addEventListener('click', () => { offset = Math.max(0, offset - PAGE); load() })
next.addEventListener('click', () => { offset += PAGE; load() })

fillForm()
load()
