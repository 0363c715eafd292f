//! Llama-family decoder-only transformer on GGUF weights (Touvron et al. 2023, "LLaMA"), as laid out
//! by llama.cpp's `llama` architecture: pre-norm blocks with RMSNorm (Zhang & Sennrich 2019), rotary
//! position embeddings (Su et al. 2021) on adjacent pairs — llama.cpp's converter permutes Q/K rows
//! so the GGUF weights use the "normal" (interleaved) rotation rather than HF's half-split —,
//! grouped-query attention (Ainslie et al. 2023) and a SwiGLU feed-forward (Shazeer 2020).
//!
//! Every projection runs on the quantized weights through `muse-kernels`; activations are f32. The KV
//! cache is preallocated per sequence and grows by doubling, so a decode step allocates nothing but
//! per-head score buffers, and GQA reads the shared K/V heads in place instead of repeating them.

use crate::error::ModelError;
use crate::gguf::{GgufFile, TensorInfo};
use crate::raw_safetensors::{RawSafetensors, RawTensor};
use crate::step_check::check_batch_step;
use muse_kernels::{GgmlType, MatmulScratch, Packed, QWeight, f32ops, matmul, matmul_packed};
use rayon::prelude::*;
use std::sync::Arc;

/// Longest run of prompt tokens pushed through the model at once (bounds scratch memory).
const PREFILL_CHUNK: usize = 512;

/// Hyper-parameters, from the `llama.*` metadata keys.
#[derive(Debug, Clone, PartialEq)]
pub struct LlamaConfig {
    pub n_layer: usize,
    pub dim: usize,
    pub n_head: usize,
    pub n_head_kv: usize,
    pub head_dim: usize,
    pub ffn_dim: usize,
    pub vocab: usize,
    pub context: usize,
    pub rope_base: f32,
    pub rope_dim: usize,
    /// Linear RoPE scaling: positions are divided by this.
    pub rope_linear_scale: f32,
    pub rope_style: RopeStyle,
    /// Q, K and V projections carry biases (Qwen2).
    pub attn_bias: bool,
    pub rms_eps: f32,
}

/// Which pairs of a head's values RoPE rotates together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RopeStyle {
    /// Adjacent pairs `(2i, 2i+1)`: GGUF `llama` (its converter permutes Q/K rows into this order).
    Interleaved,
    /// `(i, i + d/2)`: Hugging Face's `rotate_half` (llama.cpp's NEOX type).
    HalfSplit,
}

impl LlamaConfig {
    /// Read and validate the hyper-parameters: every size must be positive and consistent, so a
    /// crafted file fails here with a message instead of panicking or allocating wildly later.
    pub fn from_gguf(g: &GgufFile) -> Result<Self, ModelError> {
        let arch = g.architecture()?.to_string();
        let key = |k: &str| format!("{arch}.{k}");
        let size = |k: &str| -> Result<usize, ModelError> {
            let v = g.get_u64(&key(k))?;
            usize::try_from(v).ok().filter(|&v| v > 0).ok_or_else(|| {
                ModelError::Config(format!("`{}` must be a positive size, got {v}", key(k)))
            })
        };
        let size_or = |k: &str, default: usize| -> Result<usize, ModelError> {
            match g.get(&key(k)) {
                Some(_) => size(k),
                None => Ok(default),
            }
        };
        let n_head = size("attention.head_count")?;
        let dim = size("embedding_length")?;
        if !dim.is_multiple_of(n_head) {
            return Err(ModelError::Config(format!(
                "embedding_length {dim} is not divisible by head_count {n_head}"
            )));
        }
        let head_dim = size_or("attention.key_length", dim / n_head)?;
        if n_head.checked_mul(head_dim).is_none_or(|q| q > 1 << 24) {
            return Err(ModelError::Config(format!(
                "{n_head} heads of {head_dim} values is implausibly large"
            )));
        }
        let n_head_kv = size_or("attention.head_count_kv", n_head)?;
        if !n_head.is_multiple_of(n_head_kv) {
            return Err(ModelError::Config(format!(
                "head_count {n_head} is not a multiple of head_count_kv {n_head_kv}"
            )));
        }
        let tokens = g
            .get("tokenizer.ggml.tokens")
            .and_then(|v| v.as_array())
            .map(|a| a.len());
        let vocab = size_or("vocab_size", tokens.unwrap_or(0))?;
        if vocab == 0 {
            return Err(ModelError::Config("the vocabulary is empty".into()));
        }
        let rope_dim = size_or("rope.dimension_count", head_dim)?;
        if rope_dim > head_dim || rope_dim % 2 != 0 {
            return Err(ModelError::Config(format!(
                "rope dimension {rope_dim} does not fit head size {head_dim}"
            )));
        }
        let scaling = match g.get(&key("rope.scaling.type")) {
            Some(v) => v.as_str().ok_or_else(|| ModelError::WrongKeyType {
                key: key("rope.scaling.type"),
                expected: "a string",
            })?,
            None => "none",
        };
        let rope_linear_scale = match scaling {
            "none" => 1.0,
            "linear" => {
                let f = g.get_f64(&key("rope.scaling.factor"))?;
                if !(f.is_finite() && f > 0.0) {
                    return Err(ModelError::Config(format!(
                        "rope.scaling.factor must be > 0, got {f}"
                    )));
                }
                f as f32
            }
            other => {
                return Err(ModelError::Config(format!(
                    "RoPE scaling `{other}` is not supported (supported: none, linear)"
                )));
            }
        };
        let n_layer = size("block_count")?;
        // Each layer has nine tensors; a count the file cannot hold is corrupt, not a reason to
        // allocate.
        if n_layer > g.tensors().len() / 9 {
            return Err(ModelError::Config(format!(
                "block_count {n_layer} but the file has only {} tensors",
                g.tensors().len()
            )));
        }
        let float = |k: &str, default: f64| -> Result<f32, ModelError> {
            let v = match g.get(&key(k)) {
                Some(_) => g.get_f64(&key(k))?,
                None => default,
            };
            if v.is_finite() && v > 0.0 {
                Ok(v as f32)
            } else {
                Err(ModelError::Config(format!(
                    "`{}` must be a positive number, got {v}",
                    key(k)
                )))
            }
        };
        Ok(Self {
            n_layer,
            dim,
            n_head,
            n_head_kv,
            head_dim,
            ffn_dim: size("feed_forward_length")?,
            vocab,
            context: size("context_length")?,
            rope_base: float("rope.freq_base", 10_000.0)?,
            rope_dim,
            rope_linear_scale,
            rope_style: RopeStyle::Interleaved,
            attn_bias: false,
            rms_eps: float("attention.layer_norm_rms_epsilon", 1e-5)?,
        })
    }

