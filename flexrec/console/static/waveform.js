// The archive's stored waveform (flexrec/archive/waveform.py), as the browser receives it
// (inflated): a header, then per channel and bucket one uint8 peak (version 2) or an int8
// max/min pair (version 1, recordings analysed before). No DOM: node's tests import it too.

export const WAVEFORM_HEADER_BYTES = 22
const FULL_LEVEL = { 1: 127, 2: 255 }

/** {duration_s, channels: [Float32Array of max, min, max, min...]} (wavesurfer.js's peaks, as
 * fractions of full scale; a version 2 envelope is mirrored), or null if unreadable. */
export function parseWaveform(buffer) {
  if (buffer.byteLength < WAVEFORM_HEADER_BYTES) return null
  const view = new DataView(buffer)
  const magic = String.fromCharCode(...new Uint8Array(buffer, 0, 4))
  const version = view.getUint8(4)
  if (magic !== 'FXWF' || !(version in FULL_LEVEL)) return null
  const channels = view.getUint8(5)
  const buckets = view.getUint32(12, true)
  const durationMs = view.getUint32(16, true)
  const fullScale = view.getUint16(20, true)
  const perBucket = version === 1 ? 2 : 1
  if (buffer.byteLength !== WAVEFORM_HEADER_BYTES + channels * buckets * perBucket) return null
  const scale = fullScale / FULL_LEVEL[version] / 32768
  const data = []
  if (version === 1) {
    const pairs = new Int8Array(buffer, WAVEFORM_HEADER_BYTES)
    for (let c = 0; c < channels; c++) {
      const out = new Float32Array(buckets * 2)
      const offset = c * buckets * 2
      for (let i = 0; i < out.length; i++) out[i] = pairs[offset + i] * scale
      data.push(out)
    }
  } else {
    const peaks = new Uint8Array(buffer, WAVEFORM_HEADER_BYTES)
    for (let c = 0; c < channels; c++) {
      const out = new Float32Array(buckets * 2)
      const offset = c * buckets
      for (let i = 0; i < buckets; i++) {
        const amplitude = peaks[offset + i] * scale
        out[2 * i] = amplitude
        out[2 * i + 1] = -amplitude
      }
      data.push(out)
    }
  }
  return { duration_s: durationMs / 1000, channels: data }
}
