// The chart rendered without helm (src/chart/go-template.ts renders the subset of Go templates and
// Helm functions it uses), with the shipped example values: the Kubernetes objects themselves.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { ChartTemplates, TemplateRenderError } from '../src/chart/go-template.js';
import { mergeValues, type Value } from '../src/chart/merge-values.js';
import { trainingQueueNames } from '../src/training-queue.js';

const chartDir = fileURLToPath(new URL('../helm/lathe/', import.meta.url));
const read = (path: string): string => readFileSync(join(chartDir, path), 'utf8');
const templates = new ChartTemplates(
  new Map(readdirSync(join(chartDir, 'templates')).map((f) => [f, read(`templates/${f}`)])),
);
const defaults = parseAllDocuments(read('values.yaml'))[0]?.toJS() as Value;
const example = (name: string): Value =>
  parseAllDocuments(read(`examples/${name}`))[0]?.toJS() as Value;
const SERVICES = ['datasets', 'preferences', 'quantization', 'training', 'registry'] as const;
const PROTO_NAMES: Record<string, string> = {
  datasets: 'lathe.datasets.v1.DatasetService',
  preferences: 'lathe.preferences.v1.PreferenceService',
  quantization: 'lathe.quantization.v1.QuantizationService',
  training: 'lathe.training.v1.TrainingService',
  registry: 'lathe.registry.v1.RegistryService',
};

/** A rendered object or a part of one: untyped YAML, read through {@link dig}. */
type K8s = unknown;

/** The value at `path` (keys and list indexes) inside `value`, or `undefined`. */
function dig(value: K8s, ...path: (string | number)[]): K8s {
  let current = value;
  for (const key of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string | number, K8s>)[key];
  }
  return current;
}

/** The list at `path`, or an empty list. */
function list(value: K8s, ...path: (string | number)[]): K8s[] {
  const found = dig(value, ...path);
  return Array.isArray(found) ? (found as K8s[]) : [];
}

const nameOf = (object: K8s): string => String(dig(object, 'metadata', 'name'));
const podOf = (object: K8s): K8s => dig(object, 'spec', 'template', 'spec');
const containerOf = (object: K8s): K8s => dig(podOf(object), 'containers', 0);
const same = (a: K8s, b: K8s): boolean => JSON.stringify(a) === JSON.stringify(b);

interface Rendered {
  readonly objects: K8s[];
  readonly notes: string;
  get(kind: string, name: string): K8s;
  all(kind: string): K8s[];
}

function render(values: Value, release = 'lathe'): Rendered {
  const outputs = templates.render({
    values: mergeValues(defaults, values),
    release: { name: release, namespace: 'ml' },
    chart: { name: 'lathe', version: '0.1.0', appVersion: '0.1.0' },
  });
  const objects: K8s[] = [];
  for (const [file, text] of outputs) {
    if (file === 'NOTES.txt') continue;
    for (const document of parseAllDocuments(text)) {
      expect(document.errors, `${file}: ${String(document.errors[0]?.message)}`).toEqual([]);
      const object: K8s = document.toJS();
      if (object !== null && object !== undefined) objects.push(object);
    }
  }
  const find = (kind: string, name: string): K8s => {
    const found = objects.find((o) => dig(o, 'kind') === kind && nameOf(o) === name);
    if (found === undefined) throw new Error(`no ${kind} ${name}`);
    return found;
  };
  return {
    objects,
    notes: outputs.get('NOTES.txt') ?? '',
    get: find,
    all: (kind) => objects.filter((o) => dig(o, 'kind') === kind),
  };
}

/** A container's env entries by name. */
function env(container: K8s): Map<string, K8s> {
  return new Map(list(container, 'env').map((e) => [String(dig(e, 'name')), e]));
}

/** The plain value of env variable `name` of the first container of Deployment `deployment`. */
function envValue(chart: Rendered, deployment: string, name: string): K8s {
  return dig(env(containerOf(chart.get('Deployment', deployment))).get(name), 'value');
}

/** The secretKeyRef of env variable `name` of Deployment `deployment`. */
function envSecret(chart: Rendered, deployment: string, name: string): K8s {
  return dig(
    env(containerOf(chart.get('Deployment', deployment))).get(name),
    'valueFrom',
    'secretKeyRef',
  );
}

const dev = render(example('values-dev.yaml'));
const gpu = render(example('values-gpu-pool.yaml'));

