// Card data silenced in a call, in words (the player's marks and the card-data list).

export const SPEAKERS = { customer: 'Customer', agent: 'Agent', mixed: 'Either side' }

/** "Card number and security code read by the customer." for one mark of the API. */
export function whatWasRead(mark) {
  const kinds = mark.kinds.map((k) => k.replaceAll('_', ' '))
  const said = kinds.length > 1 ? `${kinds.slice(0, -1).join(', ')} and ${kinds.at(-1)}` : kinds[0]
  const by = mark.spoken_by.map((r) => (SPEAKERS[r] || r).toLowerCase()).join(' and ')
  return `${said[0].toUpperCase()}${said.slice(1)} read by the ${by}.`
}

/** Where to start listening: a few seconds before the reading. */
export function listenFrom(mark) {
  return Math.max(0, Math.floor(mark.start_ms / 1000) - 3)
}
