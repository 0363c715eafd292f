//! Compiling a [`PolicyConfig`] into regexes once, with every error naming its field.

use regex::Regex;

use super::config::{CategoryConfig, PolicyConfig, RuleConfig};
use crate::SafetyError;
use crate::scoring::CategorySetting;

pub(crate) struct CompiledRule {
    pub id: String,
    pub weight: f32,
    pub regexes: Vec<Regex>,
    pub unless: Vec<Regex>,
    pub redact_as: Option<String>,
}

pub(crate) struct CompiledCategory {
    pub name: String,
    pub setting: CategorySetting,
    pub pii: bool,
    pub allow: Vec<Regex>,
    pub rules: Vec<CompiledRule>,
}

pub(crate) fn compile(config: &PolicyConfig) -> Result<Vec<CompiledCategory>, SafetyError> {
    config.validate()?;
    config
        .categories
        .iter()
        .map(|(name, cat)| compile_category(config, name, cat))
        .collect()
}

fn compile_category(
    config: &PolicyConfig,
    name: &str,
    cat: &CategoryConfig,
) -> Result<CompiledCategory, SafetyError> {
    let field = format!("categories.{name}");
    let allow = compile_list(config, &format!("{field}.allow"), &cat.allow)?;
    let rules = cat
        .rules
        .iter()
        .enumerate()
        .map(|(i, r)| compile_rule(config, &format!("{field}.rules[{i}]"), r))
        .collect::<Result<_, _>>()?;
    Ok(CompiledCategory {
        name: name.to_owned(),
        setting: CategorySetting {
            threshold: cat.threshold,
            action: cat.action,
        },
        pii: cat.pii,
        allow,
        rules,
    })
}

fn compile_rule(
    config: &PolicyConfig,
    field: &str,
    rule: &RuleConfig,
) -> Result<CompiledRule, SafetyError> {
    let mut regexes = Vec::new();
    if !rule.terms.is_empty() {
        let alternation: Vec<String> = rule.terms.iter().map(|t| term_pattern(t)).collect();
        let source = format!("(?i)(?:{})", alternation.join("|"));
        regexes.push(
            Regex::new(&source).map_err(|e| SafetyError::pattern(format!("{field}.terms"), e))?,
        );
    }
    regexes.extend(compile_list(
        config,
        &format!("{field}.patterns"),
        &rule.patterns,
    )?);
    Ok(CompiledRule {
        id: rule.id.clone(),
        weight: rule.weight,
        regexes,
        unless: compile_list(config, &format!("{field}.unless"), &rule.unless)?,
        redact_as: rule.redact_as.clone(),
    })
}

fn compile_list(
    config: &PolicyConfig,
    field: &str,
    patterns: &[String],
) -> Result<Vec<Regex>, SafetyError> {
    patterns
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let f = format!("{field}[{i}]");
            let expanded = expand_vars(config, p, &f)?;
            Regex::new(&format!("(?i){expanded}")).map_err(|e| SafetyError::pattern(f, e))
        })
        .collect()
}

/// Replaces `{{name}}` with the var's text.
fn expand_vars(config: &PolicyConfig, pattern: &str, field: &str) -> Result<String, SafetyError> {
    let mut out = String::with_capacity(pattern.len());
    let mut rest = pattern;
    while let Some(open) = rest.find("{{") {
        out.push_str(&rest[..open]);
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else {
            return Err(SafetyError::config(
                field,
                "has `{{` without a closing `}}`",
            ));
        };
        let name = &after[..close];
        let Some(value) = config.vars.get(name) else {
            return Err(SafetyError::config(
                field,
                format!("uses unknown var `{{{{{name}}}}}`"),
            ));
        };
        out.push_str(value);
        rest = &after[close + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// A literal phrase as a regex: escaped, any run of whitespace between words, word
/// boundaries at the ends that are word characters.
fn term_pattern(term: &str) -> String {
    let words: Vec<String> = term.split_whitespace().map(regex::escape).collect();
    let body = words.join(r"\s+");
    let trimmed = term.trim();
    let is_word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
    let lead = if is_word(trimmed.chars().next()) {
        r"\b"
    } else {
        ""
    };
    let tail = if is_word(trimmed.chars().next_back()) {
        r"\b"
    } else {
        ""
    };
    format!("{lead}{body}{tail}")
}
