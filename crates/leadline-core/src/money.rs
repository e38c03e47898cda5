//! Exact money: an amount in minor units (cents), written and read as a decimal string.

use std::fmt;

use crate::DomainError;

/// An exact amount in minor units (two decimal places). Never a float.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Money(i64);

impl Money {
    /// The largest amount taken as input, either way: 1,000,000.00. Every ledger entry is a price
    /// or a fee within it, so a buyer's balance, a `SUM` over its entries, stays within 64 bits
    /// for up to 92 billion entries (i64::MAX / 10^8).
    pub const MAX: Money = Money(100_000_000);

    pub const fn from_minor(minor: i64) -> Self {
        Money(minor)
    }

    pub const fn minor(self) -> i64 {
        self.0
    }

    pub fn checked_add(self, other: Money) -> Option<Money> {
        self.0.checked_add(other.0).map(Money)
    }

    /// Parses `"12"`, `"12.5"`, `"12.50"` or `"-3.10"`; more than two decimals, exponents and
    /// separators are refused rather than rounded, and so are amounts beyond ±[`Money::MAX`].
    pub fn parse(text: &str) -> Result<Money, DomainError> {
        let invalid = || {
            DomainError::new(
                "",
                format!("`{text}` is not a decimal amount with at most two decimals, such as \"12.50\""),
            )
        };
        let (negative, digits) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
        if whole.is_empty()
            || !whole.bytes().all(|b| b.is_ascii_digit())
            || fraction.len() > 2
            || !fraction.bytes().all(|b| b.is_ascii_digit())
            || (digits.contains('.') && fraction.is_empty())
        {
            return Err(invalid());
        }
        let too_large = || DomainError::new("", format!("`{text}` is beyond {}, the largest amount taken", Money::MAX));
        // Only digits by now, so a failure to parse is an overflow.
        let whole: i64 = whole.parse().map_err(|_| too_large())?;
        let cents: i64 = match fraction.len() {
            0 => 0,
            1 => fraction.parse::<i64>().map_err(|_| invalid())? * 10,
            _ => fraction.parse().map_err(|_| invalid())?,
        };
        let minor = whole.checked_mul(100).and_then(|w| w.checked_add(cents)).ok_or_else(too_large)?;
        if minor > Money::MAX.0 {
            return Err(too_large());
        }
        Ok(Money(if negative { -minor } else { minor }))
    }
}

/// Written as its decimal string, as every API shows money.
impl serde::Serialize for Money {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:02}", abs / 100, abs % 100)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_the_usual_shapes() {
        assert_eq!(Money::parse("12").unwrap().minor(), 1200);
        assert_eq!(Money::parse("12.5").unwrap().minor(), 1250);
        assert_eq!(Money::parse("12.05").unwrap().minor(), 1205);
        assert_eq!(Money::parse("-0.10").unwrap().minor(), -10);
        assert_eq!(Money::parse("0").unwrap().to_string(), "0.00");
    }

    #[test]
    fn refuses_what_would_need_rounding_or_guessing() {
        for bad in ["", ".5", "1.", "1.234", "1e3", "1,00", " 1", "--1", "abc"] {
            assert!(Money::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn refuses_amounts_beyond_the_bound_either_way() {
        assert_eq!(Money::parse("1000000.00").unwrap(), Money::MAX);
        assert_eq!(Money::parse("-1000000").unwrap().minor(), -Money::MAX.minor());
        for large in ["1000000.01", "-1000000.01", "92233720368547758", "99999999999999999999"] {
            let error = Money::parse(large).unwrap_err();
            assert_eq!(error.message, format!("`{large}` is beyond 1000000.00, the largest amount taken"), "{large}");
        }
        // At the bound, i64 holds the sum of 92 billion entries.
        assert!(i64::MAX / Money::MAX.minor() >= 92_000_000_000);
    }

    proptest! {
        #[test]
        fn display_and_parse_round_trip(minor in -100_000_000i64..=100_000_000) {
            let money = Money::from_minor(minor);
            prop_assert_eq!(Money::parse(&money.to_string()).unwrap(), money);
        }
    }
}
