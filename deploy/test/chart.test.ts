// The Helm chart without helm: its schema against the shipped and broken values, and its templates'
// structure, value paths, probes, GPU requests and work-queue names.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv, type ErrorObject } from 'ajv';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { mergeValues, valueAt, type Value } from '../src/chart/merge-values.js';
import {
  blockProblems,
  templateActions,
  TemplateStructureError,
  valuesPaths,
  variablePaths,
} from '../src/chart/template-scan.js';
import { DEFAULT_SERVICE_PORTS } from '../src/probe-targets.js';
import { TRAINER_DEVICES, trainingQueueNames } from '../src/training-queue.js';

const chartDir = fileURLToPath(new URL('../helm/lathe/', import.meta.url));
const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const read = (path: string): string => readFileSync(join(chartDir, path), 'utf8');
const readYaml = (path: string): Value => parse(read(path)) as Value;

const schema = JSON.parse(read('values.schema.json')) as Record<string, unknown>;
const defaults = readYaml('values.yaml');
const exampleFiles = readdirSync(join(chartDir, 'examples')).filter((f) => f.endsWith('.yaml'));
const templateFiles = readdirSync(join(chartDir, 'templates'));
const templates = new Map(templateFiles.map((f) => [f, read(`templates/${f}`)]));
const allTemplates = [...templates.values()].join('\n');
const SERVICES = ['datasets', 'preferences', 'quantization', 'training', 'registry'] as const;

const ajv = new Ajv({ allErrors: true, strict: true });
const validate = ajv.compile(schema);

/** Validation errors of `values` merged over the defaults (what `helm install -f` checks). */
function errorsOf(values: Value): ErrorObject[] {
  return validate(mergeValues(defaults, values)) ? [] : (validate.errors ?? []);
}

/** A copy of the defaults with `path` set to `value` (`undefined` deletes it). */
function withValue(path: string, value: Value | undefined): Value {
  const copy = structuredClone(defaults) as Record<string, Value>;
  const keys = path.split('.');
  const last = keys.pop() ?? '';
  let target = copy;
  for (const key of keys) target = target[key] as Record<string, Value>;
  if (value === undefined) delete target[last];
  else target[last] = value;
  return copy;
}

function refusal(values: Value): string[] {
  return validate(values)
    ? []
    : (validate.errors ?? []).map((e) => `${e.instancePath} ${e.keyword} ${e.message ?? ''}`);
}

