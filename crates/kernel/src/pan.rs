//! Card numbers (primary account numbers, PANs): finding them in any text and removing them.
//! Payments go through Stripe, so no value this service takes in, stores or logs is ever a
//! card number; the gateway refuses inputs that hold one and redacts its log lines with this.
//!
//! What counts as a card number here (what a person pastes, not what an attacker encodes):
//! - 13 to 19 digits whose Luhn checksum holds, with a first digit some card network issues
//!   at that length (ISO/IEC 7812): never 0; 1 only for 15 digits (UATP, the one network
//!   there); 13 digits only after 4, 5 or 6 (Visa, Maestro). So Unix times in milliseconds,
//!   microseconds or nanoseconds (13, 16, 19 digits, first digit 1) and ISBN-13 or EAN-13
//!   codes starting 978, 979 are not card numbers;
//! - written as one run of digits, or as groups joined by one separator of a kind, the same
//!   kind throughout: space, no-break space, `-`, `.`, `+` (a form-encoded space) or the
//!   percent-encoded `%20`, `%2D`, `%2E` (a URL as logged). Grouped, it is laid out as cards
//!   are printed: a first group of 4 digits, inner groups of 4 to 6, a last one of 1 to 6
//!   (4-4-4-4, 4-4-4-4-3, Amex 4-6-5, Diners 4-6-4, 13-digit Visa 4-4-4-1);
//! - anywhere inside longer text, but standing on its own: not glued to a letter or digit on
//!   either side (`tok4242…`, a hex digest, base64 are identifiers, not cards; a terminal
//!   colour sequence's final letter is no glue), not after a
//!   `+` (an E.164 phone number such as `+4915112345678`), and an ungrouped run is not the
//!   fraction or the integer part of a decimal number (`0.8571428571428571`).
//!
//! A run of more than 19 digits is not a card number, and no window of it is looked at: a
//! longer run is an identifier or a number (a 20-digit order id, a decimal expansion), and
//! one in ten of its 16-digit windows would pass Luhn. A card number followed by more digit
//! groups (`4242 4242 4242 4242 12 28`, a number and its expiry) is still found, because
//! groups are tried, not the whole chain.
//!
//! What is therefore not a card number: a UUID (its groups are 8-4-4-4-12 and hex), an ISO
//! date or time (groups of 2), an IPv4 address (at most 12 digits), a phone number in
//! international form, a version string.

use std::borrow::Cow;
use std::ops::Range;

/// The fewest and most digits of a card number (ISO/IEC 7812: up to 19; none shorter than
/// 13 is issued).
pub const MIN_DIGITS: usize = 13;
pub const MAX_DIGITS: usize = 19;

/// What a card number is replaced by; the last four digits are kept, as Stripe's own `last4`
/// is (enough to tell which card a person meant, not enough to pay with).
pub fn marker(last4: &str) -> String {
    format!("[card number removed, last4 {last4}]")
}

/// The separators card numbers are written with, each with its kind (a chain of groups keeps
/// one kind; `%2d` is `%2D`).
const SEPARATORS: [(&[u8], u8); 10] = [
    (b" ", 0),
    ("\u{a0}".as_bytes(), 1),
    (b"-", 2),
    (b".", 3),
    (b"+", 4),
    (b"%20", 5),
    (b"%2D", 6),
    (b"%2d", 6),
    (b"%2E", 7),
    (b"%2e", 7),
];

/// The separator at the start of `bytes`, as (kind, length).
fn separator_at(bytes: &[u8]) -> Option<(u8, usize)> {
    SEPARATORS
        .iter()
        .find(|(s, _)| bytes.starts_with(s))
        .map(|(s, kind)| (*kind, s.len()))
}

/// The Luhn checksum (ISO/IEC 7812-1 annex B) over ASCII digits.
pub fn luhn_valid(digits: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, d) in digits.iter().rev().enumerate() {
        let mut v = u32::from(d - b'0');
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    sum.is_multiple_of(10)
}

