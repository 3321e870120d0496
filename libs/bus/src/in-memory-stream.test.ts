import { describe, expect, it } from 'vitest';
import { InMemoryStream } from './in-memory-stream.js';

const stream = (): InMemoryStream =>
  new InMemoryStream({
    name: 'LATHE_T',
    subjects: 'lathe.t.>',
    retention: 'limits',
    duplicateWindowMs: 1000,
  });
const message = (id: string) => ({
  stream: 'LATHE_T',
  subject: 'lathe.t.e',
  id,
  data: new Uint8Array(),
  headers: {},
});

describe('InMemoryStream duplicate window', () => {
  it('drops an id seen within the window and stores it again once the window has passed', () => {
    const s = stream();
    expect(s.store(message('a'), 0)).toEqual({ sequence: 1, duplicate: false });
    expect(s.store(message('a'), 999)).toEqual({ sequence: 1, duplicate: true });
    expect(s.store(message('b'), 999)).toEqual({ sequence: 2, duplicate: false });
    expect(s.store(message('a'), 1001)).toEqual({ sequence: 3, duplicate: false });
  });

  it('refuses a subject outside the stream', () => {
    expect(() => stream().store({ ...message('a'), subject: 'lathe.u.e' }, 0)).toThrow(
      'subject "lathe.u.e" is not part of stream LATHE_T ("lathe.t.>")',
    );
  });
});