    /// Check sizes that every weight source must satisfy (GGUF does this while reading).
    pub(crate) fn validate(&self) -> Result<(), ModelError> {
        let positive = [
            ("layers", self.n_layer),
            ("hidden size", self.dim),
            ("attention heads", self.n_head),
            ("key/value heads", self.n_head_kv),
            ("head size", self.head_dim),
            ("feed-forward size", self.ffn_dim),
            ("vocabulary", self.vocab),
            ("context", self.context),
        ];
        if let Some((what, _)) = positive.iter().find(|(_, v)| *v == 0) {
            return Err(ModelError::Config(format!("{what} must be positive")));
        }
        if !self.n_head.is_multiple_of(self.n_head_kv) {
            return Err(ModelError::Config(format!(
                "{} attention heads are not a multiple of {} key/value heads",
                self.n_head, self.n_head_kv
            )));
        }
        if self.rope_dim > self.head_dim || !self.rope_dim.is_multiple_of(2) {
            return Err(ModelError::Config(format!(
                "rope dimension {} does not fit head size {}",
                self.rope_dim, self.head_dim
            )));
        }
        if self
            .n_head
            .checked_mul(self.head_dim)
            .is_none_or(|q| q > 1 << 24)
            || self.dim > 1 << 20
        {
            return Err(ModelError::Config(format!(
                "{} heads of {} values is implausibly large",
                self.n_head, self.head_dim
            )));
        }
        Ok(())
    }

    fn q_dim(&self) -> usize {
        self.n_head * self.head_dim
    }
    fn kv_dim(&self) -> usize {
        self.n_head_kv * self.head_dim
    }
}

/// Which logits a forward pass returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogitsMode {
    /// Only the last position's (generation).
    Last,
    /// Every position's (scoring).
    All,
}

/// A weight matrix: where its bytes lie in the model's files, their format, and its shape.
#[derive(Debug, Clone)]
pub(crate) struct Mat {
    file: usize,
    start: usize,
    len: usize,
    ty: GgmlType,
    rows: usize,
    cols: usize,
    /// The same matrix repacked for multi-token products, where the format and CPU allow it.
    packed: Option<Arc<Packed>>,
}

impl Mat {
    fn from_gguf(info: &TensorInfo) -> Self {
        let (rows, cols) = info.rows_cols();
        Self {
            file: 0,
            start: info.start,
            len: info.len,
            ty: info.ty,
            rows,
            cols,
            packed: None,
        }
    }

