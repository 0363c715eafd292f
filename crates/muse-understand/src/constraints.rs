//! Constraint extraction by rules: target length, tone, audience, output language, required
//! keywords and output format, from English and Chinese requests.
//!
//! Lengths follow one convention: an explicit bound ("under 60 words", "at least 300 words",
//! "between 100 and 150") is kept as written; an approximate word count ("about 200 words",
//! "a 200-word post", "约200字") becomes ±20%; counts of sentences, paragraphs and items ("in three
//! sentences", "5 questions") are exact.

use crate::numbers::{NUMBER, parse_number};
use crate::types::{Constraints, Format, Length, LengthUnit};
use regex::Regex;
use std::sync::LazyLock;

#[expect(
    clippy::expect_used,
    reason = "fixed patterns, each exercised by the unit tests"
)]
fn re(pattern: &str) -> Regex {
    Regex::new(pattern).expect("valid built-in pattern")
}

const ITEM_NOUNS: &str = r"tweets?|haikus?|haiku|variations?|versions?|images?|pictures?|photos?|logos?|posts?|captions?|poems?|stories|jokes?|drafts?|emails?|questions?|tips?|ideas?|bullet points?|bullets?|items?|reasons?|ways?|steps?|examples?|names?|slogans?|taglines?|headlines?|points?|facts?|options?|suggestions?|titles?|taglines?|hashtags?|quiz questions?|interview questions?|benefits?|features?|mistakes?|habits?|rules?|lessons?|strategies|questions";

fn unit_of(word: &str) -> LengthUnit {
    let w = word.to_lowercase();
    if w.starts_with("word") || w == "字" || w == "个字" || w == "词" {
        LengthUnit::Words
    } else if w.starts_with("sentence") || w.starts_with('句') {
        LengthUnit::Sentences
    } else if w.starts_with("paragraph") || w.starts_with('段') {
        LengthUnit::Paragraphs
    } else {
        LengthUnit::Items
    }
}

/// ±20% around `n` for approximate word counts.
fn around(unit: LengthUnit, n: u32) -> Length {
    if unit == LengthUnit::Words {
        Length {
            unit,
            min: Some((n as f64 * 0.8).round() as u32),
            max: Some((n as f64 * 1.2).round() as u32),
        }
    } else {
        Length {
            unit,
            min: Some(n),
            max: Some(n),
        }
    }
}

struct LengthRules {
    between: Regex,
    at_most: Regex,
    at_least: Regex,
    approx: Regex,
    plain: Regex,
    zh_at_most: Regex,
    zh_at_least: Regex,
    zh_approx: Regex,
    zh_plain: Regex,
}

static LENGTH: LazyLock<LengthRules> = LazyLock::new(|| {
    let units = format!(r"(words?|sentences?|paragraphs?|{ITEM_NOUNS})");
    let n = format!("({NUMBER})");
    LengthRules {
        between: re(&format!(
            r"(?i)\b(?:between\s+)?{n}\s*(?:-|–|to|and)\s*{n}[- ]{units}\b"
        )),
        at_most: re(&format!(
            r"(?i)\b(?:under|less than|fewer than|no more than|not more than|at most|maximum(?: of)?|max\.?|up to|within|no longer than|below|not exceeding|shorter than)\s+{n}[- ]{units}\b"
        )),
        at_least: re(&format!(
            r"(?i)\b(?:at least|more than|over|minimum(?: of)?|min\.?|no fewer than|no less than|longer than)\s+{n}[- ]{units}\b"
        )),
        approx: re(&format!(
            r"(?i)\b(?:about|around|roughly|approximately|approx\.?|some|~)\s*{n}[- ]{units}\b"
        )),
        // A count, up to three describing words, then the unit: "5 common mistakes",
        // "6 behavioral interview questions".
        plain: re(&format!(
            r"(?i)(?:^|[^\w-]){n}[- ](?:[a-z-]+\s+){{0,3}}?{units}\b"
        )),
        zh_at_most: re(&format!(
            r"(?:不超过|不多于|少于|最多|以内|限){n}个?(字|词|句|段)|{n}个?(字|词|句|段)(?:以内|之内|以下)"
        )),
        zh_at_least: re(&format!(
            r"(?:至少|不少于|最少|超过){n}个?(字|词|句|段)|{n}个?(字|词|句|段)以上"
        )),
        zh_approx: re(&format!(
            r"(?:约|大约|大概|左右){n}个?(字|词|句|段)|{n}个?(字|词|句|段)左右"
        )),
        // Units counted directly (字, 句, 段), or a count word after a verb of producing
        // ("出10道题", "推荐三款") — not any number in quoted material ("公园35个").
        zh_plain: re(&format!(
            r"{n}\s*(?:个字|个词|字|词|句话|句|段)|(?:写|出|列|给|成|荐|供|想|举|提|要)\s*{n}\s*(?:个|道|条|款|则|首|种|点)"
        )),
    }
});