describe('rendered objects, both examples', () => {
  it.each([
    ['values-dev.yaml', dev],
    ['values-gpu-pool.yaml', gpu],
  ])('%s: well-formed objects whose references hold', (_file, chart) => {
    const names = new Set<string>();
    for (const object of chart.objects) {
      expect(dig(object, 'apiVersion')).toBeTypeOf('string');
      expect(nameOf(object)).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
      const key = `${String(dig(object, 'kind'))}/${nameOf(object)}`;
      expect(names.has(key), key).toBe(false);
      names.add(key);
    }
    const data = dig(chart.get('ConfigMap', 'lathe-common'), 'data') as Record<string, K8s>;
    for (const value of Object.values(data)) expect(value).toBeTypeOf('string');
    for (const deployment of chart.all('Deployment')) {
      const pod = podOf(deployment);
      expect(dig(deployment, 'spec', 'template', 'metadata', 'labels')).toMatchObject(
        dig(deployment, 'spec', 'selector', 'matchLabels') as object,
      );
      expect(dig(pod, 'securityContext', 'runAsNonRoot')).toBe(true);
      const volumes = new Set(list(pod, 'volumes').map((v) => dig(v, 'name')));
      for (const container of list(pod, 'containers')) {
        expect(dig(container, 'securityContext', 'readOnlyRootFilesystem')).toBe(true);
        expect(dig(container, 'envFrom', 0, 'configMapRef', 'name')).toBe('lathe-common');
        const seen = new Set<K8s>();
        for (const variable of list(container, 'env')) {
          const name = String(dig(variable, 'name'));
          expect(seen.has(name), `${name} twice`).toBe(false);
          seen.add(name);
          // Kubernetes takes env values as strings only, and exactly one of value / valueFrom.
          const hasValue = dig(variable, 'value') !== undefined;
          expect(hasValue !== (dig(variable, 'valueFrom') !== undefined), name).toBe(true);
          if (hasValue) expect(dig(variable, 'value'), name).toBeTypeOf('string');
        }
        for (const mount of list(container, 'volumeMounts')) {
          expect(volumes).toContain(dig(mount, 'name'));
        }
      }
    }
    const owner = (selector: K8s): K8s =>
      chart
        .all('Deployment')
        .find((d) => same(dig(d, 'spec', 'selector', 'matchLabels'), selector));
    for (const service of chart.all('Service')) {
      const target = owner(dig(service, 'spec', 'selector'));
      expect(target, nameOf(service)).toBeDefined();
      const ports = new Set(list(containerOf(target), 'ports').map((p) => dig(p, 'name')));
      for (const port of list(service, 'spec', 'ports')) {
        expect(ports).toContain(dig(port, 'targetPort'));
      }
    }
    for (const budget of chart.all('PodDisruptionBudget')) {
      expect(owner(dig(budget, 'spec', 'selector', 'matchLabels')), nameOf(budget)).toBeDefined();
    }
  });

  it.each(SERVICES)(
    '%s: gRPC health probes on the port it listens on and the Service exposes',
    (name) => {
      for (const chart of [dev, gpu]) {
        const container = containerOf(chart.get('Deployment', `lathe-${name}`));
        const port = dig(
          list(container, 'ports').find((p) => dig(p, 'name') === 'grpc'),
          'containerPort',
        );
        expect(port).toBe(50061 + SERVICES.indexOf(name));
        expect(dig(container, 'args')).toEqual([name]);
        expect(dig(env(container).get(`LATHE_${name.toUpperCase()}_PORT`), 'value')).toBe(
          String(port),
        );
        expect(dig(container, 'startupProbe', 'grpc')).toEqual({
          port,
          service: PROTO_NAMES[name],
        });
        expect(dig(container, 'readinessProbe', 'grpc')).toEqual({
          port,
          service: PROTO_NAMES[name],
        });
        expect(dig(container, 'livenessProbe', 'grpc')).toEqual({ port });
        expect(dig(chart.get('Service', `lathe-${name}`), 'spec', 'ports', 0)).toMatchObject({
          name: 'grpc',
          port,
          targetPort: 'grpc',
        });
      }
    },
  );
});

