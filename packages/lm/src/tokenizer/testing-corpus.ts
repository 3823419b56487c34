/**
 * Strings that stress a byte-level tokenizer: scripts, emoji sequences, combining marks, whitespace
 * runs, control characters, contractions, digits, and text that looks like special tokens. Shared by
 * tests and the benchmark.
 */
export const TRICKY_STRINGS: readonly string[] = [
  '',
  ' ',
  'Hello, world!',
  "I'll take two. We're done, aren't we? DON'T stop; she'd've said 'no'.",
  '   leading and trailing spaces   ',
  'tabs\tand\nnewlines\r\nand\u000bvertical\ftabs',
  '\n\n\n\nparagraphs\n\n',
  'emoji 😀👍🏽 family 👨‍👩‍👧‍👦 flag 🇯🇵 keycap 1️⃣',
  '日本語のテキストと中文文本，还有한국어 텍스트。',
  'combining: e\u0301 a\u0308\u0323 Z\u0335\u0321\u0327a\u0336\u0358l\u0338g\u0334o',
  'Ελληνικά, русский, עברית, العربية, हिन्दी, ไทย',
  '\uFEFFBOM at the start and \u200b zero width \u200d joiners',
  'numbers 0 1 12 123 1234 3.14159 -42 1e10 ١٢٣ ⅷ',
  'price $59.99 (20% off) -> €47.99; code SAVE10-123 #12345',
  'special lookalikes: <|user <|usr|> <|user| |user|> <|strategy:nope|> << | >> <||>',
  'real specials inline: hi<|user|>there<|agent|><|end|><|strategy:recommend|>x',
  'nested <|<|user|>|> and <|end|><|end|>',
  'control \u0000\u0001\u001f\u007f\u0085 chars',
  'private use \uE000 and astral 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𐍈 𓂀',
  "it's 'quoted' ''double'' '''",
  'x'.repeat(300),
  ' '.repeat(50) + 'end',
  'a\u00a0b\u2003c\u3000d',
];