fn num(c: Option<regex::Match<'_>>) -> Option<u32> {
    c.and_then(|m| parse_number(m.as_str()))
}

/// The first length the prompt states, if any.
pub fn extract_length(prompt: &str) -> Option<Length> {
    let r = &*LENGTH;
    if let Some(c) = r.between.captures(prompt) {
        let (a, b) = (num(c.get(1))?, num(c.get(2))?);
        let unit = unit_of(c.get(3)?.as_str());
        return Some(Length {
            unit,
            min: Some(a.min(b)),
            max: Some(a.max(b)),
        });
    }
    if let Some(c) = r.at_most.captures(prompt) {
        return Some(Length {
            unit: unit_of(c.get(2)?.as_str()),
            min: None,
            max: num(c.get(1)),
        });
    }
    if let Some(c) = r.at_least.captures(prompt) {
        return Some(Length {
            unit: unit_of(c.get(2)?.as_str()),
            min: num(c.get(1)),
            max: None,
        });
    }
    if let Some(c) = r.approx.captures(prompt) {
        return Some(around(unit_of(c.get(2)?.as_str()), num(c.get(1))?));
    }
    // Chinese bounds: the number and unit sit in either of two capture pairs.
    let zh_pair = |c: &regex::Captures<'_>| -> Option<(u32, LengthUnit)> {
        let (n, u) = if c.get(1).is_some() {
            (c.get(1), c.get(2))
        } else {
            (c.get(3), c.get(4))
        };
        Some((num(n)?, unit_of(u?.as_str())))
    };
    if let Some(c) = r.zh_at_most.captures(prompt) {
        let (n, unit) = zh_pair(&c)?;
        return Some(Length {
            unit,
            min: None,
            max: Some(n),
        });
    }
    if let Some(c) = r.zh_at_least.captures(prompt) {
        let (n, unit) = zh_pair(&c)?;
        return Some(Length {
            unit,
            min: Some(n),
            max: None,
        });
    }
    if let Some(c) = r.zh_approx.captures(prompt) {
        let (n, unit) = zh_pair(&c)?;
        return Some(around(unit, n));
    }
    if let Some(c) = r.plain.captures(prompt) {
        return Some(around(unit_of(c.get(2)?.as_str()), num(c.get(1))?));
    }
    // "一段" / "一个" / "一句广告语" mean "a piece", not a count; "一句话" is one sentence.
    let counted = r.zh_plain.captures_iter(prompt).find(|c| {
        let whole = c.get(0).map_or("", |m| m.as_str());
        num(c.get(1).or(c.get(2))) != Some(1) || whole.contains('字') || whole.contains("句话")
    });
    if let Some(c) = counted {
        let n = num(c.get(1).or(c.get(2)))?;
        let whole = c.get(0)?.as_str();
        let unit = if whole.contains('字') || whole.contains('词') {
            LengthUnit::Words
        } else if whole.contains('句') {
            LengthUnit::Sentences
        } else if whole.contains('段') {
            LengthUnit::Paragraphs
        } else {
            LengthUnit::Items
        };
        return Some(around(unit, n));
    }
    None
}

