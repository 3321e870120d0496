import type { EventCodec } from '@lathe/bus';

/** The payload the bus tests publish. */
export interface TestEvent {
  readonly n: number;
  readonly text: string;
}

/** A codec of the ts-proto shape, over JSON, so the tests need no generated contracts. */
export const testEventCodec: EventCodec<TestEvent> = {
  encode: (message) => ({ finish: () => new TextEncoder().encode(JSON.stringify(message)) }),
  decode: (bytes) => {
    const value: unknown = JSON.parse(new TextDecoder().decode(bytes));
    if (
      typeof value !== 'object' ||
      value === null ||
      !('n' in value) ||
      typeof value.n !== 'number'
    ) {
      throw new Error('not a TestEvent');
    }
    return {
      n: value.n,
      text: 'text' in value && typeof value.text === 'string' ? value.text : '',
    };
  },
};
