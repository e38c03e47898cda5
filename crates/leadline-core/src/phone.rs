//! Phone numbers, normalized to digits so that DNC and duplicate checks compare like with like.

use std::fmt;

use serde::{Serialize, Serializer};

use crate::DomainError;

/// A phone number kept as its digits only (6 to 15 of them, the E.164 maximum).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Phone(String);

impl Phone {
    /// Accepts the usual written forms (`+61 2 9999-0000`, `(02) 9999 0000`, `02.9999.0000`) and
    /// keeps the digits; letters or other symbols are refused instead of silently dropped.
    pub fn parse(text: &str) -> Result<Phone, DomainError> {
        let mut digits = String::with_capacity(text.len());
        for (index, c) in text.trim().char_indices() {
            match c {
                '0'..='9' => digits.push(c),
                '+' if index == 0 => {}
                ' ' | '-' | '(' | ')' | '.' => {}
                _ => {
                    return Err(DomainError::new(
                        "",
                        format!("`{text}` is not a phone number: unexpected character `{c}`"),
                    ))
                }
            }
        }
        if !(6..=15).contains(&digits.len()) {
            return Err(DomainError::new("", format!("`{text}` is not a phone number: it needs 6 to 15 digits")));
        }
        Ok(Phone(digits))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Phone {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn keeps_only_the_digits_of_written_forms() {
        assert_eq!(Phone::parse("+61 2 9999-0000").unwrap().as_str(), "61299990000");
        assert_eq!(Phone::parse("(02) 9999.0000").unwrap().as_str(), "0299990000");
    }

    #[test]
    fn refuses_letters_short_and_long_numbers() {
        assert!(Phone::parse("0299 CALL ME").is_err());
        assert!(Phone::parse("12345").is_err());
        assert!(Phone::parse("1234567890123456").is_err());
        assert!(Phone::parse("12+3456789").is_err());
    }

    proptest! {
        #[test]
        fn normalizing_twice_changes_nothing(text in "[0-9 ()+.-]{0,24}") {
            if let Ok(phone) = Phone::parse(&text) {
                prop_assert_eq!(Phone::parse(phone.as_str()).unwrap(), phone);
            }
        }
    }
}
