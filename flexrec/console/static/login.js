// Flex token sign-in: posts the token as JSON, then goes where the password form would.
import { base } from './common.js'

const form = document.getElementById('flex-login')
const errorBox = document.getElementById('login-error')

form?.addEventListener('submit', async (event) => {
  event.preventDefault()
  errorBox.textContent = ''
  const token = document.getElementById('flex-token').value.trim()
  const response = await fetch(`${base}/login/flex`, {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
    body: JSON.stringify({ token }),
  })
  if (response.ok) {
    window.location.assign(form.dataset.next || `${base}/`)
    return
  }
  const data = await response.json().catch(() => ({}))
  errorBox.textContent = data.detail || data.message || 'Flex sign-in failed.'
})
