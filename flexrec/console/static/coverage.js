// Coverage: every call leg Twilio has on a UTC day, recorded or why not. The day and what to
// show live in the URL query (bookmarkable); the report is `flexrec coverage` for that day.
import { api, base, clock, dash, el, number } from './common.js'

const form = document.getElementById('coverage-day')
const dayInput = document.getElementById('day')
const show = document.getElementById('show')
const status = document.getElementById('coverage-status')
const summary = document.getElementById('coverage-summary')
const verdict = document.getElementById('coverage-verdict')
const tbody = document.querySelector('#coverage tbody')

const OUTCOME = {
  recorded: 'recorded',
  partly_recorded: 'partly recorded',
  not_recorded: 'not recorded',
  not_eligible: 'not eligible',
  not_seen: 'never seen',
  in_progress: 'in progress',
}
const EXCEPTIONS = new Set(['partly_recorded', 'not_recorded', 'not_seen'])
const ELIGIBLE = new Set(['recorded', 'partly_recorded', 'not_recorded', 'in_progress'])

const todayUtc = () => new Date().toISOString().slice(0, 10)

function shiftDay(day, by) {
  const d = new Date(`${day}T00:00:00Z`)
  d.setUTCDate(d.getUTCDate() + by)
  return d.toISOString().slice(0, 10)
}

function timeOf(ms) {
  return ms ? new Date(ms).toISOString().slice(11, 19) : dash
}

function card(label, value, tone = '') {
  return el('div', { class: `summary-card ${tone}` }, el('span', { class: 'value' }, value), el('span', { class: 'label' }, label))
}

function renderSummary(report) {
  const s = report.summary
  const pct = s.talk_time_recorded_pct
  summary.replaceChildren(
    card('eligible calls recorded', `${s.recorded_calls} / ${s.eligible_calls}`, s.recorded_calls === s.eligible_calls ? 'good' : 'bad'),
    card('fully recorded', String(s.fully_recorded_calls)),
    card('eligible talk time recorded', pct === null ? dash : `${pct.toFixed(2)}%`, pct === null || pct >= 99 ? 'good' : 'bad'),
    card('paused by agents', clock(s.paused_s)),
    card('legs never seen', String(s.not_seen_legs), s.not_seen_legs ? 'bad' : 'good'),
    card('call legs on Twilio', String(s.legs)),
  )
  const exceptions = report.exceptions.length
  verdict.className = `verdict ${exceptions ? 'bad' : 'good'}`
  verdict.textContent = exceptions
    ? `Every eligible call of ${dayInput.value} was recorded, except the ${exceptions} below.`
    : `Every eligible call of ${dayInput.value} was recorded.`
  if (s.in_progress_legs) verdict.textContent += ` ${s.in_progress_legs} still in progress.`
  const outages = report.outages || []
  if (outages.length) {
    const windows = outages.map((o) => (o.end_ms ? `${timeOf(o.start_ms)}-${timeOf(o.end_ms)}` : `from ${timeOf(o.start_ms)}`))
    const times = outages.length === 1 ? 'once' : `${outages.length} times`
    verdict.textContent += ` flexrec was down ${times}: ${windows.join(', ')} UTC.`
  }
}

function recordingLinks(leg) {
  if (!leg.recording_sids.length) return dash
  const links = leg.recording_sids.map((sid) =>
    el('a', { href: `${base}/recordings/${sid}`, class: 'sid', title: sid }, `${sid.slice(0, 10)}…`),
  )
  return el('span', { class: 'sids' }, ...links)
}

function why(leg) {
  if (!leg.reason) return dash
  return el('span', {}, el('span', { class: `reason reason-${leg.reason}` }, leg.reason.replaceAll('_', ' ')), ' ', leg.detail)
}

function row(leg) {
  const judged = ELIGIBLE.has(leg.outcome) && leg.outcome !== 'in_progress'
  return el(
    'tr',
    { dataset: { outcome: leg.outcome, callSid: leg.call_sid } },
    el('td', {}, timeOf(leg.started_ms)),
    el('td', { class: 'num' }, leg.duration_s === null ? dash : clock(leg.duration_s)),
    el('td', { class: 'sid', title: leg.call_sid }, leg.call_sid),
    el('td', {}, leg.role.replaceAll('_', ' ')),
    el('td', {}, el('span', { class: `outcome outcome-${leg.outcome}` }, OUTCOME[leg.outcome] || leg.outcome)),
    el('td', { class: 'detail' }, why(leg)),
    el('td', { class: 'num' }, judged ? `${clock(leg.recorded_s)} / ${clock(leg.talk_s)}` : dash),
    el('td', { class: 'num' }, judged && leg.paused_s ? clock(leg.paused_s) : dash),
    el('td', { class: 'num' }, leg.start_gap_s === null ? dash : number(leg.start_gap_s, 0, ' s')),
    el('td', {}, recordingLinks(leg)),
  )
}

function renderLegs(report) {
  const wanted = show.value
  const legs = report.legs.filter((leg) =>
    wanted === 'all' ? true : wanted === 'eligible' ? leg.eligible === true : EXCEPTIONS.has(leg.outcome),
  )
  if (!legs.length) {
    const text = wanted === 'exceptions' ? 'No exceptions: nothing to explain.' : 'No call legs.'
    tbody.replaceChildren(el('tr', {}, el('td', { class: 'empty', colspan: 10 }, text)))
    return
  }
  tbody.replaceChildren(...legs.map(row))
}

let current = null

async function load() {
  const day = dayInput.value || todayUtc()
  const params = new URLSearchParams({ day, show: show.value })
  history.replaceState(null, '', `${location.pathname}?${params}`)
  status.textContent = `Asking Twilio for the call legs of ${day}…`
  tbody.replaceChildren()
  summary.replaceChildren()
  verdict.textContent = ''
  try {
    current = await api(`/api/coverage?day=${encodeURIComponent(day)}`)
  } catch (error) {
    current = null
    status.textContent = `Could not build the report: ${error.message}`
    return
  }
  status.textContent = `${current.summary.legs} call legs on Twilio for ${day} (UTC); ${current.twilio_requests} Twilio requests.`
  renderSummary(current)
  renderLegs(current)
}

const params = new URLSearchParams(location.search)
dayInput.value = params.get('day') || todayUtc()
show.value = ['exceptions', 'eligible', 'all'].includes(params.get('show')) ? params.get('show') : 'exceptions'
form.addEventListener('submit', (event) => {
  event.preventDefault()
  load()
})
dayInput.addEventListener('change', load)
show.addEventListener('change', () => (current ? (renderLegs(current), history.replaceState(null, '', `${location.pathname}?day=${dayInput.value}&show=${show.value}`)) : load()))
document.getElementById('prev-day').addEventListener('click', () => {
  dayInput.value = shiftDay(dayInput.value || todayUtc(), -1)
  load()
})
document.getElementById('next-day').addEventListener('click', () => {
  dayInput.value = shiftDay(dayInput.value || todayUtc(), 1)
  load()
})
load()