/// The cheap first look: whether `bytes` holds at least [`MIN_DIGITS`] digits in a row,
/// counting through single separators of any kind. Every text [`find`] finds something in
/// passes this; most text (no long digit run) fails it after one pass over its bytes.
pub fn might_contain(bytes: &[u8]) -> bool {
    let mut digits = 0;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_digit() {
            digits += 1;
            if digits >= MIN_DIGITS {
                return true;
            }
            i += 1;
            continue;
        }
        match separator_at(&bytes[i..]) {
            Some((_, len)) if digits > 0 && bytes.get(i + len).is_some_and(u8::is_ascii_digit) => {
                i += len;
            }
            _ => {
                digits = 0;
                i += 1;
            }
        }
    }
    false
}

/// The character that ends just before byte `at` (`None` at the start or in bytes that are
/// not UTF-8 there).
fn char_before(bytes: &[u8], at: usize) -> Option<char> {
    (1..=4.min(at)).find_map(|n| {
        std::str::from_utf8(&bytes[at - n..at])
            .ok()
            .and_then(|s| s.chars().next())
    })
}

/// The character that starts at byte `at`.
fn char_after(bytes: &[u8], at: usize) -> Option<char> {
    (1..=4.min(bytes.len().saturating_sub(at))).find_map(|n| {
        std::str::from_utf8(&bytes[at..at + n])
            .ok()
            .and_then(|s| s.chars().next())
    })
}