describe('values-gpu-pool.yaml', () => {
  const trainer = gpu.get('Deployment', 'lathe-trainer');
  const pod = podOf(trainer);
  const worker = containerOf(trainer);

  it('asks each worker for 2 nvidia.com/gpu, places it on GPU nodes, gives it time to checkpoint', () => {
    expect(dig(worker, 'resources', 'requests', 'nvidia.com/gpu')).toBe(2);
    expect(dig(worker, 'resources', 'limits', 'nvidia.com/gpu')).toBe(2);
    expect(dig(worker, 'resources', 'limits', 'memory')).toBe('160Gi');
    expect(dig(worker, 'resources', 'limits', 'cpu')).toBeUndefined();
    expect(dig(pod, 'nodeSelector')).toEqual({ 'nvidia.com/gpu.product': 'NVIDIA-H100-80GB-HBM3' });
    expect(list(pod, 'tolerations')).toHaveLength(2);
    expect(dig(pod, 'affinity', 'nodeAffinity')).toBeDefined();
    expect(dig(pod, 'priorityClassName')).toBe('training-batch');
    expect(dig(pod, 'terminationGracePeriodSeconds')).toBe(1800);
    expect(dig(worker, 'image')).toBe('registry.example.com/ml/lathe-trainer:0.1.0');
    const scratch = list(pod, 'volumes').find((v) => dig(v, 'name') === 'scratch');
    expect(dig(scratch, 'ephemeral', 'volumeClaimTemplate', 'spec')).toMatchObject({
      storageClassName: 'local-nvme',
      resources: { requests: { storage: '500Gi' } },
    });
    expect(envValue(gpu, 'lathe-trainer', 'LATHE_WORKER_DEVICE')).toBe('cuda');
    expect(envValue(gpu, 'lathe-trainer', 'LATHE_WORKER_ACK_WAIT_MS')).toBe('60000');
    expect(envSecret(gpu, 'lathe-trainer', 'LATHE_TRAINING_DATABASE_URL')).toEqual({
      name: 'lathe-database',
      key: 'database-url',
    });
    expect(envSecret(gpu, 'lathe-trainer', 'NATS_URL')).toEqual({
      name: 'lathe-nats',
      key: 'nats-url',
    });
    expect(envSecret(gpu, 'lathe-trainer', 'LATHE_WORKER_TOKEN')).toMatchObject({
      name: 'lathe-service-tokens',
      optional: true,
    });
  });

  it('lets KEDA own the replica count, on the queue the workers pull', () => {
    expect(dig(trainer, 'spec', 'replicas')).toBeUndefined();
    const scaled = gpu.get('ScaledObject', 'lathe-trainer');
    expect(dig(scaled, 'apiVersion')).toBe('keda.sh/v1alpha1');
    expect(dig(scaled, 'spec', 'scaleTargetRef')).toEqual({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      name: 'lathe-trainer',
    });
    expect(dig(scaled, 'spec')).toMatchObject({
      minReplicaCount: 0,
      maxReplicaCount: 8,
      cooldownPeriod: 900,
    });
    const names = trainingQueueNames('cuda');
    expect(dig(scaled, 'spec', 'triggers')).toEqual([
      {
        type: 'nats-jetstream',
        metadata: {
          natsServerMonitoringEndpoint: 'nats-headless.messaging.svc:8222',
          account: '$G',
          stream: names.stream,
          consumer: names.consumer,
          lagThreshold: '1',
          activationLagThreshold: '0',
          useHttps: 'false',
        },
      },
    ]);
  });

  it('keeps the training service and the workers on the same ack wait and deliveries', () => {
    expect(envValue(gpu, 'lathe-training', 'LATHE_TRAINING_ACK_WAIT_MS')).toBe(
      envValue(gpu, 'lathe-trainer', 'LATHE_WORKER_ACK_WAIT_MS'),
    );
    expect(envValue(gpu, 'lathe-training', 'LATHE_TRAINING_MAX_DELIVERIES')).toBe(
      envValue(gpu, 'lathe-trainer', 'LATHE_WORKER_MAX_DELIVERIES'),
    );
    expect(envValue(gpu, 'lathe-training', 'LATHE_QUANTIZATION_ADDR')).toBe(
      'lathe-quantization:50063',
    );
  });

  it('uses the existing Secrets, creates none, exports OTLP, and honours minAvailable', () => {
    expect(gpu.all('Secret')).toEqual([]);
    expect(dig(gpu.get('ConfigMap', 'lathe-common'), 'data')).toMatchObject({
      LATHE_AUTH_MODE: 'jwt',
      LATHE_JWT_ISSUER: 'https://login.example.com/',
      LATHE_JWT_JWKS_URL: 'https://login.example.com/.well-known/jwks.json',
      OTEL_TRACES_EXPORTER: 'otlp',
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://otel-collector.observability.svc:4318',
      OTEL_TRACES_SAMPLER_ARG: '0.25',
      OTEL_RESOURCE_ATTRIBUTES:
        'service.namespace=ml,deployment.environment=lathe,team=ml-platform',
    });
    const datasets = dig(gpu.get('PodDisruptionBudget', 'lathe-datasets'), 'spec');
    expect(datasets).toMatchObject({ minAvailable: 2 });
    expect(dig(datasets, 'maxUnavailable')).toBeUndefined();
    expect(dig(gpu.get('PodDisruptionBudget', 'lathe-trainer'), 'spec', 'maxUnavailable')).toBe(1);
  });
});