    pub(crate) fn from_raw(t: &RawTensor, rows: usize, cols: usize) -> Self {
        Self {
            file: t.file,
            start: t.start,
            len: t.len,
            ty: t.ty,
            rows,
            cols,
            packed: None,
        }
    }
}

/// Give `m` its repacked copy, where its format and shape have a packed kernel on this CPU.
fn pack(store: &Store, m: &mut Mat) {
    if let Ok(w) = QWeight::new(m.ty, store.bytes(m), m.rows, m.cols) {
        m.packed = Packed::pack(&w).map(Arc::new);
    }
}

/// The files the weights are mapped from.
pub(crate) enum Store {
    Gguf(GgufFile),
    Safetensors(RawSafetensors),
}

impl Store {
    fn bytes(&self, m: &Mat) -> &[u8] {
        let whole = match self {
            Store::Gguf(g) => g.mapped(),
            Store::Safetensors(s) => s.file_bytes(m.file),
        };
        whole.get(m.start..m.start + m.len).unwrap_or(&[])
    }
}

pub(crate) struct Layer {
    pub(crate) attn_norm: Vec<f32>,
    pub(crate) ffn_norm: Vec<f32>,
    pub(crate) wq: Mat,
    pub(crate) wk: Mat,
    pub(crate) wv: Mat,
    pub(crate) wo: Mat,
    pub(crate) w_gate: Mat,
    pub(crate) w_up: Mat,
    pub(crate) w_down: Mat,
    /// Q/K/V biases (Qwen2), all three or none.
    pub(crate) bqkv: Option<[Vec<f32>; 3]>,
}

/// The tensors of a model, whatever file format they came from.
pub(crate) struct Parts {
    pub(crate) store: Store,
    pub(crate) cfg: LlamaConfig,
    pub(crate) layers: Vec<Layer>,
    pub(crate) tok_embd: Mat,
    pub(crate) output_norm: Vec<f32>,
    pub(crate) output: Mat,
    pub(crate) inv_freq: Vec<f32>,
}

/// A loaded Llama-architecture model.
pub struct Llama {
    store: Store,
    cfg: LlamaConfig,
    layers: Vec<Layer>,
    tok_embd: Mat,
    output_norm: Vec<f32>,
    output: Mat,
    inv_freq: Vec<f32>,
    exact_f32: bool,
}

/// Architectures this module runs (GGUF `general.architecture`).
pub const SUPPORTED_ARCHITECTURES: &[&str] = &["llama"];

fn matrix_info(g: &GgufFile, name: &str, rows: usize, cols: usize) -> Result<Mat, ModelError> {
    let info = g
        .tensor_info(name)
        .ok_or_else(|| ModelError::MissingTensor(name.into()))?;
    if info.rows_cols() != (rows, cols) {
        return Err(ModelError::TensorShape {
            name: name.into(),
            expected: vec![cols, rows],
            found: info.dims.clone(),
        });
    }
    // Validate the byte length once here so forward passes cannot fail on it.
    g.matrix(name)?;
    Ok(Mat::from_gguf(info))
}

/// Rotary frequencies `base^(-2i/rope_dim)`, each divided by its factor (Llama 3's
/// `rope_freqs.weight`, or [`llama3_factors`]).
pub(crate) fn inv_freq(base: f32, rope_dim: usize, factors: Option<&[f32]>) -> Vec<f32> {
    (0..rope_dim / 2)
        .map(|i| {
            let f = (base as f64).powf(-2.0 * i as f64 / rope_dim as f64);
            let k = factors.and_then(|v| v.get(i)).copied().unwrap_or(1.0) as f64;
            (f / k) as f32
        })
        .collect()
}

fn vector(g: &GgufFile, name: &str, len: usize) -> Result<Vec<f32>, ModelError> {
    let v = g.f32_vec(name)?;
    if v.len() != len {
        return Err(ModelError::TensorShape {
            name: name.into(),
            expected: vec![len],
            found: vec![v.len()],
        });
    }
    Ok(v)
}

/// An error naming the architecture unless this module runs it.
pub fn check_architecture(gguf: &GgufFile) -> Result<(), ModelError> {
    let arch = gguf.architecture()?;
    if SUPPORTED_ARCHITECTURES.contains(&arch) {
        return Ok(());
    }
    Err(ModelError::UnsupportedArchitecture {
        arch: arch.into(),
        supported: SUPPORTED_ARCHITECTURES.join(", "),
    })
}

