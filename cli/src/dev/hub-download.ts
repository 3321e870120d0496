// Downloads a Hugging Face model repository's files through the Hub's HTTP API, for `lathe dev
// --model owner/name` where no local folder of that name exists.
import { createWriteStream, existsSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';

/** `owner/name` or `name`: what the Hub accepts as a model id. */
const MODEL_ID = /^[A-Za-z0-9][\w.-]*(\/[A-Za-z0-9][\w.-]*)?$/;

/** Whether `text` reads as a Hub model id rather than a path. */
export function isHubModelId(text: string): boolean {
  return MODEL_ID.test(text) && !text.startsWith('.') && !text.includes('..');
}

/** Files of a model repository that the engine reads (weights, config, tokenizer). */
export function wantedHubFile(path: string): boolean {
  const name = path.split('/').at(-1) ?? path;
  return (
    !path.includes('/') &&
    (name.endsWith('.safetensors') ||
      name === 'model.safetensors.index.json' ||
      name === 'config.json' ||
      name === 'generation_config.json' ||
      name.startsWith('tokenizer') ||
      name === 'special_tokens_map.json')
  );
}

/** Options of {@link downloadHubModel}. */
export interface HubDownloadOptions {
  /** Hub base URL. Default `HF_ENDPOINT`, else https://huggingface.co. */
  readonly endpoint?: string;
  /** Bearer token for gated models. Default `HF_TOKEN`. */
  readonly token?: string;
  /** Git revision. Default `main`. */
  readonly revision?: string;
  /** Progress lines. */
  readonly log?: (line: string) => void;
}

/**
 * Downloads model `id`'s safetensors weights, config and tokenizer files into `dir` (kept when
 * already complete: a second run does not download again). Each file is written beside its
 * final name and renamed when whole.
 *
 * @throws Error naming the URL when the Hub cannot be reached (offline) or answers an error
 */
export async function downloadHubModel(
  id: string,
  dir: string,
  options: HubDownloadOptions = {},
): Promise<string> {
  const endpoint = (
    options.endpoint ??
    process.env['HF_ENDPOINT'] ??
    'https://huggingface.co'
  ).replace(/\/$/, '');
  const token = options.token ?? process.env['HF_TOKEN'];
  const revision = options.revision ?? 'main';
  const headers: Record<string, string> =
    token === undefined ? {} : { authorization: `Bearer ${token}` };
  const infoUrl = `${endpoint}/api/models/${id}/revision/${encodeURIComponent(revision)}`;
  const info = (await fetchOk(infoUrl, headers).then((r) => r.json())) as {
    siblings?: Array<{ rfilename?: string }>;
  };
  const files = (info.siblings ?? [])
    .map((s) => s.rfilename ?? '')
    .filter((name) => wantedHubFile(name));
  if (!files.some((f) => f.endsWith('.safetensors')))
    throw new Error(
      `${id} has no safetensors weights at the top of the repository (files: ${files.join(', ') || 'none'})`,
    );
  await mkdir(dir, { recursive: true });
  for (const file of files) {
    const target = join(dir, file);
    if (existsSync(target)) continue;
    options.log?.(`downloading ${id}/${file}`);
    const url = `${endpoint}/${id}/resolve/${encodeURIComponent(revision)}/${file}`;
    const response = await fetchOk(url, headers);
    if (response.body === null) throw new Error(`${url} answered no body`);
    await mkdir(dirname(target), { recursive: true });
    const partial = `${target}.partial`;
    try {
      await pipeline(
        Readable.fromWeb(response.body as WebReadableStream<Uint8Array>),
        createWriteStream(partial),
      );
      await rename(partial, target);
    } catch (error) {
      await rm(partial, { force: true });
      throw error;
    }
  }
  return dir;
}

async function fetchOk(url: string, headers: Record<string, string>): Promise<Response> {
  let response: Response;
  try {
    response = await fetch(url, { headers, redirect: 'follow' });
  } catch (error) {
    const cause = error instanceof Error && error.cause instanceof Error ? error.cause.message : '';
    throw new Error(
      `cannot reach the Hugging Face Hub at ${url} (offline? set HF_ENDPOINT for a mirror, or pass a model folder)${cause === '' ? '' : `: ${cause}`}`,
      { cause: error },
    );
  }
  if (!response.ok)
    throw new Error(
      `${url} answered HTTP ${String(response.status)}${response.status === 401 || response.status === 403 ? ' (gated or private: set HF_TOKEN)' : ''}`,
    );
  return response;
}
