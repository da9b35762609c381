// Transcript search: calls where one side said every word of the query (the query lives in the
// URL, so a search can be bookmarked); each hit opens the player where the first word is said.
import { api, base, clock, dash, dateTime, el } from './common.js'

const form = document.getElementById('transcript-search')
const input = document.getElementById('q')
const status = document.getElementById('search-status')
const list = document.getElementById('search-hits')
const WHO = { customer: 'Customer said', agent: 'Agent said', mixed: 'Said' }

/** The query's words as the server reads them: letters, digits and apostrophes, lower case. */
export function queryWords(query) {
  return (query.toLowerCase().match(/[a-z0-9']+/g) || []).map((w) => w.replace(/^'+|'+$/g, '')).filter(Boolean)
}

/** The excerpt as nodes, each word of the query in a <mark> (text only: no HTML is parsed). */
export function highlighted(excerpt, words) {
  const wanted = new Set(words)
  return excerpt.split(/(\s+)/).map((part) => {
    const bare = part.toLowerCase().replace(/[^a-z0-9']/g, '')
    return wanted.has(bare) ? el('mark', {}, part) : part
  })
}

function hit(item, words) {
  const at = item.at_ms == null ? 0 : Math.max(0, Math.floor(item.at_ms / 1000) - 1)
  const href = `${base}/recordings/${item.recording_sid}#t=${at}`
  return el(
    'li',
    { class: 'search-hit', dataset: { recordingSid: item.recording_sid, atMs: item.at_ms ?? '' } },
    el(
      'div',
      { class: 'hit-meta' },
      el('span', {}, dateTime(item.started_at)),
      el('span', {}, item.agent || dash),
      el('span', {}, item.queue || dash),
      el('span', {}, item.direction || dash),
    ),
    el(
      'p',
      { class: 'excerpt' },
      el('span', { class: `hit-who ${item.role || ''}` }, `${WHO[item.role] || 'Said'}: `),
      ...highlighted(item.excerpt, words),
    ),
    el('a', { href, class: 'play-hit' }, item.at_ms == null ? 'Open the call' : `Play from ${clock(at)}`),
  )
}

async function search(query) {
  const words = queryWords(query)
  history.replaceState(null, '', query ? `${location.pathname}?q=${encodeURIComponent(query)}` : location.pathname)
  list.replaceChildren()
  if (!words.length) {
    status.textContent = query ? 'Type words: letters or digits.' : ''
    return
  }
  status.textContent = 'Searching…'
  let found
  try {
    found = await api(`/api/transcripts/search?q=${encodeURIComponent(query)}`)
  } catch (error) {
    status.textContent = `Search failed: ${error.message}`
    return
  }
  const n = found.hits.length
  status.textContent = n
    ? `${n === found.limit ? `The newest ${n}` : n} ${n === 1 ? 'call side says' : 'call sides say'} “${words.join(' ')}”.`
    : `No call you may listen to has “${words.join(' ')}” said on one side.`
  list.replaceChildren(...found.hits.map((item) => hit(item, words)))
  document.body.dataset.searched = 'true'
}

form.addEventListener('submit', (event) => {
  event.preventDefault()
  search(input.value.trim())
})
const initial = new URLSearchParams(location.search).get('q') || ''
input.value = initial
if (initial) search(initial)