impl Llama {
    /// Build the model over an opened GGUF file; checks every tensor's presence, type and shape.
    pub fn load(gguf: GgufFile) -> Result<Self, ModelError> {
        check_architecture(&gguf)?;
        let cfg = LlamaConfig::from_gguf(&gguf)?;
        let (d, qd, kvd, f) = (cfg.dim, cfg.q_dim(), cfg.kv_dim(), cfg.ffn_dim);
        let mut layers = Vec::with_capacity(cfg.n_layer);
        for i in 0..cfg.n_layer {
            let n = |s: &str| format!("blk.{i}.{s}.weight");
            let bias = |s: &str, len| vector(&gguf, &format!("blk.{i}.{s}.bias"), len);
            let bqkv = if cfg.attn_bias {
                Some([
                    bias("attn_q", qd)?,
                    bias("attn_k", kvd)?,
                    bias("attn_v", kvd)?,
                ])
            } else {
                None
            };
            layers.push(Layer {
                bqkv,
                attn_norm: vector(&gguf, &n("attn_norm"), d)?,
                ffn_norm: vector(&gguf, &n("ffn_norm"), d)?,
                wq: matrix_info(&gguf, &n("attn_q"), qd, d)?,
                wk: matrix_info(&gguf, &n("attn_k"), kvd, d)?,
                wv: matrix_info(&gguf, &n("attn_v"), kvd, d)?,
                wo: matrix_info(&gguf, &n("attn_output"), d, qd)?,
                w_gate: matrix_info(&gguf, &n("ffn_gate"), f, d)?,
                w_up: matrix_info(&gguf, &n("ffn_up"), f, d)?,
                w_down: matrix_info(&gguf, &n("ffn_down"), d, f)?,
            });
        }
        let tok_embd = matrix_info(&gguf, "token_embd.weight", cfg.vocab, d)?;
        // Tied embeddings: without `output.weight` the embedding matrix is the LM head.
        let output = match gguf.tensor_info("output.weight") {
            Some(_) => matrix_info(&gguf, "output.weight", cfg.vocab, d)?,
            None => tok_embd.clone(),
        };
        let output_norm = vector(&gguf, "output_norm.weight", d)?;
        let half = cfg.rope_dim / 2;
        // Llama 3.x ships per-frequency divisors for its long-context RoPE as `rope_freqs.weight`.
        let factors = match gguf.tensor_info("rope_freqs.weight") {
            Some(_) => vector(&gguf, "rope_freqs.weight", half)?,
            None => vec![1.0; half],
        };
        let inv_freq = inv_freq(cfg.rope_base, cfg.rope_dim, Some(&factors));
        Ok(Self::from_parts(Parts {
            store: Store::Gguf(gguf),
            cfg,
            layers,
            tok_embd,
            output_norm,
            output,
            inv_freq,
        }))
    }

    pub(crate) fn from_parts(mut p: Parts) -> Self {
        // `MUSE_EXACT_F32=1` selects the exact path for every cache this model creates.
        let exact_f32 = std::env::var("MUSE_EXACT_F32").is_ok_and(|v| v == "1");
        // `MUSE_PACKED=0` keeps every matrix in its file layout (for A/B measurements).
        if !std::env::var("MUSE_PACKED").is_ok_and(|v| v == "0") {
            for layer in &mut p.layers {
                for m in [
                    &mut layer.wq,
                    &mut layer.wk,
                    &mut layer.wv,
                    &mut layer.wo,
                    &mut layer.w_gate,
                    &mut layer.w_up,
                    &mut layer.w_down,
                ] {
                    pack(&p.store, m);
                }
            }
            pack(&p.store, &mut p.output);
        }
        Self {
            exact_f32,
            store: p.store,
            cfg: p.cfg,
            layers: p.layers,
            tok_embd: p.tok_embd,
            output_norm: p.output_norm,
            output: p.output,
            inv_freq: p.inv_freq,
        }
    }

    pub fn config(&self) -> &LlamaConfig {
        &self.cfg
    }

    /// The GGUF file the model was loaded from, if it was.
    pub fn gguf(&self) -> Option<&GgufFile> {
        match &self.store {
            Store::Gguf(g) => Some(g),
            Store::Safetensors(_) => None,
        }
    }