describe('values.schema.json', () => {
  it('is a draft-07 schema that Ajv compiles in strict mode', () => {
    expect(schema['$schema']).toBe('http://json-schema.org/draft-07/schema#');
    expect(schema['additionalProperties']).toBe(false);
  });

  it('accepts values.yaml alone', () => {
    expect(refusal(defaults)).toEqual([]);
  });

  it.each(exampleFiles)('accepts examples/%s over the defaults', (file) => {
    expect(errorsOf(readYaml(`examples/${file}`))).toEqual([]);
  });

  it('ships the two example files the README names', () => {
    expect(exampleFiles.sort()).toEqual(['values-dev.yaml', 'values-gpu-pool.yaml']);
  });

  it.each([
    ['services.datasets.replicas', -1, '/services/datasets/replicas', 'minimum'],
    ['trainer.pool.replicas', -2, '/trainer/pool/replicas', 'minimum'],
    ['services.registry.replicas', 1.5, '/services/registry/replicas', 'type'],
    ['services.training.replicas', '2', '/services/training/replicas', 'type'],
    ['trainer.autoscaling.minReplicas', -1, '/trainer/autoscaling/minReplicas', 'minimum'],
  ])('refuses %s = %j', (path, value, instancePath, keyword) => {
    expect(refusal(withValue(path, value))).toContainEqual(
      expect.stringMatching(new RegExp(`^${instancePath} ${keyword} `)),
    );
  });

  it.each([
    ['image.repository', '/image', "must have required property 'repository'"],
    ['image.tag', '/image', "must have required property 'tag'"],
    ['trainer.image.repository', '/trainer/image', "must have required property 'repository'"],
    ['trainer.image.tag', '/trainer/image', "must have required property 'tag'"],
  ])('refuses a missing %s', (path, instancePath, message) => {
    expect(refusal(withValue(path, undefined))).toContain(`${instancePath} required ${message}`);
  });

  it('refuses an image without a repository or tag at all, and empty ones', () => {
    expect(refusal(withValue('image', null))).toContainEqual(
      expect.stringMatching(/^\/image type /),
    );
    expect(refusal(withValue('image.tag', ''))).toContainEqual(
      expect.stringMatching(/^\/image\/tag minLength /),
    );
    expect(refusal(withValue('image.tag', 1.2))).toContainEqual(
      expect.stringMatching(/^\/image\/tag type /),
    );
  });

  it.each([
    ['trainer.pool.gpusPerWorker', '1', 'type'],
    ['trainer.pool.gpusPerWorker', 0.5, 'type'],
    ['trainer.pool.gpusPerWorker', -1, 'minimum'],
    ['trainer.pool.gpusPerWorker', 0, 'minimum'],
  ])('refuses %s = %j on cuda', (path, value, keyword) => {
    expect(refusal(withValue(path, value))).toContainEqual(
      expect.stringMatching(new RegExp(`^/trainer/pool/gpusPerWorker ${keyword} `)),
    );
  });

  it('refuses GPUs for a cpu pool', () => {
    const cpu = mergeValues(defaults, { trainer: { device: 'cpu' } });
    expect(refusal(cpu)).toContainEqual(
      expect.stringMatching(/^\/trainer\/pool\/gpusPerWorker const /),
    );
    const cpuNoGpu = mergeValues(cpu, { trainer: { pool: { gpusPerWorker: 0 } } });
    expect(refusal(cpuNoGpu)).toEqual([]);
  });

  it.each([
    ['replica', { replica: 3 }, ''],
    ['services.datasets.replica', { services: { datasets: { replica: 3 } } }, '/services/datasets'],
    ['trainer.pool.gpus', { trainer: { pool: { gpus: 2 } } }, '/trainer/pool'],
    ['services.search', { services: { search: { enabled: true } } }, '/services'],
    ['auth.secret', { auth: { secret: 'x' } }, '/auth'],
    ['trainer.autoscaling.lag', { trainer: { autoscaling: { lag: 5 } } }, '/trainer/autoscaling'],
  ])('refuses the unknown key %s', (_name, values, instancePath) => {
    expect(errorsOf(values as Value).map((e) => `${e.instancePath} ${e.keyword}`)).toContain(
      `${instancePath} additionalProperties`,
    );
  });

  it('refuses bad resources, ports, devices, probes of wrong shape', () => {
    const cases: [Value, string][] = [
      [
        { services: { datasets: { resources: { requests: { gpu: 1 } } } } },
        '/services/datasets/resources/requests additionalProperties',
      ],
      [
        { services: { datasets: { resources: { limits: { memory: '2 GB' } } } } },
        '/services/datasets/resources/limits/memory oneOf',
      ],
      [
        { services: { datasets: { resources: { request: {} } } } },
        '/services/datasets/resources additionalProperties',
      ],
      [{ services: { registry: { port: 70000 } } }, '/services/registry/port maximum'],
      [{ services: { preferences: { webPort: 0 } } }, '/services/preferences/webPort minimum'],
      [{ trainer: { device: 'tpu' } }, '/trainer/device enum'],
      [{ trainer: { pool: { memory: { limit: null } } } }, '/trainer/pool/memory required'],
      [{ trainer: { pool: { scratch: { type: 'hostPath' } } } }, '/trainer/pool/scratch/type enum'],
      [
        { trainer: { pool: { terminationGracePeriodSeconds: 5 } } },
        '/trainer/pool/terminationGracePeriodSeconds minimum',
      ],
      [{ trainer: { pool: { concurrency: 0 } } }, '/trainer/pool/concurrency minimum'],
      [{ trainer: { pool: { mallocArenaMax: 0 } } }, '/trainer/pool/mallocArenaMax oneOf'],
      [{ trainer: { pool: { mallocArenaMax: 'two' } } }, '/trainer/pool/mallocArenaMax oneOf'],
      [{ artifacts: { store: 'volume' } }, '/artifacts/existingClaim minLength'],
      [{ artifacts: { store: 's3' } }, '/artifacts/store enum'],
      [
        { services: { datasets: { pdb: { enabled: true, minAvailable: 1, maxUnavailable: 1 } } } },
        '/services/datasets/pdb not',
      ],
      [{ auth: { mode: 'basic' } }, '/auth/mode enum'],
      [{ auth: { jwtSecret: 'short' } }, '/auth/jwtSecret anyOf'],
      [{ database: { url: 'mysql://db' } }, '/database/url anyOf'],
      [
        { services: { datasets: { tolerations: [{ key: 'a', effect: 'Sometimes' }] } } },
        '/services/datasets/tolerations/0/effect enum',
      ],
      [
        { services: { datasets: { env: { LOG_LEVEL: 3 } } } },
        '/services/datasets/env/LOG_LEVEL type',
      ],
      [{ logLevel: 'verbose' }, '/logLevel enum'],
    ];
    for (const [values, expected] of cases) {
      expect(
        errorsOf(values).map((e) => `${e.instancePath} ${e.keyword}`),
        JSON.stringify(values),
      ).toContain(expected);
    }
  });
});

