//! Task classification: rules over cue words (English and Chinese), with sentence-embedding
//! similarity to prototype requests as the tie-breaker and the fallback when no rule fires.
//!
//! Each task has weighted cue patterns. A prompt's score for a task is the weight of its
//! strongest cue, minus a small penalty for how late in the prompt the cue first appears (the
//! thing asked for is usually named first: "a story about a poet" is a story). Cues that name an
//! operation on given material — summarising, asking questions — outweigh the nouns that name the
//! material ("summarise this article"). A request that names both a text and a picture is
//! `text_image`.

use crate::types::Task;
use regex::Regex;
use std::sync::LazyLock;

#[expect(
    clippy::expect_used,
    reason = "fixed patterns, each exercised by the tests"
)]
fn re(pattern: &str) -> Regex {
    Regex::new(pattern).expect("valid built-in pattern")
}

struct Cue {
    task: Task,
    weight: f64,
    pattern: Regex,
}

fn cue(task: Task, weight: f64, pattern: &str) -> Cue {
    Cue {
        task,
        weight,
        pattern: re(pattern),
    }
}

static CUES: LazyLock<Vec<Cue>> = LazyLock::new(|| {
    use Task::*;
    vec![
        cue(
            Summary,
            3.0,
            r"(?i)\bsummar(?:y|ies|ize|ise|izing|ising)\b|\btl;?dr\b|\bcondense\b|\brecap\b|\bboil (?:it|this) down\b|\bkey takeaways\b|\bgist\b|\b(?:key|main) (?:points|ideas) of\b",
        ),
        cue(
            Summary,
            3.0,
            r"总结(?:一下|这|下面|以下|全文|成)|概括|摘要|归纳|提炼|缩写成|总结[:：]",
        ),
        cue(
            Questions,
            3.0,
            r"(?i)\b(?:questions?|quiz|quizzes|trivia|exam|test items|flashcards|faq)\b",
        ),
        cue(
            Questions,
            3.0,
            r"问题|题目|测验|面试题|考题|试题|选择题|提问|[0-9一二三四五六七八九十]+道[^，。,.]{0,8}题",
        ),
        cue(
            ProductDescription,
            3.0,
            r"(?i)\bproduct (?:description|listing|page|copy|details)\b|\b(?:amazon|etsy|shop|store|ebay) listing\b|\bdescribe (?:our|my|this|the) (?:new )?product\b|\bproduct blurb\b|\bitem description\b|\b(?:shop|store) description\b|\bfor (?:our|my|the) (?:online )?(?:store|shop)\b|\bkey features\b",
        ),
        cue(
            ProductDescription,
            3.0,
            r"产品描述|商品描述|商品详情|产品介绍|商品介绍|详情页",
        ),
        cue(
            SocialPost,
            2.6,
            r"(?i)\btweets?\b|\btwitter\b|\bx post\b|\binstagram\b|\bfacebook\b|\blinkedin\b|\btiktok\b|\bsocial(?: media)?(?: post| update| caption)?\b|\bthreads post\b|\bweibo\b|\bhashtags?\b|\bmastodon\b|\bsocial\b",
        ),
        cue(
            SocialPost,
            2.6,
            r"微博|朋友圈|小红书|社交媒体|推文|抖音|动态|帖子",
        ),
        cue(
            Email,
            2.4,
            r"(?i)\be-?mails?\b|\bletter\b|\bnewsletter\b|\bmemo to\b|\bwrite to my\b|\bcover letter\b|\bthank-you note\b|\bthank you note\b",
        ),
        cue(Email, 2.4, r"邮件|书信|求职信|感谢信|一封信|信函|写信"),
        cue(
            Ad,
            2.3,
            r"(?i)\bads?\b|\badvert(?:isement)?s?\b|\bslogans?\b|\btaglines?\b|\bcommercial\b|\bpromo(?:tional)?\b|\bjingle\b|\bad copy\b|\bmarketing copy\b|\bbanner\b|\bcall to action\b|\bbillboard\b|\bcatchphrase\b",
        ),
        cue(Ad, 2.3, r"广告|标语|口号|宣传语|文案|宣传"),
        cue(
            Poem,
            2.2,
            r"(?i)\bpoems?\b|\bpoetry\b|\bhaikus?\b|\bsonnets?\b|\blimericks?\b|\bverses?\b|\blyrics\b|\bsongs?\b|\brhym(?:e|es|ing)\b|\bode\b|\bballad\b|\bfree verse\b|\bacrostic\b",
        ),
        cue(
            Poem,
            2.2,
            r"诗[^人]|诗$|歌词|俳句|打油诗|词一首|一首歌|儿歌|顺口溜",
        ),
        cue(
            Story,
            2.2,
            r"(?i)\bstor(?:y|ies)\b|\btale\b|\bfable\b|\bnarrative\b|\bfiction\b|\bbedtime\b|\bonce upon\b|\bflash fiction\b|\bfairy tale\b|\bplot\b",
        ),
        cue(Story, 2.2, r"故事|童话|小说|寓言|情节"),
        cue(
            Report,
            2.1,
            r"(?i)\breports?\b|\boutline\b|\bproposal\b|\bbusiness plan\b|\bproject plan\b|\baction plan\b|\bwhite ?paper\b|\bagenda\b|\bbriefing\b|\bstatus update\b|\banalysis\b|\bplan\b|\broadmap\b|\bexecutive summary\b|\bswot\b",
        ),
        cue(Report, 2.1, r"报告|大纲|提纲|计划|方案|提案|分析|规划"),
        cue(
            Article,
            1.6,
            r"(?i)\barticles?\b|\bblog(?: post)?s?\b|\bessay\b|\bcolumn\b|\beditorial\b|\bexplainer\b|\bguide\b|\bhow-to\b|\bfeature piece\b|\bop-ed\b|\bpost\b|\bwrite-?up\b|\bpiece\b|\brecipe\b",
        ),
        cue(Article, 1.6, r"文章|博客|博文|散文|短文|随笔|评论文章|科普"),
        cue(
            Image,
            2.5,
            r"(?i)\b(?:draw|paint|sketch|illustrate|render)\b|\bimages?\b|\bpictures?\b|\bphoto(?:graph)?s?\b|\blogo\b|\billustrations?\b|\bicon\b|\bwallpaper\b|\bartwork\b|\bdrawing\b|\bpainting\b|\bposter\b|\bvisual\b|\bmascot\b|\bcartoon\b|\bsticker\b|\bemblem\b|\bavatar\b",
        ),
        cue(
            Image,
            2.5,
            r"画|图片|图像|插画|插图|照片|海报|标志|logo|配图|图标|壁纸",
        ),
    ]
});