    fn w(&self, m: &Mat) -> Result<QWeight<'_>, ModelError> {
        Ok(QWeight::new(m.ty, self.store.bytes(m), m.rows, m.cols)?)
    }

    /// `out = x · mᵀ`, through the repacked matrix when there is one (it is at least as fast as the
    /// row kernels from one token up: `docs/benchmarks.md`, "Repacked kernels").
    fn mm(&self, m: &Mat, x: &[f32], s: &MatmulScratch, out: &mut [f32]) -> Result<(), ModelError> {
        match &m.packed {
            Some(p) if !s.is_exact_f32() => matmul_packed(p, x, s, out)?,
            _ => matmul(&self.w(m)?, x, s, out)?,
        }
        Ok(())
    }

    /// A fresh KV cache with room for `capacity` positions; it grows on demand (doubling) up to the
    /// context, so callers may pass a small first guess. The initial size is capped at 4096
    /// positions whatever is asked.
    pub fn new_cache(&self, capacity: usize) -> KvCache {
        let mut c = KvCache::new(&self.cfg, capacity.min(self.cfg.context).clamp(1, 4096));
        c.scratch.mm.set_exact_f32(self.exact_f32);
        c
    }

    /// Compute with f32 activations and dequantized weight rows instead of the quantized kernels
    /// (see `MatmulScratch::set_exact_f32`); applies to caches created afterwards.
    pub fn set_exact_f32(&mut self, exact: bool) {
        self.exact_f32 = exact;
    }

    /// Run `tokens` at the positions following what `cache` holds, append their keys and values to
    /// it, and write logits into `logits` (`vocab` values for `Last`, `tokens × vocab` for `All`).
    pub fn forward(
        &self,
        tokens: &[u32],
        cache: &mut KvCache,
        mode: LogitsMode,
        logits: &mut Vec<f32>,
    ) -> Result<(), ModelError> {
        let total = cache.len + tokens.len();
        if total > self.cfg.context {
            return Err(ModelError::ContextOverflow {
                tokens: total,
                context: self.cfg.context,
            });
        }
        if let Some(&id) = tokens.iter().find(|&&t| t as usize >= self.cfg.vocab) {
            return Err(ModelError::TokenOutOfRange {
                id,
                vocab: self.cfg.vocab,
            });
        }
        // Run the whole pass on a pool thread: the parallel loops inside then fork and join among
        // the workers, instead of each waking the pool from outside and putting this thread to
        // sleep (≈ 240 such round-trips a token cost ~20% of decode time).
        rayon::scope(|_| self.forward_in_pool(tokens, cache, mode, logits))
    }

    fn forward_in_pool(
        &self,
        tokens: &[u32],
        cache: &mut KvCache,
        mode: LogitsMode,
        logits: &mut Vec<f32>,
    ) -> Result<(), ModelError> {
        let vocab = self.cfg.vocab;
        logits.clear();
        let chunks: Vec<&[u32]> = tokens.chunks(PREFILL_CHUNK).collect();
        let n_chunks = chunks.len();
        for (ci, chunk) in chunks.into_iter().enumerate() {
            let last_chunk = ci + 1 == n_chunks;
            let hidden = self.forward_chunk(chunk, cache)?;
            let t = chunk.len();
            let rows = match mode {
                LogitsMode::All => 0..t,
                LogitsMode::Last if last_chunk => t - 1..t,
                LogitsMode::Last => continue,
            };
            let s = &mut cache.scratch;
            let x = &hidden[rows.start * self.cfg.dim..rows.end * self.cfg.dim];
            s.mm.prepare(x, self.cfg.dim);
            let start = logits.len();
            logits.resize(start + rows.len() * vocab, 0.0);
            self.mm(&self.output, x, &s.mm, &mut logits[start..])?;
        }
        Ok(())
    }

    /// One chunk through all layers; returns the final-normed hidden states (`t × dim`).
    fn forward_chunk(&self, tokens: &[u32], cache: &mut KvCache) -> Result<Vec<f32>, ModelError> {
        let cfg = &self.cfg;
        let (t, kvd) = (tokens.len(), cfg.kv_dim());
        let pos0 = cache.len;
        cache.reserve(pos0 + t, cfg.context)?;
        let KvCache { k, v, scratch, .. } = cache;
        let out = self.run_layers(tokens, pos0..pos0 + t, scratch, |li, s| {
            let (kc, vc) = (&mut k[li], &mut v[li]);
            kc[pos0 * kvd..(pos0 + t) * kvd].copy_from_slice(&s.k);
            vc[pos0 * kvd..(pos0 + t) * kvd].copy_from_slice(&s.v);
            attention(cfg, pos0, &s.q, kc, vc, &mut s.att);
        })?;
        cache.len = pos0 + t;
        Ok(out)
    }

    /// A fresh scratch space for [`Llama::forward_batch`].
    pub fn new_batch(&self) -> BatchScratch {
        let mut scratch = Scratch::default();
        scratch.mm.set_exact_f32(self.exact_f32);
        BatchScratch { scratch }
    }

    /// One decode step for several independent sequences at once: `tokens[i]` is appended to
    /// `caches[i]` at that cache's next position, and `logits` receives `tokens.len() × vocab`
    /// values, row `i` for sequence `i`.
    ///
    /// The projections see the batch as one `n`-row input, so each weight row is read once for all
    /// sequences (the multi-token kernels of prefill) instead of once per sequence; only attention
    /// runs per sequence, against that sequence's own cache.
    pub fn forward_batch(
        &self,
        tokens: &[u32],
        caches: &mut [&mut KvCache],
        batch: &mut BatchScratch,
        logits: &mut Vec<f32>,
    ) -> Result<(), ModelError> {
        let cfg = &self.cfg;
        let positions: Vec<usize> = caches.iter().map(|c| c.len).collect();
        check_batch_step(tokens, &positions, cfg.vocab, cfg.context)?;
        for c in caches.iter_mut() {
            c.reserve(c.len + 1, cfg.context)?;
        }
        rayon::scope(|_| -> Result<(), ModelError> {
            let kvd = cfg.kv_dim();
            let hidden = self.run_layers(
                tokens,
                positions.iter().copied(),
                &mut batch.scratch,
                |li, s| {
                    for (i, c) in caches.iter_mut().enumerate() {
                        let p = positions[i];
                        c.k[li][p * kvd..(p + 1) * kvd]
                            .copy_from_slice(&s.k[i * kvd..(i + 1) * kvd]);
                        c.v[li][p * kvd..(p + 1) * kvd]
                            .copy_from_slice(&s.v[i * kvd..(i + 1) * kvd]);
                    }
                    let kv: Vec<(&[f32], &[f32])> = caches
                        .iter()
                        .map(|c| (c.k[li].as_slice(), c.v[li].as_slice()))
                        .collect();
                    batch_attention(cfg, &positions, &s.q, &kv, &mut s.att);
                },
            )?;
            let s = &mut batch.scratch;
            s.mm.prepare(&hidden, cfg.dim);
            // Every value is overwritten below: no need to clear (3 MB of memset at batch 16).
            logits.resize(tokens.len() * cfg.vocab, 0.0);
            self.mm(&self.output, &hidden, &s.mm, logits)?;
            Ok(())
        })?;
        for c in caches.iter_mut() {
            c.len += 1;
        }
        Ok(())
    }

    /// Embed `tokens` (row `i` at position `positions[i]`) and run every layer; `attend(layer, s)`
    /// stores the layer's new keys/values (`s.k`, `s.v`) where they belong and writes the attention
    /// output of the queries `s.q` into `s.att`. Returns the final-normed hidden states.
    fn run_layers(
        &self,
        tokens: &[u32],
        positions: impl Iterator<Item = usize>,
        s: &mut Scratch,
        mut attend: impl FnMut(usize, &mut Scratch),
    ) -> Result<Vec<f32>, ModelError> {
        let cfg = &self.cfg;
        let (t, d, qd, ff) = (tokens.len(), cfg.dim, cfg.q_dim(), cfg.ffn_dim);
        s.resize(t, cfg);
        let embd = self.w(&self.tok_embd)?;
        for (i, &id) in tokens.iter().enumerate() {
            embd.dequantize_row(id as usize, &mut s.x[i * d..(i + 1) * d])?;
        }
        let (cos, sin) = self.rope_table(positions);
        for (li, layer) in self.layers.iter().enumerate() {
            // Attention block.
            rms_norm(&s.x, &layer.attn_norm, cfg.rms_eps, &mut s.h);
            s.mm.prepare(&s.h, d);
            self.mm(&layer.wq, &s.h, &s.mm, &mut s.q)?;
            self.mm(&layer.wk, &s.h, &s.mm, &mut s.k)?;
            self.mm(&layer.wv, &s.h, &s.mm, &mut s.v)?;
            if let Some([bq, bk, bv]) = &layer.bqkv {
                add_row_bias(&mut s.q, bq);
                add_row_bias(&mut s.k, bk);
                add_row_bias(&mut s.v, bv);
            }
            rope(&mut s.q, cfg, &cos, &sin);
            rope(&mut s.k, cfg, &cos, &sin);
            attend(li, s);
            s.mm.prepare(&s.att, qd);
            self.mm(&layer.wo, &s.att, &s.mm, &mut s.o)?;
            add_assign(&mut s.x, &s.o);
            // Feed-forward block: down(silu(gate(h)) * up(h)).
            rms_norm(&s.x, &layer.ffn_norm, cfg.rms_eps, &mut s.h);
            s.mm.prepare(&s.h, d);
            self.mm(&layer.w_gate, &s.h, &s.mm, &mut s.gate)?;
            self.mm(&layer.w_up, &s.h, &s.mm, &mut s.up)?;
            f32ops::silu_mul(&mut s.gate, &s.up);
            s.mm.prepare(&s.gate, ff);
            self.mm(&layer.w_down, &s.gate, &s.mm, &mut s.o)?;
            add_assign(&mut s.x, &s.o);
        }
        let mut out = vec![0.0; t * d];
        rms_norm(&s.x, &self.output_norm, cfg.rms_eps, &mut out);
        Ok(out)
    }

    /// cos/sin of every (position, frequency) pair of these rows.
    fn rope_table(&self, positions: impl Iterator<Item = usize>) -> (Vec<f32>, Vec<f32>) {
        let (mut cos, mut sin) = (Vec::new(), Vec::new());
        for p in positions {
            let pos = p as f32 / self.cfg.rope_linear_scale;
            for &f in &self.inv_freq {
                let a = pos * f;
                cos.push(a.cos());
                sin.push(a.sin());
            }
        }
        (cos, sin)
    }
}

