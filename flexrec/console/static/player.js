// Dual-channel player: wavesurfer waveforms from server peaks, speaker lanes, pause gaps,
// channel solo through Web Audio, jumps from the timeline or #t=SECONDS, audited media links.
import WaveSurfer from './vendor/wavesurfer/wavesurfer.esm.js'
import RegionsPlugin from './vendor/wavesurfer/plugins/regions.esm.js'
import { api, base, clock, dash, dateTime, el, number, parseClock } from './common.js'
import { mountTranscript } from './transcript.js'
import { parseWaveform } from './waveform.js'

const root = document.getElementById('player')
const sid = root.dataset.recordingSid
const audio = document.getElementById('audio')
const statusBox = document.getElementById('player-status')
const playButton = document.getElementById('play')
const timeline = document.getElementById('timeline')
const playhead = timeline.querySelector('.playhead')

const COLOURS = {
  agent: { waveColor: '#93b4f5', progressColor: '#2563eb' },
  customer: { waveColor: '#f2ab86', progressColor: '#c2410c' },
  mixed: { waveColor: '#a7c4a0', progressColor: '#3f7a34' },
}
const ROLE_NAMES = { agent: 'Agent', customer: 'Customer', mixed: 'Both sides (mono)' }
const MUTED = { waveColor: '#d1d5db', progressColor: '#9ca3af' }

let detail = null
let wavesurfer = null
let durationS = 0
let solo = 'both'
let audioGraph = null // { context, gains: [GainNode, GainNode] }
let mediaReady = null // promise of the signed URL being set on <audio>
// Where to start once the media is there: wavesurfer forgets seeks made before its own
// (peaks-only) load finishes, and the media itself arrives only on the first play.
let pendingSeek = null
let transcript = null // the side panel (transcript.js): follows the clock

function setStatus(text) {
  statusBox.textContent = text
}

// ---- media: signed link issued (and audited) on first play --------------------------------

async function ensureMedia() {
  if (!mediaReady) {
    mediaReady = api(`/api/recordings/${sid}/media-url`, { method: 'POST', body: { purpose: 'play' } })
      .then(({ url }) => {
        audio.src = url
      })
      .catch((error) => {
        mediaReady = null
        throw error
      })
  }
  return mediaReady
}

function ensureAudioGraph() {
  if (audioGraph) return audioGraph
  if (typeof AudioContext === 'undefined') return null // plays, but cannot solo a channel
  const context = new AudioContext()
  const source = context.createMediaElementSource(audio)
  const splitter = context.createChannelSplitter(2)
  const merger = context.createChannelMerger(2)
  source.connect(splitter)
  const gains = [0, 1].map((channel) => {
    const gain = context.createGain()
    splitter.connect(gain, channel)
    // Each channel goes to both ears: a soloed speaker is heard centred, not in one ear.
    gain.connect(merger, 0, 0)
    gain.connect(merger, 0, 1)
    return gain
  })
  merger.connect(context.destination)
  audioGraph = { context, gains }
  applySolo()
  return audioGraph
}

async function togglePlay() {
  const playing = !audio.paused
  if (playing) {
    audio.pause()
    return
  }
  playButton.disabled = true
  try {
    await ensureMedia()
    const graph = ensureAudioGraph()
    if (graph && graph.context.state === 'suspended') await graph.context.resume()
    if (pendingSeek !== null) {
      if (wavesurfer) wavesurfer.setTime(pendingSeek)
      else audio.currentTime = pendingSeek
      pendingSeek = null
    }
    await (wavesurfer ? wavesurfer.play() : audio.play())
    setStatus('')
  } catch (error) {
    setStatus(`Cannot play: ${error.message}`)
  } finally {
    playButton.disabled = false
  }
}

