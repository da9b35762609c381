// Card data spoken while recording: the calls where it was silenced, newest first, with the agent
// on the call then and the span (supervisors see every call and the count per agent, an agent
// their own calls). Each links to the player a little before the reading.
import { listenFrom, whatWasRead } from './card-marks.js'
import { api, base, clock, dash, dateTime, el } from './common.js'

const status = document.getElementById('card-status')
const tbody = document.querySelector('#card-data tbody')
const pageInfo = document.getElementById('page-info')
const prev = document.getElementById('prev-page')
const next = document.getElementById('next-page')
let page = Math.max(1, Number(new URLSearchParams(location.search).get('page')) || 1)

function marksCell(call) {
  return el(
    'td',
    { class: 'marks' },
    ...call.marks.map((mark) => {
      const from = listenFrom(mark)
      return el(
        'p',
        { class: 'mark', dataset: { startMs: mark.start_ms } },
        el('strong', {}, `${mark.text}.`),
        ` ${whatWasRead(mark)} `,
        el('a', { href: `${base}/recordings/${call.recording_sid}#t=${from}` }, `Listen from ${clock(from)}`),
      )
    }),
  )
}

function row(call) {
  const agents = [...new Set(call.marks.map((m) => m.agent).filter(Boolean))]
  return el(
    'tr',
    { dataset: { recordingSid: call.recording_sid } },
    el('td', {}, dateTime(call.started_at)),
    el('td', {}, agents.join(', ') || call.agent || dash),
    el('td', {}, call.queue || dash),
    marksCell(call),
    el('td', {}, el('a', { href: `${base}/recordings/${call.recording_sid}` }, 'Open')),
  )
}

function renderPerAgent(found) {
  const section = document.getElementById('per-agent-section')
  section.hidden = !found.per_agent.length
  document.getElementById('per-agent').replaceChildren(
    ...found.per_agent.map((a) =>
      el(
        'li',
        { title: a.worker_sid || '' },
        el('strong', {}, a.agent || 'no agent on the call'),
        ` ${a.readings} ${a.readings === 1 ? 'reading' : 'readings'} in ${a.calls} ${a.calls === 1 ? 'call' : 'calls'}`,
      ),
    ),
  )
  if (found.total > found.per_agent_of_latest) {
    document.getElementById('per-agent-title').textContent = `By agent (the latest ${found.per_agent_of_latest} calls)`
  }
}

async function load() {
  history.replaceState(null, '', page > 1 ? `${location.pathname}?page=${page}` : location.pathname)
  let found
  try {
    found = await api(`/api/card-data?page=${page}`)
  } catch (error) {
    status.textContent = `Cannot load the list: ${error.message}`
    return
  }
  renderPerAgent(found)
  status.textContent = found.total
    ? `${found.total} ${found.total === 1 ? 'call' : 'calls'} with card data silenced.`
    : 'No card data was spoken in any call while it was recorded.'
  tbody.replaceChildren(
    ...(found.calls.length ? found.calls.map(row) : [el('tr', {}, el('td', { class: 'empty', colspan: 5 }, 'Nothing to show.'))]),
  )
  const pages = Math.max(1, Math.ceil(found.total / found.page_size))
  pageInfo.textContent = `Page ${page} of ${pages}`
  prev.disabled = page <= 1
  next.disabled = page >= pages
  document.body.dataset.loaded = 'true'
}

prev.addEventListener('click', () => {
  page -= 1
  load()
})
next.addEventListener('click', () => {
  page += 1
  load()
})
load()
