//! `muse kb`: knowledge bases for retrieval — `add` files and folders, `search` them (vector,
//! keyword or hybrid), `list`, `stats`, `remove`, `drop`, and `eval` (recall and MRR over a
//! question set). The work is `muse-retrieval`'s; this file parses, prints and adapts
//! `muse_models::SentenceEmbedder` to its `Embedder` trait. [`ground`] serves
//! `muse generate --kb`.

use crate::home::{muse_home, resolve_embedding_model};
use anyhow::{Context, Result, bail};
use muse_models::SentenceEmbedder;
use muse_retrieval::eval::{Question, locate, metrics, relevant};
use muse_retrieval::kb::{KbOptions, list_knowledge_bases};
use muse_retrieval::{
    AddOutcome, Embedder, Hit, KnowledgeBase, RetrievalError, SearchMode, SearchOptions,
};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    command: Sub,
}

#[derive(clap::Args, Debug, Clone)]
struct KbArg {
    /// Knowledge base: a name (kept in the Muse home's `kb/`) or, with a `/`, a directory.
    #[arg(long, default_value = "default")]
    kb: String,
}

#[derive(clap::Subcommand, Debug)]
enum Sub {
    /// Ingest files and folders (recursively): .txt .md .html .pdf .json .jsonl.
    Add {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        #[command(flatten)]
        kb: KbArg,
        /// The field holding the text of each JSON / JSON-lines record.
        #[arg(long, default_value = "text")]
        json_field: String,
        /// Embedding model folder or name (default: all-MiniLM-L6-v2).
        #[arg(long)]
        model: Option<String>,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Search the knowledge base.
    Search {
        query: String,
        #[command(flatten)]
        kb: KbArg,
        #[arg(short, default_value_t = 5)]
        k: usize,
        #[arg(long, value_enum, default_value_t = Mode::Hybrid)]
        mode: Mode,
        /// Weight of the vector ranking in hybrid fusion.
        #[arg(long, default_value_t = 1.0)]
        vector_weight: f32,
        /// Weight of the BM25 ranking in hybrid fusion.
        #[arg(long, default_value_t = 0.5)]
        keyword_weight: f32,
        /// Reorder the top N by exact cosine similarity (0 = off).
        #[arg(long, default_value_t = 0)]
        rerank: usize,
        /// HNSW search breadth.
        #[arg(long, default_value_t = 100)]
        ef: usize,
        #[arg(long)]
        model: Option<String>,
        /// Print `{"results": [{"source", "chunk_id", "start", "end", "text", "score"}]}`.
        #[arg(long)]
        json: bool,
    },
    /// List the documents of a knowledge base (`--all`: the knowledge bases).
    List {
        #[command(flatten)]
        kb: KbArg,
        #[arg(long)]
        all: bool,
        #[arg(long)]
        json: bool,
    },
    /// Counts and sizes.
    Stats {
        #[command(flatten)]
        kb: KbArg,
        #[arg(long)]
        json: bool,
    },
    /// Remove files (by the path they were added from) from the knowledge base.
    Remove {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        #[command(flatten)]
        kb: KbArg,
    },
    /// Delete the knowledge base.
    Drop {
        #[command(flatten)]
        kb: KbArg,
    },
    /// Recall@1/@5 and MRR of each search mode over a question set (JSON lines of
    /// `{"question", "source", "answer"}`); ingests `--corpus` first.
    #[command(hide = true)]
    Eval {
        #[arg(long)]
        questions: PathBuf,
        #[arg(long)]
        corpus: PathBuf,
        #[command(flatten)]
        kb: KbArg,
        #[arg(long)]
        model: Option<String>,
        #[arg(long)]
        json: bool,
        /// Chunk size in tokens (experiments; `add` uses the default).
        #[arg(long, default_value_t = 96)]
        chunk_tokens: usize,
        #[arg(long, default_value_t = 16)]
        overlap: usize,
        /// Embed chunks without their title.
        #[arg(long)]
        no_embed_title: bool,
        #[arg(long, default_value_t = 1.0)]
        vector_weight: f32,
        #[arg(long, default_value_t = 0.5)]
        keyword_weight: f32,
        #[arg(long, default_value_t = 60.0)]
        rrf_k: f32,
    },
}

#[derive(clap::ValueEnum, Debug, Clone, Copy)]
enum Mode {
    Hybrid,
    Vector,
    Keyword,
}

impl From<Mode> for SearchMode {
    fn from(m: Mode) -> Self {
        match m {
            Mode::Hybrid => SearchMode::Hybrid,
            Mode::Vector => SearchMode::Vector,
            Mode::Keyword => SearchMode::Keyword,
        }
    }
}

/// `SentenceEmbedder` behind the retrieval crate's trait.
pub struct ModelEmbedder {
    model: SentenceEmbedder,
    name: String,
}

impl ModelEmbedder {
    pub fn load(spec: Option<&str>) -> Result<Self> {
        let dir = resolve_embedding_model(spec)?;
        let model =
            SentenceEmbedder::load(&dir).with_context(|| format!("loading {}", dir.display()))?;
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| dir.display().to_string());
        Ok(Self { model, name })
    }
}

