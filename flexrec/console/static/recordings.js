// Recordings list: filters live in the URL query, so a search can be bookmarked and shared.
import { api, base, clock, dash, dateTime, el, number } from './common.js'

const form = document.getElementById('filters')
const tbody = document.querySelector('#recordings tbody')
const status = document.getElementById('results-status')
const pageInfo = document.getElementById('page-info')
const prev = document.getElementById('prev-page')
const next = document.getElementById('next-page')
const PAGE_SIZE = 25

let state = readUrl()

function readUrl() {
  const params = new URLSearchParams(location.search)
  return {
    params,
    sort: params.get('sort') || '-started_at',
    page: Math.max(1, Number(params.get('page')) || 1),
  }
}

function fillForm(params) {
  for (const field of form.elements) {
    if (field.name) field.value = params.get(field.name) ?? ''
  }
  const advanced = [...form.querySelectorAll('.more-filters [name]')]
  if (advanced.some((f) => f.value)) form.querySelector('.more-filters').open = true
}

function formParams() {
  const params = new URLSearchParams()
  for (const field of form.elements) {
    if (field.name && field.value.trim() !== '') params.set(field.name, field.value.trim())
  }
  return params
}

function writeUrl() {
  const params = new URLSearchParams(state.params)
  params.set('sort', state.sort)
  params.set('page', String(state.page))
  history.replaceState(null, '', `${location.pathname}?${params}`)
}

function markSort() {
  for (const th of document.querySelectorAll('#recordings th[data-sort]')) {
    const key = th.dataset.sort
    const active = state.sort.replace(/^-/, '') === key
    th.setAttribute('aria-sort', active ? (state.sort.startsWith('-') ? 'descending' : 'ascending') : 'none')
  }
}

function row(item) {
  const link = el('a', { href: `${base}/recordings/${item.recording_sid}`, class: 'open-recording' }, 'Open')
  const when = el('a', { href: `${base}/recordings/${item.recording_sid}` }, dateTime(item.started_at))
  const held = item.legal_hold ? el('span', { class: 'badge-hold', title: 'On legal hold: never deleted' }, 'Legal hold') : null
  const mono = item.analysis === 'mono'
    ? el('span', { class: 'badge-mono', title: 'Mono recording: talk and silence only, nobody to tell apart' }, 'mono')
    : null
  return el(
    'tr',
    { dataset: { recordingSid: item.recording_sid } },
    el('td', {}, when, held, mono),
    el('td', {}, item.agent || item.worker_sid || dash),
    el('td', {}, item.queue || dash),
    el('td', {}, item.direction ? el('span', { class: 'dir' }, item.direction) : dash),
    el('td', { class: 'num' }, item.duration_ms == null ? dash : clock(item.duration_ms / 1000)),
    el('td', { class: 'num' }, number(item.talk_ratio, 2)),
    el('td', { class: 'num' }, number(item.silence_pct, 0, ' %')),
    el('td', { class: 'num' }, number(item.cross_talk_pct, 0, ' %')),
    el('td', { class: 'num' }, number(item.interruptions)),
    el('td', {}, item.playable ? link : el('span', { class: 'status' }, item.state)),
  )
}

async function load() {
  writeUrl()
  markSort()
  const params = new URLSearchParams(state.params)
  params.set('sort', state.sort)
  params.set('page', String(state.page))
  params.set('page_size', String(PAGE_SIZE))
  status.textContent = 'Loading…'
  try {
    const data = await api(`/api/recordings?${params}`)
    tbody.replaceChildren(...data.items.map(row))
    if (!data.items.length) {
      tbody.append(el('tr', {}, el('td', { colspan: 10, class: 'empty' }, 'No recordings match these filters.')))
    }
    const first = data.total ? (data.page - 1) * data.page_size + 1 : 0
    const last = Math.min(data.total, data.page * data.page_size)
    status.textContent = `${data.total} recording${data.total === 1 ? '' : 's'} found`
    pageInfo.textContent = data.total ? `${first}–${last} of ${data.total}` : ''
    prev.disabled = data.page <= 1
    next.disabled = last >= data.total
  } catch (error) {
    status.textContent = `Could not load recordings: ${error.message}`
  }
}

for (const th of document.querySelectorAll('#recordings th[data-sort]')) {
  const label = th.textContent
  const button = el('button', { type: 'button' }, label)
  th.replaceChildren(button)
  button.addEventListener('click', () => {
    const key = th.dataset.sort
    state.sort = state.sort === `-${key}` ? key : `-${key}`
    state.page = 1
    load()
  })
}

form.addEventListener('submit', (event) => {
  event.preventDefault()
  state.params = formParams()
  state.page = 1
  load()
})
form.addEventListener('reset', () => {
  setTimeout(() => {
    state.params = new URLSearchParams()
    state.page = 1
    load()
  })
})
prev.addEventListener('click', () => { state.page -= 1; load() })
next.addEventListener('click', () => { state.page += 1; load() })

fillForm(state.params)
load()
