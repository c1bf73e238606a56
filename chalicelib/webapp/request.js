// The upload page of an upload-request link: whoever holds the link sends files to the link's owner.
// It needs no API key: its routes are authorised by the link's token, taken from this page's address.
// Everything from the API is put in the page with textContent: nothing becomes markup.
(function () {
  'use strict'

  const root = document.documentElement
  const API = root.dataset.apiBase || ''
  const THRESHOLD = Number(root.dataset.multipartThreshold)
  const REQUEST = root.dataset.request ? JSON.parse(root.dataset.request) : null
  const TOKEN = decodeURIComponent(location.pathname.split('/').filter(Boolean).pop() || '')
  const $ = (id) => document.getElementById(id)

  const MESSAGES = {
    upload_request_expired: 'This upload link has expired. Ask its owner for a new one.',
    upload_request_used_up: 'This upload link has received all the files it takes.',
    upload_request_revoked: 'This upload link has been revoked by its owner.',
    upload_request_not_found: 'This upload link does not exist.',
    too_large: 'This file is larger than this link takes.',
    content_type_not_allowed: 'This link does not take files of this type.',
    upload_incomplete: 'Some parts of the upload did not reach storage. Retry the upload.',
    object_exists: 'Other bytes already landed for this file and were not replaced. Upload it again as a new file.',
    conflict: 'The server was busy; retry the upload.',
    service_unavailable: 'The service is unavailable for a moment; retry the upload.',
    network: 'The server could not be reached. Check your connection, then retry.',
  }

  class ApiError extends Error {
    constructor (code, status) {
      super(MESSAGES[code] || `The server refused the upload (HTTP ${status}).`)
      this.code = code
      this.status = status
    }
  }

  async function api (method, path, { query, json, signal } = {}) {
    const params = new URLSearchParams()
    for (const [name, value] of Object.entries(query || {})) {
      if (value !== undefined && value !== null && value !== '') params.set(name, String(value))
    }
    const url = `${API}${path}${params.toString() ? '?' + params : ''}`
    const headers = json === undefined ? {} : { 'Content-Type': 'application/json' }
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
    if (!answer.ok) throw new ApiError(body && body.error ? body.error.code : 'http', answer.status)
    return body
  }

  function sizeText (bytes) {
    if (bytes < 1024) return bytes === 1 ? '1 byte' : `${bytes} bytes`
    const units = ['KiB', 'MiB', 'GiB', 'TiB']
    let value = bytes
    for (const unit of units) {
      value /= 1024
      if (value < 1024 || unit === 'TiB') return `${value.toFixed(1)} ${unit}`
    }
  }

  const base = `/upload-request/${encodeURIComponent(TOKEN)}`
  const uploadPath = (answer) => `${base}/upload/${encodeURIComponent(answer.asset.id)}`

  function uploadQuery (file, { multipart, sha256 }) {
    const query = { name: file.name, size: file.size, content_type: file.type || undefined }
    if (multipart) Object.assign(query, { upload: 'multipart', part_checksums: 'sha256' })
    else Object.assign(query, { upload: 'put', sha256 })
    return query
  }

  function start () {
    if (!REQUEST) return
    if (REQUEST.label) $('label').textContent = REQUEST.label
    const limits = []
    if (REQUEST.files_left !== null) limits.push(`${REQUEST.files_left} more file${REQUEST.files_left === 1 ? '' : 's'}`)
    if (REQUEST.max_size !== null) limits.push(`each at most ${sizeText(REQUEST.max_size)}`)
    if (REQUEST.content_types) limits.push(`of type ${REQUEST.content_types.join(', ')}`)
    limits.push(`until ${new Date(REQUEST.expiry * 1000).toLocaleString()}`)
    $('limits').textContent = `This link takes ${limits.join(', ')}.`
    const uploader = window.assetgateUploader.createUploader({
      id: 'send',
      target: '#send-dashboard',
      multipartThreshold: THRESHOLD,
      note: 'Files go straight to storage and to the person who sent you this link.',
      describeError: (error) => error.message,
      create: (file, wants) => api('POST', base, { query: uploadQuery(file, wants) }),
      restart: (file) => api('POST', base, { query: uploadQuery(file, { multipart: true }) }),
      signParts: (answer, parts, signal) => api('POST', `${uploadPath(answer)}/parts`,
        { query: { version: answer.asset.version }, json: { parts }, signal }),
      complete: (answer, signal) => api('POST', `${uploadPath(answer)}/complete`,
        { query: { version: answer.asset.version }, signal }),
      abort: (answer) => api('DELETE', uploadPath(answer), { query: { version: answer.asset.version } }),
      // A sent file stays the owner's to delete: cancelling gives up a multipart upload only.
      discard: (answer) => answer.upload.method === 'multipart'
        ? api('DELETE', uploadPath(answer), { query: { version: answer.asset.version } }).catch(() => {})
        : null,
      onError: (file, text) => { $('send-error').textContent = `${file.name}: ${text}` },
      onUploaded: (file) => {
        const item = document.createElement('li')
        item.textContent = `${file.name} (${sizeText(file.size)}) was sent.`
        $('sent').append(item)
        $('notice').textContent = `${file.name} was sent.`
      },
    })
    uploader.on('upload', () => { $('send-error').textContent = '' })
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start)
  else start()
})()
