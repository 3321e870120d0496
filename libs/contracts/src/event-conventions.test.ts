// Every event in proto/lathe/<service>/v1/events.proto follows the conventions consumers rely on:
// `event_id = 1` (the Nats-Msg-Id), `occurred_at = 2`, and a documented subject
// `lathe.<service>.<event_snake>`. Checked on the proto sources, so a new event cannot skip them.
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const latheDir = fileURLToPath(new URL('../../../proto/lathe/', import.meta.url));
const services = readdirSync(latheDir).filter((name) => name !== 'common');

/** Top-level messages of a proto file with the comment lines right above each. */
function topLevelMessages(source: string): { name: string; comment: string; body: string }[] {
  const found: { name: string; comment: string; body: string }[] = [];
  const pattern = /((?:^\/\/.*\n)*)^message (\w+) \{\n([\s\S]*?)^\}/gm;
  for (const match of source.matchAll(pattern)) {
    found.push({ comment: match[1] ?? '', name: match[2] ?? '', body: match[3] ?? '' });
  }
  return found;
}

function snake(name: string): string {
  return name.replace(/(?<!^)([A-Z])/g, '_$1').toLowerCase();
}

describe('event conventions', () => {
  it('finds the five services', () => {
    expect(services.sort()).toEqual([
      'datasets',
      'preferences',
      'quantization',
      'registry',
      'training',
    ]);
  });

  for (const service of services) {
    const source = readFileSync(`${latheDir}${service}/v1/events.proto`, 'utf8');
    const messages = topLevelMessages(source);

    it(`${service}: every event has event_id = 1, occurred_at = 2 and its subject documented`, () => {
      expect(messages.length).toBeGreaterThan(0);
      for (const message of messages) {
        expect(message.body, message.name).toMatch(/^\s*string event_id = 1;$/m);
        expect(message.body, message.name).toMatch(
          /^\s*google\.protobuf\.Timestamp occurred_at = 2;$/m,
        );
        // The work-queue message is the one documented exception (see its comment).
        const subject =
          message.name === 'JobQueued'
            ? 'lathe.work.training-cpu or lathe.work.training-cuda'
            : `lathe.${service}.${snake(message.name)}`;
        expect(message.comment, message.name).toContain(`// Subject: ${subject}`);
      }
    });
  }
});
