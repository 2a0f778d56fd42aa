// Prints the one closing line CI reads: "N passed, N failed" (a failed type check counts as one failure).
import { readFileSync } from 'node:fs'

const [resultsPath, typecheck] = process.argv.slice(2)
let passed = 0
let failed = typecheck === '1' ? 1 : 0
let skipped = 0
try {
  const results = JSON.parse(readFileSync(resultsPath, 'utf8'))
  passed = results.numPassedTests
  failed += results.numFailedTests + (results.numFailedTestSuites > 0 && results.numFailedTests === 0 ? results.numFailedTestSuites : 0)
  skipped = results.numPendingTests + results.numTodoTests
} catch {
  failed += 1
}
console.log(`${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ''}`)
process.exitCode = failed > 0 || passed === 0 ? 1 : 0
