//! Planning: the instruction the instruct model receives for a task — a system prompt for the
//! kind of writer the task needs, the request, its constraints spelled out, and any retrieved
//! passages — plus a token budget sized to the asked length. Image tasks also get an image prompt.

use crate::types::{Constraints, Format, LengthUnit, Task};
use serde::Serialize;

/// What the generator is asked to do.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    pub system: String,
    /// The user message: request, constraints, sources.
    pub instruction: String,
    pub max_tokens: usize,
    /// For `image` and `text_image`: the prompt for the image model.
    pub image_prompt: Option<String>,
}

fn system_prompt(task: Task) -> &'static str {
    match task {
        Task::Article | Task::TextImage => {
            "You are a clear, accurate writer of informative articles and blog posts."
        }
        Task::Ad => "You are a copywriter. Write short, vivid, persuasive ad copy.",
        Task::SocialPost => "You write engaging social-media posts: short, direct, with a hook.",
        Task::ProductDescription => {
            "You write concise product descriptions that highlight benefits and features."
        }
        Task::Email => "You write clear, polite e-mails with a greeting, a body and a sign-off.",
        Task::Story => {
            "You are a storyteller. Write vivid short stories with a beginning, middle and end."
        }
        Task::Poem => "You are a poet. Write evocative poems with concrete images.",
        Task::Summary => {
            "You summarise texts faithfully and concisely, keeping only the key points."
        }
        Task::Questions => "You write clear, answerable questions, one per line, numbered.",
        Task::Report => "You write structured reports and outlines with clear sections.",
        Task::Image => "You describe pictures precisely for an image generator.",
    }
}

/// Default new-token budget per task when no length is asked.
fn default_tokens(task: Task) -> usize {
    match task {
        Task::Ad | Task::SocialPost => 96,
        Task::Poem | Task::ProductDescription | Task::Summary | Task::Image => 160,
        Task::Email | Task::Questions => 200,
        Task::Story | Task::Article | Task::Report | Task::TextImage => 320,
    }
}

fn language_name(code: &str) -> &str {
    match code {
        "en" => "English",
        "zh" => "Chinese",
        "fr" => "French",
        "es" => "Spanish",
        "de" => "German",
        "it" => "Italian",
        "pt" => "Portuguese",
        "ja" => "Japanese",
        "ko" => "Korean",
        "ru" => "Russian",
        "nl" => "Dutch",
        other => other,
    }
}

/// The constraints as sentences for the instruction.
fn spell_out(c: &Constraints) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(l) = c.length {
        let unit = match l.unit {
            LengthUnit::Words => "words",
            LengthUnit::Sentences => "sentences",
            LengthUnit::Paragraphs => "paragraphs",
            LengthUnit::Items => "items",
        };
        out.push(match (l.min, l.max) {
            (Some(a), Some(b)) if a == b => format!("Length: exactly {a} {unit}."),
            (Some(a), Some(b)) => format!("Length: between {a} and {b} {unit}."),
            (None, Some(b)) => format!("Length: at most {b} {unit}."),
            (Some(a), None) => format!("Length: at least {a} {unit}."),
            (None, None) => String::new(),
        });
    }
    if let Some(t) = &c.tone {
        out.push(format!("Tone: {t}."));
    }
    if let Some(a) = &c.audience {
        out.push(format!("Audience: {a}."));
    }
    if !c.keywords.is_empty() {
        let quoted: Vec<String> = c.keywords.iter().map(|k| format!("\"{k}\"")).collect();
        out.push(format!("Use these exact words: {}.", quoted.join(", ")));
    }
    match c.format {
        Format::Plain => {}
        Format::Markdown => out.push("Format: Markdown with headings.".into()),
        Format::Bullets => out.push("Format: a bulleted list.".into()),
        Format::Json => out.push("Format: valid JSON only.".into()),
    }
    if c.language != "en" {
        out.push(format!("Write in {}.", language_name(&c.language)));
    }
    out.retain(|s| !s.is_empty());
    out
}

/// Tokens for the asked length: about 1.6 tokens a word, 30 a sentence, 40 an item, 120 a
/// paragraph, with room to finish; Chinese characters take about 1.5 tokens each.
fn budget(task: Task, c: &Constraints) -> usize {
    let Some(l) = c.length else {
        return default_tokens(task);
    };
    let n = l.max.or(l.min).unwrap_or(0) as f64;
    let per = match l.unit {
        LengthUnit::Words if c.language == "zh" => 1.5,
        LengthUnit::Words => 1.6,
        LengthUnit::Sentences => 30.0,
        LengthUnit::Items => 40.0,
        LengthUnit::Paragraphs => 120.0,
    };
    ((n * per * 1.2) as usize + 16).clamp(16, 2048)
}

/// Plan the generation of `prompt` as `task` under `c`, grounded on `passages` (may be empty).
pub fn plan(prompt: &str, task: Task, c: &Constraints, passages: &[String]) -> Plan {
    let mut instruction = String::new();
    if !passages.is_empty() {
        instruction.push_str("Sources:\n");
        for (i, p) in passages.iter().enumerate() {
            instruction.push_str(&format!("[{}] {}\n", i + 1, p.trim()));
        }
        instruction.push_str("\nUsing only the sources above where they apply:\n");
    }
    instruction.push_str(prompt.trim());
    let rules = spell_out(c);
    if !rules.is_empty() {
        instruction.push_str("\n\n");
        instruction.push_str(&rules.join("\n"));
    }
    let image_prompt = task.wants_image().then(|| {
        // The request without the writing instructions: what to picture.
        let mut p = prompt.trim().to_string();
        for lead in [
            "draw ",
            "paint ",
            "sketch ",
            "illustrate ",
            "generate ",
            "create ",
            "design ",
            "make ",
        ] {
            if p.to_lowercase().starts_with(lead) {
                p = p[lead.len()..].to_string();
                break;
            }
        }
        p
    });
    Plan {
        system: system_prompt(task).to_string(),
        instruction,
        max_tokens: budget(task, c),
        image_prompt,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::constraints::extract_constraints;

    #[test]
    fn instruction_spells_out_constraints_and_sources() {
        let prompt =
            "Write a short ad for a running shoe, upbeat, under 60 words, include 'waterproof'";
        let c = extract_constraints(prompt);
        let p = plan(prompt, Task::Ad, &c, &["Shoes are made of mesh.".into()]);
        assert!(
            p.instruction
                .starts_with("Sources:\n[1] Shoes are made of mesh.")
        );
        assert!(p.instruction.contains("Length: at most 60 words."));
        assert!(p.instruction.contains("Tone: upbeat."));
        assert!(p.instruction.contains("\"waterproof\""));
        assert!(p.max_tokens >= 60 && p.max_tokens < 200, "{}", p.max_tokens);
        assert!(p.image_prompt.is_none());
        let c = extract_constraints("Draw a lighthouse at dusk");
        let p = plan("Draw a lighthouse at dusk", Task::Image, &c, &[]);
        assert_eq!(p.image_prompt.as_deref(), Some("a lighthouse at dusk"));
    }
}