fn emb_err(e: muse_models::ModelError) -> RetrievalError {
    RetrievalError::Embedder(e.to_string())
}

impl Embedder for ModelEmbedder {
    fn name(&self) -> String {
        self.name.clone()
    }
    fn dim(&self) -> usize {
        self.model.dim()
    }
    fn max_tokens(&self) -> usize {
        // [CLS] and [SEP] take two places.
        self.model.max_seq_length().saturating_sub(2).max(1)
    }
    fn token_spans(&self, text: &str) -> muse_retrieval::Result<Vec<(usize, usize)>> {
        self.model.token_spans(text).map_err(emb_err)
    }
    fn embed(&self, texts: &[&str]) -> muse_retrieval::Result<Vec<Vec<f32>>> {
        Ok(self.model.embed(texts).map_err(emb_err)?.vectors)
    }
}

/// Directory of the named knowledge bases.
pub(crate) fn kb_root() -> PathBuf {
    muse_home().join("kb")
}

/// `--kb`: a name under the Muse home, or (containing `/`) a directory as given.
pub fn kb_dir(spec: &str) -> PathBuf {
    if spec.contains('/') {
        PathBuf::from(spec)
    } else {
        kb_root().join(spec)
    }
}

fn open_existing(spec: &str) -> Result<KnowledgeBase> {
    Ok(KnowledgeBase::open(
        &kb_dir(spec),
        spec,
        &kb_root(),
        KbOptions::default(),
    )?)
}

pub fn run(a: Args) -> Result<()> {
    match a.command {
        Sub::Add {
            paths,
            kb,
            json_field,
            model,
            json,
        } => add(&paths, &kb.kb, json_field, model.as_deref(), json),
        Sub::Search {
            query,
            kb,
            k,
            mode,
            vector_weight,
            keyword_weight,
            rerank,
            ef,
            model,
            json,
        } => {
            let o = SearchOptions {
                k,
                mode: mode.into(),
                vector_weight,
                keyword_weight,
                rerank,
                ef,
                ..SearchOptions::default()
            };
            search(&query, &kb.kb, &o, model.as_deref(), json)
        }
        Sub::List { kb, all, json } => list(&kb.kb, all, json),
        Sub::Stats { kb, json } => stats(&kb.kb, json),
        Sub::Remove { paths, kb } => {
            let mut base = open_existing(&kb.kb)?;
            let mut out = std::io::stdout().lock();
            for p in &paths {
                if base.remove(p)? {
                    writeln!(out, "removed {}", p.display())?;
                } else {
                    bail!("{} is not in knowledge base `{}`", p.display(), kb.kb);
                }
            }
            Ok(())
        }
        Sub::Drop { kb } => drop_kb(&kb.kb),
        Sub::Eval {
            questions,
            corpus,
            kb,
            model,
            json,
            chunk_tokens,
            overlap,
            no_embed_title,
            vector_weight,
            keyword_weight,
            rrf_k,
        } => {
            let mut opts = KbOptions::default();
            opts.chunk.max_tokens = chunk_tokens;
            opts.chunk.overlap_tokens = overlap;
            opts.embed_title = !no_embed_title;
            let search = SearchOptions {
                vector_weight,
                keyword_weight,
                rrf_k,
                ..SearchOptions::default()
            };
            eval(
                &questions,
                &corpus,
                &kb.kb,
                model.as_deref(),
                json,
                opts,
                &search,
            )
        }
    }
}

