import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  buildImageConfig,
  buildIndex,
  buildManifest,
  canonicalJson,
  descriptorOf,
  imageConfigBlob,
  imageId,
  indexBlob,
  layerDescriptor,
  manifestBlob,
  MediaType,
  ociLayout,
  type ImageConfigInput,
} from '../../shared/src/oci/index.js';
import { assertValidOci, OCI_SCHEMA_DIR, ociSchemaErrors } from '../helpers/oci-schema.js';

const hex = (c: string): string => `sha256:${c.repeat(64)}`;

const configInput: ImageConfigInput = {
  architecture: 'amd64',
  os: 'linux',
  created: '2024-01-02T03:04:05Z',
  author: 'strata',
  config: {
    User: '1000:1000',
    Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
    Entrypoint: ['/bin/sh', '-c'],
    Cmd: null,
    WorkingDir: '/app',
    ExposedPorts: { '80/tcp': {} },
    Volumes: { '/data': {} },
    Labels: { 'org.example': 'yes' },
    StopSignal: 'SIGTERM',
  },
  diffIds: [hex('a'), hex('b')],
  history: [
    { created: '2024-01-02T03:04:05Z', created_by: 'ADD rootfs.tar /' },
    { created: '2024-01-02T03:04:06Z', created_by: 'ENV X=1', empty_layer: true },
    { created: '2024-01-02T03:04:07.123+02:00', created_by: 'RUN make', comment: 'built' },
  ],
};

describe('OCI schemas', () => {
  it('are present next to the repository (missing schemas fail, never skip)', () => {
    expect(existsSync(OCI_SCHEMA_DIR)).toBe(true);
  });

  it('reject documents that break the spec (the validator is live)', () => {
    expect(ociSchemaErrors('manifest', { schemaVersion: 2, config: {}, layers: [] }).length).toBeGreaterThan(
      0,
    );
    expect(ociSchemaErrors('config', { architecture: 'amd64', os: 'linux' })).not.toEqual([]);
    expect(ociSchemaErrors('index', { schemaVersion: 3, manifests: [] })).not.toEqual([]);
    expect(ociSchemaErrors('descriptor', { mediaType: 'x', digest: 'nope', size: -1 })).not.toEqual([]);
    expect(ociSchemaErrors('layout', { imageLayoutVersion: '2.0.0' })).not.toEqual([]);
    expect(ociSchemaErrors('config', { ...buildImageConfig(configInput), created: 'yesterday' })).not.toEqual(
      [],
    );
  });
});

describe('OCI builders', () => {
  it('build a config that validates, with rootfs.diff_ids and history', () => {
    const blob = imageConfigBlob(configInput);
    assertValidOci('config', blob.bytes);
    const parsed = JSON.parse(blob.bytes.toString('utf8')) as Record<string, unknown>;
    expect(parsed.rootfs).toEqual({ type: 'layers', diff_ids: [hex('a'), hex('b')] });
    expect(blob.descriptor).toEqual({
      mediaType: MediaType.ociConfig,
      digest: blob.digest,
      size: blob.bytes.length,
    });
    assertValidOci('descriptor', blob.descriptor);
  });

  it('image ID is the sha256 of the config bytes', () => {
    const blob = imageConfigBlob(configInput, 'docker');
    const expected = `sha256:${createHash('sha256').update(blob.bytes).digest('hex')}`;
    expect(imageId(blob.bytes)).toBe(expected);
    expect(blob.digest).toBe(expected);
    expect(blob.descriptor.mediaType).toBe(MediaType.dockerConfig);
  });

  it('serialise canonically: key order and construction order do not matter', () => {
    expect(canonicalJson({ b: 1, a: [{ d: true, c: null }], e: undefined })).toBe(
      '{"a":[{"c":null,"d":true}],"b":1}',
    );
    const shuffled: ImageConfigInput = {
      history: configInput.history,
      diffIds: configInput.diffIds,
      config: Object.fromEntries(Object.entries(configInput.config ?? {}).reverse()),
      author: 'strata',
      created: '2024-01-02T03:04:05Z',
      os: 'linux',
      architecture: 'amd64',
    };
    expect(imageConfigBlob(shuffled).bytes.equals(imageConfigBlob(configInput).bytes)).toBe(true);
    expect(() => canonicalJson({ n: Number.NaN })).toThrow(/non-finite/);
    expect(() => canonicalJson({ d: new Date() })).toThrow(/plain object/);
  });

  it('build OCI and Docker manifests that validate', () => {
    for (const flavor of ['oci', 'docker'] as const) {
      const config = imageConfigBlob(configInput, flavor);
      const layers = [
        layerDescriptor(hex('c'), 1234, { flavor, compression: 'gzip' }),
        layerDescriptor(hex('d'), 10240, { flavor }),
      ];
      const m = manifestBlob({
        config: config.descriptor,
        layers,
        flavor,
        annotations: { 'org.example': 'x' },
      });
      assertValidOci('manifest', m.bytes);
      expect(m.value.mediaType).toBe(flavor === 'oci' ? MediaType.ociManifest : MediaType.dockerManifest);
      expect(m.value.layers.map((l) => l.mediaType)).toEqual(
        flavor === 'oci'
          ? [MediaType.ociLayerGzip, MediaType.ociLayer]
          : [MediaType.dockerLayerGzip, MediaType.dockerLayer],
      );
      assertValidOci('descriptor', m.descriptor);
    }
    expect(() => layerDescriptor(hex('c'), 1, { flavor: 'docker', compression: 'zstd' })).toThrow(/zstd/);
  });

  it('build an index and oci-layout that validate', () => {
    const config = imageConfigBlob(configInput);
    const m = manifestBlob(
      { config: config.descriptor, layers: [layerDescriptor(hex('e'), 1)] },
      { architecture: 'amd64', os: 'linux' },
    );
    const withName = { ...m.descriptor, annotations: { 'org.opencontainers.image.ref.name': 'latest' } };
    const idx = indexBlob([withName], { annotations: { 'org.example': 'y' } });
    assertValidOci('index', idx.bytes);
    assertValidOci('index', buildIndex([], { flavor: 'docker' }));
    assertValidOci('layout', ociLayout());
    expect(JSON.parse(canonicalJson(ociLayout()))).toEqual({ imageLayoutVersion: '1.0.0' });
    const raw = descriptorOf(MediaType.ociEmpty, Buffer.from('{}'));
    expect(raw.digest).toBe('sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a');
    assertValidOci('descriptor', raw);
  });

  it('refuse inconsistent input', () => {
    expect(() => buildImageConfig({ ...configInput, diffIds: ['md5:abc'] })).toThrow(/not a sha256 digest/);
    expect(() => buildImageConfig({ ...configInput, diffIds: [hex('a')] })).toThrow(/history has 2/);
    expect(() => buildImageConfig({ ...configInput, created: '2024-01-02 03:04:05' })).toThrow(/RFC 3339/);
    expect(() =>
      buildManifest({ config: { mediaType: MediaType.ociConfig, digest: 'x', size: 1 }, layers: [] }),
    ).toThrow(/config digest/);
  });

  it('a minimal config (no history, no created) validates too', () => {
    const cfg = buildImageConfig({ architecture: 'arm64', variant: 'v8', os: 'linux', diffIds: [] });
    expect(cfg).toEqual({
      architecture: 'arm64',
      variant: 'v8',
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: [] },
    });
    assertValidOci('config', cfg);
  });
});
