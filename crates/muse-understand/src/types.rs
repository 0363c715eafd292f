//! What prompt understanding produces: a task and its constraints, in the JSON shape of
//! `muse create --json`.

use serde::{Deserialize, Serialize};

/// The kind of content a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    Article,
    Ad,
    SocialPost,
    ProductDescription,
    Email,
    Story,
    Poem,
    Summary,
    Questions,
    Report,
    Image,
    TextImage,
}

impl Task {
    pub const ALL: [Task; 12] = [
        Task::Article,
        Task::Ad,
        Task::SocialPost,
        Task::ProductDescription,
        Task::Email,
        Task::Story,
        Task::Poem,
        Task::Summary,
        Task::Questions,
        Task::Report,
        Task::Image,
        Task::TextImage,
    ];

    /// The name used in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Task::Article => "article",
            Task::Ad => "ad",
            Task::SocialPost => "social_post",
            Task::ProductDescription => "product_description",
            Task::Email => "email",
            Task::Story => "story",
            Task::Poem => "poem",
            Task::Summary => "summary",
            Task::Questions => "questions",
            Task::Report => "report",
            Task::Image => "image",
            Task::TextImage => "text_image",
        }
    }

    /// Whether the task produces an image.
    pub fn wants_image(self) -> bool {
        matches!(self, Task::Image | Task::TextImage)
    }
}

/// What a length is counted in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LengthUnit {
    Words,
    Sentences,
    Paragraphs,
    Items,
}

/// A target length; at least one bound is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Length {
    pub unit: LengthUnit,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<u32>,
}

/// The shape the output should take.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    #[default]
    Plain,
    Markdown,
    Bullets,
    Json,
}

/// Everything a request constrains.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Constraints {
    pub length: Option<Length>,
    pub tone: Option<String>,
    pub audience: Option<String>,
    /// BCP-47 code of the language the output should be in.
    pub language: String,
    /// Words or phrases that must appear in the output.
    pub keywords: Vec<String>,
    pub format: Format,
}