fn add(
    paths: &[PathBuf],
    spec: &str,
    json_field: String,
    model: Option<&str>,
    json: bool,
) -> Result<()> {
    for p in paths {
        if !p.exists() {
            bail!("{} does not exist", p.display());
        }
    }
    let e = ModelEmbedder::load(model)?;
    let dir = kb_dir(spec);
    let mut opts = KbOptions::default();
    opts.load.json_field = json_field;
    let mut kb = KnowledgeBase::create_or_open(&dir, opts)?;
    let t = Instant::now();
    let summary = kb.add_paths(paths, &e, &mut |i, n, path, outcome| {
        let what = match outcome {
            AddOutcome::Added { chunks } => format!("added ({chunks} chunks)"),
            AddOutcome::Replaced { chunks } => format!("replaced ({chunks} chunks)"),
            AddOutcome::Unchanged => "unchanged".into(),
            AddOutcome::Skipped { reason } => format!("skipped: {reason}"),
        };
        eprintln!("[{i}/{n}] {}: {what}", path.display());
    })?;
    let secs = t.elapsed().as_secs_f64();
    // Bring the vector index up to date now, so the first search does not pay for it.
    kb.sync_index()?;
    let mut out = std::io::stdout().lock();
    if json {
        let v = serde_json::json!({
            "kb": dir.display().to_string(),
            "added": summary.added,
            "replaced": summary.replaced,
            "unchanged": summary.unchanged,
            "skipped": summary.skipped.iter().map(|(p, r)| serde_json::json!({"path": p, "reason": r})).collect::<Vec<_>>(),
            "ignored": summary.ignored,
            "chunks": summary.chunks,
            "seconds": secs,
            "chunks_per_s": summary.chunks as f64 / secs.max(1e-9),
        });
        writeln!(out, "{v}")?;
        return Ok(());
    }
    writeln!(
        out,
        "{}: added {}, replaced {}, unchanged {}, skipped {}{}; {} chunks in {secs:.1} s ({:.1} chunks/s)",
        dir.display(),
        summary.added,
        summary.replaced,
        summary.unchanged,
        summary.skipped.len(),
        if summary.ignored > 0 {
            format!(", ignored {} of other types", summary.ignored)
        } else {
            String::new()
        },
        summary.chunks,
        summary.chunks as f64 / secs.max(1e-9),
    )?;
    for (p, r) in &summary.skipped {
        writeln!(out, "  skipped {p}: {r}")?;
    }
    Ok(())
}

fn search(
    query: &str,
    spec: &str,
    o: &SearchOptions,
    model: Option<&str>,
    json: bool,
) -> Result<()> {
    let mut kb = open_existing(spec)?;
    let e = ModelEmbedder::load(model)?;
    let hits = kb.search(query, &e, o)?;
    let mut out = std::io::stdout().lock();
    if json {
        #[derive(serde::Serialize)]
        struct R<'a> {
            source: &'a str,
            chunk_id: i64,
            start: i64,
            end: i64,
            title: &'a str,
            text: &'a str,
            score: f32,
        }
        let results: Vec<R> = hits
            .iter()
            .map(|h| R {
                source: &h.source,
                chunk_id: h.chunk_id,
                start: h.start,
                end: h.end,
                title: &h.title,
                text: &h.text,
                score: h.score,
            })
            .collect();
        writeln!(out, "{}", serde_json::json!({ "results": results }))?;
        return Ok(());
    }
    if hits.is_empty() {
        writeln!(out, "no results")?;
    }
    for (i, h) in hits.iter().enumerate() {
        let snippet: String = h.text.split_whitespace().collect::<Vec<_>>().join(" ");
        let snippet: String = snippet.chars().take(200).collect();
        writeln!(
            out,
            "{}. {:.4}  {} [{}..{}]\n   {snippet}",
            i + 1,
            h.score,
            h.source,
            h.start,
            h.end
        )?;
    }
    Ok(())
}

