/**
 * A minimal PNG encoder for the report's example images: 8-bit grayscale or
 * RGB, no interlace, filter 0 on every row, zlib from Node. Enough for
 * 28x28 digits inlined as data: URIs (the report's CSP allows img-src data:).
 */
import * as zlib from 'zlib';
import { crc32 } from '../data/readers/npz';

function chunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])) >>> 0, 0);
  return Buffer.concat([head, data, crc]);
}

/** PNG bytes of an h x w image with `channels` 1 (gray) or 3 (RGB) 8-bit samples, row-major. */
export function encodePng(pixels: Uint8Array, width: number, height: number, channels: 1 | 3): Buffer {
  if (pixels.length !== width * height * channels) throw new Error(`png: ${pixels.length} samples for ${width}x${height}x${channels}`);
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = channels === 1 ? 0 : 2; // colour type: gray / truecolour
  const stride = width * channels;
  const raw = Buffer.alloc(height * (stride + 1));
  for (let r = 0; r < height; r++) {
    raw[r * (stride + 1)] = 0; // filter: none
    raw.set(pixels.subarray(r * stride, (r + 1) * stride), r * (stride + 1) + 1);
  }
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return Buffer.concat([signature, chunk('IHDR', ihdr), chunk('IDAT', zlib.deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

/** Float samples in [lo, hi] (clipped) to 8 bits. */
export function toBytes(values: ArrayLike<number>, lo: number, hi: number): Uint8Array {
  const out = new Uint8Array(values.length);
  const span = hi > lo ? hi - lo : 1;
  for (let i = 0; i < values.length; i++) out[i] = Math.round(255 * Math.min(1, Math.max(0, (values[i] - lo) / span)));
  return out;
}

export function pngDataUri(png: Buffer): string {
  return `data:image/png;base64,${png.toString('base64')}`;
}
