// End-to-end tests of the built `anyprec` binary (turbo builds it before `test`),
// checked against oracles that do not come from anyprec itself: the safetensors header
// bytes of the embedded model, and PyTorch's greedy continuation in reference.json.
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));
const cli = join(repoRoot, 'apps', 'cli', 'dist', 'index.js');
const tinyDir = join(repoRoot, 'models', 'tiny');
const referencePath = join(repoRoot, '..', 'shared', 'models', 'reference.json');

function anyprec(...args: string[]) {
  const result = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', cwd: repoRoot });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Tensor names straight from the file's header: 8-byte little-endian length, then JSON. */
function headerTensorNames(path: string): string[] {
  const fd = openSync(path, 'r');
  try {
    const lengthBytes = Buffer.alloc(8);
    readSync(fd, lengthBytes, 0, 8, 0);
    const headerBytes = Buffer.alloc(Number(lengthBytes.readBigUInt64LE(0)));
    readSync(fd, headerBytes, 0, headerBytes.length, 8);
    return Object.keys(JSON.parse(headerBytes.toString('utf8'))).filter((name) => name !== '__metadata__');
  } finally {
    closeSync(fd);
  }
}

describe('anyprec CLI', () => {
  it('lists every subcommand in --help', () => {
    const { status, stdout } = anyprec('--help');
    expect(status).toBe(0);
    for (const command of ['inspect', 'quantize', 'eval', 'generate', 'demo', 'doctor']) {
      expect(stdout).toMatch(new RegExp(`^\\s+${command}\\b`, 'm'));
    }
  });

  it('inspect --json lists the tensors of the embedded model as its header does', () => {
    const { status, stdout } = anyprec('inspect', tinyDir, '--json');
    expect(status).toBe(0);
    const report = JSON.parse(stdout);
    const expected = headerTensorNames(join(tinyDir, 'model.safetensors')).sort();
    expect(report.tensors.map((t: { name: string }) => t.name).sort()).toEqual(expected);
    expect(report.tensors.every((t: { dtype: string }) => t.dtype === 'F16')).toBe(true);
  });

  it.skipIf(!existsSync(referencePath))(
    'generate --json reproduces the PyTorch greedy continuation of tiny (needs ../shared/models/reference.json)',
    () => {
      const reference = JSON.parse(readFileSync(referencePath, 'utf8')).tiny.greedy;
      const newTokens = reference.output_ids.length - reference.prompt_ids.length;
      const { status, stdout } = anyprec(
        'generate',
        tinyDir,
        '--prompt',
        reference.prompt,
        '--max-tokens',
        String(newTokens),
        '--json',
      );
      expect(status).toBe(0);
      expect(JSON.parse(stdout).ids).toEqual(reference.output_ids.slice(reference.prompt_ids.length));
    },
  );

  it('fails with exit code 1 and a one-line message naming a missing model', () => {
    const { status, stdout, stderr } = anyprec('eval', join(repoRoot, 'no-such-model'), '--data', 'x.jsonl');
    expect(status).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toContain('no-such-model');
    expect(stderr.trim().split('\n')).toHaveLength(1);
  });

  it('doctor --json reports CUDA as data, never as a crash', () => {
    const { status, stdout } = anyprec('doctor', '--json');
    expect(status).toBe(0);
    const report = JSON.parse(stdout);
    expect(report.cpu.available).toBe(true);
    if (!report.cuda.available) expect(report.cuda.reason).toMatch(/\S/);
    else expect(report.cuda.device).toMatch(/\S/);
  });
});