fn list(spec: &str, all: bool, json: bool) -> Result<()> {
    let mut out = std::io::stdout().lock();
    if all {
        let names = list_knowledge_bases(&kb_root());
        if json {
            writeln!(out, "{}", serde_json::json!({ "knowledge_bases": names }))?;
        } else if names.is_empty() {
            writeln!(out, "no knowledge bases in {}", kb_root().display())?;
        } else {
            for n in names {
                writeln!(out, "{n}")?;
            }
        }
        return Ok(());
    }
    let kb = open_existing(spec)?;
    let docs = kb.documents()?;
    if json {
        writeln!(out, "{}", serde_json::json!({ "documents": docs }))?;
        return Ok(());
    }
    for d in &docs {
        writeln!(out, "{}\t{} chunks\t{}", d.path, d.chunks, d.title)?;
    }
    Ok(())
}

fn stats(spec: &str, json: bool) -> Result<()> {
    let kb = open_existing(spec)?;
    let s = kb.stats()?;
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", serde_json::to_string(&s)?)?;
        return Ok(());
    }
    writeln!(
        out,
        "{}\n  documents {}\n  chunks {}\n  model {} ({} dimensions)\n  store {} bytes, vector index {} bytes\n  generation {}, format v{}",
        s.path,
        s.documents,
        s.chunks,
        s.model.as_deref().unwrap_or("-"),
        s.dim.unwrap_or(0),
        s.store_bytes,
        s.index_bytes,
        s.generation,
        s.format
    )?;
    Ok(())
}

fn drop_kb(spec: &str) -> Result<()> {
    let dir = kb_dir(spec);
    // Validate (and name what exists when missing) before deleting anything.
    drop(open_existing(spec)?);
    // Only the files a knowledge base consists of: a `--kb` path may be a folder the user owns.
    for f in [
        "kb.sqlite",
        "kb.sqlite-wal",
        "kb.sqlite-shm",
        "vectors.hnsw",
    ] {
        let p = dir.join(f);
        if p.exists() {
            std::fs::remove_file(&p).with_context(|| format!("removing {}", p.display()))?;
        }
    }
    // Leftover temporary index files of killed writers.
    for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
        if e.file_name().to_string_lossy().starts_with("vectors.tmp") {
            let _ = std::fs::remove_file(e.path());
        }
    }
    let _ = std::fs::remove_dir(&dir);
    writeln!(std::io::stdout().lock(), "dropped {}", dir.display())?;
    Ok(())
}

/// A source named in a grounded answer.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Source {
    pub n: usize,
    pub source: String,
    pub chunk_id: i64,
    pub start: i64,
    pub end: i64,
    pub score: f32,
    /// The passage itself (for groundedness scoring; not printed).
    #[serde(skip_serializing)]
    pub text: String,
    /// The source's file name, as the prompt cites it.
    #[serde(skip_serializing)]
    pub short: String,
}

/// The best chunks for `question` from knowledge base `spec` that fit together in `budget` tokens
/// (as `count_tokens` measures each numbered block), best first.
pub fn retrieve(
    spec: &str,
    question: &str,
    budget: usize,
    count_tokens: &dyn Fn(&str) -> usize,
) -> Result<Vec<Source>> {
    let mut kb = open_existing(spec)?;
    let e = ModelEmbedder::load(None)?;
    let hits = kb.search(
        question,
        &e,
        &SearchOptions {
            k: 8,
            ..SearchOptions::default()
        },
    )?;
    let mut used = count_tokens(GROUND_HEAD) + count_tokens(question) + 4;
    let mut sources = Vec::new();
    for h in hits {
        let t = count_tokens(&source_block(sources.len() + 1, &short_name(&h), &h.text));
        if used + t > budget {
            continue;
        }
        used += t;
        sources.push(Source {
            n: sources.len() + 1,
            short: short_name(&h),
            source: h.source,
            chunk_id: h.chunk_id,
            start: h.start,
            end: h.end,
            score: h.score,
            text: h.text,
        });
    }
    Ok(sources)
}

const GROUND_HEAD: &str =
    "Answer the question using the numbered sources below. Cite them like [1].\n\n";

fn source_block(n: usize, name: &str, text: &str) -> String {
    format!("[{n}] ({name}) {}\n\n", text.trim())
}