fn add_assign(x: &mut [f32], y: &[f32]) {
    for (a, b) in x.iter_mut().zip(y) {
        *a += b;
    }
}

/// RMSNorm per row of `w.len()` values: x / sqrt(mean(x²) + eps) · w.
fn rms_norm(x: &[f32], w: &[f32], eps: f32, out: &mut [f32]) {
    let d = w.len();
    for (xr, or) in x.chunks_exact(d).zip(out.chunks_exact_mut(d)) {
        let ss: f64 = xr.iter().map(|v| (*v as f64) * (*v as f64)).sum();
        let scale = (1.0 / (ss / d as f64 + eps as f64).sqrt()) as f32;
        for ((o, v), g) in or.iter_mut().zip(xr).zip(w) {
            *o = v * scale * g;
        }
    }
}

/// Add `b` to every row of `x`.
fn add_row_bias(x: &mut [f32], b: &[f32]) {
    for row in x.chunks_exact_mut(b.len()) {
        add_assign(row, b);
    }
}

/// Rotate pairs of the first `rope_dim` values of every head (which pairs: [`RopeStyle`]).
fn rope(x: &mut [f32], cfg: &LlamaConfig, cos: &[f32], sin: &[f32]) {
    let (head_dim, rope_dim) = (cfg.head_dim, cfg.rope_dim);
    let half = rope_dim / 2;
    if half == 0 {
        return;
    }
    let tokens = cos.len() / half;
    let per_token = x.len() / tokens.max(1);
    for (t, row) in x.chunks_exact_mut(per_token).enumerate() {
        let (c, s) = (
            &cos[t * half..(t + 1) * half],
            &sin[t * half..(t + 1) * half],
        );
        for head in row.chunks_exact_mut(head_dim) {
            let (lo, hi) = match cfg.rope_style {
                RopeStyle::Interleaved => (2, 1),
                RopeStyle::HalfSplit => (1, half),
            };
            for i in 0..half {
                // Pair (i·lo, i·lo + hi): (2i, 2i+1) interleaved, (i, i+half) half-split.
                let (ia, ib) = (i * lo, i * lo + hi);
                let (a, b) = (head[ia], head[ib]);
                head[ia] = a * c[i] - b * s[i];
                head[ib] = a * s[i] + b * c[i];
            }
        }
    }
}

