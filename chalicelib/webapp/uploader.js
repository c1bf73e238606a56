// assetgate's upload engine: Uppy's Dashboard and S3 uploader wired to an assetgate "create" answer.
// Reusable: a page passes callbacks that talk to its own routes (the owner app creates assets and
// versions; a page for upload-request links would create through its link), and gets Uppy back.
//
//   const uppy = window.assetgateUploader.createUploader({
//     target, multipartThreshold, note,
//     create(file, {multipart, sha256})  -> create answer {asset, upload, token}
//     restart(file, answer)              -> a new create answer after the previous upload was aborted
//     signParts(answer, [{part_number, sha256}], signal) -> {parts: [{part_number, url, headers}]}
//     complete(answer, signal)           -> anything
//     abort(answer)                      -> anything (the multipart upload is given up)
//     discard(answer)                    -> anything (the user cancelled: remove what create made)
//     onUploaded(file, answer)           -> called once per file that landed
//     onError(file, sentence)            -> an upload failed; the sentence says what to do
//     describeError(error)               -> a plain sentence for an error thrown by a callback
//   })
(function () {
  'use strict'

  const { Uppy, Dashboard, AwsS3 } = window.AssetgateVendor

  function toBase64 (buffer) {
    let text = ''
    for (const byte of new Uint8Array(buffer)) text += String.fromCharCode(byte)
    return btoa(text)
  }

  async function sha256 (blob) {
    return toBase64(await crypto.subtle.digest('SHA-256', await blob.arrayBuffer()))
  }

  // Browsers set Content-Length themselves and refuse to be told it; S3 still checks the signed value.
  function sendable (headers) {
    const out = {}
    for (const [name, value] of Object.entries(headers || {})) {
      if (name.toLowerCase() !== 'content-length') out[name] = value
    }
    return out
  }

  function plainError (callbacks, error) {
    const wrapped = new Error(callbacks.describeError ? callbacks.describeError(error) : String(error.message || error))
    wrapped.cause = error
    wrapped.isPlain = true
    return wrapped
  }

  // Errors Uppy's own storage requests end with, as sentences; the callbacks' errors are sentences already.
  function sentence (error) {
    if (!error) return 'The upload failed. Retry it.'
    if (error.isPlain) return error.message
    const status = error.source && error.source.status
    if (error.message === 'Request has expired') return 'The upload link expired. Remove the file and add it again.'
    // Only when the create answer offered no check of what landed (see confirmLanded).
    if (status === 412) return 'Storage already holds bytes for this upload and kept them. Check the asset before uploading it again.'
    if (status) return `Storage refused the upload (HTTP ${status}). Retry it, or remove the file and add it again.`
    return 'The upload could not reach storage. Check your connection, then retry.'
  }

  const CHECK_DELAYS = [0, 1000, 3000]

  function refusal (message) {
    const error = new Error(message)
    error.isPlain = true
    return error
  }

  // Uploads are create-only: when a PUT landed but its answer was lost, the retry gets 412. HEAD the
  // object through the create answer's check (length and the SHA-256 S3 stored, never the bytes) and
  // carry on only if it holds what this page sent; resolves to the object's ETag.
  async function confirmLanded (check, size, digest, signal) {
    let problem = ''
    for (const delay of CHECK_DELAYS) {
      if (delay) await new Promise((resolve) => setTimeout(resolve, delay))
      let answer
      try {
        answer = await fetch(check.url, { method: 'HEAD', headers: check.headers || {}, cache: 'no-store', signal })
      } catch (error) {
        if (signal && signal.aborted) throw error
        problem = 'storage could not be reached'
        continue
      }
      if (answer.status !== 200) {
        problem = `HTTP ${answer.status}`
        continue
      }
      const length = answer.headers.get('Content-Length')
      const stored = answer.headers.get('x-amz-checksum-sha256')
      if (length === String(size) && stored === digest) return answer.headers.get('ETag') || ''
      throw refusal('Storage already holds other bytes for this upload and kept them; this file was not stored. Remove it and add it again.')
    }
    throw refusal(`Storage says this upload is already done, and checking what it holds failed (${problem}). Retry.`)
  }

  function createUploader (callbacks) {
    // Per file: the create answer, the parts S3 acknowledged (for resume) and where the upload stands.
    const uploads = new Map()
    // Uppy asks for the chunk size with the file's Blob only, before it starts the multipart upload.
    const partSizes = new WeakMap()
    const threshold = callbacks.multipartThreshold
    // Single PUTs by URL: Uppy hands uploadPartBytes the signed request, not the file it is for.
    const singles = new Map()

    const uppy = new Uppy({ id: callbacks.id || 'uploader', autoProceed: false, allowMultipleUploadBatches: true })

    uppy.use(Dashboard, {
      inline: true,
      target: callbacks.target,
      width: '100%',
      height: callbacks.height || 340,
      proudlyDisplayPoweredByUppy: false,
      showProgressDetails: true,
      hideRetryButton: false,
      hidePauseResumeButton: false,
      hideCancelButton: false,
      showRemoveButtonAfterComplete: false,
      disableThumbnailGenerator: true,
      note: callbacks.note || null,
      theme: 'light',
    })

    // Create the asset (or version) before Uppy splits the file: the server decides the part size.
    uppy.addPreProcessor(async (fileIDs) => {
      await Promise.all(fileIDs.map(async (id) => {
        const file = uppy.getFile(id)
        if (!file || uploads.has(id)) return
        const multipart = file.size > threshold
        try {
          uppy.emit('preprocess-progress', file, { mode: 'indeterminate', message: multipart ? 'Starting…' : 'Computing checksum…' })
          const digest = multipart ? null : await sha256(file.data)
          const answer = await callbacks.create(file, { multipart, sha256: digest })
          uploads.set(id, { answer, digest, parts: new Map(), aborted: false, started: false, done: false })
          if (multipart) partSizes.set(file.data, answer.upload.part_size)
          uppy.emit('preprocess-complete', uppy.getFile(id))
        } catch (error) {
          uppy.emit('preprocess-complete', uppy.getFile(id))
          uppy.emit('upload-error', uppy.getFile(id), plainError(callbacks, error))
        }
      }))
    })

    function state (file) {
      const found = uploads.get(file.id)
      if (!found) throw new Error('This upload was not prepared. Remove the file and add it again.')
      return found
    }

    uppy.use(AwsS3, {
      limit: 4,
      retryDelays: [0, 1000, 3000, 5000],
      shouldUseMultipart: (file) => file.size > threshold,
      getChunkSize: (data) => partSizes.get(data),

      getUploadParameters (file) {
        const current = state(file)
        singles.set(current.answer.upload.url, current)
        return { method: 'PUT', url: current.answer.upload.url, headers: sendable(current.answer.upload.headers) }
      },

      // Uppy's own PUT, except that a single PUT's 412 is confirmed (see confirmLanded), not failed.
      async uploadPartBytes (options) {
        try {
          return await AwsS3.uploadPartBytes(options)
        } catch (error) {
          const current = singles.get(options.signature.url)
          const status = error && error.source && error.source.status
          if (status !== 412 || !current || !current.answer.upload.check) throw error
          const etag = await confirmLanded(current.answer.upload.check, options.size, current.digest, options.signal)
          if (options.onProgress) options.onProgress({ loaded: options.size, lengthComputable: true })
          if (options.onComplete) options.onComplete(etag)
          return { ETag: etag }
        }
      },

      async createMultipartUpload (file) {
        const current = state(file)
        if (current.started || current.aborted) {
          // The previous multipart upload was given up (an error aborts it): start a new version.
          const answer = await callbacks.restart(file, current.answer)
          if (answer.upload.part_size !== current.answer.upload.part_size) {
            throw new Error('The server changed its part size. Remove the file and add it again.')
          }
          // The share link minted with the first try follows the asset to this version.
          current.answer = { ...answer, token: answer.token || current.answer.token }
          current.parts = new Map()
          current.aborted = false
        }
        current.started = true
        return { uploadId: current.answer.upload.upload_id, key: current.answer.asset.id }
      },

      async signPart (file, { partNumber, body, signal }) {
        const { answer } = state(file)
        const digest = await sha256(body)
        let signed
        try {
          signed = await callbacks.signParts(answer, [{ part_number: partNumber, sha256: digest }], signal)
        } catch (error) {
          throw plainError(callbacks, error)
        }
        const part = signed.parts[0]
        return { method: 'PUT', url: part.url, headers: sendable(part.headers) }
      },

      listParts (file) {
        // assetgate has no route listing parts: the parts S3 acknowledged to this page are the ones it has.
        return [...state(file).parts.values()]
      },

      async completeMultipartUpload (file, { signal }) {
        const current = state(file)
        try {
          await callbacks.complete(current.answer, signal)
        } catch (error) {
          throw plainError(callbacks, error)
        }
        return { location: current.answer.token ? current.answer.token.url : '' }
      },

      async abortMultipartUpload (file) {
        const current = uploads.get(file.id)
        if (!current || current.aborted) return
        current.aborted = true
        try {
          await callbacks.abort(current.answer)
        } catch (error) {
          // Cancelling removes the whole asset right after; nothing more to give up then.
          if (!(error && error.code === 'asset_not_found')) throw plainError(callbacks, error)
        }
      },
    })

    uppy.on('s3-multipart:part-uploaded', (file, part) => {
      const current = uploads.get(file.id)
      if (current) current.parts.set(part.PartNumber, { PartNumber: part.PartNumber, ETag: part.ETag })
    })

    uppy.on('upload-error', (file, error) => {
      if (callbacks.onError && file) callbacks.onError(file, sentence(error))
    })

    uppy.on('upload-success', (file) => {
      const current = uploads.get(file.id)
      if (!current || current.done) return
      current.done = true
      if (callbacks.onUploaded) callbacks.onUploaded(file, current.answer)
    })

    // Cancel: what create made for an upload that never finished goes away (aborting a multipart upload with it).
    function discard (file) {
      const current = uploads.get(file.id)
      uploads.delete(file.id)
      if (current) singles.delete(current.answer.upload.url)
      if (!current || current.done || !callbacks.discard) return
      Promise.resolve(callbacks.discard(current.answer)).catch(() => {})
    }
    uppy.on('file-removed', discard)
    uppy.on('cancel-all', () => { for (const file of uppy.getFiles()) discard(file) })

    return uppy
  }

  window.assetgateUploader = Object.freeze({ createUploader, sha256 })
})()
