/**
 * The payload store on S3 or an S3-compatible server (MinIO, Ceph, R2...), for workers and clients
 * on several machines. Credentials come from the AWS SDK's usual chain (AWS_ACCESS_KEY_ID and
 * AWS_SECRET_ACCESS_KEY, a profile, an instance role); they never appear in history or errors.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { PayloadStoreError, type BlobStore } from './store';

export interface S3StoreOptions {
  bucket: string;
  /** Put before every key (e.g. `baton/prod/`). */
  prefix?: string;
  /** An S3-compatible endpoint (e.g. http://minio:9000); path-style addressing is used with it. */
  endpoint?: string;
  /** Default: AWS_REGION, else us-east-1. */
  region?: string;
  /** A client of your own (its settings win over the three above). */
  client?: S3Client;
}

/**
 * Bodies as objects in an S3 bucket, under `prefix`.
 *
 * @example new S3BlobStore({ bucket: 'baton-payloads', prefix: 'prod/', endpoint: 'http://minio:9000' })
 */
export class S3BlobStore implements BlobStore {
  private client?: S3Client;
  private readonly prefix: string;

  constructor(private readonly opts: S3StoreOptions) {
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(opts.bucket))
      throw new PayloadStoreError(`payload store bucket '${opts.bucket}' is not an S3 bucket name`);
    this.prefix = opts.prefix ? opts.prefix.replace(/^\/+/, '').replace(/\/*$/, '/') : '';
    if (this.prefix === '/') this.prefix = '';
    if (opts.client) this.client = opts.client;
  }

  get location(): string {
    return `s3://${this.opts.bucket}/${this.prefix}${this.opts.endpoint ? ` (endpoint ${this.opts.endpoint})` : ''}`;
  }

  // The SDK is loaded on first use, so workers on the filesystem store never load it.
  private s3(): { client: S3Client; sdk: typeof import('@aws-sdk/client-s3') } {
    const sdk = require('@aws-sdk/client-s3') as typeof import('@aws-sdk/client-s3');
    this.client ??= new sdk.S3Client({
      region: this.opts.region ?? process.env.AWS_REGION ?? 'us-east-1',
      // Temporal retries the activity or the workflow task; the SDK's own retries stay few.
      maxAttempts: 3,
      // S3-compatible servers: path-style URLs, and checksums only where S3 requires them (many
      // servers refuse the SDK's default flexible checksums).
      ...(this.opts.endpoint && {
        endpoint: this.opts.endpoint,
        forcePathStyle: true,
        requestChecksumCalculation: 'WHEN_REQUIRED' as const,
        responseChecksumValidation: 'WHEN_REQUIRED' as const,
      }),
    });
    return { client: this.client, sdk };
  }

  async put(key: string, body: Uint8Array): Promise<void> {
    const { client, sdk } = this.s3();
    await client.send(
      new sdk.PutObjectCommand({
        Bucket: this.opts.bucket,
        Key: this.prefix + key,
        Body: body,
        ContentType: 'application/octet-stream',
      }),
    );
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    const { client, sdk } = this.s3();
    try {
      const out = await client.send(
        new sdk.GetObjectCommand({ Bucket: this.opts.bucket, Key: this.prefix + key }),
      );
      return out.Body ? await out.Body.transformToByteArray() : new Uint8Array();
    } catch (err) {
      const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
      if (e.name === 'NoSuchKey' || e.$metadata?.httpStatusCode === 404) return undefined;
      throw err;
    }
  }
}