static COUNT_SENTENCES: LazyLock<Regex> = LazyLock::new(|| {
    re(&format!(
        r"(?i)\b({NUMBER})[- ]sentences?\b|({NUMBER})\s*句"
    ))
});
static COUNT_PARAGRAPHS: LazyLock<Regex> = LazyLock::new(|| {
    re(&format!(
        r"(?i)\b({NUMBER})[- ]paragraphs?\b|({NUMBER})\s*段"
    ))
});

/// A count of sentences or paragraphs stated anywhere in the prompt (beside any word bound).
pub(crate) fn count_of(prompt: &str, unit: LengthUnit) -> Option<u32> {
    let r = match unit {
        LengthUnit::Sentences => &*COUNT_SENTENCES,
        LengthUnit::Paragraphs => &*COUNT_PARAGRAPHS,
        _ => return None,
    };
    let c = r.captures(prompt)?;
    num(c.get(1).or(c.get(2)))
}

/// Tone words and what they mean, English and Chinese.
const TONES: &[(&str, &str)] = &[
    ("formal", "formal"),
    ("casual", "casual"),
    ("informal", "casual"),
    ("conversational", "casual"),
    ("relaxed", "casual"),
    ("friendly", "friendly"),
    ("professional", "professional"),
    ("humorous", "humorous"),
    ("humourous", "humorous"),
    ("funny", "humorous"),
    ("witty", "humorous"),
    ("playful", "playful"),
    ("whimsical", "playful"),
    ("upbeat", "upbeat"),
    ("cheerful", "upbeat"),
    ("energetic", "upbeat"),
    ("enthusiastic", "enthusiastic"),
    ("excited", "enthusiastic"),
    ("exciting", "enthusiastic"),
    ("persuasive", "persuasive"),
    ("convincing", "persuasive"),
    ("serious", "serious"),
    ("warm", "warm"),
    ("heartfelt", "warm"),
    ("inspirational", "inspirational"),
    ("inspiring", "inspirational"),
    ("motivational", "inspirational"),
    ("motivating", "inspirational"),
    ("romantic", "romantic"),
    ("melancholic", "melancholic"),
    ("melancholy", "melancholic"),
    ("sad", "melancholic"),
    ("wistful", "melancholic"),
    ("urgent", "urgent"),
    ("neutral", "neutral"),
    ("objective", "neutral"),
    ("正式", "formal"),
    ("幽默", "humorous"),
    ("风趣", "humorous"),
    ("轻松", "casual"),
    ("随意", "casual"),
    ("专业", "professional"),
    ("热情", "enthusiastic"),
    ("温暖", "warm"),
    ("温馨", "warm"),
    ("感人", "melancholic"),
    ("伤感", "melancholic"),
    ("忧伤", "melancholic"),
    ("励志", "inspirational"),
    ("鼓舞", "inspirational"),
    ("活泼", "playful"),
    ("俏皮", "playful"),
    ("友好", "friendly"),
    ("亲切", "friendly"),
    ("浪漫", "romantic"),
    ("严肃", "serious"),
    ("紧急", "urgent"),
    ("有说服力", "persuasive"),
    ("积极", "upbeat"),
];

static WORD: LazyLock<Regex> = LazyLock::new(|| re(r"(?i)\b[a-z]+\b"));

/// The first tone the prompt names.
pub fn extract_tone(prompt: &str) -> Option<String> {
    let lower = prompt.to_lowercase();
    let mut best: Option<(usize, &str)> = None;
    for m in WORD.find_iter(&lower) {
        // "eco-friendly" names no tone.
        if lower[..m.start()].ends_with('-') {
            continue;
        }
        if let Some((_, t)) = TONES.iter().find(|(w, _)| *w == m.as_str()) {
            best = Some((m.start(), t));
            break;
        }
    }
    for (w, t) in TONES.iter().filter(|(w, _)| !w.is_ascii()) {
        if let Some(p) = lower.find(w)
            && best.is_none_or(|(b, _)| p < b)
        {
            best = Some((p, t));
        }
    }
    best.map(|(_, t)| t.to_string())
}

