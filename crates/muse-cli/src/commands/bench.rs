use crate::home::resolve_text_model;
use anyhow::{Context, Result};
use muse_engine::TextModel;
use std::io::Write;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Model file or installed model name.
    #[arg(long)]
    model: Option<String>,
    /// Prompt length for the prefill measurement.
    #[arg(long, default_value_t = 512)]
    prefill: usize,
    /// Tokens generated for the decode measurement.
    #[arg(long, default_value_t = 128)]
    decode: usize,
    /// Repetitions (each printed; the summary takes the median).
    #[arg(long, default_value_t = 3)]
    reps: usize,
    /// JSON lines instead of text.
    #[arg(long)]
    json: bool,
}

/// Peak resident memory of this process (Linux `VmHWM`), in MiB.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

pub fn run(a: Args) -> Result<()> {
    let path = resolve_text_model(a.model.as_deref())?;
    let model = TextModel::load(&path).with_context(|| format!("loading {}", path.display()))?;
    let mut out = std::io::stdout().lock();
    let (mut pre, mut dec) = (Vec::new(), Vec::new());
    for rep in 0..a.reps.max(1) {
        let r = model.bench(a.prefill, a.decode)?;
        if a.json {
            writeln!(out, "{}", serde_json::json!({ "rep": rep, "result": r }))?;
        } else {
            writeln!(
                out,
                "rep {rep}: prefill {} tokens {:.1} tok/s, decode {} tokens {:.1} tok/s",
                r.prefill_tokens, r.prefill_tokens_per_s, r.decode_tokens, r.decode_tokens_per_s
            )?;
        }
        pre.push(r.prefill_tokens_per_s);
        dec.push(r.decode_tokens_per_s);
    }
    let summary = serde_json::json!({
        "model": model.name(),
        "threads": rayon::current_num_threads(),
        "simd": muse_kernels::cpu::simd_level().name(),
        "prefill_tokens_per_s_median": median(pre),
        "decode_tokens_per_s_median": median(dec),
        "peak_rss_mib": peak_rss_mib(),
    });
    writeln!(out, "{summary}")?;
    Ok(())
}
