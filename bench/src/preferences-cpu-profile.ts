// Loaded into the preferences service by `preferences-throughput.ts --cpu-prof DIR` (through
// NODE_OPTIONS=--import, since Node 20 refuses --cpu-prof there): records a V8 CPU profile of the
// whole process and writes it to $LATHE_BENCH_CPU_PROFILE when the process exits.
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';

const target = process.env['LATHE_BENCH_CPU_PROFILE'];
if (target !== undefined) {
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: 200 });
  session.post('Profiler.start');
  // A same-thread inspector session answers synchronously, so this completes inside 'exit'.
  process.on('exit', () => {
    session.post('Profiler.stop', (error, result) => {
      if (error === null) writeFileSync(target, JSON.stringify(result.profile));
    });
  });
}
