//! Table-driven tests of every PII detector: positives and near misses.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test that meets bad data should fail loudly"
)]

use muse_safety::{
    Action, ContentFilter, PiiConfig, PiiFilter, PiiKind, Stage, iban_checksum_valid, iban_length,
    luhn_valid,
};

fn filter() -> PiiFilter {
    PiiFilter::new(PiiConfig::default()).unwrap()
}

/// (text, expected matches as (kind, matched text)).
fn check(cases: &[(&str, &[(PiiKind, &str)])]) {
    let f = filter();
    for (text, want) in cases {
        let got: Vec<(PiiKind, &str)> = f
            .detect(text)
            .into_iter()
            .map(|m| (m.kind, &text[m.start..m.end]))
            .collect();
        assert_eq!(&got, want, "text: {text:?}");
    }
}

#[test]
fn emails() {
    use PiiKind::Email;
    check(&[
        ("mail ada@example.org today", &[(Email, "ada@example.org")]),
        (
            "a.b+tag@sub.example.co.uk.",
            &[(Email, "a.b+tag@sub.example.co.uk")],
        ),
        ("UPPER@EXAMPLE.COM", &[(Email, "UPPER@EXAMPLE.COM")]),
        ("no tld: user@localhost", &[]),
        ("an @mention and a@b", &[]),
        // consecutive dots make the local part invalid (RFC 5321), so not an address
        ("double dot a..b@example.com", &[]),
    ]);
}

#[test]
fn phones() {
    use PiiKind::Phone;
    check(&[
        ("call +44 20 7946 0958 now", &[(Phone, "+44 20 7946 0958")]),
        ("+1 (415) 555-0132", &[(Phone, "+1 (415) 555-0132")]),
        ("+33612345678", &[(Phone, "+33612345678")]),
        ("(415) 555-0132", &[(Phone, "(415) 555-0132")]),
        ("415-555-0132", &[(Phone, "415-555-0132")]),
        ("415.555.0132", &[(Phone, "415.555.0132")]),
        ("1-800-555-0199", &[(Phone, "1-800-555-0199")]),
        ("020 7946 0958", &[(Phone, "020 7946 0958")]),
        ("06 12 34 56 78", &[(Phone, "06 12 34 56 78")]),
        ("030-1234567", &[(Phone, "030-1234567")]),
        // near misses
        ("born in 1987, moved in 2004", &[]),
        ("on 2024-01-15 and 15.01.2024 and 12/25/2023", &[]),
        ("it costs $1,299.99 or 1 299 euros", &[]),
        ("+12 is a score, +44 20 too short", &[]),
        ("order 4155550132 (no separators)", &[]),
        ("serial AB415-555-0132", &[]),
        ("range 2024-415-555-0132", &[]),
    ]);
}

#[test]
fn cards() {
    use PiiKind::Card;
    check(&[
        (
            "visa 4111 1111 1111 1111 ok",
            &[(Card, "4111 1111 1111 1111")],
        ),
        ("4111-1111-1111-1111", &[(Card, "4111-1111-1111-1111")]),
        ("4111111111111111", &[(Card, "4111111111111111")]),
        ("amex 3782 822463 10005", &[(Card, "3782 822463 10005")]),
        ("mc 5500 0000 0000 0004", &[(Card, "5500 0000 0000 0004")]),
        // near misses: Luhn fails, all zeros, too short, too long
        ("4111 1111 1111 1112", &[]),
        ("0000 0000 0000 0000", &[]),
        ("4111 1111 111", &[]),
        ("41111111111111111111111", &[]),
    ]);
}

#[test]
fn ibans() {
    use PiiKind::Iban;
    check(&[
        (
            "DE89 3704 0044 0532 0130 00",
            &[(Iban, "DE89 3704 0044 0532 0130 00")],
        ),
        (
            "to DE89370400440532013000.",
            &[(Iban, "DE89370400440532013000")],
        ),
        (
            "GB82 WEST 1234 5698 7654 32 IS OK",
            &[(Iban, "GB82 WEST 1234 5698 7654 32")],
        ),
        (
            "FR14 2004 1010 0505 0001 3M02 606",
            &[(Iban, "FR14 2004 1010 0505 0001 3M02 606")],
        ),
        (
            "NL91 ABNA 0417 1643 00",
            &[(Iban, "NL91 ABNA 0417 1643 00")],
        ),
        ("BE68 5390 0754 7034", &[(Iban, "BE68 5390 0754 7034")]),
        // near misses: wrong check digits, wrong length for the country, lower case
        ("DE88 3704 0044 0532 0130 00", &[]),
        ("DE89 3704 0044 0532 0130", &[]),
        ("de89 3704 0044 0532 0130 00", &[]),
    ]);
}

