//! Captions for class-labelled images, so a diffusion model can be conditioned on *text*: every
//! training image gets a caption drawn from templates × class nouns ("a photo of a sneaker",
//! "a handwritten digit seven", …), embedded by the sentence-embedding model.
//!
//! [`evaluation_prompts`] are phrasings that never occur among the training captions ("running
//! shoe", "the number 7"): the quality measurement uses them to test that conditioning goes
//! through the embedding space rather than through memorised strings.

use crate::data::DataSource;

/// Templates for photographed objects; `{}` is the class noun (with its article).
const OBJECT_TEMPLATES: [&str; 8] = [
    "a photo of {}",
    "a picture of {}",
    "{}",
    "an image of {}",
    "a black and white photo of {}",
    "a product photo of {}",
    "a small grayscale picture of {}",
    "a catalogue photo of {}",
];

/// Templates for digits; `{}` is the digit's word.
const DIGIT_TEMPLATES: [&str; 5] = [
    "a handwritten digit {}",
    "the digit {}",
    "a picture of a handwritten {}",
    "handwritten number {}",
    "an image of the digit {}",
];

const DIGIT_WORDS: [&str; 10] = [
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
];

/// Fashion-MNIST nouns per class, with articles: the class name, its common synonyms and the
/// everyday kinds of the garment, so that a user's own word for it lands near a caption the
/// model was trained on (MiniLM places "tee" and "t-shirt" close, but "shoe" nearer to boots
/// and sandals than to "sneaker" unless the sneaker captions say shoe too).
const FASHION_NOUNS: [&[&str]; 10] = [
    &[
        "a t-shirt",
        "a tee",
        "a top",
        "a short-sleeved t-shirt",
        "a tank top",
        "a sleeveless top",
    ],
    &[
        "trousers",
        "a pair of pants",
        "a pair of trousers",
        "pants",
        "a pair of jeans",
        "leggings",
    ],
    &[
        "a pullover",
        "a sweater",
        "a jumper",
        "a sweatshirt",
        "a knitted sweater",
        "a hoodie",
    ],
    &[
        "a dress",
        "a summer dress",
        "a long dress",
        "a short dress",
        "a gown",
        "a sleeveless dress",
    ],
    &[
        "a coat",
        "a jacket",
        "an overcoat",
        "a parka",
        "a winter jacket",
        "a blazer",
    ],
    &[
        "a sandal",
        "sandals",
        "a flip-flop",
        "summer shoes with straps",
        "a heeled sandal",
        "an open-toed shoe",
    ],
    &[
        "a shirt",
        "a button-down shirt",
        "a collared shirt",
        "a blouse",
        "a long-sleeved shirt",
        "a shirt with buttons",
    ],
    &[
        "a sneaker",
        "a trainer",
        "an athletic shoe",
        "a sports shoe",
        "a low-top shoe with laces",
        "a gym shoe",
    ],
    &[
        "a bag",
        "a handbag",
        "a purse",
        "a tote",
        "a satchel",
        "a clutch bag",
    ],
    &[
        "an ankle boot",
        "a boot",
        "a short boot",
        "a heeled boot",
        "a bootie",
        "a lace-up boot",
    ],
];

/// Held-out phrasings per Fashion-MNIST class: none of these is a training caption.
const FASHION_EVAL: [&[&str]; 10] = [
    &[
        "a short-sleeved cotton shirt with a round neck",
        "casual tee shirt",
        "plain crew neck top",
    ],
    &["jeans", "slacks for the office", "long pants"],
    &[
        "a warm knitted sweater with long sleeves",
        "woolly jumper for winter",
        "cardigan",
    ],
    &["an evening gown", "a sleeveless dress for a party", "frock"],
    &[
        "a winter overcoat",
        "a warm parka",
        "long coat with buttons",
    ],
    &[
        "open summer shoes with straps",
        "flip-flop sandals",
        "beach sandal",
    ],
    &[
        "a collared business shirt",
        "flannel shirt with buttons",
        "long-sleeved blouse",
    ],
    &[
        "running shoe",
        "athletic shoes for jogging",
        "a canvas sneaker",
    ],
    &["a leather purse", "a tote bag for shopping", "shoulder bag"],
    &["a leather boot", "winter boots", "short boots with a heel"],
];

/// Validation phrasings per Fashion-MNIST class: neither training captions nor held-out prompts.
/// Sampling settings (guidance, interval, sampler) are chosen on these, so that the held-out set
/// is measured once, with settings it did not select.
const FASHION_VALIDATION: [&[&str]; 10] = [
    &[
        "a basic white tee",
        "graphic t-shirt with a print",
        "sleeveless vest top",
        "a cotton top for summer",
    ],
    &[
        "denim jeans",
        "chinos",
        "a pair of sweatpants",
        "cargo trousers",
    ],
    &[
        "a turtleneck sweater",
        "a fleece sweatshirt",
        "a cable-knit jumper",
        "a crewneck pullover",
    ],
    &[
        "a maxi dress",
        "a cocktail dress",
        "a wedding dress",
        "a little black dress",
    ],
    &[
        "a trench coat",
        "a raincoat",
        "a puffer jacket",
        "a wool coat",
    ],
    &[
        "gladiator sandals",
        "a slipper with a strap",
        "thong sandals for the beach",
        "strappy sandals",
    ],
    &[
        "a dress shirt",
        "an oxford shirt",
        "a plaid shirt",
        "a checked blouse",
    ],
    &[
        "tennis shoes",
        "a basketball shoe",
        "trainers for the gym",
        "a high-top sneaker",
    ],
    &[
        "a backpack",
        "a handbag with a strap",
        "a leather satchel",
        "a shopping bag",
    ],
    &[
        "chelsea boots",
        "hiking boots",
        "a suede ankle boot",
        "cowboy boots",
    ],
];