/// Causal grouped-query attention of `t` new queries against the cache (positions `0..pos0 + t`).
fn attention(cfg: &LlamaConfig, pos0: usize, q: &[f32], k: &[f32], v: &[f32], out: &mut [f32]) {
    let per_query = cfg.n_head_kv.max(1);
    for_each_group(cfg, q, out, |i, qg, o, scores| {
        let (t, kvh) = (i / per_query, i % per_query);
        attend_group(cfg, kvh, qg, (k, v), pos0 + t + 1, scores, o);
    });
}

/// Attention of one query row per sequence, row `i` at `positions[i]` against `kv[i]`.
fn batch_attention(
    cfg: &LlamaConfig,
    positions: &[usize],
    q: &[f32],
    kv: &[(&[f32], &[f32])],
    out: &mut [f32],
) {
    let per_query = cfg.n_head_kv.max(1);
    for_each_group(cfg, q, out, |i, qg, o, scores| {
        let (seq, kvh) = (i / per_query, i % per_query);
        attend_group(cfg, kvh, qg, kv[seq], positions[seq] + 1, scores, o);
    });
}

/// Runs `f(i, queries, out, scratch)` in parallel over the query-head groups of every query
/// row: group `i` is the `n_head / n_head_kv` adjacent query heads that share key/value head
/// `i % n_head_kv`. Groups are small tasks (a few µs), so rayon gets runs of them, a few per
/// thread.
fn for_each_group(
    cfg: &LlamaConfig,
    q: &[f32],
    out: &mut [f32],
    f: impl Fn(usize, &[f32], &mut [f32], &mut Vec<f32>) + Sync + Send,
) {
    let width = cfg.head_dim * (cfg.n_head / cfg.n_head_kv.max(1)).max(1);
    let groups = out.len() / width.max(1);
    let min_run = (groups / (rayon::current_num_threads().max(1) * 4)).max(1);
    out.par_chunks_mut(width.max(1))
        .with_min_len(min_run)
        .enumerate()
        .for_each_init(Vec::new, |scores: &mut Vec<f32>, (i, o)| {
            f(i, &q[i * width..(i + 1) * width], o, scores)
        });
}