#[test]
fn ips() {
    use PiiKind::Ip;
    check(&[
        ("from 192.168.14.201 today", &[(Ip, "192.168.14.201")]),
        ("10.0.0.57.", &[(Ip, "10.0.0.57")]),
        ("255.255.255.255", &[(Ip, "255.255.255.255")]),
        // A bare dotted quad is an address, even if it could be a version (documented).
        ("1.2.3.4", &[(Ip, "1.2.3.4")]),
        (
            "v6 2001:db8:85a3::8a2e:370:7334 end",
            &[(Ip, "2001:db8:85a3::8a2e:370:7334")],
        ),
        ("loopback ::1 and fe80::1", &[(Ip, "::1"), (Ip, "fe80::1")]),
        ("[2001:db8::1]:8080", &[(Ip, "2001:db8::1")]),
        // near misses
        ("999.1.1.1", &[]),
        ("256.1.1.1", &[]),
        ("version 1.2.3.4 and v1.2.3.4", &[]),
        ("1.2.3.4.5", &[]),
        ("use std::fmt::Display;", &[]),
        ("at 10:30:45 sharp", &[]),
        ("mac 00:1a:2b:3c:4d:5e", &[]),
    ]);
}

#[test]
fn overlaps_resolve_to_most_specific_kind() {
    let f = filter();
    // A 16-digit card is not also a phone number.
    let m = f.detect("pay with 4111 1111 1111 1111");
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].kind, PiiKind::Card);
}

#[test]
fn checksums() {
    assert!(luhn_valid(&[
        4, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1
    ]));
    assert!(!luhn_valid(&[
        4, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2
    ]));
    assert!(luhn_valid(&[7, 9, 9, 2, 7, 3, 9, 8, 7, 1, 3])); // the classic Luhn example
    assert!(!luhn_valid(&[]));
    assert!(iban_checksum_valid("GB82WEST12345698765432"));
    assert!(!iban_checksum_valid("GB83WEST12345698765432"));
    assert!(!iban_checksum_valid("gb82west12345698765432"));
    assert_eq!(iban_length("DE"), Some(22));
    assert_eq!(iban_length("XX"), None);
}

#[test]
fn redaction_uses_typed_placeholders() {
    let f = filter();
    let text = "Mail ada@example.org or call +44 20 7946 0958; card 4111 1111 1111 1111, \
                IBAN DE89 3704 0044 0532 0130 00, host 10.0.0.1.";
    let v = f.check_text(text, Stage::Output).unwrap();
    assert_eq!(v.action, Action::Redact);
    assert!(v.flagged);
    assert_eq!(v.score("personal_data"), 1.0);
    assert_eq!(
        v.redacted_text.as_deref(),
        Some("Mail [EMAIL] or call [PHONE]; card [CARD], IBAN [IBAN], host [IP].")
    );
    assert_eq!(v.spans.len(), 5);
    assert!(v.spans.iter().all(|s| text[s.start..s.end] == s.matched));
}

#[test]
fn clean_and_empty_text_is_allowed() {
    let f = filter();
    for text in ["", "   \n", "The meeting is on 2024-03-15 at 10:30."] {
        let v = f.check_text(text, Stage::Input).unwrap();
        assert_eq!(v.action, Action::Allow, "{text:?}");
        assert!(v.categories.is_empty() && !v.flagged && v.redacted_text.is_none());
    }
}

#[test]
fn configurable_kinds_and_action() {
    let f = PiiFilter::new(PiiConfig {
        kinds: vec![PiiKind::Email],
        action: Action::Block,
        ..PiiConfig::default()
    })
    .unwrap();
    let v = f
        .check_text("ada@example.org 10.0.0.1", Stage::Input)
        .unwrap();
    assert_eq!(v.action, Action::Block);
    assert_eq!(v.spans.len(), 1);
    assert!(v.redacted_text.is_none());
    assert!(
        PiiFilter::new(PiiConfig {
            threshold: 1.5,
            ..PiiConfig::default()
        })
        .is_err()
    );
}

#[test]
fn non_utf8_bytes_are_an_error() {
    let f = filter();
    let err = f.check_bytes(b"ok \xff\xfe", Stage::Input).unwrap_err();
    assert!(
        matches!(err, muse_safety::SafetyError::InvalidUtf8 { offset: 3 }),
        "{err}"
    );
    assert!(f.check_bytes("héllo".as_bytes(), Stage::Input).is_ok());
}
