//! Prompt understanding — the first stage of Muse's pipeline: what a request asks for (one of
//! twelve tasks) and under which constraints (length, tone, audience, language, required keywords,
//! format), from English and Chinese prompts, by rules with sentence-embedding prototypes.
//!
//! Then planning ([`plan`]): the instruction the instruct model gets for that task, and the
//! checks ([`check`]) a finished text must pass.

pub mod check;
mod constraints;
mod numbers;
pub mod plan;
mod task;
mod types;

pub use check::{CheckReport, check_constraints, fit_to_length};
pub use constraints::{
    extract_audience, extract_constraints, extract_format, extract_keywords, extract_language,
    extract_length, extract_tone,
};
pub use numbers::parse_number;
pub use plan::{Plan, plan};
pub use task::{PROTOTYPES, classify, rule_scores};
pub use types::{Constraints, Format, Length, LengthUnit, Task};

/// Errors of prompt understanding.
#[derive(Debug, thiserror::Error)]
pub enum UnderstandError {
    #[error("the prompt is empty")]
    EmptyPrompt,
    #[error("the prompt is only a URL ({0}); say what to make from it")]
    OnlyUrl(String),
    #[error("contradictory constraints: {0}")]
    Contradictory(String),
}

/// The result of understanding a prompt.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Understanding {
    pub task: Task,
    pub constraints: Constraints,
    /// Rule score (plus weighted prototype similarity when an embedding model was used) per task.
    pub task_scores: Vec<(Task, f64)>,
}

/// Understand `prompt`. `similarity` is the cosine of the prompt's embedding to each task's
/// nearest prototype (see [`PROTOTYPES`]), in [`Task::ALL`] order, when an embedding model is at
/// hand.
pub fn understand(
    prompt: &str,
    similarity: Option<&[f64; 12]>,
) -> Result<Understanding, UnderstandError> {
    let p = prompt.trim();
    if p.is_empty() {
        return Err(UnderstandError::EmptyPrompt);
    }
    if !p.contains(char::is_whitespace)
        && (p.starts_with("http://") || p.starts_with("https://") || p.starts_with("www."))
    {
        return Err(UnderstandError::OnlyUrl(p.to_string()));
    }
    let constraints = extract_constraints(p);
    check_consistency(p, &constraints)?;
    let (task, scores) = classify(p, similarity);
    Ok(Understanding {
        task,
        constraints,
        task_scores: Task::ALL.iter().copied().zip(scores).collect(),
    })
}

/// Fewest words a sentence or a paragraph can plausibly have.
const MIN_WORDS_PER_SENTENCE: u32 = 3;
const MIN_WORDS_PER_PARAGRAPH: u32 = 10;

/// Reject constraints no text can meet: a minimum above the maximum, or a word budget too small
/// for the sentences or paragraphs also asked for ("10 words in 5 paragraphs").
fn check_consistency(prompt: &str, c: &Constraints) -> Result<(), UnderstandError> {
    let Some(l) = c.length else { return Ok(()) };
    if let (Some(min), Some(max)) = (l.min, l.max)
        && min > max
    {
        return Err(UnderstandError::Contradictory(format!(
            "at least {min} but at most {max}"
        )));
    }
    if l.unit == LengthUnit::Words
        && let Some(words) = l.max
    {
        // The prompt with the word bound removed: does it also count sentences or paragraphs?
        for unit in [LengthUnit::Sentences, LengthUnit::Paragraphs] {
            let Some(n) = constraints::count_of(prompt, unit) else {
                continue;
            };
            let per = if unit == LengthUnit::Sentences {
                MIN_WORDS_PER_SENTENCE
            } else {
                MIN_WORDS_PER_PARAGRAPH
            };
            if words < n * per {
                let name = if unit == LengthUnit::Sentences {
                    "sentences"
                } else {
                    "paragraphs"
                };
                return Err(UnderstandError::Contradictory(format!(
                    "at most {words} words cannot fill {n} {name}; ask for more words or fewer {name}"
                )));
            }
        }
    }
    Ok(())
}