/// Validation phrasings per digit.
const DIGIT_VALIDATION: [&[&str]; 10] = [
    &["digit zero", "a 0 drawn with a pen"],
    &["digit one", "a 1 drawn with a pen"],
    &["digit two", "a 2 drawn with a pen"],
    &["digit three", "a 3 drawn with a pen"],
    &["digit four", "a 4 drawn with a pen"],
    &["digit five", "a 5 drawn with a pen"],
    &["digit six", "a 6 drawn with a pen"],
    &["digit seven", "a 7 drawn with a pen"],
    &["digit eight", "an 8 drawn with a pen"],
    &["digit nine", "a 9 drawn with a pen"],
];

/// Held-out phrasings per digit.
const DIGIT_EVAL: [&[&str]; 10] = [
    &["the number 0", "zero written by hand", "numeral 0"],
    &["the number 1", "one written by hand", "numeral 1"],
    &["the number 2", "two written by hand", "numeral 2"],
    &["the number 3", "three written by hand", "numeral 3"],
    &["the number 4", "four written by hand", "numeral 4"],
    &["the number 5", "five written by hand", "numeral 5"],
    &["the number 6", "six written by hand", "numeral 6"],
    &["the number 7", "seven written by hand", "numeral 7"],
    &["the number 8", "eight written by hand", "numeral 8"],
    &["the number 9", "nine written by hand", "numeral 9"],
];

/// All training captions of each class, for a dataset with `classes`.
pub fn training_captions(source: &DataSource, classes: &[String]) -> Vec<Vec<String>> {
    let fill = |templates: &[&str], nouns: &[&str]| -> Vec<String> {
        templates
            .iter()
            .flat_map(|t| nouns.iter().map(move |n| t.replace("{}", n)))
            .collect()
    };
    match source {
        DataSource::FashionMnist => FASHION_NOUNS
            .iter()
            .map(|n| fill(&OBJECT_TEMPLATES, n))
            .collect(),
        DataSource::Mnist => DIGIT_WORDS
            .iter()
            .zip(0..)
            .map(|(word, d)| {
                let digit = d.to_string();
                fill(&DIGIT_TEMPLATES, &[word, &digit])
            })
            .collect(),
        DataSource::Folder(_) => classes
            .iter()
            .map(|c| {
                let noun = format!("a {}", c.to_lowercase());
                fill(&OBJECT_TEMPLATES, &[&noun])
            })
            .collect(),
    }
}

/// Held-out evaluation prompts per class (built-in datasets only).
pub fn evaluation_prompts(source: &DataSource) -> Option<Vec<Vec<String>>> {
    match source {
        DataSource::FashionMnist => Some(owned(&FASHION_EVAL)),
        DataSource::Mnist => Some(owned(&DIGIT_EVAL)),
        DataSource::Folder(_) => None,
    }
}

/// Validation prompts per class (built-in datasets only): unseen phrasings, disjoint from the
/// held-out ones, on which sampling settings are chosen.
pub fn validation_prompts(source: &DataSource) -> Option<Vec<Vec<String>>> {
    match source {
        DataSource::FashionMnist => Some(owned(&FASHION_VALIDATION)),
        DataSource::Mnist => Some(owned(&DIGIT_VALIDATION)),
        DataSource::Folder(_) => None,
    }
}

fn owned(table: &[&[&str]; 10]) -> Vec<Vec<String>> {
    table
        .iter()
        .map(|p| p.iter().map(|s| s.to_string()).collect())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evaluation_and_validation_prompts_are_disjoint_from_training_and_each_other() {
        for source in [DataSource::FashionMnist, DataSource::Mnist] {
            let train: std::collections::HashSet<String> = training_captions(&source, &[])
                .into_iter()
                .flatten()
                .collect();
            let eval = evaluation_prompts(&source).unwrap();
            let validation = validation_prompts(&source).unwrap();
            assert_eq!(eval.len(), 10);
            assert_eq!(validation.len(), 10);
            let eval_set: std::collections::HashSet<&String> = eval.iter().flatten().collect();
            for p in eval.iter().flatten() {
                assert!(!train.contains(p), "{p:?} is a training caption");
            }
            for p in validation.iter().flatten() {
                assert!(!train.contains(p), "{p:?} is a training caption");
                assert!(!eval_set.contains(p), "{p:?} is a held-out prompt");
            }
        }
    }

    #[test]
    fn the_issue_examples_are_training_captions() {
        let fashion: Vec<String> = training_captions(&DataSource::FashionMnist, &[])
            .into_iter()
            .flatten()
            .collect();
        assert!(fashion.contains(&"a photo of a sneaker".to_string()));
        let digits = training_captions(&DataSource::Mnist, &[]);
        assert!(digits[7].contains(&"a handwritten digit seven".to_string()));
    }
}
