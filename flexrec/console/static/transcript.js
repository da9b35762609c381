// The transcript beside the player: what each side said, in order; a click on a word plays from
// it, the word being said is highlighted while playing; card data silenced in the call is a
// marker in the text, a mark above the player, a lane on the timeline and a region on the
// waveform. Reads /api/recordings/{RE}/transcript (no digit of card data is ever in it).
import RegionsPlugin from './vendor/wavesurfer/plugins/regions.esm.js'
import { listenFrom, SPEAKERS, whatWasRead } from './card-marks.js'
import { api, clock, el } from './common.js'

const UTTERANCE_GAP_MS = 1500 // a longer silence on one side starts a new line
const LINGER_MS = 250 // a word stays highlighted this long after it ends (the gap to the next)

/** Lines of speech: a channel's words split at silences, all channels merged in time order. */
export function utterances(channels) {
  const lines = []
  for (const { channel, role, words } of channels) {
    let line = null
    for (const [word, start, end] of words) {
      if (!line || start - line.end > UTTERANCE_GAP_MS) {
        line = { channel, role, start, end, words: [] }
        lines.push(line)
      }
      line.words.push({ word, start, end })
      line.end = Math.max(line.end, end)
    }
  }
  return lines.sort((a, b) => a.start - b.start || a.channel - b.channel)
}

/** The last entry of `items` (sorted by start) starting at or before `ms`, else -1. */
export function lastStartedBy(items, ms) {
  let lo = 0
  let hi = items.length - 1
  let found = -1
  while (lo <= hi) {
    const mid = (lo + hi) >> 1
    if (items[mid].start <= ms) {
      found = mid
      lo = mid + 1
    } else hi = mid - 1
  }
  return found
}

function wordNode(w) {
  const marker = w.word.startsWith('[')
  if (marker) {
    const what = w.word.slice(1, -1)
    return el('mark', {
      class: 'word silenced-word',
      title: `${what} silenced in the recording ${clock(w.start / 1000)}–${clock(w.end / 1000)}`,
      dataset: { startMs: w.start, endMs: w.end },
    }, `${what} silenced`)
  }
  return el('span', { class: 'word', dataset: { startMs: w.start, endMs: w.end } }, w.word)
}

// After a transfer the agent channel carries whoever was on the call: name them.
function speakerName(line, agents) {
  if (line.role !== 'agent' || (agents || []).length < 2) return SPEAKERS[line.role] || line.role
  const on = agents.filter((a) => a.start_ms <= line.start && (a.end_ms == null || line.start < a.end_ms))
  return on.length ? on.at(-1).name : SPEAKERS.agent
}

function renderLines(list, lines, agents) {
  const index = new Map() // channel -> [{start, end, node, li}]
  const items = lines.map((line) => {
    const words = []
    line.words.forEach((w, i) => {
      const node = wordNode(w)
      words.push(node)
      if (i < line.words.length - 1) words.push(' ')
    })
    const seconds = Math.floor(line.start / 100) / 10
    const li = el(
      'li',
      { class: `line line-${line.role}`, dataset: { channel: line.channel, startMs: line.start } },
      el('span', { class: 'speaker' }, speakerName(line, agents)),
      el('a', { class: 'at', href: `#t=${seconds}`, title: `Play from ${clock(line.start / 1000)}` }, clock(line.start / 1000)),
      el('span', { class: 'said' }, ...words),
    )
    const entries = index.get(line.channel) || []
    for (const node of li.querySelectorAll('.word')) {
      entries.push({ start: Number(node.dataset.startMs), end: Number(node.dataset.endMs), node, li })
    }
    index.set(line.channel, entries)
    return li
  })
  list.replaceChildren(...items)
  for (const entries of index.values()) entries.sort((a, b) => a.start - b.start)
  return index
}

function renderMarks(box, marks) {
  box.hidden = marks.length === 0
  if (!marks.length) return
  const items = marks.map((mark) => {
    const from = listenFrom(mark)
    return el(
      'li',
      { class: 'card-mark', dataset: { startMs: mark.start_ms, endMs: mark.end_ms } },
      el('strong', { class: 'mark-text' }, `${mark.text}.`),
      ' ',
      el('span', { class: 'mark-detail' }, whatWasRead(mark)),
      ' ',
      el('a', { href: `#t=${from}` }, `Listen from ${clock(from)}`),
    )
  })
  box.replaceChildren(
    el('h2', {}, marks.length > 1 ? `Card data spoken while recording (${marks.length} times)` : 'Card data spoken while recording'),
    el('ul', {}, ...items),
    el('p', { class: 'hint' }, 'Silenced in the archived audio and left out of the transcript before anything was kept: no digit was stored. The agent should pause the recording before card details are read.'),
  )
}

