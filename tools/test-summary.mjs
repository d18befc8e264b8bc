#!/usr/bin/env node
// Sums the vitest JSON reports (test-results.json, written when CI is set) of every
// workspace package into the single plain line CI reads: "N passed, N failed, N skipped".
// A package whose test task ran but left no report counts as one failure, so a crash
// before vitest could report is never mistaken for success.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
let passed = 0;
let failed = 0;
let skipped = 0;
for (const group of ['packages', 'apps']) {
  for (const name of readdirSync(join(root, group))) {
    const dir = join(root, group, name);
    if (!existsSync(join(dir, 'package.json'))) continue;
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    if (!pkg.scripts?.test) continue;
    const reportPath = join(dir, 'test-results.json');
    if (!existsSync(reportPath)) {
      console.log(`${pkg.name}: no test report (the test task failed before vitest reported)`);
      failed += 1;
      continue;
    }
    const report = JSON.parse(readFileSync(reportPath, 'utf8'));
    const pending = (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
    console.log(
      `${pkg.name}: ${report.numPassedTests} passed, ${report.numFailedTests} failed, ${pending} skipped`,
    );
    passed += report.numPassedTests;
    failed += report.numFailedTests;
    skipped += pending;
  }
}
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
