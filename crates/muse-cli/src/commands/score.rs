use crate::home::{read_utf8, resolve_text_model};
use anyhow::{Context, Result, bail};
use muse_engine::{ScoreInput, TextModel};
use std::io::Write;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("input").required(true).args(["text", "file", "token_ids"])))]
pub struct Args {
    /// Model file or installed model name.
    #[arg(long)]
    model: Option<String>,
    /// Text to score (tokenized with the model's BOS rule).
    #[arg(long)]
    text: Option<String>,
    /// UTF-8 file whose contents to score.
    #[arg(long)]
    file: Option<PathBuf>,
    /// Comma-separated token ids, used exactly as given.
    #[arg(long)]
    token_ids: Option<String>,
    /// Print JSON (the only output format; accepted for symmetry with the other commands).
    #[arg(long)]
    json: bool,
}

fn parse_ids(s: &str) -> Result<Vec<u32>> {
    s.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| {
            t.parse::<u32>()
                .with_context(|| format!("`--token-ids`: `{t}` is not a token id"))
        })
        .collect()
}

pub fn run(a: Args) -> Result<()> {
    let input = match (a.text, a.file, a.token_ids) {
        (Some(t), _, _) => ScoreInput::Text(t),
        (_, Some(f), _) => ScoreInput::Text(read_utf8(&f)?),
        (_, _, Some(ids)) => ScoreInput::TokenIds(parse_ids(&ids)?),
        _ => bail!("give --text, --file or --token-ids"),
    };
    let path = resolve_text_model(a.model.as_deref())?;
    let model = TextModel::load(&path).with_context(|| format!("loading {}", path.display()))?;
    let s = model.score(&input)?;
    writeln!(std::io::stdout().lock(), "{}", serde_json::to_string(&s)?)?;
    Ok(())
}