/// Tasks whose cue counts as "text" when a picture cue also fires (→ `text_image`).
fn is_text_task(t: Task) -> bool {
    !matches!(t, Task::Image | Task::TextImage)
}

/// Rule scores per task (0 where no cue fires), in [`Task::ALL`] order.
pub fn rule_scores(prompt: &str) -> [f64; 12] {
    let mut scores = [0.0f64; 12];
    let chars = prompt.chars().count().max(1) as f64;
    for c in CUES.iter() {
        if let Some(m) = c.pattern.find(prompt) {
            let pos = prompt[..m.start()].chars().count() as f64 / chars;
            let s = c.weight - 0.5 * pos;
            let i = Task::ALL.iter().position(|t| *t == c.task).unwrap_or(0);
            scores[i] = scores[i].max(s);
        }
    }
    scores
}

/// Words that ask for written content beside a picture ("a card with a picture and a message")
/// without naming a text task of their own.
static TEXT_BESIDE_IMAGE: LazyLock<Regex> = LazyLock::new(|| {
    re(r"(?i)\b(?:message|caption|text|wording|tips|copy|headline|greeting)\b|文字|文案|配文|说明")
});

/// Whether a picture cue fires alongside a text cue, as in "a blog post with a header image".
fn text_with_image(prompt: &str, scores: &[f64; 12]) -> bool {
    let image = scores[Task::ALL
        .iter()
        .position(|t| *t == Task::Image)
        .unwrap_or(0)]
        > 0.0;
    let text = Task::ALL
        .iter()
        .zip(scores)
        .any(|(t, s)| is_text_task(*t) && *s > 0.0 && !matches!(t, Task::Questions | Task::Report));
    image && (text || TEXT_BESIDE_IMAGE.is_match(prompt))
}