/** Whether the schema describes `path` (or lets an open object hold it, as for subchart values). */
function schemaAllows(path: string): boolean {
  const definitions = schema['definitions'] as Record<string, Record<string, unknown>>;
  const resolve = (node: Record<string, unknown>): Record<string, unknown> => {
    const ref = node['$ref'];
    return typeof ref === 'string' ? resolve(definitions[ref.split('/').at(-1) ?? ''] ?? {}) : node;
  };
  let node = resolve(schema);
  for (const key of path.split('.')) {
    const properties = node['properties'] as Record<string, Record<string, unknown>> | undefined;
    const next = properties?.[key];
    if (next !== undefined) node = resolve(next);
    else if (node['additionalProperties'] === false) return false;
    else return true;
  }
  return true;
}

describe('templates', () => {
  it('has every template the chart needs', () => {
    expect(templateFiles.sort()).toEqual([
      'NOTES.txt',
      '_helpers.tpl',
      'configmap.yaml',
      'pdb.yaml',
      'scaledobject.yaml',
      'secret.yaml',
      'serviceaccount.yaml',
      'services.yaml',
      'trainer.yaml',
    ]);
  });

  it.each(templateFiles)('%s: every action closed, every block ended', (file) => {
    expect(blockProblems(templates.get(file) ?? '')).toEqual([]);
  });

  it('the scanner itself catches what it should', () => {
    expect(() => templateActions('a {{ .Values.x ')).toThrow(TemplateStructureError);
    expect(() => templateActions('{{ if .x }} {{ .y }')).toThrow(/line 1: "\{\{" is not closed/);
    expect(() => templateActions('x }}')).toThrow(/no "\{\{"/);
    expect(blockProblems('{{ if .a }}\n{{ range .b }}\n{{ end }}')).toEqual([
      'line 1: "if" has no "end"',
    ]);
    expect(blockProblems('{{ end }}')).toEqual(['line 1: "end" with no block']);
    expect(blockProblems('{{ define "x" }}{{ else }}{{ end }}')).toEqual([
      'line 1: "else" outside if/range/with',
    ]);
    expect([
      ...valuesPaths('{{ .Values.a.b | quote }} {{ $.Values.c }} {{ .root.Values.d.e }}'),
    ]).toEqual(['a.b', 'c', 'd.e']);
  });

  it('reads only .Values paths that values.yaml sets and the schema describes', () => {
    const paths = [...valuesPaths(allTemplates)].sort();
    expect(paths.length).toBeGreaterThan(40);
    const missing = paths.filter((p) => valueAt(defaults, p) === undefined);
    expect(missing).toEqual([]);
    expect(paths.filter((p) => !schemaAllows(p))).toEqual([]);
  });

  it('reads per-service keys ($svc) that every service in values.yaml has, or guards them by name', () => {
    const services = templates.get('services.yaml') ?? '';
    const helpers = templates.get('_helpers.tpl') ?? '';
    const svcPaths = new Set([
      ...variablePaths(services, '$svc'),
      ...variablePaths(helpers, '.svc'),
    ]);
    const guarded: Record<string, string> = {
      webPort: 'preferences',
      ratePerSecond: 'preferences',
      rateBurst: 'preferences',
      storeConnections: 'preferences',
      importRoots: 'registry',
      workDirSizeLimit: 'registry',
      concurrency: 'quantization',
      scratchSizeLimit: 'quantization',
      maxAttempts: 'training',
      strandedSweepMs: 'training',
      queuedLostAfterMs: 'training',
      staleAttemptMs: 'training',
    };
    for (const path of svcPaths) {
      const owners = guarded[path.split('.')[0] ?? ''];
      for (const name of owners === undefined ? SERVICES : [owners]) {
        expect(valueAt(defaults, `services.${name}.${path}`), `services.${name}.${path}`).not.toBe(
          undefined,
        );
      }
    }
    expect(svcPaths).toContain('port');
    const trainer = templates.get('trainer.yaml') ?? '';
    for (const path of variablePaths(trainer, '$pool')) {
      expect(valueAt(defaults, `trainer.pool.${path}`), `trainer.pool.${path}`).not.toBe(undefined);
    }
    const scaled = templates.get('scaledobject.yaml') ?? '';
    for (const path of variablePaths(scaled, '$scaling')) {
      expect(valueAt(defaults, `trainer.autoscaling.${path}`), path).not.toBe(undefined);
    }
  });

  it('probes every service with gRPC health on its own port, readiness by its proto service name', () => {
    const helpers = templates.get('_helpers.tpl') ?? '';
    const probes = /define "lathe\.grpcProbes"[\s\S]*?\{\{- end -\}\}/.exec(helpers)?.[0] ?? '';
    for (const probe of ['startupProbe', 'readinessProbe', 'livenessProbe']) {
      expect(probes).toMatch(
        new RegExp(`${probe}:\\n  grpc:\\n    port: \\{\\{ \\.svc\\.port \\}\\}`),
      );
    }
    expect(probes.match(/service: \{\{ \$service \| quote \}\}/g)).toHaveLength(2);
    const services = templates.get('services.yaml') ?? '';
    expect(services).toContain(
      'include "lathe.grpcProbes" (dict "root" $ "name" $name "svc" $svc)',
    );
    expect(services).toContain('containerPort: {{ $svc.port }}');
    // The chart's ports are the services' defaults, which the image's health probe tries.
    for (const name of SERVICES) {
      expect(valueAt(defaults, `services.${name}.port`)).toBe(DEFAULT_SERVICE_PORTS[name]);
    }
  });

  it('names each service as its .proto declares it', () => {
    const helpers = templates.get('_helpers.tpl') ?? '';
    for (const name of SERVICES) {
      const dir = join(repoRoot, 'proto', 'lathe', name, 'v1');
      const proto = readdirSync(dir)
        .map((f) => readFileSync(join(dir, f), 'utf8'))
        .find((text) => /^service \w+ \{/m.test(text));
      const pkg = /^package ([\w.]+);/m.exec(proto ?? '')?.[1];
      const service = /^service (\w+) \{/m.exec(proto ?? '')?.[1];
      expect(helpers).toContain(`"${name}" "${String(pkg)}.${String(service)}"`);
    }
  });

  it('asks nvidia.com/gpu of the pool from trainer.pool.gpusPerWorker, as request and limit', () => {
    const trainer = templates.get('trainer.yaml') ?? '';
    const gpuLines = trainer.match(/nvidia\.com\/gpu: \{\{ \$pool\.gpusPerWorker \}\}/g);
    expect(gpuLines).toHaveLength(2);
    const requests = trainer.slice(trainer.indexOf('requests:'), trainer.indexOf('limits:'));
    expect(requests).toContain('nvidia.com/gpu: {{ $pool.gpusPerWorker }}');
    expect(trainer).toContain(
      'terminationGracePeriodSeconds: {{ $pool.terminationGracePeriodSeconds }}',
    );
    for (const key of ['nodeSelector', 'tolerations', 'affinity']) {
      expect(trainer).toContain(`{{- with $pool.${key} }}`);
    }
    expect(trainer).toContain('mountPath: /scratch');
    expect(trainer).toContain('value: {{ $pool.concurrency | quote }}');
  });

  it.each(TRAINER_DEVICES)(
    'scales on the stream and consumer @lathe/bus uses for lathe.work.training-%s',
    (device) => {
      const helpers = templates.get('_helpers.tpl') ?? '';
      const stream = /define "lathe\.trainerStream" -\}\}\n(.*)\n/.exec(helpers)?.[1] ?? '';
      const rendered = stream.replace('{{ upper .Values.trainer.device }}', device.toUpperCase());
      const names = trainingQueueNames(device);
      expect(rendered).toBe(names.stream);
      const scaled = templates.get('scaledobject.yaml') ?? '';
      expect(scaled).toContain('- type: nats-jetstream');
      expect(scaled).toContain(`consumer: "${names.consumer}"`);
      expect(scaled).toContain('stream: {{ include "lathe.trainerStream" . | quote }}');
      expect(scaled).toContain('name: {{ include "lathe.fullname" . }}-trainer');
      expect(templates.get('trainer.yaml')).toContain(
        'name: {{ include "lathe.fullname" . }}-trainer',
      );
    },
  );

  it('sets only environment variables that some Lathe process reads', () => {
    const names = new Set<string>();
    for (const match of allTemplates.matchAll(
      /- name: ((?:LATHE|NATS|OTEL|LOG|DATABASE)_?[A-Z_]*)\n/g,
    )) {
      names.add(match[1] ?? '');
    }
    for (const match of allTemplates.matchAll(/"env" "((?:LATHE|NATS|DATABASE)_[A-Z_]+)"/g))
      names.add(match[1] ?? '');
    for (const match of (templates.get('configmap.yaml') ?? '').matchAll(
      /^ {2}([A-Z][A-Z_]+):/gm,
    )) {
      names.add(match[1] ?? '');
    }
    const sources = [
      ...['datasets', 'preferences', 'quantization', 'training', 'registry'].map((s) =>
        join(repoRoot, 'services', s, 'src'),
      ),
      join(repoRoot, 'libs', 'service-kit', 'src'),
    ];
    const code = sources
      .flatMap((dir) =>
        readdirSync(dir, { recursive: true, encoding: 'utf8' })
          .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))
          .map((f) => readFileSync(join(dir, f), 'utf8')),
      )
      .join('\n');
    const unread = [...names].filter(
      (name) =>
        !name.startsWith('OTEL_') && // read by the OpenTelemetry SDK (@lathe/telemetry)
        !code.includes(`'${name}'`),
    );
    expect(names.size).toBeGreaterThan(30);
    expect(unread).toEqual([]);
  });
});