/// Audiences and how prompts name them.
const AUDIENCES: &[(&str, &str)] = &[
    ("small business owners", "small business owners"),
    ("first-time home buyers", "first-time home buyers"),
    ("senior software engineers", "senior software engineers"),
    ("recruiters", "recruiters"),
    ("commuters", "commuters"),
    ("graduating students", "students"),
    ("young children", "children"),
    ("software engineers", "software engineers"),
    ("software developers", "software engineers"),
    ("developers", "software engineers"),
    ("programmers", "software engineers"),
    ("children", "children"),
    ("kids", "children"),
    ("beginners", "beginners"),
    ("novices", "beginners"),
    ("newcomers", "beginners"),
    ("investors", "investors"),
    ("teenagers", "teenagers"),
    ("teens", "teenagers"),
    ("customers", "customers"),
    ("clients", "customers"),
    ("students", "students"),
    ("parents", "parents"),
    ("seniors", "seniors"),
    ("the elderly", "seniors"),
    ("older adults", "seniors"),
    ("retirees", "seniors"),
    ("employees", "employees"),
    ("volunteers", "volunteers"),
    ("members", "members"),
    ("new employees", "new employees"),
    ("managers", "managers"),
    ("teachers", "teachers"),
    ("nurses", "nurses"),
    ("doctors", "doctors"),
    ("tourists", "tourists"),
    ("travelers", "travelers"),
    ("gamers", "gamers"),
    ("runners", "runners"),
    ("homeowners", "homeowners"),
    ("college students", "college students"),
    ("high school students", "high school students"),
    ("儿童", "children"),
    ("孩子", "children"),
    ("小朋友", "children"),
    ("学生", "students"),
    ("大学生", "college students"),
    ("初学者", "beginners"),
    ("新手", "beginners"),
    ("家长", "parents"),
    ("父母", "parents"),
    ("老年人", "seniors"),
    ("老人", "seniors"),
    ("投资者", "investors"),
    ("客户", "customers"),
    ("顾客", "customers"),
    ("员工", "employees"),
    ("年轻人", "young people"),
    ("青少年", "teenagers"),
];

static AUDIENCE_CUE: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)\b(?:for|to|aimed at|targeting|targeted at|geared toward|geared towards|audience(?: of| is)?|who are|explain(?:ed)? to)\s+(?:(?:an?|the|my|our|young|curious|busy|new|potential)\s+)*$",
    )
});

/// Who the text is for, when the prompt says.
pub fn extract_audience(prompt: &str) -> Option<String> {
    let lower = prompt.to_lowercase();
    // Each known audience, where the words before it are a cue ("for", "aimed at", …) or it is a
    // possessive ("a children's story"); the earliest wins, the longest on ties.
    let mut best: Option<(usize, usize, &str)> = None;
    for (w, a) in AUDIENCES.iter().filter(|(w, _)| w.is_ascii()) {
        for (p, _) in lower.match_indices(w) {
            let end = p + w.len();
            let bounded = !lower[..p].ends_with(|c: char| c.is_alphanumeric() || c == '-')
                && !lower[end..].starts_with(|c: char| c.is_alphanumeric());
            let possessive = lower[end..].starts_with("'s ") || lower[end..].starts_with("' ");
            if bounded
                && (AUDIENCE_CUE.is_match(&lower[..p]) || possessive)
                && best.is_none_or(|(bp, bl, _)| p < bp || (p == bp && w.len() > bl))
            {
                best = Some((p, w.len(), a));
            }
        }
    }
    if let Some((_, _, a)) = best {
        return Some(a.to_string());
    }
    // Chinese: 给/为/面向/针对/适合 … an audience word, or "…的X" constructions.
    let mut best: Option<(usize, &str)> = None;
    for (w, a) in AUDIENCES.iter().filter(|(w, _)| !w.is_ascii()) {
        if let Some(p) = prompt.find(w) {
            // A cue at most four characters before: "给孩子", "为一款老年人".
            let before: String = prompt[..p]
                .chars()
                .rev()
                .take(5)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            let cued = ["给", "为", "面向", "针对", "适合", "对"]
                .iter()
                .any(|c| before.contains(c));
            if cued && best.is_none_or(|(b, bw)| p < b || (p == b && w.len() > bw.len())) {
                best = Some((p, a));
            }
        }
    }
    best.map(|(_, a)| a.to_string())
}

