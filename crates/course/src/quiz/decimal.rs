//! Numeric answers compared exactly: as whole millionths ([`Micros`]), never as floats.
//!
//! A JSON number reaches us as an `f64`. Its shortest round-trip decimal text (Rust's
//! `Display`, which never uses an exponent) is the decimal that was written, for anything
//! of up to 15 significant digits. We read that text digit by digit into an integer count
//! of millionths, so `0.1 + 0.2`-style binary artefacts never enter a comparison: with key
//! 1.0 and tolerance 0.01, 1.01 and 0.99 are inside (|Δ| = 10,000 µ = tolerance), where
//! `(1.01f64 - 1.0).abs() <= 0.01` is false.
//!
//! An author's values must have at most 6 decimals (refused otherwise); a learner's answer
//! is rounded to 6 decimals, half away from zero, on its decimal text.

use std::fmt;

/// Decimal places kept.
pub const DECIMALS: usize = 6;
const SCALE: i64 = 1_000_000;
/// The largest magnitude accepted (so every difference fits an `i64` of millionths).
pub const MAX_MAGNITUDE: f64 = 1e12;

/// A decimal number as a whole count of millionths.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct Micros(pub i64);

/// Why a number cannot be taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumberRefused {
    /// Not finite, or beyond ±[`MAX_MAGNITUDE`].
    OutOfRange,
    /// More than [`DECIMALS`] decimal places (authors only).
    TooPrecise,
}

impl Micros {
    /// The exact value of `x`, refused when it has more than 6 decimals.
    pub fn exact(x: f64) -> Result<Self, NumberRefused> {
        Self::read(x, false)
    }

    /// `x` rounded to 6 decimals, half away from zero.
    pub fn rounded(x: f64) -> Result<Self, NumberRefused> {
        Self::read(x, true)
    }

    fn read(x: f64, round: bool) -> Result<Self, NumberRefused> {
        if !x.is_finite() || x.abs() > MAX_MAGNITUDE {
            return Err(NumberRefused::OutOfRange);
        }
        let text = format!("{}", x.abs());
        let (whole, fraction) = text.split_once('.').unwrap_or((&text, ""));
        if fraction.len() > DECIMALS && !round {
            return Err(NumberRefused::TooPrecise);
        }
        let digits = |s: &str| -> Result<i64, NumberRefused> {
            s.bytes().try_fold(0i64, |acc, b| {
                if b.is_ascii_digit() {
                    Ok(acc * 10 + i64::from(b - b'0'))
                } else {
                    Err(NumberRefused::OutOfRange)
                }
            })
        };
        let kept: String = fraction
            .chars()
            .chain(std::iter::repeat('0'))
            .take(DECIMALS)
            .collect();
        let mut value = digits(whole)? * SCALE + digits(&kept)?;
        if fraction
            .as_bytes()
            .get(DECIMALS)
            .is_some_and(|d| *d >= b'5')
        {
            value += 1;
        }
        Ok(Self(if x.is_sign_negative() { -value } else { value }))
    }

    /// Whether `self` is within `tolerance` of `target`, bounds included.
    pub fn within(self, target: Micros, tolerance: Micros) -> bool {
        (self.0 - target.0).abs() <= tolerance.0
    }

    /// The value as a float, for display.
    pub fn to_f64(self) -> f64 {
        // The decimal text parsed: the float nearest to the exact value.
        self.to_string().parse().unwrap_or(0.0)
    }
}

impl fmt::Display for Micros {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let whole = abs / SCALE as u64;
        let fraction = abs % SCALE as u64;
        if fraction == 0 {
            write!(f, "{sign}{whole}")
        } else {
            let text = format!("{fraction:06}");
            write!(f, "{sign}{whole}.{}", text.trim_end_matches('0'))
        }
    }
}

#[cfg(test)]
mod tests {
    // Decimals as authors write them (3.14 is a quiz answer here, not π).
    #![allow(clippy::approx_constant)]
    use super::*;

    #[test]
    fn exact_values_read_as_written() {
        for (x, micros) in [
            (0.0, 0),
            (-0.0, 0),
            (3.14, 3_140_000),
            (-3.14, -3_140_000),
            (0.1, 100_000),
            (0.000001, 1),
            (-0.000001, -1),
            (1e12, 1_000_000_000_000_000_000),
            (-1e12, -1_000_000_000_000_000_000),
            (123456.654321, 123_456_654_321),
            (2.5, 2_500_000),
        ] {
            assert_eq!(Micros::exact(x), Ok(Micros(micros)), "{x}");
        }
        assert_eq!(Micros::exact(0.1 + 0.2), Err(NumberRefused::TooPrecise));
        assert_eq!(Micros::exact(0.0000001), Err(NumberRefused::TooPrecise));
        assert_eq!(Micros::exact(1e12 + 1.0), Err(NumberRefused::OutOfRange));
        assert_eq!(Micros::exact(f64::NAN), Err(NumberRefused::OutOfRange));
        assert_eq!(Micros::exact(f64::INFINITY), Err(NumberRefused::OutOfRange));
    }

    #[test]
    fn answers_round_half_away_from_zero_on_their_decimals() {
        for (x, micros) in [
            (0.1 + 0.2, 300_000),
            (3.1415926535, 3_141_593),
            (-3.1415926535, -3_141_593),
            (0.0000005, 1),
            (-0.0000005, -1),
            (0.0000004999, 0),
            (2.0000015, 2_000_002),
            (1.9999995, 2_000_000),
        ] {
            assert_eq!(Micros::rounded(x), Ok(Micros(micros)), "{x}");
        }
    }

    #[test]
    fn tolerance_bounds_are_inclusive_and_exact() {
        let key = Micros::exact(3.14).unwrap();
        let tolerance = Micros::exact(0.01).unwrap();
        // Float arithmetic gets such bounds wrong: 1.01 is not within 0.01 of 1.0 there.
        assert!((1.01f64 - 1.0).abs() > 0.01);
        assert!(
            Micros::exact(1.01)
                .unwrap()
                .within(Micros::exact(1.0).unwrap(), tolerance)
        );
        for (answer, inside) in [
            (3.15, true),
            (3.13, true),
            (3.150001, false),
            (3.129999, false),
            (3.14, true),
            (3.1500004, true),
            (3.1500005, false),
        ] {
            let a = Micros::rounded(answer).unwrap();
            assert_eq!(a.within(key, tolerance), inside, "{answer}");
        }
        let zero = Micros(0);
        assert!(key.within(key, zero));
        assert!(!Micros(3_140_001).within(key, zero));
        // The widest difference there is does not overflow.
        let top = Micros::exact(1e12).unwrap();
        let bottom = Micros::exact(-1e12).unwrap();
        assert!(!top.within(bottom, zero));
        assert!(top.within(bottom, Micros(2_000_000_000_000_000_000)));
    }

    #[test]
    fn display_gives_the_decimal_back() {
        for x in [0.0, 3.14, -3.14, 0.000001, 1e12, 42.0, -0.5] {
            let m = Micros::exact(x).unwrap();
            assert_eq!(m.to_string().parse::<f64>().unwrap(), x);
            assert_eq!(m.to_f64(), x);
        }
    }
}
