use crate::home::models_dir;
use anyhow::Result;
use muse_models::catalog;
use std::io::Write;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

fn human(bytes: u64) -> String {
    let mb = bytes as f64 / 1e6;
    if mb >= 1000.0 {
        format!("{:.1} GB", mb / 1e3)
    } else {
        format!("{mb:.1} MB")
    }
}

pub fn run(args: Args) -> Result<()> {
    let dir = models_dir();
    let models = catalog::list(&dir);
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({ "models_dir": dir, "models": models })
            )?
        )?;
        return Ok(());
    }
    if models.is_empty() {
        writeln!(
            out,
            "no models in {} — run ./setup.sh to install the defaults",
            dir.display()
        )?;
        return Ok(());
    }
    writeln!(
        out,
        "{:<28} {:<14} {:<12} {:<8} {:>9}  PATH",
        "NAME", "ARCHITECTURE", "FORMAT", "QUANT", "SIZE"
    )?;
    for m in models {
        writeln!(
            out,
            "{:<28} {:<14} {:<12} {:<8} {:>9}  {}",
            m.name,
            m.architecture,
            m.format,
            m.quantization,
            human(m.size_bytes),
            m.path.display()
        )?;
    }
    Ok(())
}