async function download() {
  try {
    const { url } = await api(`/api/recordings/${sid}/media-url`, { method: 'POST', body: { purpose: 'download' } })
    const link = el('a', { href: url, download: `${sid}.wav` })
    document.body.append(link)
    link.click()
    link.remove()
  } catch (error) {
    setStatus(`Cannot download: ${error.message}`)
  }
}

// ---- solo --------------------------------------------------------------------------------

function channelIndex(role) {
  return detail ? detail.channels.indexOf(role) : -1
}

function applySolo() {
  const audible = [0, 1].map((i) => solo === 'both' || detail?.channels[i] === solo)
  if (audioGraph) {
    audioGraph.gains.forEach((gain, i) => {
      gain.gain.value = audible[i] ? 1 : 0
    })
  }
  root.dataset.solo = solo
  for (const button of document.querySelectorAll('.solo [data-solo]')) {
    button.setAttribute('aria-pressed', String(button.dataset.solo === solo))
  }
  ;[0, 1].forEach((i) => document.getElementById(`channel-label-${i}`).classList.toggle('muted', !audible[i]))
  if (wavesurfer && detail) {
    wavesurfer.setOptions({
      splitChannels: detail.channels.map((role, i) => ({ ...(audible[i] ? COLOURS[role] : MUTED) })),
    })
  }
}

// ---- seeking -----------------------------------------------------------------------------

function seek(seconds) {
  const t = Math.max(0, Math.min(seconds, durationS || seconds))
  if (!audio.src) pendingSeek = t
  if (wavesurfer) wavesurfer.setTime(t)
  else audio.currentTime = t
  showTime(t)
}

