// Send a JSONL file of Segment calls through the official Node client (@segment/analytics-node).
// usage: node send_node.cjs FILE HOST WRITE_KEY
// Calls go in chunks of 50 (one /v1/batch request each); a chunk is sent only once the previous one
// was delivered, so the calls arrive in file order. Lines that are not JSON objects are skipped.
// Prints {"sent", "skipped", "failed"} and exits 1 on a failure.
const fs = require('fs')
const { Analytics } = require('@segment/analytics-node')

const [file, host, writeKey] = process.argv.slice(2)
const CHUNK = 50
const analytics = new Analytics({ writeKey, host, flushAt: CHUNK, flushInterval: 200, maxRetries: 5 })
let failed = 0
analytics.on('error', (err) => { failed++; console.error('delivery error:', err.code, String(err.reason)) })

function send(d) {
  const common = {
    userId: d.userId ?? undefined, anonymousId: d.anonymousId ?? undefined, context: d.context ?? undefined,
    timestamp: d.timestamp ?? undefined, messageId: d.messageId ?? undefined,
  }
  return new Promise((resolve, reject) => {
    const done = (err) => (err ? reject(err) : resolve())
    switch (d.type) {
      case 'track': return analytics.track({ ...common, event: d.event, properties: d.properties }, done)
      case 'group': return analytics.group({ ...common, groupId: d.groupId, traits: d.traits }, done)
      case 'identify': return analytics.identify({ ...common, traits: d.traits }, done)
      case 'page': return analytics.page({ ...common, name: d.name, properties: d.properties }, done)
      case 'screen': return analytics.screen({ ...common, name: d.name, properties: d.properties }, done)
      case 'alias': return analytics.alias({ ...common, previousId: d.previousId }, done)
      default: return reject(new Error(`no client call for type ${d.type}`))
    }
  })
}

async function main() {
  const calls = []
  let skipped = 0
  for (const line of fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.trim())) {
    try {
      const d = JSON.parse(line)
      if (d && typeof d === 'object' && !Array.isArray(d)) { calls.push(d); continue }
    } catch (e) { /* not JSON: no client can send it */ }
    skipped++
  }
  for (let i = 0; i < calls.length; i += CHUNK) {
    await Promise.all(calls.slice(i, i + CHUNK).map(send))
  }
  await analytics.closeAndFlush()
  console.log(JSON.stringify({ sent: calls.length, skipped, failed }))
  process.exit(failed ? 1 : 0)
}

main().catch((err) => { console.error(err); process.exit(1) })