/// For `muse generate --kb`: [`retrieve`] the best chunks for `question`, and return the prompt
/// asking the model to answer from them, with the sources used.
pub fn ground(
    spec: &str,
    question: &str,
    budget: usize,
    count_tokens: &dyn Fn(&str) -> usize,
) -> Result<(String, Vec<Source>)> {
    let sources = retrieve(spec, question, budget, count_tokens)?;
    if sources.is_empty() {
        return Ok((question.to_string(), sources));
    }
    let context: String = sources
        .iter()
        .map(|s| source_block(s.n, &s.short, &s.text))
        .collect();
    Ok((
        format!("{GROUND_HEAD}{context}\nQuestion: {question}"),
        sources,
    ))
}

fn short_name(h: &Hit) -> String {
    Path::new(&h.source)
        .file_name()
        .map_or_else(|| h.source.clone(), |n| n.to_string_lossy().into_owned())
}

fn eval(
    questions: &Path,
    corpus: &Path,
    spec: &str,
    model: Option<&str>,
    json: bool,
    opts: KbOptions,
    base: &SearchOptions,
) -> Result<()> {
    let qs: Vec<Question> = std::fs::read_to_string(questions)
        .with_context(|| format!("reading {}", questions.display()))?
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()
        .with_context(|| format!("parsing {}", questions.display()))?;
    let e = ModelEmbedder::load(model)?;
    let mut kb = KnowledgeBase::create_or_open(&kb_dir(spec), opts)?;
    let t = Instant::now();
    let s = kb.add_paths(&[corpus.to_path_buf()], &e, &mut |_, _, _, _| {})?;
    let ingest_s = t.elapsed().as_secs_f64();
    kb.sync_index()?;
    let mut table = Vec::new();
    let modes = [
        ("vector", SearchMode::Vector, 0),
        ("keyword", SearchMode::Keyword, 0),
        ("hybrid", SearchMode::Hybrid, 0),
        ("hybrid+rerank", SearchMode::Hybrid, 10),
    ];
    for (name, mode, rerank) in modes {
        let mut ranks = Vec::new();
        let mut latencies = Vec::new();
        for q in &qs {
            let text = std::fs::read_to_string(corpus.join(&q.source))
                .with_context(|| format!("reading {}", q.source))?;
            let Some(answer) = locate(&text, &q.answer) else {
                bail!("answer of {:?} not found in {}", q.question, q.source);
            };
            let o = SearchOptions {
                k: 10,
                mode,
                rerank,
                ..base.clone()
            };
            let t = Instant::now();
            let hits = kb.search(&q.question, &e, &o)?;
            latencies.push(t.elapsed().as_secs_f64() * 1e3);
            let rank = hits
                .iter()
                .position(|h| relevant(h, &q.source, &answer))
                .map(|r| r + 1);
            if std::env::var_os("MUSE_KB_EVAL_MISSES").is_some() && rank.is_none_or(|r| r > 5) {
                let top: Vec<String> = hits
                    .iter()
                    .take(3)
                    .map(|h| format!("{}@{}", short_name(h), h.start))
                    .collect();
                eprintln!(
                    "{name}: miss {:?} ({} @{}..{}) top {top:?}",
                    q.question, q.source, answer.start, answer.end
                );
            }
            ranks.push(rank);
        }
        latencies.sort_by(f64::total_cmp);
        table.push((name, metrics(&ranks), latencies[latencies.len() / 2]));
    }
    let mut out = std::io::stdout().lock();
    if json {
        let rows: Vec<_> = table
            .iter()
            .map(|(n, m, p50)| serde_json::json!({"mode": n, "metrics": m, "latency_ms_p50": p50}))
            .collect();
        writeln!(
            out,
            "{}",
            serde_json::json!({"questions": qs.len(), "chunks_added": s.chunks, "ingest_s": ingest_s, "modes": rows})
        )?;
        return Ok(());
    }
    writeln!(
        out,
        "{} questions; ingested {} chunks in {ingest_s:.1} s",
        qs.len(),
        s.chunks
    )?;
    writeln!(
        out,
        "| mode | recall@1 | recall@5 | MRR | p50 ms |\n|---|---|---|---|---|"
    )?;
    for (n, m, p50) in &table {
        writeln!(
            out,
            "| {n} | {:.3} | {:.3} | {:.3} | {p50:.1} |",
            m.recall_at_1, m.recall_at_5, m.mrr
        )?;
    }
    Ok(())
}
