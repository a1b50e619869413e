// Integration tests run the built CLI: rebuild it first if its sources changed (fast when not).
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { REPO } from './helpers/strata.js';

export default function setup(): void {
  execFileSync(process.execPath, [path.join(REPO, 'scripts', 'build.mjs')], { stdio: 'inherit' });
}