describe('Chart.yaml', () => {
  const chart = readYaml('Chart.yaml') as Record<string, Value>;

  it('is a v2 application chart whose optional nats and postgresql dependencies have conditions', () => {
    expect(chart['apiVersion']).toBe('v2');
    expect(chart['name']).toBe('lathe');
    const dependencies = chart['dependencies'] as Record<string, string>[];
    expect(dependencies.map((d) => [d['name'], d['condition']])).toEqual([
      ['nats', 'nats.enabled'],
      ['postgresql', 'postgresql.enabled'],
    ]);
    for (const dependency of dependencies) {
      expect(valueAt(defaults, dependency['condition'] ?? '')).toBe(false);
    }
  });
});

describe('deploy/README.md', () => {
  // Free-form Kubernetes shapes are documented as a whole (`services.*.resources`), not per field.
  const WHOLE = new Set([
    'resources',
    'podSecurityContext',
    'securityContext',
    'nodeSelector',
    'tolerations',
    'affinity',
    'podAnnotations',
    'annotations',
    'env',
    'pdb',
    'nats',
    'postgresql',
  ]);
  function documentable(values: Value, prefix: string): string[] {
    if (typeof values !== 'object' || values === null || Array.isArray(values)) return [prefix];
    const entries = Object.entries(values);
    if (entries.length === 0) return [prefix];
    return entries.flatMap(([key, value]) => {
      const path = prefix === '' ? key : `${prefix}.${key}`;
      return WHOLE.has(key) ? [path] : documentable(value, path);
    });
  }

  it('documents every value of values.yaml in its table', () => {
    const readme = readFileSync(join(repoRoot, 'deploy', 'README.md'), 'utf8');
    const paths = documentable(defaults, '');
    expect(paths.length).toBeGreaterThan(60);
    const undocumented = paths.filter((path) => {
      const generic = path.replace(/^services\.[a-z]+\./, 'services.*.');
      return !readme.includes(`\`${path}\``) && !readme.includes(`\`${generic}\``);
    });
    expect(undocumented).toEqual([]);
  });
});