describe('values-dev.yaml', () => {
  it('uses the subcharts: NATS and a composed PostgreSQL URL in the chart Secret', () => {
    expect(dig(dev.get('Secret', 'lathe-secrets'), 'stringData')).toEqual({
      'database-url': 'postgres://lathe:lathe-dev-only@lathe-postgresql:5432/lathe',
    });
    expect(envValue(dev, 'lathe-registry', 'NATS_URL')).toBe('nats://lathe-nats:4222');
    expect(dig(envSecret(dev, 'lathe-registry', 'LATHE_REGISTRY_STORE_URL'), 'name')).toBe(
      'lathe-secrets',
    );
    expect(dig(dev.get('ConfigMap', 'lathe-common'), 'data', 'LATHE_AUTH_MODE')).toBe('none');
    expect(dev.notes).toMatch(/WARNING: auth.mode is "none"/);
  });

  it('runs CPU workers without GPUs or autoscaling, and no service PDBs', () => {
    const trainer = dev.get('Deployment', 'lathe-trainer');
    const worker = containerOf(trainer);
    expect(dig(worker, 'resources', 'requests', 'nvidia.com/gpu')).toBeUndefined();
    expect(dig(worker, 'resources', 'limits', 'nvidia.com/gpu')).toBeUndefined();
    expect(envValue(dev, 'lathe-trainer', 'LATHE_WORKER_DEVICE')).toBe('cpu');
    expect(dig(trainer, 'spec', 'replicas')).toBe(1);
    expect(dev.all('ScaledObject')).toEqual([]);
    expect(dev.all('PodDisruptionBudget').map(nameOf)).toEqual(['lathe-trainer']);
  });
});

