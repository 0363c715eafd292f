//! Numbers written as digits, English words or Chinese numerals.

/// English number words up to a hundred ("twenty-five" included).
fn english(word: &str) -> Option<u32> {
    let units = [
        "zero",
        "one",
        "two",
        "three",
        "four",
        "five",
        "six",
        "seven",
        "eight",
        "nine",
        "ten",
        "eleven",
        "twelve",
        "thirteen",
        "fourteen",
        "fifteen",
        "sixteen",
        "seventeen",
        "eighteen",
        "nineteen",
    ];
    let tens = [
        ("twenty", 20),
        ("thirty", 30),
        ("forty", 40),
        ("fifty", 50),
        ("sixty", 60),
        ("seventy", 70),
        ("eighty", 80),
        ("ninety", 90),
    ];
    let w = word.to_lowercase();
    if let Some(i) = units.iter().position(|u| *u == w) {
        return Some(i as u32);
    }
    match w.as_str() {
        "a dozen" | "dozen" => return Some(12),
        "a hundred" | "hundred" | "one hundred" => return Some(100),
        "a couple of" | "a couple" | "couple" => return Some(2),
        "a few" => return None,
        _ => {}
    }
    for (t, v) in tens {
        if w == t {
            return Some(v);
        }
        if let Some(rest) = w.strip_prefix(t).map(|r| r.trim_start_matches(['-', ' ']))
            && let Some(i) = units[1..10].iter().position(|u| *u == rest)
        {
            return Some(v + i as u32 + 1);
        }
    }
    None
}

fn chinese_digit(c: char) -> Option<u32> {
    "零一二三四五六七八九"
        .chars()
        .position(|d| d == c)
        .map(|i| i as u32)
        .or(if c == '两' { Some(2) } else { None })
}

/// Chinese numerals up to 9999 (一, 十二, 二十, 三百五十, 两千).
fn chinese(s: &str) -> Option<u32> {
    if s.is_empty() {
        return None;
    }
    let (mut total, mut cur) = (0u32, None::<u32>);
    for c in s.chars() {
        let unit = match c {
            '十' => 10,
            '百' => 100,
            '千' => 1000,
            _ => {
                cur = Some(chinese_digit(c)?);
                continue;
            }
        };
        total += cur.take().unwrap_or(1) * unit;
    }
    Some(total + cur.unwrap_or(0))
}

/// Parse a number in any of the supported forms.
pub fn parse_number(s: &str) -> Option<u32> {
    let t = s.trim();
    if let Ok(n) = t.replace(',', "").parse::<u32>() {
        return Some(n);
    }
    english(t).or_else(|| chinese(t))
}

/// Regex alternation matching the number forms [`parse_number`] reads.
pub const NUMBER: &str = r"(?:\d[\d,]*|(?:twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety)(?:[- ](?:one|two|three|four|five|six|seven|eight|nine))?|zero|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|a dozen|a hundred|a couple(?: of)?|[零一二三四五六七八九十百千两]+)";

#[cfg(test)]
mod tests {
    use super::parse_number;

    #[test]
    fn digits_words_and_chinese() {
        for (s, n) in [
            ("60", 60),
            ("1,200", 1200),
            ("three", 3),
            ("Twenty-five", 25),
            ("a dozen", 12),
            ("五", 5),
            ("十", 10),
            ("十二", 12),
            ("二十", 20),
            ("三百五十", 350),
            ("两", 2),
            ("两千", 2000),
        ] {
            assert_eq!(parse_number(s), Some(n), "{s}");
        }
        assert_eq!(parse_number("many"), None);
    }
}
