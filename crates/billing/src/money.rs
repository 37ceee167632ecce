//! Money as Stripe counts it: an integer amount of a currency's smallest unit (cents for
//! `eur`, yen for `jpy`, fils for `kwd`), never a float. Each currency's exponent (how many
//! decimal places its major unit has) comes with every total, so a reader formats
//! `123456 jpy` as ¥123,456 and `123456 eur` as €1,234.56 without guessing.

use hub_kernel::FieldViolation;

/// Stripe's largest charge amount for most currencies (eight digits of minor units).
pub const MAX_AMOUNT: i64 = 99_999_999;

/// Stripe's zero-decimal currencies (an amount is in major units).
const ZERO_DECIMAL: &[&str] = &[
    "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv",
    "xaf", "xof", "xpf",
];
/// Stripe's three-decimal currencies.
const THREE_DECIMAL: &[&str] = &["bhd", "jod", "kwd", "omr", "tnd"];
/// The two-decimal currencies billing accepts (ISO 4217, lower case as Stripe writes them).
const TWO_DECIMAL: &[&str] = &[
    "aed", "aud", "bgn", "brl", "cad", "chf", "cny", "czk", "dkk", "eur", "gbp", "hkd", "huf",
    "idr", "ils", "inr", "mxn", "myr", "nok", "nzd", "php", "pln", "ron", "sar", "sek", "sgd",
    "thb", "try", "twd", "usd", "zar",
];

/// Every currency billing accepts, for the spec's enum and the error message.
pub fn currencies() -> Vec<&'static str> {
    let mut all: Vec<&'static str> = ZERO_DECIMAL
        .iter()
        .chain(TWO_DECIMAL)
        .chain(THREE_DECIMAL)
        .copied()
        .collect();
    all.sort_unstable();
    all
}

/// How many decimal places the currency's major unit has; `None` for one billing does not
/// accept.
pub fn exponent(currency: &str) -> Option<u32> {
    if ZERO_DECIMAL.contains(&currency) {
        Some(0)
    } else if TWO_DECIMAL.contains(&currency) {
        Some(2)
    } else if THREE_DECIMAL.contains(&currency) {
        Some(3)
    } else {
        None
    }
}

/// A currency code as given, checked.
pub fn check_currency(field: &str, currency: &str) -> Result<(), FieldViolation> {
    if exponent(currency).is_some() {
        Ok(())
    } else {
        Err(FieldViolation::new(
            field,
            "must be one of the ISO 4217 codes billing accepts, in lower case (e.g. `eur`)",
        ))
    }
}

/// An amount of minor units as given, checked: 1 to [`MAX_AMOUNT`]. Three-decimal
/// currencies must be whole tens of their minor unit, as Stripe requires.
pub fn check_amount(field: &str, amount: i64, currency: &str) -> Result<(), FieldViolation> {
    if !(1..=MAX_AMOUNT).contains(&amount) {
        return Err(FieldViolation::new(
            field,
            format!("must be 1 to {MAX_AMOUNT} minor units of the currency"),
        ));
    }
    if exponent(currency) == Some(3) && amount % 10 != 0 {
        return Err(FieldViolation::new(
            field,
            "three-decimal currencies take whole tens of the minor unit",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponents_follow_stripe() {
        assert_eq!(exponent("jpy"), Some(0));
        assert_eq!(exponent("eur"), Some(2));
        assert_eq!(exponent("kwd"), Some(3));
        assert_eq!(exponent("EUR"), None);
        assert_eq!(exponent("xyz"), None);
    }

    #[test]
    fn amounts_are_positive_whole_minor_units_within_stripes_limit() {
        assert!(check_amount("amount", 0, "eur").is_err());
        assert!(check_amount("amount", -5, "eur").is_err());
        assert!(check_amount("amount", 1, "eur").is_ok());
        assert!(check_amount("amount", MAX_AMOUNT, "eur").is_ok());
        assert!(check_amount("amount", MAX_AMOUNT + 1, "eur").is_err());
        assert!(check_amount("amount", 1005, "kwd").is_err());
        assert!(check_amount("amount", 1010, "kwd").is_ok());
    }
}
