import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { downloadHubModel, isHubModelId, wantedHubFile } from './hub-download.js';

describe('Hub model ids and files', () => {
  it('tells ids from paths', () => {
    expect(isHubModelId('karpathy/tinyllamas')).toBe(true);
    expect(isHubModelId('gpt2')).toBe(true);
    expect(isHubModelId('./models/x')).toBe(false);
    expect(isHubModelId('/abs/path')).toBe(false);
    expect(isHubModelId('a/b/c')).toBe(false);
    expect(isHubModelId('a/../b')).toBe(false);
  });

  it('keeps weights, config and tokenizer files at the top of the repository', () => {
    const kept = [
      'model.safetensors',
      'model-00001-of-00002.safetensors',
      'model.safetensors.index.json',
      'config.json',
      'generation_config.json',
      'tokenizer.json',
      'tokenizer_config.json',
      'tokenizer.model',
      'special_tokens_map.json',
    ];
    for (const f of kept) expect(wantedHubFile(f)).toBe(true);
    for (const f of ['pytorch_model.bin', 'README.md', 'onnx/model.safetensors', '.gitattributes'])
      expect(wantedHubFile(f)).toBe(false);
  });
});

describe('downloadHubModel over HTTP', () => {
  let server: Server;
  let endpoint = '';
  const requests: string[] = [];
  const files: Record<string, string> = {
    'config.json': '{"model_type":"llama"}',
    'model.safetensors': 'weights',
    'tokenizer.json': '{}',
    'README.md': 'not wanted',
  };
  const dir = mkdtempSync(join(tmpdir(), 'lathe-hub-'));
  beforeAll(async () => {
    // A local HTTP server answering the two Hub routes the download uses.
    server = createServer((req, res) => {
      const url = req.url ?? '';
      requests.push(`${url} ${req.headers.authorization ?? ''}`);
      if (url === '/api/models/acme/tiny/revision/main') {
        res.end(
          JSON.stringify({ siblings: Object.keys(files).map((rfilename) => ({ rfilename })) }),
        );
        return;
      }
      const prefix = '/acme/tiny/resolve/main/';
      const body = url.startsWith(prefix) ? files[url.slice(prefix.length)] : undefined;
      if (body === undefined) res.writeHead(404).end();
      else res.end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    endpoint = `http://127.0.0.1:${String((server.address() as AddressInfo).port)}`;
  });
  afterAll(() => {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('downloads the wanted files with the token, and not again on a second call', async () => {
    const out = join(dir, 'acme', 'tiny');
    await downloadHubModel('acme/tiny', out, { endpoint, token: 'secret' });
    expect(readFileSync(join(out, 'model.safetensors'), 'utf8')).toBe('weights');
    expect(readFileSync(join(out, 'config.json'), 'utf8')).toBe(files['config.json']);
    expect(requests.some((r) => r.includes('README.md'))).toBe(false);
    expect(requests.every((r) => r.endsWith('Bearer secret'))).toBe(true);
    const before = requests.length;
    await downloadHubModel('acme/tiny', out, { endpoint, token: 'secret' });
    expect(requests.length).toBe(before + 1); // the listing only
  });

  it('names the URL and status of an unknown model', async () => {
    await expect(downloadHubModel('acme/missing', join(dir, 'm'), { endpoint })).rejects.toThrow(
      /\/api\/models\/acme\/missing\/revision\/main answered HTTP 404/,
    );
  });

  it('says the Hub cannot be reached when nothing listens (offline)', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    await expect(
      downloadHubModel('acme/tiny', join(dir, 'o'), {
        endpoint: `http://127.0.0.1:${String(port)}`,
      }),
    ).rejects.toThrow(/cannot reach the Hugging Face Hub .*offline/);
  });
});
