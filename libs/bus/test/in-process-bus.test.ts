import { InProcessBroker } from '@lathe/bus';
import { describeBusConformance } from './bus-conformance.js';

let broker = new InProcessBroker();

describeBusConformance('in-process', () => ({
  connect: () => Promise.resolve(broker.connect()),
  cleanUp: () => {
    // A fresh broker per test: nothing shared survives into the next one.
    broker = new InProcessBroker();
    return Promise.resolve();
  },
}));