describe('other values', () => {
  const base = example('values-gpu-pool.yaml');

  it('refuses to render what cannot run, naming the value', () => {
    expect(() => render({})).toThrow(
      new TemplateRenderError('auth.issuer is required when auth.mode is jwt (LATHE_JWT_ISSUER)'),
    );
    expect(() => render(mergeValues(base, { database: { existingSecret: '' } }))).toThrow(
      /a database is required/,
    );
    expect(() => render(mergeValues(base, { externalNats: { existingSecret: '' } }))).toThrow(
      /NATS is required/,
    );
    expect(() => render(mergeValues(base, { externalNats: { monitoringEndpoint: '' } }))).toThrow(
      /trainer.autoscaling needs the NATS monitoring endpoint/,
    );
    expect(() => render(mergeValues(base, { auth: { jwtSecret: 'x'.repeat(32) } }))).toThrow(
      /exactly one key source/,
    );
  });

  it("gives the workers no MALLOC_ARENA_MAX by default (glibc's), and trainer.pool.mallocArenaMax when set", () => {
    for (const chart of [dev, gpu])
      expect(
        env(containerOf(chart.get('Deployment', 'lathe-trainer'))).has('MALLOC_ARENA_MAX'),
      ).toBe(false);
    const one = render(mergeValues(base, { trainer: { pool: { mallocArenaMax: 1 } } }));
    expect(envValue(one, 'lathe-trainer', 'MALLOC_ARENA_MAX')).toBe('1');
  });

  it("gives the training service its stranded-job sweep, lost-message and stale-attempt thresholds, the service's defaults unless set", () => {
    expect(envValue(gpu, 'lathe-training', 'LATHE_TRAINING_STRANDED_SWEEP_MS')).toBe('60000');
    expect(envValue(gpu, 'lathe-training', 'LATHE_TRAINING_QUEUED_LOST_AFTER_MS')).toBe('600000');
    expect(envValue(gpu, 'lathe-training', 'LATHE_TRAINING_STALE_ATTEMPT_MS')).toBe('120000');
    const tuned = render(
      mergeValues(base, {
        services: {
          training: {
            strandedSweepMs: 15_000,
            queuedLostAfterMs: 1_800_000,
            staleAttemptMs: 300_000,
          },
        },
      }),
    );
    expect(envValue(tuned, 'lathe-training', 'LATHE_TRAINING_STALE_ATTEMPT_MS')).toBe('300000');
    expect(envValue(tuned, 'lathe-training', 'LATHE_TRAINING_STRANDED_SWEEP_MS')).toBe('15000');
    expect(envValue(tuned, 'lathe-training', 'LATHE_TRAINING_QUEUED_LOST_AFTER_MS')).toBe(
      '1800000',
    );
  });

  it('keeps an inline NATS URL (it may hold the artifact store credentials) in the chart Secret', () => {
    const chart = render(
      mergeValues(base, {
        externalNats: { existingSecret: '', url: 'nats://lathe:pw@nats.messaging:4222' },
        database: { existingSecret: '', url: 'postgres://lathe:pw@pg:5432/lathe' },
      }),
    );
    expect(dig(chart.get('Secret', 'lathe-secrets'), 'stringData')).toEqual({
      'database-url': 'postgres://lathe:pw@pg:5432/lathe',
      'nats-url': 'nats://lathe:pw@nats.messaging:4222',
    });
    for (const deployment of ['lathe-registry', 'lathe-datasets', 'lathe-trainer']) {
      expect(envSecret(chart, deployment, 'NATS_URL')).toEqual({
        name: 'lathe-secrets',
        key: 'nats-url',
      });
    }
  });

  it('names objects after a release that already says lathe, and its subcharts after it', () => {
    const chart = render(example('values-dev.yaml'), 'lathe-prod');
    expect(envValue(chart, 'lathe-prod-registry', 'NATS_URL')).toBe('nats://lathe-prod-nats:4222');
    expect(
      String(dig(chart.get('Secret', 'lathe-prod-secrets'), 'stringData', 'database-url')),
    ).toContain('@lathe-prod-postgresql:5432/');
  });

  it('shares one artifact volume between datasets, quantization, registry and the workers', () => {
    const chart = render(
      mergeValues(base, { artifacts: { store: 'volume', existingClaim: 'lathe-artifacts' } }),
    );
    for (const name of ['datasets', 'quantization', 'registry', 'trainer']) {
      const deployment = chart.get('Deployment', `lathe-${name}`);
      expect(list(podOf(deployment), 'volumes')).toContainEqual({
        name: 'artifacts',
        persistentVolumeClaim: { claimName: 'lathe-artifacts' },
      });
      expect(list(containerOf(deployment), 'volumeMounts')).toContainEqual({
        name: 'artifacts',
        mountPath: '/var/lib/lathe/artifacts',
      });
    }
    const dir = '/var/lib/lathe/artifacts';
    expect(envValue(chart, 'lathe-registry', 'LATHE_REGISTRY_ARTIFACTS')).toBe(dir);
    expect(envValue(chart, 'lathe-datasets', 'LATHE_DATASETS_ARTIFACT_STORE')).toBe('local');
    expect(envValue(chart, 'lathe-trainer', 'LATHE_WORKER_ARTIFACTS')).toBe(dir);
    expect(envValue(chart, 'lathe-quantization', 'LATHE_QUANTIZATION_REGISTRY_ARTIFACTS')).toBe(
      dir,
    );
  });

  it('leaves out what is disabled, and the addresses that would point at it', () => {
    const chart = render(
      mergeValues(base, {
        trainer: { enabled: false },
        services: { datasets: { enabled: false } },
      }),
    );
    expect(chart.objects.filter((o) => nameOf(o) === 'lathe-trainer')).toEqual([]);
    expect(chart.objects.filter((o) => nameOf(o) === 'lathe-datasets')).toEqual([]);
    const preferences = env(containerOf(chart.get('Deployment', 'lathe-preferences')));
    expect(preferences.has('LATHE_PREFERENCES_DATASETS_ADDRESS')).toBe(false);
  });
});
