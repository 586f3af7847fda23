// Strict UTF-8 decoding of dataset bytes: bytes that are not UTF-8 are an error naming where they
// are, never a silent U+FFFD in the training text.

const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * The offset of the first byte that does not begin a well-formed UTF-8 sequence (overlong forms,
 * surrogates and code points past U+10FFFF are not), or -1 when every byte does.
 */
export function invalidUtf8Offset(bytes: Uint8Array): number {
  for (let i = 0; i < bytes.length; ) {
    const b = bytes[i]!;
    if (b < 0x80) {
      i++;
      continue;
    }
    let more: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) more = 1;
    else if (b >= 0xe0 && b <= 0xef) {
      more = 2;
      if (b === 0xe0) lo = 0xa0;
      else if (b === 0xed) hi = 0x9f;
    } else if (b >= 0xf0 && b <= 0xf4) {
      more = 3;
      if (b === 0xf0) lo = 0x90;
      else if (b === 0xf4) hi = 0x8f;
    } else return i;
    for (let k = 1; k <= more; k++) {
      const c = bytes[i + k];
      if (c === undefined || c < (k === 1 ? lo : 0x80) || c > (k === 1 ? hi : 0xbf)) return i;
    }
    i += more + 1;
  }
  return -1;
}

/** The bytes as text (a BOM is kept, as U+FEFF), or the offset of the first byte that is not UTF-8. */
export function decodeUtf8(bytes: Uint8Array): string | { invalidAt: number } {
  try {
    return decoder.decode(bytes);
  } catch {
    return { invalidAt: Math.max(0, invalidUtf8Offset(bytes)) };
  }
}

/** `byte 0xE9 at byte 4` for messages: the byte `bytes[offset]`, at its 1-based `position` (in the line, the value...). */
export function describeInvalidByte(bytes: Uint8Array, offset: number, position = offset + 1): string {
  return `byte 0x${bytes[offset]!.toString(16).toUpperCase().padStart(2, '0')} at byte ${position}`;
}

/** A UTF-16 byte order mark at the start: the usual reason a whole file is not UTF-8. */
export const looksLikeUtf16 = (bytes: Uint8Array): boolean =>
  bytes.length >= 2 && ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff));
