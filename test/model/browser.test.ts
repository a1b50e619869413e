// The model and the mountinfo codec must run in a browser: bundle them for the browser platform, where
// any import of a Node built-in fails the build.
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

describe('browser-safe', () => {
  it('shared/src/model and shared/src/mount bundle for platform=browser with no Node built-ins', async () => {
    const result = await build({
      entryPoints: [
        'shared/src/model/index.ts',
        'shared/src/mount/mountinfo.ts',
        'shared/src/mount/options.ts',
      ],
      bundle: true,
      platform: 'browser',
      format: 'esm',
      write: false,
      outdir: 'out',
      logLevel: 'silent',
      metafile: true,
    });
    expect(result.errors).toEqual([]);
    const inputs = Object.keys(result.metafile.inputs);
    expect(inputs.every((f) => f.startsWith('shared/src/model/') || f.startsWith('shared/src/mount/'))).toBe(
      true,
    );
    expect(result.outputFiles.length).toBe(3);
    expect(result.outputFiles.every((f) => !/\bfrom ["']node:/.test(f.text))).toBe(true);
  });

  it('the model backend (shared/src/model-backend/index.ts) bundles for platform=browser', async () => {
    const result = await build({
      entryPoints: ['shared/src/model-backend/index.ts'],
      bundle: true,
      platform: 'browser',
      format: 'esm',
      write: false,
      outdir: 'out',
      logLevel: 'silent',
      metafile: true,
    });
    expect(result.errors).toEqual([]);
    const inputs = Object.keys(result.metafile.inputs);
    expect(inputs).toContain('shared/src/model-backend/runtime.ts');
    // node.ts (tar codec, files, streams) is Node's side and must stay out of the bundle.
    expect(inputs).not.toContain('shared/src/model-backend/node.ts');
    expect(inputs.every((f) => !f.startsWith('shared/src/tar/') && !f.startsWith('shared/src/store/'))).toBe(
      true,
    );
    expect(result.outputFiles.every((f) => !/\bfrom ["']node:/.test(f.text))).toBe(true);
  });
});
