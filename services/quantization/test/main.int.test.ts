import { fileURLToPath } from 'node:url';
import { QuantizationScheme } from '@lathe/contracts/lathe/quantization/v1/quantization_job';
import {
  QuantizationServiceService,
  QuantizeModelRequest,
} from '@lathe/contracts/lathe/quantization/v1/quantization_service';
import { describeServiceProcess } from '@lathe/service-kit/testing';

describeServiceProcess({
  entry: fileURLToPath(new URL('../src/main.ts', import.meta.url)),
  service: 'quantization',
  fullName: 'lathe.quantization.v1.QuantizationService',
  definition: QuantizationServiceService,
  role: 'model-editor',
  method: 'QuantizeModel',
  malformed: (c) =>
    c.quantizeModel(
      QuantizeModelRequest.fromPartial({ source: { name: 'Llama' }, outputName: '' }),
    ),
  malformedFields: ['source.name', 'spec', 'outputName'],
  valid: (c) =>
    c.quantizeModel(
      QuantizeModelRequest.fromPartial({
        source: { name: 'llama' },
        spec: { scheme: QuantizationScheme.QUANTIZATION_SCHEME_NF4 },
        outputName: 'llama-nf4',
      }),
    ),
});