/// Softmax(q·Kᵀ/√d)·V for the query heads `qg` (adjacent, `head_dim` each) that share key/value
/// head `kvh`, over the first `n` cached positions; `o` gets one output per query head.
fn attend_group(
    cfg: &LlamaConfig,
    kvh: usize,
    qg: &[f32],
    (k, v): (&[f32], &[f32]),
    n: usize,
    scores: &mut Vec<f32>,
    o: &mut [f32],
) {
    let (hd, kvd) = (cfg.head_dim, cfg.kv_dim());
    let heads = qg.len() / hd.max(1);
    let scale = 1.0 / (hd as f32).sqrt();
    let kv_off = kvh * hd;
    scores.clear();
    scores.resize(heads * n, 0.0);
    f32ops::dot_rows_group(qg, hd, k, kvd, kv_off, scores);
    for s in scores.chunks_exact_mut(n.max(1)) {
        f32ops::softmax_scaled(s, scale);
    }
    o.fill(0.0);
    f32ops::axpy_rows_group(scores, hd, v, kvd, kv_off, o);
}

/// Per-sequence decode state: the KV cache of every layer and reusable scratch buffers.
///
/// Cloning copies it whole, e.g. to fork one prefilled prompt into several sequences.
#[derive(Clone)]
pub struct KvCache {
    k: Vec<Vec<f32>>,
    v: Vec<Vec<f32>>,
    len: usize,
    capacity: usize,
    kv_dim: usize,
    scratch: Scratch,
}

impl KvCache {
    fn new(cfg: &LlamaConfig, capacity: usize) -> Self {
        let kv_dim = cfg.kv_dim();
        Self {
            k: (0..cfg.n_layer)
                .map(|_| vec![0.0; capacity * kv_dim])
                .collect(),
            v: (0..cfg.n_layer)
                .map(|_| vec![0.0; capacity * kv_dim])
                .collect(),
            len: 0,
            capacity,
            kv_dim,
            scratch: Scratch::default(),
        }
    }

    /// Positions filled so far.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Forget everything after the first `len` positions (e.g. to reuse a shared prompt prefix).
    pub fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }

    fn reserve(&mut self, needed: usize, context: usize) -> Result<(), ModelError> {
        if needed <= self.capacity {
            return Ok(());
        }
        let cap = needed
            .max(self.capacity.saturating_mul(2))
            .min(context.max(needed));
        let len = cap.checked_mul(self.kv_dim).ok_or_else(|| {
            ModelError::Config(format!("a KV cache of {cap} positions is too large"))
        })?;
        for buf in self.k.iter_mut().chain(self.v.iter_mut()) {
            buf.resize(len, 0.0);
        }
        self.capacity = cap;
        Ok(())
    }
}

/// Scratch buffers of a batched decode step ([`Llama::forward_batch`]).
pub struct BatchScratch {
    scratch: Scratch,
}

#[derive(Default, Clone)]
struct Scratch {
    x: Vec<f32>,
    h: Vec<f32>,
    q: Vec<f32>,
    k: Vec<f32>,
    v: Vec<f32>,
    att: Vec<f32>,
    o: Vec<f32>,
    gate: Vec<f32>,
    up: Vec<f32>,
    mm: MatmulScratch,
}

impl Scratch {
    fn resize(&mut self, t: usize, c: &LlamaConfig) {
        let (d, qd, kvd, f) = (c.dim, c.q_dim(), c.kv_dim(), c.ffn_dim);
        for (buf, n) in [
            (&mut self.x, d),
            (&mut self.h, d),
            (&mut self.q, qd),
            (&mut self.k, kvd),
            (&mut self.v, kvd),
            (&mut self.att, qd),
            (&mut self.o, d),
            (&mut self.gate, f),
            (&mut self.up, f),
        ] {
            buf.resize(t * n, 0.0);
        }
    }
}
