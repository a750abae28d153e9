#!/usr/bin/env node
// Verdict of a conformance run: reads every `<output>/server-<scenario>-<timestamp>/checks.json`
// written by `conformance server -o <output>`, decides pass/fail per scenario (a scenario fails when
// any of its checks has status FAILURE), compares with the entries of expected-failures.txt whose
// run pattern matches this run, and prints a report. Exit 0 only when the failing scenarios are
// exactly the listed ones.
//
// usage: node verdict.mjs <output dir> <expected-failures.txt> <scenario list file> <run>
// <run> is "<requirement set>/<session mode>", e.g. 2026-07-28/shared; a pattern's parts may be *.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const [outputDir, expectedFile, scenarioFile, run] = process.argv.slice(2);

const matches = (pattern, actual) =>
  pattern.split('/').every((part, i) => part === '*' || part === actual.split('/')[i]);
const expected = new Map();
for (const line of readFileSync(expectedFile, 'utf8').split('\n')) {
  const trimmed = line.trim();
  if (trimmed === '' || trimmed.startsWith('#')) continue;
  const [pattern, scenario, ...reason] = trimmed.split(/\s+/);
  if (!scenario || !pattern.includes('/')) throw new Error(`expected-failures.txt: bad line: ${trimmed}`);
  if (matches(pattern, run)) expected.set(scenario, reason.join(' '));
}

// Scenarios the suite was asked to run; one that left no results counts as failed.
const wanted = readFileSync(scenarioFile, 'utf8').split('\n').map((s) => s.trim()).filter(Boolean);
const results = new Map();
for (const dir of readdirSync(outputDir)) {
  const match = /^server-(.+)-\d{4}-\d{2}-\d{2}T[\d-]+Z$/.exec(dir);
  if (!match) continue;
  const checks = JSON.parse(readFileSync(join(outputDir, dir, 'checks.json'), 'utf8'));
  const failed = checks.filter((c) => c.status === 'FAILURE');
  results.set(match[1], {
    passed: checks.filter((c) => c.status === 'SUCCESS').length,
    failed: failed.map((c) => `${c.id}: ${c.errorMessage ?? ''}`),
  });
}

const lines = [];
const problems = [];
for (const scenario of wanted) {
  const result = results.get(scenario) ?? { passed: 0, failed: ['no results written'] };
  const ok = result.failed.length === 0;
  const listed = expected.has(scenario);
  let verdict = ok ? 'PASS' : 'FAIL';
  if (!ok && listed) verdict = 'FAIL (expected)';
  if (!ok && !listed) problems.push(`unexpected failure: ${scenario}`);
  if (ok && listed) problems.push(`listed as expected failure but passed: ${scenario}`);
  lines.push(`${verdict.padEnd(16)} ${scenario} (${result.passed} checks passed, ${result.failed.length} failed)`);
  for (const failure of result.failed) lines.push(`                   - ${failure}`);
  if (listed) lines.push(`                   reason listed: ${expected.get(scenario)}`);
}
for (const scenario of expected.keys()) {
  if (!wanted.includes(scenario)) problems.push(`listed as expected failure but not run: ${scenario}`);
}

const passed = wanted.filter((s) => (results.get(s)?.failed.length ?? 1) === 0).length;
lines.push('');
lines.push(`scenarios: ${wanted.length}, passed: ${passed}, failed: ${wanted.length - passed}`);
lines.push(problems.length === 0 ? 'verdict: OK (failures match expected-failures.txt)' : 'verdict: FAILED');
for (const problem of problems) lines.push(`  ${problem}`);
console.log(lines.join('\n'));
process.exit(problems.length === 0 ? 0 : 1);