/// Share of letters that are CJK ideographs.
fn cjk_share(text: &str) -> f64 {
    let (mut cjk, mut letters) = (0usize, 0usize);
    for c in text.chars() {
        if c.is_alphabetic() {
            letters += 1;
            if matches!(c as u32, 0x4E00..=0x9FFF | 0x3400..=0x4DBF) {
                cjk += 1;
            }
        }
    }
    if letters == 0 {
        0.0
    } else {
        cjk as f64 / letters as f64
    }
}

static LANG_EN: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)\b(?:in|into|using)\s+(english|chinese|mandarin|french|spanish|german|italian|portuguese|japanese|korean|russian|dutch)\b",
    )
});

fn lang_code(name: &str) -> &'static str {
    match name.to_lowercase().as_str() {
        "english" | "英文" | "英语" => "en",
        "chinese" | "mandarin" | "中文" | "汉语" => "zh",
        "french" | "法语" | "法文" => "fr",
        "spanish" | "西班牙语" => "es",
        "german" | "德语" | "德文" => "de",
        "italian" => "it",
        "portuguese" => "pt",
        "japanese" | "日语" | "日文" => "ja",
        "korean" | "韩语" => "ko",
        "russian" => "ru",
        "dutch" => "nl",
        _ => "en",
    }
}

static LANG_ZH: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?:用|以|翻译成|译成|写成)(英文|英语|中文|汉语|法语|法文|西班牙语|德语|德文|日语|日文|韩语)",
    )
});

/// The language the output should be in: one the prompt asks for, else the prompt's own.
pub fn extract_language(prompt: &str) -> String {
    if let Some(c) = LANG_ZH.captures(prompt).and_then(|c| c.get(1)) {
        return lang_code(c.as_str()).to_string();
    }
    if let Some(c) = LANG_EN.captures(prompt).and_then(|c| c.get(1)) {
        return lang_code(c.as_str()).to_string();
    }
    if cjk_share(prompt) > 0.3 {
        "zh".into()
    } else {
        "en".into()
    }
}

static KEYWORD_CUE: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)\b(?:includ(?:e|es|ing)|mention(?:s|ing)?|us(?:e|es|ing)|contain(?:s|ing)?|feature|featuring|keywords?|with the (?:words?|phrases?|terms?)|must (?:have|say|appear)|work in)\b|关键词|关键字|包含|提到|提及|使用|加入|出现",
    )
});
static QUOTED: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r#""([^"]{1,60})"|“([^”]{1,60})”|‘([^’]{1,60})’|「([^」]{1,60})」|『([^』]{1,60})』|(?:^|[^A-Za-z0-9])'([^']{1,60})'"#,
    )
});

/// Words or phrases the prompt requires, quoted after a cue such as "include" or "关键词".
pub fn extract_keywords(prompt: &str) -> Vec<String> {
    let Some(cue) = KEYWORD_CUE.find(prompt) else {
        return Vec::new();
    };
    let mut out: Vec<String> = Vec::new();
    for c in QUOTED.captures_iter(&prompt[cue.start()..]) {
        if let Some(m) = c.iter().skip(1).flatten().next() {
            let k = m.as_str().trim().to_string();
            if !k.is_empty() && !out.contains(&k) {
                out.push(k);
            }
        }
    }
    out
}

static FORMAT_JSON: LazyLock<Regex> = LazyLock::new(|| re(r"(?i)\bjson\b"));
static FORMAT_MD: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)\bmarkdown\b|\bwith (?:section )?headings\b|\bin a table\b|\bas a table\b|\bwith a table\b|\bmarkdown table\b|表格|markdown格式",
    )
});
static FORMAT_BULLETS: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)\bbullet(?:ed)?(?: points?| list)?\b|\bnumbered list\b|\bas a list\b|\bin a list\b|\blist format\b|\bchecklist\b|列表|分点|要点形式|清单",
    )
});

/// The output format the prompt asks for.
pub fn extract_format(prompt: &str) -> Format {
    if FORMAT_JSON.is_match(prompt) {
        Format::Json
    } else if FORMAT_MD.is_match(prompt) {
        Format::Markdown
    } else if FORMAT_BULLETS.is_match(prompt) {
        Format::Bullets
    } else {
        Format::Plain
    }
}

