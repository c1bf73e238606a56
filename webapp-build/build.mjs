// Rebuilds chalicelib/webapp/static/: uppy.<hash>.js, uppy.<hash>.css, THIRD_PARTY_LICENSES.txt and
// manifest.json, from the exact versions in package-lock.json (run by `make webapp` after `npm ci`).
import { createHash } from 'node:crypto'
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as esbuild from 'esbuild'

const here = dirname(fileURLToPath(import.meta.url))
const out = join(here, '..', 'chalicelib', 'webapp', 'static')
const common = { bundle: true, minify: true, write: false, metafile: true, legalComments: 'none', logLevel: 'warning' }

const js = await esbuild.build({ ...common, entryPoints: [join(here, 'entry.js')], outfile: 'uppy.js',
  format: 'iife', target: ['es2020'], platform: 'browser', define: { 'process.env.NODE_ENV': '"production"' } })
const css = await esbuild.build({ ...common, entryPoints: [join(here, 'entry.css')], outfile: 'uppy.css' })

const hashed = (name, ext, bytes) => `${name}.${createHash('sha256').update(bytes).digest('hex').slice(0, 12)}.${ext}`
const files = {
  'uppy.js': [hashed('uppy', 'js', js.outputFiles[0].contents), js.outputFiles[0].contents],
  'uppy.css': [hashed('uppy', 'css', css.outputFiles[0].contents), css.outputFiles[0].contents],
}

// Every package whose code went into the bundles, with its license text.
const packages = new Map()
for (const input of [...Object.keys(js.metafile.inputs), ...Object.keys(css.metafile.inputs)]) {
  const match = input.match(/node_modules\/((?:@[^/]+\/)?[^/]+)\//)
  if (match) packages.set(match[1], null)
}
const licenses = [...packages.keys()].sort().map((name) => {
  const dir = join(here, 'node_modules', name)
  const meta = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'))
  const file = readdirSync(dir).find((f) => /^licen[cs]e/i.test(f))
  const text = file ? readFileSync(join(dir, file), 'utf8').trim() : `License: ${meta.license} (no license file shipped)`
  return `${name}@${meta.version} (${meta.license})\n${'='.repeat(60)}\n${text}\n`
})
const licenseText = Buffer.from('Third-party code in uppy.*.js and uppy.*.css, built by `make webapp`.\n\n' + licenses.join('\n'))
files['licenses.txt'] = [hashed('uppy-licenses', 'txt', licenseText), licenseText]

for (const old of existsSync(out) ? readdirSync(out) : []) {
  if (/^uppy(-licenses)?\.[0-9a-f]+\.(js|css|txt)$/.test(old)) rmSync(join(out, old))
}
const manifest = {}
for (const [logical, [name, bytes]] of Object.entries(files)) {
  writeFileSync(join(out, name), bytes)
  manifest[logical] = name
}
writeFileSync(join(out, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n')
for (const [logical, [name, bytes]] of Object.entries(files)) console.log(`${name}  ${bytes.length} bytes`)