/// Prototype requests per task, embedded once when an embedding model is available.
pub const PROTOTYPES: &[(Task, &str)] = &[
    (
        Task::Article,
        "Write an informative article explaining a topic.",
    ),
    (Task::Article, "Write a blog post about my experience."),
    (Task::Ad, "Write catchy advertising copy to sell this."),
    (Task::Ad, "Create a slogan for our brand."),
    (
        Task::SocialPost,
        "Write a short post for social media with hashtags.",
    ),
    (
        Task::ProductDescription,
        "Describe this product for an online store listing.",
    ),
    (Task::Email, "Write an email to my colleague."),
    (
        Task::Story,
        "Tell a short story about a character's adventure.",
    ),
    (Task::Poem, "Write a poem with vivid imagery."),
    (
        Task::Summary,
        "Summarize the following text in a few sentences.",
    ),
    (Task::Questions, "Generate quiz questions about this topic."),
    (
        Task::Report,
        "Prepare a structured report with findings and recommendations.",
    ),
    (Task::Image, "Generate a picture of a landscape."),
    (
        Task::TextImage,
        "Write a blog post and create an illustration to go with it.",
    ),
];

/// The task for `prompt` from rule scores and, when given, the embedding similarity of the prompt
/// to each task's best prototype (`similarity[i]` for `Task::ALL[i]`, cosine in [-1, 1]).
pub fn classify(prompt: &str, similarity: Option<&[f64; 12]>) -> (Task, [f64; 12]) {
    let mut scores = rule_scores(prompt);
    let fired = scores.iter().any(|s| *s > 0.0);
    if text_with_image(prompt, &scores) {
        return (Task::TextImage, scores);
    }
    if let Some(sim) = similarity {
        // Rules decide when they fire; similarity only separates near ties, and decides alone
        // when no cue matched (scaled so that it cannot outvote a fired rule).
        let w = if fired { 0.4 } else { 1.0 };
        for (s, v) in scores.iter_mut().zip(sim) {
            *s += w * v.max(0.0);
        }
    }
    let best = scores
        .iter()
        .enumerate()
        .fold((0usize, f64::NEG_INFINITY), |b, (i, &s)| {
            if s > b.1 { (i, s) } else { b }
        })
        .0;
    let task = if fired || similarity.is_some() {
        Task::ALL[best]
    } else {
        Task::Article
    };
    (task, scores)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(p: &str) -> Task {
        classify(p, None).0
    }

    #[test]
    fn cues_decide_the_task() {
        assert_eq!(task("Write a story about a poet"), Task::Story);
        assert_eq!(
            task("Summarize this article: the sea is rising."),
            Task::Summary
        );
        assert_eq!(
            task("Generate 5 interview questions for a data analyst"),
            Task::Questions
        );
        assert_eq!(task("An outline for a report on solar power"), Task::Report);
        assert_eq!(task("Design a logo for a bakery"), Task::Image);
        assert_eq!(
            task("Write a blog post about hiking with a header image"),
            Task::TextImage
        );
        assert_eq!(
            task("Email to my landlord about the broken heater"),
            Task::Email
        );
        assert_eq!(
            task("Product description for a waterproof running shoe"),
            Task::ProductDescription
        );
        assert_eq!(task("A slogan for a coffee shop"), Task::Ad);
        assert_eq!(task("Lyrics for a song about summer"), Task::Poem);
        assert_eq!(task("帮我写一首关于秋天的诗"), Task::Poem);
        assert_eq!(task("给小朋友讲一个睡前故事"), Task::Story);
        assert_eq!(task("Tell me about volcanoes"), Task::Article);
    }
}