/// All constraints of a prompt.
pub fn extract_constraints(prompt: &str) -> Constraints {
    Constraints {
        length: extract_length(prompt),
        tone: extract_tone(prompt),
        audience: extract_audience(prompt),
        language: extract_language(prompt),
        keywords: extract_keywords(prompt),
        format: extract_format(prompt),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn len(unit: LengthUnit, min: Option<u32>, max: Option<u32>) -> Option<Length> {
        Some(Length { unit, min, max })
    }

    #[test]
    fn english_lengths() {
        use LengthUnit::*;
        assert_eq!(
            extract_length("an ad, under 60 words"),
            len(Words, None, Some(60))
        );
        assert_eq!(
            extract_length("at least 300 words please"),
            len(Words, Some(300), None)
        );
        assert_eq!(
            extract_length("about 200 words"),
            len(Words, Some(160), Some(240))
        );
        assert_eq!(
            extract_length("a 200-word post"),
            len(Words, Some(160), Some(240))
        );
        assert_eq!(
            extract_length("in three sentences"),
            len(Sentences, Some(3), Some(3))
        );
        assert_eq!(
            extract_length("two paragraphs on tea"),
            len(Paragraphs, Some(2), Some(2))
        );
        assert_eq!(
            extract_length("list 10 tips for sleep"),
            len(Items, Some(10), Some(10))
        );
        assert_eq!(
            extract_length("5 interview questions"),
            len(Items, Some(5), Some(5))
        );
        assert_eq!(
            extract_length("between 100 and 150 words"),
            len(Words, Some(100), Some(150))
        );
        assert_eq!(extract_length("a haiku about frogs"), None);
    }

    #[test]
    fn chinese_lengths() {
        use LengthUnit::*;
        assert_eq!(extract_length("不超过100字"), len(Words, None, Some(100)));
        assert_eq!(
            extract_length("用三句话介绍"),
            len(Sentences, Some(3), Some(3))
        );
        assert_eq!(extract_length("出5个问题"), len(Items, Some(5), Some(5)));
        assert_eq!(extract_length("写两段"), len(Paragraphs, Some(2), Some(2)));
        assert_eq!(
            extract_length("约200字的短文"),
            len(Words, Some(160), Some(240))
        );
    }

    #[test]
    fn tone_audience_language() {
        assert_eq!(extract_tone("an upbeat ad"), Some("upbeat".into()));
        assert_eq!(extract_tone("写一段幽默的文案"), Some("humorous".into()));
        assert_eq!(extract_tone("a poem about rain"), None);
        assert_eq!(
            extract_audience("explain taxes for beginners"),
            Some("beginners".into())
        );
        assert_eq!(
            extract_audience("a story for young children"),
            Some("children".into())
        );
        assert_eq!(
            extract_audience("给孩子写一个故事"),
            Some("children".into())
        );
        assert_eq!(extract_audience("an email to my landlord"), None);
        assert_eq!(extract_language("Write a poem in French about rain"), "fr");
        assert_eq!(extract_language("帮我写一首诗"), "zh");
        assert_eq!(extract_language("用英文写一封邮件"), "en");
        assert_eq!(extract_language("Write an email"), "en");
    }

    #[test]
    fn keywords_and_format() {
        assert_eq!(
            extract_keywords(
                "Describe the shoe and include the words 'eco-friendly' and \"durable\"."
            ),
            ["eco-friendly", "durable"]
        );
        assert_eq!(
            extract_keywords("使用关键词“环保”和“耐用”"),
            ["环保", "耐用"]
        );
        assert!(extract_keywords("Write \"Hello\" on a sign").is_empty());
        assert_eq!(extract_format("as a bulleted list"), Format::Bullets);
        assert_eq!(extract_format("return JSON"), Format::Json);
        assert_eq!(
            extract_format("in markdown with headings"),
            Format::Markdown
        );
        assert_eq!(
            extract_format("a blog post with a header image"),
            Format::Plain
        );
    }
}