/// Whether `c` glues to a digit run, making it part of a word or an identifier.
fn glues(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Whether the bytes before `at` end with a terminal control sequence (`ESC [ 0 m`, the
/// colours of a log line): its final letter is no glue.
fn after_terminal_escape(bytes: &[u8], at: usize) -> bool {
    let mut i = at - 1; // The final byte (a letter, checked by the caller).
    while i > 0 && (bytes[i - 1].is_ascii_digit() || bytes[i - 1] == b';') {
        i -= 1;
    }
    i >= 2 && bytes[i - 1] == b'[' && bytes[i - 2] == 0x1b
}

/// The byte ranges of every card number in `bytes`, in order, not overlapping. Each range
/// runs from the first digit to the last, separators inside included. Where the groups of
/// one chain can be read as more than one card number (`5009 4242 4242 4242 4242` holds a
/// Luhn-valid window at either end), the range covers them all, so redacting it leaves no
/// part of any of them.
pub fn find(bytes: &[u8]) -> Vec<Range<usize>> {
    let mut found = Vec::new();
    if !might_contain(bytes) {
        return found;
    }
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        // A chain: maximal digit runs joined by one separator of a single kind.
        let mut groups: Vec<Range<usize>> = Vec::new();
        let mut kind = None;
        let mut at = i;
        let mut kind_changed = false;
        loop {
            let start = at;
            while at < bytes.len() && bytes[at].is_ascii_digit() {
                at += 1;
            }
            groups.push(start..at);
            match separator_at(&bytes[at..]) {
                Some((k, len)) if bytes.get(at + len).is_some_and(u8::is_ascii_digit) => {
                    if kind.is_some_and(|kind| kind != k) {
                        kind_changed = true;
                        break;
                    }
                    kind = Some(k);
                    at += len;
                }
                _ => break,
            }
        }
        scan_chain(bytes, &groups, &mut found);
        let last = groups.last().cloned().unwrap_or(i..at);
        // Where another kind of separator follows, the last group may begin the next chain.
        i = if kind_changed && groups.len() > 1 {
            last.start
        } else {
            last.end
        };
    }
    // Merge what overlaps (windows of one chain, a group shared by two chains).
    found.sort_by_key(|r| r.start);
    let mut merged: Vec<Range<usize>> = Vec::with_capacity(found.len());
    for range in found {
        match merged.last_mut() {
            Some(last) if range.start <= last.end => last.end = last.end.max(range.end),
            _ => merged.push(range),
        }
    }
    merged
}

/// Tries every run of whole groups of one chain that could hold a card's digit count.
fn scan_chain(bytes: &[u8], groups: &[Range<usize>], found: &mut Vec<Range<usize>>) {
    for a in 0..groups.len() {
        let mut total = 0;
        for b in a..groups.len() {
            total += groups[b].len();
            if total > MAX_DIGITS {
                break;
            }
            if is_card(bytes, &groups[a..=b], a == 0, b + 1 == groups.len()) {
                found.push(groups[a].start..groups[b].end);
            }
        }
    }
}

/// Whether a card network issues numbers of `len` digits starting with `first`.
fn issued(first: u8, len: usize) -> bool {
    match first {
        b'0' => false,
        b'1' => len == 15,
        b'4' | b'5' | b'6' => true,
        _ => len != 13,
    }
}

/// Whether this run of groups of a chain is a card number; `chain_start`/`chain_end`: the
/// run begins/ends its chain (else a separator of the chain is its neighbour).
fn is_card(bytes: &[u8], run: &[Range<usize>], chain_start: bool, chain_end: bool) -> bool {
    let (Some(first), Some(last)) = (run.first(), run.last()) else {
        return false;
    };
    let total: usize = run.iter().map(Range::len).sum();
    if !(MIN_DIGITS..=MAX_DIGITS).contains(&total) || !issued(bytes[first.start], total) {
        return false;
    }
    let before = char_before(bytes, first.start);
    let after = char_after(bytes, last.end);
    if run.len() > 1 {
        let inner_ok = run[1..run.len() - 1]
            .iter()
            .all(|g| (4..=6).contains(&g.len()));
        if first.len() != 4 || !inner_ok || !(1..=6).contains(&last.len()) {
            return false;
        }
    } else if (!chain_start && before == Some('.')) || (!chain_end && after == Some('.')) {
        // An ungrouped run joined to its neighbours by `.` is part of a decimal number or a
        // version, not a card.
        return false;
    }
    // Standing on its own: what borders the chain neither glues to it nor makes it a phone
    // number or a decimal number (a separator inside the chain is no glue).
    if chain_start {
        let decimal = first.start >= 2 && bytes[first.start - 2].is_ascii_digit();
        match before {
            Some('+') => return false,
            Some(c) if glues(c) && !after_terminal_escape(bytes, first.start) => return false,
            Some('.' | ',') if decimal => return false,
            _ => {}
        }
    }
    if chain_end {
        let decimal = bytes.get(last.end + 1).is_some_and(u8::is_ascii_digit);
        match after {
            Some(c) if glues(c) => return false,
            Some('.' | ',') if decimal => return false,
            _ => {}
        }
    }
    let digits: Vec<u8> = run
        .iter()
        .flat_map(|g| bytes[g.clone()].iter().copied())
        .collect();
    luhn_valid(&digits)
}

/// Whether `text` holds a card number anywhere.
pub fn contains(text: &str) -> bool {
    !find(text.as_bytes()).is_empty()
}

/// `text` with every card number replaced by [`marker`] (borrowed when there is none).
pub fn redact(text: &str) -> Cow<'_, str> {
    match redact_bytes(text.as_bytes()) {
        Cow::Borrowed(_) => Cow::Borrowed(text),
        // Only ASCII digits and separators were replaced, by ASCII: still UTF-8.
        Cow::Owned(bytes) => Cow::Owned(String::from_utf8_lossy(&bytes).into_owned()),
    }
}

/// [`redact`] for bytes (a formatted log line); bytes outside card numbers are kept as they
/// are.
pub fn redact_bytes(bytes: &[u8]) -> Cow<'_, [u8]> {
    redact_bytes_with(bytes, |_, marker| marker)
}

