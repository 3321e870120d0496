import { MetricReader, type ResourceMetrics } from '@opentelemetry/sdk-metrics';

/**
 * A metric reader that exports nothing by itself: tests call {@link OnDemandMetricReader.read}
 * to see what the instruments recorded so far.
 */
export class OnDemandMetricReader extends MetricReader {
  /** Collects the current values of every instrument. Throws if collection reported errors. */
  async read(): Promise<ResourceMetrics> {
    const { resourceMetrics, errors } = await this.collect();
    if (errors.length > 0) {
      throw new AggregateError(errors, `metric collection failed with ${errors.length} error(s)`);
    }
    return resourceMetrics;
  }

  protected override onShutdown(): Promise<void> {
    return Promise.resolve();
  }

  protected override onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
}
