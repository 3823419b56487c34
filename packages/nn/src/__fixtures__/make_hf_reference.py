"""Regenerates hf-reference.safetensors with the Hugging Face reference writer (pip install safetensors numpy).

Written with safetensors 0.8.0; safetensors.test.ts checks our reader and writer against it.
"""
import numpy as np
from safetensors.numpy import save_file, load_file
t = {
 'model.layers.0.w': np.array([[1.5,-0.0],[np.float32(1e-45), 3]], dtype=np.float32),
 'd': np.array([np.pi], dtype=np.float64),
 'h': np.array([1.0, 65504, -2**-24], dtype=np.float16),
 'i64': np.array([-(2**62), 5], dtype=np.int64),
 'u64': np.array([2**64-1], dtype=np.uint64),
 'i32': np.array([-7], dtype=np.int32), 'u32': np.array([7], dtype=np.uint32),
 'i16': np.array([-3, 4], dtype=np.int16), 'u16': np.array([65535], dtype=np.uint16),
 'i8': np.array([-128], dtype=np.int8), 'u8': np.array([255, 0, 1], dtype=np.uint8),
 'b': np.array([True, False, True]), 'empty': np.zeros((0, 3), dtype=np.float32),
 'scalar': np.array(2.5, dtype=np.float32),
}
save_file(t, 'hf-reference.safetensors', metadata={'format': 'pt'})
