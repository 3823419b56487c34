/**
 * GPT-2's byte-level alphabet: every byte 0..255 gets a printable stand-in character so that BPE
 * tokens are ordinary strings (as tokenizer.json stores them) while covering arbitrary bytes. Bytes
 * that are printable Latin-1 map to themselves; the other 68 map to U+0100.. in byte order.
 */
function buildByteToUnicode(): string[] {
  const printable = (b: number) =>
    (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  const out = new Array<string>(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    out[b] = printable(b) ? String.fromCharCode(b) : String.fromCharCode(256 + extra++);
  }
  return out;
}

/** The byte-level character standing for each byte value. */
export const BYTE_TO_UNICODE: readonly string[] = buildByteToUnicode();

/** Inverse of BYTE_TO_UNICODE, by UTF-16 code unit (all stand-ins are single code units). */
export const UNICODE_TO_BYTE: ReadonlyMap<string, number> = new Map(BYTE_TO_UNICODE.map((c, b) => [c, b]));

/**
 * The GPT-2 pre-tokenization split, the one the ByteLevel pre-tokenizer of tokenizer.json applies
 * when `use_regex` is true (both in the Rust crate and in @huggingface/tokenizers): English
 * contractions, an optional space plus a run of letters, of digits, or of other symbols, and
 * whitespace runs where the last space stays with the following word. It covers every character,
 * so concatenating the pieces gives back the input.
 */
export const PRETOKENIZE_PATTERN =
  /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

/** Splits text into pre-tokens (words) with PRETOKENIZE_PATTERN. */
export function pretokenize(text: string): string[] {
  return text.match(new RegExp(PRETOKENIZE_PATTERN)) ?? [];
}

const encoder = new TextEncoder();

/** The UTF-8 bytes of `text` written in the byte-level alphabet (how a word appears in the vocab). */
export function toByteLevel(text: string): string {
  let out = '';
  for (const b of encoder.encode(text)) out += BYTE_TO_UNICODE[b]!;
  return out;
}

/** The bytes a byte-level token string stands for; throws on a character outside the alphabet. */
export function byteLevelToBytes(token: string): Uint8Array {
  const out = new Uint8Array(token.length);
  for (let i = 0; i < token.length; i++) {
    const b = UNICODE_TO_BYTE.get(token[i]!);
    if (b === undefined) {
      throw new RangeError(
        `character U+${token.charCodeAt(i).toString(16).padStart(4, '0')} is not byte-level`,
      );
    }
    out[i] = b;
  }
  return out;
}