/// [`redact_bytes`] where `replace` turns the [`marker`] of the card number found at byte
/// `start` into what is written instead (a JSON line quotes it where the number was a bare
/// number token).
pub fn redact_bytes_with(
    bytes: &[u8],
    mut replace: impl FnMut(usize, String) -> String,
) -> Cow<'_, [u8]> {
    let found = find(bytes);
    if found.is_empty() {
        return Cow::Borrowed(bytes);
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut from = 0;
    for range in found {
        out.extend_from_slice(&bytes[from..range.start]);
        let digits: Vec<u8> = bytes[range.clone()]
            .iter()
            .copied()
            .filter(u8::is_ascii_digit)
            .collect();
        let last4 = String::from_utf8_lossy(&digits[digits.len() - 4..]).into_owned();
        out.extend_from_slice(replace(range.start, marker(&last4)).as_bytes());
        from = range.end;
    }
    out.extend_from_slice(&bytes[from..]);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Stripe's test card numbers (docs.stripe.com/testing), every brand and length.
    const STRIPE_TEST_CARDS: [&str; 21] = [
        "4242424242424242",
        "4000056655665556",
        "5555555555554444",
        "2223003122003222",
        "5200828282828210",
        "5105105105105100",
        "378282246310005",
        "371449635398431",
        "6011111111111117",
        "6011000990139424",
        "6011981111111113",
        "3056930009020004",
        "36227206271667",
        "6555900000604105",
        "3566002020360505",
        "6200000000000005",
        "6205500000000000004",
        "4000002500003155",
        "4000000000009995",
        "4000000760000002",
        "4222222222222",
    ];

    /// Printed as cards are: 4-4-4-4, Amex 4-6-5, Diners 4-6-4, 19 digits 4-4-4-4-3.
    fn grouped(number: &str, separator: &str) -> String {
        let layout: &[usize] = match number.len() {
            15 => &[4, 6, 5],
            14 => &[4, 6, 4],
            19 => &[4, 4, 4, 4, 3],
            13 => &[4, 4, 4, 1],
            _ => &[4, 4, 4, 4],
        };
        let mut groups = Vec::new();
        let mut at = 0;
        for len in layout {
            groups.push(&number[at..at + len]);
            at += len;
        }
        groups.join(separator)
    }

    #[test]
    fn the_luhn_checksum() {
        for luhn_valid_but_not_issued in [
            "1764806400008",
            "1764806400000000",
            "1764806400000000008",
            "9780306406156",
        ] {
            assert!(luhn_valid(luhn_valid_but_not_issued.as_bytes()));
        }
        assert!(luhn_valid(b"4242424242424242"));
        assert!(luhn_valid(b"79927398713"));
        assert!(!luhn_valid(b"4242424242424241"));
        assert!(!luhn_valid(b"79927398710"));
    }

    #[test]
    fn every_stripe_test_card_is_found_plain_and_grouped() {
        for number in STRIPE_TEST_CARDS {
            assert!(luhn_valid(number.as_bytes()), "{number}");
            for separator in ["", " ", "-", ".", "\u{a0}", "+", "%20", "%2D", "%2d", "%2e"] {
                let written = if separator.is_empty() {
                    number.to_string()
                } else {
                    grouped(number, separator)
                };
                let whole = 0..written.len();
                assert_eq!(find(written.as_bytes()), vec![whole], "{written:?} alone");
                for text in [
                    format!("my card is {written}, thanks"),
                    format!("\"{written}\""),
                    format!("/v1/courses/{written}/x"),
                    format!("code={written}&b=1"),
                    format!("card:{written}"),
                    format!("({written})"),
                    format!("\u{1b}[2m=\u{1b}[0m{written}\u{1b}[3m"),
                    format!("{written} 12 28 123"),
                    format!("ids 1234 {written}"),
                ] {
                    assert!(contains(&text), "{text:?}");
                }
            }
        }
    }

    #[test]
    fn digit_runs_that_are_not_card_numbers_pass() {
        for fine in [
            // Luhn fails.
            "4242424242424241",
            "4242 4242 4242 4241",
            "1234567890123456",
            // Too short, too long (20 digits: Luhn-valid 4242…42420, an identifier).
            "424242424242",
            "42424242424242420",
            "424242424242424242422",
            "42424242424242424242424242424242",
            // Leading 0: no payment network (a Luhn-valid 16-digit run).
            "0000000000000000",
            "0424242424242428",
            // Unix times in ms, µs, ns (Luhn-valid ones), an ISBN-13 (Luhn-valid too).
            "1764806400008",
            "1764806400000000",
            "1764806400000000008",
            "9780306406156",
            "ts 1764806400008 ok",
            // Glued to letters or digits: identifiers, hex, base64.
            "tok4242424242424242",
            "4242424242424242x",
            "pi_4242424242424242",
            "a4242-4242-4242-4242",
            "PHNhbWw4242424242424242PQ==",
            "[0m4242424242424242",
            // UUIDs (hex, or all digits), ISO dates and times, IPv4, versions.
            "0190a0b0-0000-7000-8000-000000000001",
            "12345678-1234-1234-1234-123456789012",
            "2026-12-04T01:21:02.123456Z",
            "2026-12-04 2026-12-05 2026-12-06",
            "192.168.100.200",
            "1.2.3.4567.8901",
            // Phone numbers: E.164 (a Luhn-valid 14-digit number after `+`), grouped.
            "+4915112345678",
            "call +49 1511 2345678 now",
            "+1 415 555 2671",
            // Decimal numbers with a long fraction or integer part.
            "0.4242424242424242",
            "4242424242424242.5",
            "score 3.4242424242424242",
            // Groups laid out as no card is (a first group other than 4, short inner ones).
            "42 42 42 42 42 42 42 42",
            "424242 4242424242",
            "4242 42 4242 4242 4242",
            // Mixed separators do not join.
            "4242-4242 4242.4242",
            "",
            "no digits at all",
        ] {
            assert!(
                find(fine.as_bytes()).is_empty(),
                "{fine:?} is not a card number"
            );
        }
    }

    #[test]
    fn the_pre_scan_sees_every_card_and_little_else() {
        for number in STRIPE_TEST_CARDS {
            assert!(might_contain(number.as_bytes()));
            assert!(might_contain(grouped(number, "%20").as_bytes()));
        }
        assert!(!might_contain(
            b"{\"title\":\"Intro 2026-12\",\"n\":123456789012}"
        ));
        assert!(!might_contain(b"1234 5678 90 12"));
        assert!(!might_contain(b"12  34 56 78 90 12 34"));
        assert!(might_contain(b"1234 5678 9012 3"));
    }

    #[test]
    fn redaction_keeps_the_text_and_last_four_digits_only() {
        assert_eq!(
            redact("paid with 4242 4242 4242 4242 and 378282246310005."),
            "paid with [card number removed, last4 4242] and [card number removed, last4 0005]."
        );
        assert_eq!(
            redact("{\"path\":\"/v1/x/5555-5555-5555-4444\"}"),
            "{\"path\":\"/v1/x/[card number removed, last4 4444]\"}"
        );
        // Its expiry stays: two digits are not a card.
        assert_eq!(
            redact("4242424242424242 12/28"),
            "[card number removed, last4 4242] 12/28"
        );
        assert_eq!(
            redact("4242 4242 4242 4242 12 28"),
            "[card number removed, last4 4242] 12 28"
        );
        assert!(matches!(
            redact("nothing here 2026-12-04"),
            Cow::Borrowed(_)
        ));
        // Leading groups that make another Luhn-valid window are removed with the card, so no
        // part of the card is left: 5009 4242 4242 4242 is Luhn-valid too.
        assert!(luhn_valid(b"5009424242424242"));
        assert_eq!(
            redact("ids 5009 4242 4242 4242 4242 end"),
            "ids [card number removed, last4 4242] end"
        );
        let twice = redact("4242424242424242");
        assert_eq!(redact(&twice), twice);
        assert_eq!(
            redact_bytes("caf\u{e9} 6011111111111117 \u{1f393}".as_bytes()).as_ref(),
            "caf\u{e9} [card number removed, last4 1117] \u{1f393}".as_bytes()
        );
    }
}
