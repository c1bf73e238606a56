// assetgate's owner app: sign in with an API key, upload and share, list and manage assets.
// Every name, link and message is put in the page with textContent: nothing from the API becomes markup.
(function () {
  'use strict'

  const root = document.documentElement
  const API = root.dataset.apiBase || ''
  const THRESHOLD = Number(root.dataset.multipartThreshold)
  const KEY_STORE = 'assetgate.apiKey'
  const LINK_STORE = 'assetgate.links' // token id -> share URL, for links minted in this tab
  const PAGE_SIZE = 10

  const EXPIRY_CHOICES = [['60', '1 hour'], ['1440', '1 day'], ['10080', '7 days'], ['43200', '30 days']]
  const USES_CHOICES = [['', 'Unlimited'], ['1', '1 download'], ['5', '5 downloads'], ['10', '10 downloads'], ['100', '100 downloads']]

  // Every error code of the API as a sentence an owner can act on.
  const MESSAGES = {
    invalid_parameter: 'The server refused a value this page sent.',
    too_large: 'This file is larger than this assetgate accepts.',
    unknown_parameter: 'The server does not know a setting this page sent. Reload the page and try again.',
    invalid_body: 'The server could not read the request. Reload the page and try again.',
    file_not_accepted: 'The server could not read the request. Reload the page and try again.',
    unsupported_media_type: 'The server could not read the request. Reload the page and try again.',
    unauthorized: 'This API key was not accepted. Check that you pasted all of it, or ask for a new key.',
    asset_not_found: 'This asset does not exist any more. It may have been deleted.',
    token_not_found: 'This link does not exist, or belongs to another asset or owner.',
    version_not_found: 'This asset has no such version.',
    upload_pending: 'The file has not finished uploading yet, so there is nothing to download.',
    upload_incomplete: 'Some parts of the upload did not reach storage. Retry the upload.',
    object_exists: 'Other bytes already landed for this file and were not replaced. Upload it again as a new file.',
    conflict: 'Another change to this asset happened at the same time. Reload and try again.',
    token_revoked: 'This link was revoked.',
    token_expired: 'This link has expired.',
    token_used_up: 'This link has been used as often as it allows.',
    upload_aborted: 'This upload was cancelled, so its file will never arrive.',
    service_unavailable: 'assetgate cannot reach its storage right now. Try again in a minute.',
    route_not_found: 'The server does not know this request. Reload the page.',
    request_too_large: 'The request was too large for the server.',
    throttled: 'Too many requests right now. Wait a moment and try again.',
  }

  class ApiError extends Error {
    constructor (code, status, detail) {
      super(describe(code, status, detail))
      this.code = code
      this.status = status
    }
  }

  function describe (code, status, detail) {
    if (code === 'network') return 'The server could not be reached. Check your connection and try again.'
    let sentence = MESSAGES[code] || `The server answered with an unexpected error (HTTP ${status}). Try again.`
    if (code === 'invalid_parameter' && detail && detail.parameter) sentence += ` (It concerns “${detail.parameter}”.)`
    return sentence
  }

  function describeError (error) {
    if (error instanceof ApiError) return error.message
    if (error && error.name === 'AbortError') return 'The request was cancelled.'
    return 'Something went wrong in this page. Reload it and try again.'
  }

  // --- the API ---------------------------------------------------------------------------------

  function apiKey () { return sessionStorage.getItem(KEY_STORE) }

  async function api (method, path, { query, json, signal, key } = {}) {
    const params = new URLSearchParams()
    for (const [name, value] of Object.entries(query || {})) {
      if (value !== undefined && value !== null && value !== '') params.set(name, String(value))
    }
    const url = `${API}${path}${params.toString() ? '?' + params : ''}`
    const headers = { Authorization: `Bearer ${key || apiKey()}` }
    if (json !== undefined) headers['Content-Type'] = 'application/json'
    let answer
    try {
      answer = await fetch(url, { method, headers, body: json === undefined ? undefined : JSON.stringify(json),
        signal, cache: 'no-store', credentials: 'omit', referrerPolicy: 'no-referrer' })
    } catch (error) {
      if (error && error.name === 'AbortError') throw error
      throw new ApiError('network', 0)
    }
    if (answer.status === 204) return null
    let body = null
    try { body = await answer.json() } catch (_) { body = null }
    if (!answer.ok) {
      const err = body && body.error ? body.error : {}
      if (answer.status === 401 && !key) signOut(describe('unauthorized'))
      throw new ApiError(err.code || 'http', answer.status, err)
    }
    return body
  }

  const assetPath = (id) => `/asset/${encodeURIComponent(id)}`
  function tokenOf (url) {
    const match = new URL(url, location.href).pathname.match(/\/asset-token\/([^/]+)$/)
    return match ? decodeURIComponent(match[1]) : null
  }

  async function tokenId (token) {
    const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(token))
    return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('').slice(0, 16)
  }

  async function rememberLink (token) {
    const links = JSON.parse(sessionStorage.getItem(LINK_STORE) || '{}')
    links[await tokenId(token.token)] = token.url
    sessionStorage.setItem(LINK_STORE, JSON.stringify(links))
  }

  function knownLink (id) { return JSON.parse(sessionStorage.getItem(LINK_STORE) || '{}')[id] || null }

  // --- small DOM helpers -----------------------------------------------------------------------

  const $ = (id) => document.getElementById(id)

  function el (tag, props = {}, ...children) {
    const node = document.createElement(tag)
    for (const [name, value] of Object.entries(props)) {
      if (name === 'text') node.textContent = value
      else if (name === 'class') node.className = value
      else if (name.startsWith('on')) node.addEventListener(name.slice(2), value)
      else if (value !== undefined && value !== null && value !== false) node.setAttribute(name, value === true ? '' : value)
    }
    for (const child of children) if (child) node.append(child)
    return node
  }

  function say (id, text) { $(id).textContent = text || '' }
  function notice (text) { say('notice', text) }

  function bytes (n) {
    if (n === null || n === undefined) return '—'
    const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB']
    let i = 0
    let v = n
    while (v >= 1024 && i < units.length - 1) { v /= 1024; i++ }
    if (i === 0) return n === 1 ? '1 byte' : `${n} bytes`
    return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`
  }

  const when = (seconds) => (seconds ? new Date(seconds * 1000).toLocaleString() : '—')

  function fillChoices () {
    for (const select of document.querySelectorAll('select.expiry')) {
      for (const [value, label] of EXPIRY_CHOICES) select.append(el('option', { value, text: label }))
      select.value = '1440'
    }
    for (const select of document.querySelectorAll('select.max-uses')) {
      for (const [value, label] of USES_CHOICES) select.append(el('option', { value, text: label }))
    }
  }

  function copyButton (input) {
    return el('button', {
      type: 'button',
      class: 'copy',
      text: 'Copy',
      'aria-label': 'Copy link',
      onclick: async (event) => {
        const button = event.currentTarget
        try {
          await navigator.clipboard.writeText(input.value)
        } catch (_) {
          input.select()
          document.execCommand('copy')
        }
        button.textContent = 'Copied'
        setTimeout(() => { button.textContent = 'Copy' }, 2000)
      },
    })
  }

  function shareItem (name, url, extra) {
    const input = el('input', { type: 'text', readonly: true, value: url, class: 'link', 'aria-label': `Share link for ${name}` })
    return el('li', { class: 'share' },
      el('span', { class: 'name', text: name }),
      extra ? el('span', { class: 'hint', text: extra }) : null,
      el('div', { class: 'row link-row' }, input, copyButton(input)))
  }

  function choiceText (expirySelect, usesSelect) {
    const expiry = expirySelect.selectedOptions[0].textContent
    const uses = usesSelect.selectedOptions[0].textContent.toLowerCase()
    return `Expires after ${expiry}; ${uses}.`
  }

  // --- sign in / out ---------------------------------------------------------------------------

  async function signIn (event) {
    event.preventDefault()
    const key = $('api-key').value.trim()
    say('sign-in-error', '')
    if (!key) { say('sign-in-error', 'Paste your API key first.'); $('api-key').focus(); return }
    try {
      await api('GET', '/asset', { query: { limit: 1 }, key })
    } catch (error) {
      say('sign-in-error', describeError(error))
      $('api-key').focus()
      return
    }
    sessionStorage.setItem(KEY_STORE, key)
    $('api-key').value = ''
    showWorkspace()
  }

  function signOut (why) {
    // Cancel running uploads first: their clean-up requests still carry the key.
    for (const uppy of [uploader, versionUploader]) if (uppy) uppy.cancelAll()
    if (versionUploader) { versionUploader.destroy(); versionUploader = null }
    sessionStorage.removeItem(KEY_STORE)
    sessionStorage.removeItem(LINK_STORE)
    $('shares').replaceChildren()
    $('shares-title').hidden = true
    $('asset-rows').replaceChildren()
    $('who').hidden = true
    $('workspace').hidden = true
    $('asset').hidden = true
    $('sign-in').hidden = false
    say('sign-in-error', typeof why === 'string' ? why : '')
    notice(typeof why === 'string' ? '' : 'Signed out. The API key was removed from this tab.')
    $('api-key').focus()
  }

  function showWorkspace () {
    $('sign-in').hidden = true
    $('who').hidden = false
    $('asset').hidden = true
    $('workspace').hidden = false
    notice('')
    ensureUploader()
    loadPage(0)
    $('main').focus()
  }

  // --- upload ----------------------------------------------------------------------------------

  let uploader = null
  let versionUploader = null
  const shareChoices = new Map() // token -> the expiry and limit chosen when it was minted, as text

  function shareQuery (expirySelect, usesSelect) {
    return { token: 'true', expiry: expirySelect.value, max_uses: usesSelect.value }
  }

  function uploadQuery (file, { multipart, sha256 }) {
    const query = { size: file.size, content_type: file.type || undefined }
    if (multipart) Object.assign(query, { upload: 'multipart', part_checksums: 'sha256' })
    else Object.assign(query, { upload: 'put', sha256 })
    return query
  }

  const uploadCallbacks = {
    multipartThreshold: THRESHOLD,
    describeError,
    signParts: (answer, parts, signal) => api('POST', `${assetPath(answer.asset.id)}/upload/parts`,
      { query: { version: answer.asset.version }, json: { parts }, signal }),
    complete: (answer, signal) => api('POST', `${assetPath(answer.asset.id)}/upload/complete`,
      { query: { version: answer.asset.version }, signal }),
    abort: (answer) => api('DELETE', `${assetPath(answer.asset.id)}/upload`, { query: { version: answer.asset.version } }),
  }

  function newVersion (id, file, wants, withToken) {
    return api('POST', `${assetPath(id)}/version`, {
      query: { ...uploadQuery(file, wants), ...(withToken ? shareQuery($('upload-expiry'), $('upload-max-uses')) : {}) } })
  }

  function ensureUploader () {
    if (uploader) return
    uploader = window.assetgateUploader.createUploader({
      ...uploadCallbacks,
      id: 'upload',
      target: '#upload-dashboard',
      note: 'Files go straight to storage. Each gets its own share link.',
      create: async (file, wants) => {
        const answer = await api('POST', '/asset', {
          query: { name: file.name, ...uploadQuery(file, wants), ...shareQuery($('upload-expiry'), $('upload-max-uses')) } })
        if (answer.token) shareChoices.set(answer.token.token, choiceText($('upload-expiry'), $('upload-max-uses')))
        reloadSoon()
        return answer
      },
      // A retry after a failed multipart upload goes on as a new version of the same asset; its link follows it.
      restart: (file, answer) => newVersion(answer.asset.id, file, { multipart: true }, false),
      discard: (answer) => api('DELETE', assetPath(answer.asset.id)),
      onError: (file, text) => say('upload-error', `${file.name}: ${text}`),
      onUploaded: async (file, answer) => {
        $('shares-title').hidden = false
        if (answer.token) {
          await rememberLink(answer.token)
          $('shares').prepend(shareItem(file.name, answer.token.url, shareChoices.get(answer.token.token)))
        }
        notice(`${file.name} is uploaded.`)
        reloadSoon()
      },
    })
    uploader.on('upload', () => say('upload-error', ''))
  }

  // --- asset list ------------------------------------------------------------------------------

  const cursors = [null] // cursors[i] opens page i
  let pageIndex = 0
  let reloadTimer = null

  // Several uploads finishing together reload the list once.
  function reloadSoon () {
    clearTimeout(reloadTimer)
    reloadTimer = setTimeout(() => loadPage(pageIndex), 250)
  }

  async function loadPage (index) {
    say('assets-error', '')
    let page
    try {
      page = await api('GET', '/asset', { query: { limit: PAGE_SIZE, cursor: cursors[index] } })
    } catch (error) {
      say('assets-error', describeError(error))
      return
    }
    pageIndex = index
    cursors[index + 1] = page.next
    const metas = await Promise.all(page.assets.map((asset) =>
      api('GET', `${assetPath(asset.id)}/meta`).catch(() => null)))
    const rows = page.assets.map((asset, i) => assetRow(asset, metas[i]))
    $('asset-rows').replaceChildren(...rows)
    $('assets-empty').hidden = rows.length > 0 || index > 0
    $('page-label').textContent = `Page ${index + 1}`
    $('page-newer').disabled = index === 0
    $('page-older').disabled = !page.next
  }

  function assetRow (asset, meta) {
    const open = el('button', { type: 'button', class: 'link-button name', text: asset.name,
      onclick: () => openAsset(asset.id) })
    const status = meta ? meta.asset.status : asset.status
    return el('tr', { 'data-asset-id': asset.id },
      el('th', { scope: 'row' }, open),
      el('td', { 'data-label': 'Size', text: bytes(meta ? meta.asset.size : asset.size) }),
      el('td', { 'data-label': 'Status' }, el('span', { class: `badge ${status}`, text: status })),
      el('td', { 'data-label': 'Created', text: meta ? when(meta.asset.created) : '—' }),
      el('td', { 'data-label': 'Versions', text: meta ? String(meta.versions.length) : '—' }),
      el('td', { 'data-label': 'Links', text: meta ? String(meta.tokens.length) : '—' }))
  }

  // --- one asset -------------------------------------------------------------------------------

  let current = null // the open asset's meta

  async function openAsset (id) {
    say('asset-error', '')
    notice('')
    $('minted').replaceChildren()
    $('confirm-delete').hidden = true
    let meta
    try {
      meta = await api('GET', `${assetPath(id)}/meta`)
    } catch (error) {
      say('assets-error', describeError(error))
      return
    }
    $('workspace').hidden = true
    $('asset').hidden = false
    renderAsset(meta)
    ensureVersionUploader(id)
    $('asset-title').setAttribute('tabindex', '-1')
    $('asset-title').focus()
  }

  async function reloadAsset () {
    try {
      renderAsset(await api('GET', `${assetPath(current.asset.id)}/meta`))
    } catch (error) {
      say('asset-error', describeError(error))
    }
  }

  function renderAsset (meta) {
    current = meta
    const a = meta.asset
    $('asset-title').textContent = a.name
    const facts = [['Size', bytes(a.size)], ['Status', a.status], ['Type', a.content_type], ['Created', when(a.created)],
      ['Versions', meta.versions.map((v) => `${v.version} (${v.status})`).join(', ') || '—']]
    $('asset-facts').replaceChildren(...facts.flatMap(([term, value]) => [el('dt', { text: term }), el('dd', { text: value })]))
    const rows = meta.tokens.map(linkRow)
    $('link-rows').replaceChildren(...rows)
    $('links-empty').hidden = rows.length > 0
  }

  function linkState (t) {
    if (t.revoked) return 'revoked'
    if (t.expired) return 'expired'
    if (t.max_uses !== null && t.uses >= t.max_uses) return 'used up'
    return 'active'
  }

  function linkRow (t) {
    const url = knownLink(t.id)
    const state = linkState(t)
    let linkCell
    if (url) {
      const input = el('input', { type: 'text', readonly: true, value: url, class: 'link', 'aria-label': `Share link ${t.id}` })
      linkCell = el('div', { class: 'row link-row' }, input, copyButton(input))
    } else {
      linkCell = el('span', { class: 'mono', text: `${t.id}…`, title: 'Created elsewhere: only its id is known here' })
    }
    const revoke = state !== 'revoked'
      ? el('button', { type: 'button', class: 'danger small', text: 'Revoke', 'aria-label': `Revoke link ${t.id}`,
        onclick: () => revokeListed(t.id) })
      : null
    return el('tr', { 'data-token-id': t.id },
      el('td', { 'data-label': 'Link' }, linkCell),
      el('td', { 'data-label': 'Created', text: when(t.created) }),
      el('td', { 'data-label': 'Expires', text: when(t.expiry) }),
      el('td', { 'data-label': 'Uses', text: t.max_uses === null ? `${t.uses} of unlimited` : `${t.uses} of ${t.max_uses}` }),
      el('td', { 'data-label': 'State' }, el('span', { class: `badge ${state.replace(' ', '-')}`, text: state })),
      el('td', {}, revoke))
  }

  // Any listed link, by the id the listing shows: the owner never sees a token again after minting it.
  async function revokeListed (tokenId) {
    say('asset-error', '')
    try {
      await api('DELETE', `${assetPath(current.asset.id)}/tokens/${encodeURIComponent(tokenId)}`)
    } catch (error) {
      say('asset-error', describeError(error))
      return
    }
    notice('The link is revoked. It now answers “revoked” to anyone who opens it.')
    await reloadAsset()
  }

  async function revokeLink (url) {
    say('asset-error', '')
    let token
    try { token = tokenOf(url) } catch (_) { say('asset-error', 'That is not a share link.'); return }
    if (!token) { say('asset-error', 'That is not a share link.'); return }
    try {
      await api('DELETE', `/asset-token/${encodeURIComponent(token)}`)
    } catch (error) {
      say('asset-error', describeError(error))
      return
    }
    notice('The link is revoked. It now answers “revoked” to anyone who opens it.')
    $('revoke-link').value = ''
    await reloadAsset()
  }

  async function mintLink (event) {
    event.preventDefault()
    say('asset-error', '')
    try {
      const token = await api('POST', `${assetPath(current.asset.id)}/token`,
        { query: { expiry: $('mint-expiry').value, max_uses: $('mint-max-uses').value } })
      await rememberLink(token)
      $('minted').prepend(shareItem(current.asset.name, token.url, choiceText($('mint-expiry'), $('mint-max-uses'))))
      notice('New link created.')
      await reloadAsset()
    } catch (error) {
      say('asset-error', describeError(error))
    }
  }

  async function download () {
    say('asset-error', '')
    // The route answers with a redirect to a short-lived storage URL. fetch follows it (dropping the
    // API key, as it leaves the origin) and tells the final URL; the browser then downloads from there.
    const controller = new AbortController()
    try {
      const answer = await fetch(`${API}${assetPath(current.asset.id)}`, {
        headers: { Authorization: `Bearer ${apiKey()}` }, cache: 'no-store', signal: controller.signal })
      if (!answer.ok) {
        let body = null
        try { body = await answer.json() } catch (_) { body = null }
        const err = body && body.error ? body.error : {}
        throw new ApiError(err.code || 'http', answer.status, err)
      }
      const url = answer.url
      controller.abort()
      location.assign(url)
    } catch (error) {
      say('asset-error', error instanceof TypeError ? describe('network') : describeError(error))
    }
  }

  function askDelete () {
    $('confirm-text').textContent = `Delete “${current.asset.name}”, all its versions and all its links? Anyone holding a link loses access. This cannot be undone.`
    $('confirm-delete').hidden = false
    $('delete-no').focus()
  }

  async function deleteAsset () {
    say('asset-error', '')
    const { id, name } = current.asset
    try {
      await api('DELETE', assetPath(id))
    } catch (error) {
      say('asset-error', describeError(error))
      return
    }
    notice(`“${name}” was deleted.`)
    backToList()
  }

  function ensureVersionUploader (id) {
    if (versionUploader) { versionUploader.cancelAll(); versionUploader.destroy() }
    versionUploader = window.assetgateUploader.createUploader({
      ...uploadCallbacks,
      id: 'version',
      target: '#version-dashboard',
      height: 260,
      note: 'The new file becomes the latest version of this asset.',
      create: (file, wants) => newVersion(id, file, wants, false),
      restart: (file) => newVersion(id, file, { multipart: true }, false),
      // A cancelled version stays in the history as aborted; the asset and its links stay.
      discard: (answer) => answer.upload.method === 'multipart' ? uploadCallbacks.abort(answer).catch(() => {}) : null,
      onUploaded: (file) => { notice(`A new version of “${current.asset.name}” is uploaded.`); reloadAsset() },
      onError: (file, text) => say('asset-error', `${file.name}: ${text}`),
    })
  }

  function backToList () {
    if (versionUploader) { versionUploader.cancelAll(); versionUploader.destroy(); versionUploader = null }
    current = null
    $('asset').hidden = true
    $('workspace').hidden = false
    loadPage(pageIndex)
    $('assets-title').setAttribute('tabindex', '-1')
    $('assets-title').focus()
  }

  // --- start -----------------------------------------------------------------------------------

  function start () {
    fillChoices()
    $('sign-in-form').addEventListener('submit', signIn)
    $('sign-out').addEventListener('click', () => signOut())
    $('refresh').addEventListener('click', () => loadPage(pageIndex))
    $('page-newer').addEventListener('click', () => loadPage(pageIndex - 1))
    $('page-older').addEventListener('click', () => loadPage(pageIndex + 1))
    $('back').addEventListener('click', backToList)
    $('mint-form').addEventListener('submit', mintLink)
    $('revoke-form').addEventListener('submit', (event) => { event.preventDefault(); revokeLink($('revoke-link').value.trim()) })
    $('download').addEventListener('click', download)
    $('delete').addEventListener('click', askDelete)
    $('delete-no').addEventListener('click', () => { $('confirm-delete').hidden = true; $('delete').focus() })
    $('delete-yes').addEventListener('click', deleteAsset)
    if (apiKey()) showWorkspace()
    else $('api-key').focus()
  }

  start()
})()
