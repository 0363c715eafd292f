//! Hand-written CPU kernels for the hot path of quantized inference.
//!
//! The block formats are those of ggml (llama.cpp's tensor library, `ggml-common.h`): a tensor row is a
//! sequence of fixed-size blocks, each holding a scale (and for some formats a minimum) plus packed
//! integer quants. This crate knows those layouts and nothing about models.
//!
//! Why hand-written: decode reads every weight once per token, so the quantized dot product *is* the
//! inner loop of generation. candle 0.11 has no SIMD kernel for Q4_1 at all (see
//! `shared/MEASUREMENTS.md`), and its tiled VNNI kernels need an inner dimension divisible by 256,
//! which SmolLM2's 576 is not. Here every hot format has an AVX-512 VNNI, an AVX2 and a portable
//! path, chosen once at run time (`cpu::features`) so one binary runs on any x86-64 or ARM machine.
//!
//! * [`GgmlType`] — the block formats, their sizes and ids as stored in GGUF files.
//! * [`dequant`] — scalar reference dequantization of every supported format.
//! * [`q8`] — activation quantization into 32-wide int8 blocks (the "Q8" side of every dot product).
//! * [`dot`] — quantized-weight · quantized-activation dot products, runtime dispatched.
//! * [`f32ops`] — the f32 vector primitives used by attention and the fallback path.
//! * [`matmul`] — rows × tokens products, parallel over output rows.
//! * [`packed`] — Q4_1 repacked sixteen rows at a time, for products over many tokens.
//! * [`conv2d`] — f32 2-D convolution as im2col + GEMM or Winograd F(2×2, 3×3), with its backward
//!   pass (diffusion UNets).

pub mod conv2d;
pub mod cpu;
pub mod dequant;
pub mod dot;
pub mod f32ops;
pub mod matmul;
pub mod packed;
pub mod q8;
mod types;

pub use matmul::{MatmulScratch, QWeight, matmul};
pub use packed::{Packed, matmul_packed};
pub use q8::Q8Acts;
pub use types::{GgmlType, KernelError};
