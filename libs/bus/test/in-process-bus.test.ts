import { InProcessBroker } from '@lathe/bus';
import { describeBusConformance } from './bus-conformance.js';

let broker = new InProcessBroker();

describeBusConformance('in-process', () => ({
  connect: (settings) => Promise.resolve(broker.connect(settings)),
  cleanUp: () => {
    // A fresh broker per test: nothing shared survives into the next one.
    broker = new InProcessBroker();
    return Promise.resolve();
  },
}));
