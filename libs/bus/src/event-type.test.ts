import { describe, expect, it } from 'vitest';
import { rawBytesCodec } from './codec.js';
import { deadLetterOf, defineEvent } from './event-type.js';

describe('defineEvent', () => {
  it('derives the subject and the per-service stream', () => {
    const type = defineEvent('quantization', 'model_quantized', rawBytesCodec);
    expect(type).toMatchObject({
      subject: 'lathe.quantization.model_quantized',
      stream: 'LATHE_QUANTIZATION',
      streamSubjects: 'lathe.quantization.>',
    });
    expect(defineEvent('my-svc', 'x', rawBytesCodec).stream).toBe('LATHE_MY_SVC');
  });

  it('names the dead-letter subject after the original', () => {
    const letter = deadLetterOf(defineEvent('datasets', 'version_created', rawBytesCodec));
    expect(letter).toMatchObject({
      subject: 'lathe.deadletter.datasets.version_created',
      stream: 'LATHE_DEADLETTER',
      streamSubjects: 'lathe.deadletter.>',
    });
  });

  it('refuses names that would break subjects or collide with the bus', () => {
    expect(() => defineEvent('data.sets', 'x', rawBytesCodec)).toThrow(
      /service "data.sets" is not a valid name/,
    );
    expect(() => defineEvent('datasets', 'a>b', rawBytesCodec)).toThrow(/event "a>b"/);
    expect(() => defineEvent('deadletter', 'x', rawBytesCodec)).toThrow(/reserved/);
  });
});
