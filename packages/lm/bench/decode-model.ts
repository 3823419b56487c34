// The decode benchmark's model (5.0 M parameters), shared by decode.ts and profile-decode.ts so the
// profile is of the model the figures are about.
export const DECODE_BENCH_CONFIG = {
  model_type: 'llama',
  vocab_size: 4096,
  hidden_size: 256,
  intermediate_size: 688,
  num_hidden_layers: 4,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  max_position_embeddings: 1024,
  rms_norm_eps: 1e-5,
  tie_word_embeddings: false,
};