function renderSilencedLane(timeline, spans, durationS) {
  const lane = timeline.querySelector('.lane[data-lane="silenced"]')
  const legend = document.querySelector('.legend-silenced')
  if (!lane) return
  lane.hidden = spans.length === 0
  if (legend) legend.hidden = lane.hidden
  const track = lane.querySelector('.lane-track')
  const pct = (ms) => `${(100 * ms) / 1000 / durationS}%`
  track.replaceChildren(
    ...spans.map(([a, b]) =>
      el('div', {
        class: 'seg seg-silenced',
        style: `left:${pct(a)};width:${pct(Math.max(0, b - a))}`,
        title: `Card data silenced ${clock(a / 1000)}–${clock(b / 1000)}`,
        dataset: { startMs: a, endMs: b },
      }),
    ),
  )
}

function addRegions(wavesurfer, spans, ready) {
  if (!wavesurfer || !spans.length) return
  const regions = wavesurfer.registerPlugin(RegionsPlugin.create())
  const add = () => {
    for (const [a, b] of spans) {
      regions.addRegion({
        start: a / 1000,
        end: b / 1000,
        color: 'rgba(220, 38, 38, 0.18)',
        drag: false,
        resize: false,
        content: 'card data silenced',
        id: `silenced-${a}`,
      })
    }
  }
  if (ready()) add()
  else wavesurfer.once('ready', add)
}

/**
 * Show the call's transcript and card marks; returns {highlight(seconds)} for the player's clock.
 * `agents`: the call's agents with their spans (the player's detail); `seek(seconds)` moves
 * playback; `wavesurfer()` and `waveformReady()` read the player's state.
 */
export function mountTranscript({ sid, agents, seek, durationS, timeline, wavesurfer, waveformReady }) {
  const panel = document.getElementById('transcript')
  const list = document.getElementById('transcript-lines')
  const status = document.getElementById('transcript-status')
  const follow = document.getElementById('transcript-follow')
  let index = new Map()
  let current = []

  list.addEventListener('click', (event) => {
    const word = event.target.closest('.word')
    if (!word) return
    seek(Number(word.dataset.startMs) / 1000)
  })

  function highlight(seconds) {
    const ms = seconds * 1000
    const now = []
    for (const entries of index.values()) {
      const i = lastStartedBy(entries, ms)
      if (i >= 0 && ms < entries[i].end + LINGER_MS) now.push(entries[i])
    }
    if (now.length === current.length && now.every((e, i) => e === current[i])) return
    for (const e of current) {
      e.node.classList.remove('current')
      e.li.classList.remove('speaking')
    }
    for (const e of now) {
      e.node.classList.add('current')
      e.li.classList.add('speaking')
    }
    current = now
    panel.dataset.currentWord = now.map((e) => e.node.dataset.startMs).join(',')
    const first = now[0]
    if (first && follow.checked) {
      // Scroll the panel alone (scrollIntoView would move the page under the player too).
      const top = first.li.offsetTop - list.offsetTop
      if (top < list.scrollTop || top + first.li.offsetHeight > list.scrollTop + list.clientHeight) {
        list.scrollTop = Math.max(0, top - list.clientHeight / 3)
      }
    }
  }

  async function load() {
    let view
    try {
      view = await api(`/api/recordings/${sid}/transcript`)
    } catch (error) {
      status.textContent = `Cannot load the transcript: ${error.message}`
      return
    }
    renderMarks(document.getElementById('card-marks'), view.card_data)
    renderSilencedLane(timeline, view.silenced, durationS)
    addRegions(wavesurfer(), view.silenced, waveformReady)
    if (!view.checked) {
      status.textContent = 'No transcript: card-data checking (FLEXREC_CARD_DATA) was off when this call was archived.'
      panel.dataset.ready = 'true'
      return
    }
    const lines = utterances(view.channels)
    index = renderLines(list, lines, agents)
    const words = lines.reduce((n, line) => n + line.words.length, 0)
    status.textContent = words
      ? `${words} words, transcribed by ${view.engine} on flexrec's own machines.`
      : `Nothing was said that ${view.engine} could make out.`
    panel.dataset.ready = 'true'
  }

  load()
  return { highlight }
}
