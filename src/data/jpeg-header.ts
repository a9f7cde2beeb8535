/**
 * What a JPEG's header says before any pixel is decoded: its size (the first SOF segment, the one libjpeg reads)
 * and its EXIF orientation (APP1 "Exif", IFD0 tag 0x0112). The size lets decoding refuse a 733-byte file that
 * declares 20000×20000 before allocating 1.2 GB; the orientation lets the libjpeg path show the image as the
 * user sees it, as sharp's auto-orientation and the browser do. Pure TypeScript, bounded: it walks segment
 * headers only and never reads past the bytes.
 */

/** The header facts of a JPEG. */
export interface JpegHeader {
  /** Image width in pixels as stored (before orientation). */
  width: number;
  /** Image height in pixels as stored. */
  height: number;
  /** EXIF orientation 1..8 (1 when absent or unreadable). */
  orientation: number;
}

const SOF_MARKERS = new Set([0xc0, 0xc1, 0xc2, 0xc3, 0xc5, 0xc6, 0xc7, 0xc9, 0xca, 0xcb, 0xcd, 0xce, 0xcf]);

/**
 * Reads the size and orientation of a JPEG from its segment headers; null when the bytes are not a JPEG or its
 * header cannot be walked to a frame header (then a decoder's own checks apply).
 */
export function readJpegHeader(bytes: Uint8Array): JpegHeader | null {
  if (bytes.length < 4 || bytes[0] !== 0xff || bytes[1] !== 0xd8) return null;
  let orientation = 1;
  let pos = 2;
  while (pos + 4 <= bytes.length) {
    if (bytes[pos] !== 0xff) return null;
    let marker = bytes[pos + 1]!;
    // Fill bytes: any number of 0xFF before a marker.
    while (marker === 0xff && pos + 2 < bytes.length) {
      pos += 1;
      marker = bytes[pos + 1]!;
    }
    if (marker === 0xd8 || (marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) {
      pos += 2;
      continue;
    }
    if (marker === 0xd9 || marker === 0xda) return null; // end of image or scan data before any frame header
    if (pos + 4 > bytes.length) return null;
    const length = (bytes[pos + 2]! << 8) | bytes[pos + 3]!;
    if (length < 2 || pos + 2 + length > bytes.length) return null;
    const body = pos + 4;
    if (marker === 0xe1 && orientation === 1) orientation = exifOrientation(bytes.subarray(body, pos + 2 + length));
    if (SOF_MARKERS.has(marker)) {
      if (length < 7) return null;
      const height = (bytes[body + 1]! << 8) | bytes[body + 2]!;
      const width = (bytes[body + 3]! << 8) | bytes[body + 4]!;
      return { width, height, orientation };
    }
    pos += 2 + length;
  }
  return null;
}

/** The orientation tag of an APP1 segment's body if it is EXIF, else 1. */
export function exifOrientation(app1: Uint8Array): number {
  if (app1.length < 14 || String.fromCharCode(...app1.subarray(0, 6)) !== 'Exif\0\0') return 1;
  const tiff = app1.subarray(6);
  const view = new DataView(tiff.buffer, tiff.byteOffset, tiff.byteLength);
  const order = String.fromCharCode(tiff[0]!, tiff[1]!);
  if (order !== 'II' && order !== 'MM') return 1;
  const little = order === 'II';
  if (view.getUint16(2, little) !== 42) return 1;
  const ifd = view.getUint32(4, little);
  if (ifd + 2 > tiff.length) return 1;
  const count = view.getUint16(ifd, little);
  for (let i = 0; i < count; i++) {
    const entry = ifd + 2 + i * 12;
    if (entry + 12 > tiff.length) return 1;
    if (view.getUint16(entry, little) !== 0x0112) continue;
    const type = view.getUint16(entry + 2, little);
    const value = type === 3 ? view.getUint16(entry + 8, little) : type === 4 ? view.getUint32(entry + 8, little) : 0;
    return value >= 1 && value <= 8 ? value : 1;
  }
  return 1;
}