function seekFromHash() {
  const match = /(?:^#|&)t=([0-9:.]+)/.exec(location.hash)
  if (match) {
    const t = parseClock(match[1])
    if (!Number.isNaN(t)) seek(t)
  }
}

function showTime(t) {
  document.getElementById('time-current').textContent = clock(t)
  if (durationS > 0) {
    const track = visibleTrack()
    const left = track.offsetLeft + (track.clientWidth * Math.min(t, durationS)) / durationS
    playhead.style.left = `${left}px`
  }
  root.dataset.currentTime = t.toFixed(2)
  transcript?.highlight(t)
}

// ---- rendering ---------------------------------------------------------------------------

function pct(ms) {
  return `${(100 * ms) / 1000 / durationS}%`
}

// Who was on the call: "alice 0:00–0:31 → carol 0:41–end" (the call's agents in order).
function agentsText() {
  const agents = detail.agents || []
  if (agents.length < 2) return detail.agent || detail.worker_sid || dash
  const end = (ms) => (ms == null ? 'end' : clock(ms / 1000))
  return agents.map((a) => `${a.name} ${clock(a.start_ms / 1000)}–${end(a.end_ms)}`).join(' → ')
}

function renderMeta() {
  const items = [
    ['Recording', detail.recording_sid, 'wide'],
    ['Call', detail.call_sid || dash, 'wide'],
    ['Started', dateTime(detail.started_at)],
    ['Duration', detail.duration_ms == null ? dash : clock(detail.duration_ms / 1000)],
    [(detail.agents || []).length > 1 ? 'Agents' : 'Agent', agentsText(), (detail.agents || []).length > 1 ? 'wide' : undefined],
    ['Queue', detail.queue || dash],
    ['Direction', detail.direction || dash],
    ['Customer', detail.customer_number || dash],
  ]
  document.getElementById('call-meta').replaceChildren(
    ...items.map(([k, v, cls]) => el('div', { class: cls }, el('dt', {}, k), el('dd', {}, v))),
  )
  const names = (detail.agents || []).length > 1 ? detail.agents.map((a) => a.name).join(' → ') : detail.agent
  document.getElementById('player-title').textContent =
    `${detail.direction === 'outbound' ? 'Outbound' : 'Inbound'} call${names ? ` with ${names}` : ''}`
  detail.channels.forEach((role, i) => {
    const label = document.getElementById(`channel-label-${i}`)
    label.textContent = ROLE_NAMES[role] || role
    label.classList.add(role)
  })
  // A mono recording has nobody to solo and one lane of speech for either side.
  const mono = detail.channels.length === 1
  document.querySelector('.solo').hidden = mono
  for (const lane of timeline.querySelectorAll('.lane[data-lane="agent"], .lane[data-lane="customer"]')) lane.hidden = mono
  timeline.querySelector('.lane[data-lane="mixed"]').hidden = !mono
  document.querySelector('.legend-mixed').hidden = !mono
}

function renderMetrics() {
  const m = detail.metrics
  const box = document.getElementById('metrics')
  const state = m ? m.state : 'pending'
  box.dataset.analysis = state
  if (state === 'pending' || state === 'failed') {
    const text = state === 'failed' ? 'failed (the service log says why)' : 'not analysed yet'
    box.replaceChildren(el('div', {}, el('dt', {}, 'Analysis'), el('dd', {}, text)))
    return
  }
  // Short spans read better in seconds ("0.6 s") than on a clock ("0:00").
  const sec = (ms) => (ms == null ? dash : ms < 10_000 ? `${(ms / 1000).toFixed(1)} s` : clock(ms / 1000))
  if (state === 'mono') {
    const mono = [
      ['Analysis', 'Mono: who spoke is not measured'],
      ['Talk (either side)', sec(m.talk_ms)],
      ['Silence', `${sec(m.silence_ms)} (${number(m.silence_pct, 0, ' %')})`],
      ['Longest speech', sec(m.longest_speech_ms)],
      ['First words after', sec(m.first_words_ms)],
    ]
    box.replaceChildren(...mono.map(([k, v]) => el('div', {}, el('dt', {}, k), el('dd', {}, v))))
    return
  }
  const items = [
    ['Agent talk', sec(m.agent_talk_ms)],
    ['Customer talk', sec(m.customer_talk_ms)],
    ['Talk ratio (agent ÷ customer)', number(m.talk_to_listen_ratio, 2)],
    ['Silence', `${sec(m.silence_ms)} (${number(m.silence_pct, 0, ' %')})`],
    ['Cross-talk', `${sec(m.cross_talk_ms)} (${number(m.cross_talk_pct, 0, ' %')})`],
    ['Agent interrupted', number(m.interruptions_by_agent)],
    ['Customer interrupted', number(m.interruptions_by_customer)],
    ['Longest agent monologue', sec(m.longest_agent_monologue_ms)],
    ['Longest customer monologue', sec(m.longest_customer_monologue_ms)],
    ['Agent first words after', sec(m.time_to_first_agent_words_ms)],
  ]
  box.replaceChildren(...items.map(([k, v]) => el('div', {}, el('dt', {}, k), el('dd', {}, v))))
}

// Every lane's track has the same geometry: the first one shown measures them all.
function visibleTrack() {
  return timeline.querySelector('.lane:not([hidden]) .lane-track')
}

function span(cls, startMs, endMs, title, dataset = {}) {
  return el('div', {
    class: `seg ${cls}`,
    style: `left:${pct(startMs)};width:${pct(Math.max(0, endMs - startMs))}`,
    title,
    dataset: { startMs, endMs, ...dataset },
  })
}

// One lane per agent after a transfer: their time on the call, and the agent-side speech
// inside it (the agent channel carries whoever was on the call then).
function agentLanes() {
  const agents = detail.agents || []
  const template = timeline.querySelector('.lane[data-lane="agent"]')
  for (const lane of timeline.querySelectorAll('.lane[data-agent-index]')) lane.remove()
  if (agents.length < 2 || detail.channels.length === 1) return []
  template.hidden = true
  const durationMs = durationS * 1000
  return agents.map((agent, index) => {
    const lane = el(
      'div',
      { class: 'lane lane-agent', dataset: { lane: `agent-${index}`, agentIndex: index } },
      el('span', { class: 'lane-name', title: agent.worker_sid || '' }, agent.name),
      el('div', { class: 'lane-track' }),
    )
    template.before(lane)
    const end = agent.end_ms == null ? durationMs : agent.end_ms
    const track = lane.querySelector('.lane-track')
    track.append(span('seg-presence', agent.start_ms, end, `${agent.name} on the call ${clock(agent.start_ms / 1000)}–${clock(end / 1000)}`))
    return { track, start: agent.start_ms, end }
  })
}

function renderTimeline() {
  const lanes = Object.fromEntries(
    [...timeline.querySelectorAll('.lane')].map((lane) => [lane.dataset.lane, lane.querySelector('.lane-track')]),
  )
  for (const track of Object.values(lanes)) track.replaceChildren()
  const perAgent = agentLanes()
  for (const seg of detail.segments) {
    const who = ROLE_NAMES[seg.channel] || seg.channel
    const title = `${who} ${clock(seg.start_ms / 1000)}–${clock(seg.end_ms / 1000)}`
    if (seg.channel === 'agent' && perAgent.length) {
      detail.agents.forEach((agent, i) => {
        const { track, start, end } = perAgent[i]
        const a = Math.max(seg.start_ms, start)
        const b = Math.min(seg.end_ms, end)
        if (b > a) track.append(span('seg-agent', a, b, `${agent.name} ${clock(a / 1000)}–${clock(b / 1000)}`))
      })
      continue
    }
    lanes[seg.channel].append(span(`seg-${seg.channel}`, seg.start_ms, seg.end_ms, title))
  }
  const holdLane = timeline.querySelector('.lane[data-lane="hold"]')
  holdLane.hidden = !(detail.holds || []).length
  document.querySelector('.legend-hold').hidden = holdLane.hidden
  document.querySelector('.legend-transfer').hidden = !(detail.transfers || []).length
  for (const hold of detail.holds || []) {
    const end = hold.end_ms == null ? durationS * 1000 : hold.end_ms
    lanes.hold.append(span('seg-hold', hold.start_ms, end, `Customer on hold ${clock(hold.start_ms / 1000)}–${clock(end / 1000)}`))
  }
  for (const marker of timeline.querySelectorAll('.transfer')) marker.remove()
  const firstTrack = visibleTrack()
  timeline.classList.toggle('has-transfers', Boolean((detail.transfers || []).length))
  for (const t of detail.transfers || []) {
    const kind = t.warm ? 'warm transfer' : `cold transfer${t.waited_ms ? `, customer waited ${clock(t.waited_ms / 1000)}` : ''}`
    const left = firstTrack.offsetLeft + (firstTrack.clientWidth * t.at_ms) / 1000 / durationS
    timeline.append(
      el(
        'div',
        { class: 'transfer', style: `left:${left}px`, title: `${t.from_name || 'agent'} → ${t.to_name} (${kind}) at ${clock(t.at_ms / 1000)}`, dataset: { atMs: t.at_ms } },
        el('span', { class: 'transfer-label' }, `→ ${t.to_name}`),
      ),
    )
  }
  for (const gap of detail.pauses) {
    lanes.pause.append(
      el('div', {
        class: 'seg seg-pause',
        style: `left:${pct(gap.start_ms)};width:${pct(gap.end_ms - gap.start_ms)}`,
        title: `Recording paused for ${clock(gap.paused_ms / 1000)} at ${clock(gap.start_ms / 1000)}`,
        dataset: { startMs: gap.start_ms, endMs: gap.end_ms },
      }),
    )
  }
  const axis = timeline.querySelector('.axis-track')
  const steps = [5, 10, 15, 30, 60, 120, 300, 600, 900, 1800]
  const step = steps.find((s) => durationS / s <= 10) || 3600
  axis.replaceChildren()
  for (let t = 0; t <= durationS; t += step) {
    axis.append(el('span', { class: 'tick', style: `left:${(100 * t) / durationS}%` }, clock(t)))
  }
  timeline.addEventListener('click', (event) => {
    const track = visibleTrack()
    const rect = track.getBoundingClientRect()
    const x = event.clientX - rect.left
    if (x < 0 || x > rect.width) return
    seek((x / rect.width) * durationS)
  })
}

// ---- waveform: the archive's stored form, binary (flexrec/archive/waveform.py, waveform.js) -

async function loadWaveform() {
  try {
    // Sent deflate-encoded as stored; the browser inflates it.
    const response = await fetch(`${base}/api/recordings/${sid}/waveform`, { credentials: 'same-origin' })
    if (!response.ok) return null
    return parseWaveform(await response.arrayBuffer())
  } catch {
    return null
  }
}

function renderWaveform(peaks) {
  const regions = RegionsPlugin.create()
  wavesurfer = WaveSurfer.create({
    container: '#waveform',
    media: audio,
    peaks: peaks.channels,
    duration: peaks.duration_s,
    height: 72,
    normalize: true,
    cursorColor: '#111827',
    cursorWidth: 2,
    barWidth: 2,
    barGap: 1,
    barRadius: 1,
    splitChannels: detail.channels.map((role) => ({ ...COLOURS[role] })),
    plugins: [regions],
  })
  wavesurfer.on('ready', () => {
    for (const gap of detail.pauses) {
      regions.addRegion({
        start: gap.start_ms / 1000,
        end: Math.max(gap.end_ms, gap.start_ms + 50) / 1000,
        color: 'rgba(107, 114, 128, 0.28)',
        drag: false,
        resize: false,
        content: 'paused',
        id: `pause-${gap.start_ms}`,
      })
    }
    if (pendingSeek !== null) wavesurfer.setTime(pendingSeek) // draw the cursor there
    root.dataset.waveformReady = 'true'
  })
  wavesurfer.on('timeupdate', showTime)
}

// ---- retention and legal hold ------------------------------------------------------------

function day(iso) {
  return iso ? new Date(iso).toISOString().slice(0, 10) : dash
}

function renderRetention() {
  const text = document.getElementById('retention-text')
  let line
  if (detail.purged_at) line = `The media was deleted by retention on ${day(detail.purged_at)}.`
  else if (detail.legal_hold) {
    const who = detail.held_by ? ` by ${detail.held_by}` : ''
    const when = detail.held_at ? ` on ${day(detail.held_at)}` : ''
    const why = detail.hold_reason ? `: ${detail.hold_reason}` : ''
    line = `On legal hold${who}${when}${why}. Never deleted while held` +
      (detail.retain_until ? ` (retention date ${day(detail.retain_until)}).` : '.')
  } else if (detail.retain_until) line = `Kept until ${day(detail.retain_until)}, then deleted by retention.`
  else line = detail.playable ? 'Kept with no end date.' : 'The retention date is set once the media is archived.'
  text.textContent = line
  text.classList.toggle('held', Boolean(detail.legal_hold))
  const form = document.getElementById('hold-form')
  form.hidden = !detail.may_hold || Boolean(detail.purged_at)
  // Placing and releasing a hold both say why (the audit log keeps it).
  const reasonInput = document.getElementById('hold-reason')
  reasonInput.required = true
  reasonInput.placeholder = detail.legal_hold ? 'why the hold ends' : 'case or matter reference'
  document.getElementById('hold-button').textContent = detail.legal_hold ? 'Release legal hold' : 'Place legal hold'
  // Supervisors and admins (the same who may hold) export what is still archived.
  document.getElementById('export-line').hidden = !detail.may_hold || !detail.playable || Boolean(detail.purged_at)
  document.getElementById('export-link').href = `${base}/api/recordings/${sid}/export.zip`
}

async function changeHold(event) {
  event.preventDefault()
  const status = document.getElementById('hold-status')
  const input = document.getElementById('hold-reason')
  try {
    const facts = await api(`/api/recordings/${sid}/legal-hold`, {
      method: detail.legal_hold ? 'DELETE' : 'PUT',
      body: { reason: input.value },
    })
    Object.assign(detail, facts)
    input.value = ''
    status.textContent = detail.legal_hold ? 'Legal hold placed.' : 'Legal hold released.'
    renderRetention()
  } catch (error) {
    status.textContent = `Not changed: ${error.message}`
  }
}

// ---- start -------------------------------------------------------------------------------

async function main() {
  try {
    detail = await api(`/api/recordings/${sid}`)
  } catch (error) {
    setStatus(`Cannot load this recording: ${error.message}`)
    return
  }
  const peaks = await loadWaveform()
  durationS = peaks?.duration_s || (detail.duration_ms || 0) / 1000
  document.getElementById('time-total').textContent = clock(durationS)
  renderMeta()
  renderMetrics()
  renderTimeline()
  renderRetention()
  document.getElementById('hold-form').addEventListener('submit', changeHold)
  if (peaks) renderWaveform(peaks)
  else document.getElementById('waveform').replaceChildren(el('p', { class: 'status' }, 'Waveform not available yet.'))
  transcript = mountTranscript({
    sid,
    agents: detail.agents,
    seek,
    durationS,
    timeline,
    wavesurfer: () => wavesurfer,
    waveformReady: () => root.dataset.waveformReady === 'true',
  })
  if (!detail.playable) {
    playButton.disabled = true
    document.getElementById('download').disabled = true
    setStatus(`The media is not in the archive (${detail.state}).`)
  } else {
    setStatus('')
  }
  audio.addEventListener('play', () => {
    playButton.textContent = '❚❚ Pause'
    playButton.setAttribute('aria-pressed', 'true')
  })
  audio.addEventListener('pause', () => {
    playButton.textContent = '▶ Play'
    playButton.setAttribute('aria-pressed', 'false')
  })
  audio.addEventListener('timeupdate', () => showTime(audio.currentTime))
  audio.addEventListener('error', () => {
    // An expired link: the next play asks for (and audits) a fresh one.
    mediaReady = null
    setStatus('Playback stopped: the media link failed or expired. Press play to retry.')
  })
  playButton.addEventListener('click', togglePlay)
  document.getElementById('download').addEventListener('click', download)
  for (const button of document.querySelectorAll('.solo [data-solo]')) {
    button.addEventListener('click', () => {
      solo = button.dataset.solo
      applySolo()
    })
  }
  document.getElementById('jump').addEventListener('submit', (event) => {
    event.preventDefault()
    const t = parseClock(document.getElementById('jump-to').value)
    if (Number.isNaN(t)) setStatus('Type a time like 1:05 or 65.')
    else {
      history.replaceState(null, '', `#t=${t}`)
      seek(t)
    }
  })
  window.addEventListener('hashchange', seekFromHash)
  // Keyboard: space plays or pauses, arrows step 5 s (not while typing in a field).
  document.addEventListener('keydown', (event) => {
    if (event.target.closest('input, textarea, select, button') || event.altKey || event.ctrlKey || event.metaKey) return
    if (event.key === ' ') {
      event.preventDefault()
      togglePlay()
    } else if (event.key === 'ArrowLeft' || event.key === 'ArrowRight') {
      event.preventDefault()
      const now = wavesurfer ? wavesurfer.getCurrentTime() : audio.currentTime
      seek(now + (event.key === 'ArrowRight' ? 5 : -5))
    }
  })
  seekFromHash()
  applySolo()
  // Read-only hooks for tests and for debugging in the browser console.
  window.flexrecPlayer = {
    get solo() { return solo },
    gains: () => (audioGraph ? audioGraph.gains.map((g) => g.gain.value) : null),
    channelIndex,
    audio,
    get wavesurfer() { return wavesurfer },
  }
  root.dataset.ready = 'true'
}

main()
